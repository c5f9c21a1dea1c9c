#include "copy/temp_key.hpp"

#include <vector>

#include "cluster/slot.hpp"

namespace rmig::copy {

const std::string& slot_tag(uint16_t slot) {
  // Built whole on first use: each candidate "0", "1", ... fills its own slot's entry if still empty, so
  // every slot is covered after about 16384 * ln(16384) = 160,000 CRC16s of a few bytes (a few milliseconds).
  // A search per slot would cost about 16384 tries for each slot met, hundreds of millions in a copy that
  // touches every slot.
  static const std::vector<std::string> table = [] {
    std::vector<std::string> t(cluster::kSlotCount);
    std::size_t filled = 0;
    for (uint32_t n = 0; filled < t.size(); ++n) {
      std::string candidate = std::to_string(n);
      std::string& entry = t[cluster::key_hash_slot(candidate)];
      if (entry.empty()) {
        entry = std::move(candidate);
        ++filled;
      }
    }
    return t;
  }();
  return table[slot % cluster::kSlotCount];
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
