#pragma once
// Command files for the physical-limit measurements, made from a seeded source:
//  - a serve file holds, for every key, `DUMP k` alone (the least any copier asks: the limit), or the reads
//    the tool sends to the source (`PTTL k` + `DUMP k`, with `MEMORY USAGE k` first when it sizes keys);
//  - the absorb file holds `RESTORE k abs-ms payload ABSTTL` (or `RESTORE k 0 payload` without a TTL), the
//  exact
//    writes the tool sends to the destination, with absolute expiry times so the file does not age.

#include <cstdint>
#include <string>

namespace rmbench {

struct ServeFileStats {
  std::uint64_t keys = 0;
  std::uint64_t commands = 0;
  std::uint64_t file_bytes = 0;
  double elapsed_s = 0;
};

struct AbsorbFileStats {
  std::uint64_t scanned = 0;
  std::uint64_t keys = 0;  // RESTORE commands written
  std::uint64_t with_ttl = 0;
  std::uint64_t expired = 0;   // PTTL said 0: about to expire, never restored with 0 (= no expiry)
  std::uint64_t vanished = 0;  // PTTL -2 or DUMP nil
  std::uint64_t payload_bytes = 0;
  std::uint64_t file_bytes = 0;
  double elapsed_s = 0;
};

// What a serve file asks for each key. kTypePttlGetrange: what the tool asks of a string on a node of mostly
// strings (TYPE k, then PTTL k + GETRANGE k 0 65536); kPttlGetrange: on a node of strings only, after its
// first strings (PTTL k + GETRANGE k 0 65536); for every key: a dataset of strings only.
enum class ServeMix { kDump, kPttlDump, kSizePttlDump, kTypePttlGetrange, kPttlGetrange };
ServeFileStats write_serve_file(const std::string& host, int port, const std::string& path, ServeMix mix);
AbsorbFileStats write_absorb_file(const std::string& host, int port, const std::string& path);

// A file of RESP commands mapped into memory, counted, and streamed as one chunk.
struct ReplayStats {
  std::uint64_t commands = 0;
  std::uint64_t replies = 0;
  std::uint64_t errors = 0;
  std::string first_error;
  std::uint64_t bytes_out = 0;
  std::uint64_t bytes_in = 0;
  double elapsed_s = 0;
};
ReplayStats replay_file(const std::string& host, int port, const std::string& path);

}  // namespace rmbench
