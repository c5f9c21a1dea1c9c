#pragma once
// --on-conflict merge: a source hash, set or zset is folded into the existing destination key of the same
// type, server-side and atomically per key. The source value is restored under a temporary name in the
// target's slot (with a safety TTL, so a crash leaves nothing behind for long), then one Lua script adds its
// fields or members to the target (keeping the destination's value for those on both sides unless the source
// is preferred), leaves the target's TTL alone, and deletes the temporary key (scripts::merge).

#include <cstdint>

namespace rmig::copy {

// The safety TTL of a temporary key, in milliseconds.
inline constexpr int64_t kTempKeyTtlMs = 3'600'000;

}  // namespace rmig::copy
