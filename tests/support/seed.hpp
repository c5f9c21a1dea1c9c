#pragma once
// Deterministic test data: a mix of every data type (seed_mixed) and the awkward cases (seed_edge_keys).
// Everything is written pipelined through a KeyWriter, so it works on a server and on a cluster alike.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "support/client.hpp"

namespace rmig::test {

struct SeedOptions {
  std::size_t count = 1000;
  std::string prefix = "seed:";
  double ttl_fraction = 0.2;    // share of keys that get a TTL between min_ttl and max_ttl
  std::size_t value_size = 16;  // bytes per string value, element, member, field value
  std::uint64_t seed = 1;       // same seed, same data
  // Every large_every-th collection gets large_elements elements, so the non-compact encodings (hashtable,
  // skiplist, multi-node quicklist) are covered as well as listpacks and intsets. 0: none.
  std::size_t large_every = 50;
  std::size_t large_elements = 300;
  // Long enough that nothing expires during a test.
  std::chrono::milliseconds min_ttl = 1h;
  std::chrono::milliseconds max_ttl = 2h;
};

// Writes `count` keys named <prefix><type>:<n>, cycling through string, list, set, zset, hash and stream.
// Values are random bytes (NUL, CR, LF and invalid UTF-8 included). Zsets carry scores such as 1.5, -inf,
// +inf, 0.1 and 1e300; streams have at least three entries and a consumer group whose consumer holds two
// read-but-unacknowledged (pending) entries. Returns the keys written, in order.
std::vector<std::string> seed_mixed(KeyWriter& writer, const SeedOptions& options = {});

struct EdgeOptions {
  std::string prefix = "edge:";
  // A key whose name is the empty string (legal in Redis, and outside any prefix).
  bool empty_key_name = false;
  // A key with a PTTL of a few milliseconds: it is usually gone by the time anyone copies or compares it.
  bool short_ttl_key = true;
};

// Binary key names (space, "\r\n", NUL, "\xff\xfe", UTF-8, glob characters, hash tags, a 1000-byte name),
// an empty string value, integer-encoded strings, a 256 KiB string, a TTL ten years out, a list holding empty
// strings, an intset, a zset of infinities, a hash with binary fields, an empty stream that keeps its
// last-generated-id and group, a trimmed stream. Returns the keys written (the short-TTL one included).
std::vector<std::string> seed_edge_keys(KeyWriter& writer, const EdgeOptions& options = {});

// The name seed_edge_keys gives its short-TTL key.
std::string edge_short_ttl_key(const EdgeOptions& options = {});

}  // namespace rmig::test
