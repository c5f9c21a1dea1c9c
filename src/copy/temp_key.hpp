#pragma once
// Temporary keys built next to their target: a value assembled in pieces (rewrite path) or restored before a
// merge lives under a temporary name until one atomic command puts it in place. In a cluster that command
// (RENAME, a Lua merge) needs both names in one slot, so the temporary name carries a hash tag that maps to
// the target's slot: "{tag}<prefix>tmp:<unique>".

#include <cstdint>
#include <string>
#include <string_view>

namespace rmig::copy {

// A short hash tag whose slot is `slot` (found once per slot by trying "0", "1", ... and cached).
const std::string& slot_tag(uint16_t slot);

// The temporary name for `target`: same cluster slot, under `prefix` (the tool's own key prefix, never
// copied), distinguished by `unique` (e.g. a run id and a counter).
std::string temp_key(std::string_view target, std::string_view prefix, std::string_view unique);

}  // namespace rmig::copy
