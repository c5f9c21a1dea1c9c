#include "copy/temp_key.hpp"

#include <array>
#include <memory>
#include <mutex>

#include "cluster/slot.hpp"

namespace rmig::copy {

const std::string& slot_tag(uint16_t slot) {
  static std::array<std::unique_ptr<std::string>, cluster::kSlotCount> cache;
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  auto& entry = cache[slot % cluster::kSlotCount];
  if (!entry) {
    // About 16384 tries on average over all slots, each a CRC16 of a few bytes.
    for (uint32_t n = 0;; ++n) {
      std::string candidate = std::to_string(n);
      if (cluster::key_hash_slot(candidate) == slot % cluster::kSlotCount) {
        entry = std::make_unique<std::string>(std::move(candidate));
        break;
      }
    }
  }
  return *entry;
}

std::string temp_key(std::string_view target, std::string_view prefix, std::string_view unique) {
  const std::string& tag = slot_tag(cluster::key_hash_slot(target));
  std::string out;
  out.reserve(tag.size() + prefix.size() + unique.size() + 6);
  out += '{';
  out += tag;
  out += '}';
  out += prefix;
  out += "tmp:";
  out += unique;
  return out;
}

}  // namespace rmig::copy
