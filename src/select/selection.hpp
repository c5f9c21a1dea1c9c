#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace rmig::select {

class RenameRules;

// --shard I/N: this process takes the keys of an even, contiguous share of the 16,384 hash slots, shard I
// of N getting slots [floor(I*16384/N), floor((I+1)*16384/N)). count 0: not sharded (every slot).
struct Shard {
  uint32_t index = 0;
  uint32_t count = 0;

  bool active() const noexcept { return count > 0; }
  uint32_t first_slot() const noexcept { return active() ? index * 16384u / count : 0; }
  uint32_t end_slot() const noexcept { return active() ? (index + 1) * 16384u / count : 16384; }  // exclusive
  bool owns(uint32_t slot) const noexcept { return slot >= first_slot() && slot < end_slot(); }
  // "1/3"
  std::string text() const { return std::to_string(index) + "/" + std::to_string(count); }
  // "slots 5461-10922 (5462 slots)"
  std::string slots_text() const {
    return "slots " + std::to_string(first_slot()) + "-" + std::to_string(end_slot() - 1) + " (" +
           std::to_string(end_slot() - first_slot()) + " slots)";
  }
};

// Which keys a run takes, and under which name they land.
struct Selection {
  std::vector<std::string>
      match;  // glob patterns (any matches); exactly one goes to the server as SCAN MATCH
  std::vector<std::string> exclude;  // glob patterns (none may match)
  std::vector<std::string> types;    // string, list, set, zset, hash, stream (any); empty: every type
  std::shared_ptr<const RenameRules> rename;  // null: names unchanged
  std::string own_prefix = "redis-migrate:";  // the tool's lock and state keys: never selected
  // Source and destination are the same database: a key no rule renames would land on itself, so only
  // renamed keys are selected.
  bool renamed_only = false;
  // --shard: only keys whose hash slot (CRC16 of the hash tag) the shard owns are selected.
  Shard shard;
  // The source answers SCAN ... TYPE (Redis >= 6.0): with exactly one type it filters server-side.
  bool scan_type_supported = true;

  bool needs_type_check() const noexcept {
    return !types.empty() && !(types.size() == 1 && scan_type_supported);
  }
};

}  // namespace rmig::select
