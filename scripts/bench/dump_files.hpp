#pragma once
// Command files for the physical-limit measurements, made from a seeded source:
//  - the serve file holds `PTTL k` + `DUMP k` for every key, the exact reads the tool sends to the source;
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

ServeFileStats write_serve_file(const std::string& host, int port, const std::string& path);
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
