#pragma once
// Seeds a server with a dataset over one pipelined stream (no round trip per key), so that a million keys
// take seconds. Every dataset is deterministic: the same arguments give the same keys and values.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace rmbench {

// Keeps only keys whose cluster slot is in one of the ranges (all keys when empty); used to seed each primary
// of a cluster with the keys it owns.
class SlotFilter {
 public:
  SlotFilter() = default;
  // "0-5460,10923-16383"; throws std::invalid_argument on a malformed list.
  static SlotFilter parse(const std::string& text);
  bool wants(std::string_view key) const;
  // True when seeding one cluster node: keys of many slots, which one MSET cannot take (CROSSSLOT).
  bool filtering() const { return !ranges_.empty(); }

 private:
  std::vector<std::pair<unsigned, unsigned>> ranges_;
};

struct SeedStats {
  std::uint64_t keys = 0;
  std::uint64_t commands = 0;
  std::uint64_t raw_bytes = 0;  // value bytes sent (plus field names and members), not the server's memory
  std::uint64_t with_ttl = 0;
  double elapsed_s = 0;
};

struct Target {
  std::string host;
  int port = 0;
};

// (a)/(c): `count` string keys "str:NNNNNNNN" with `value_size`-byte values, written with MSET.
SeedStats seed_strings(const Target& target, std::uint64_t count, std::size_t value_size,
                       const SlotFilter& filter);

// (b): `count` keys spread evenly over string, list, set, zset, hash and stream; a fraction `ttl_fraction` of
// them expire in 1 to 6 hours; sizes vary (exponential, mean target_bytes / count) so that the raw data add
// up to about `target_bytes`.
SeedStats seed_mixed(const Target& target, std::uint64_t count, double ttl_fraction,
                     std::uint64_t target_bytes, const SlotFilter& filter);

// (d): big:hash (300 MB in 1 M fields), big:zset (5 M members), big:list (2 M items), big:string (200 MB),
// all multiplied by `scale` (0.1 for a quick run).
SeedStats seed_bigkeys(const Target& target, double scale);

}  // namespace rmbench
