#pragma once
// --on-conflict merge: a source hash, set or zset is folded into the existing destination key of the same
// type, server-side and atomically per key. The source value is restored under a temporary name in the
// target's slot (with a safety TTL, so a crash leaves nothing behind for long), then one Lua script adds its
// fields or members to the target (keeping the destination's value for those on both sides unless the source
// is preferred), leaves the target's TTL alone, and deletes the temporary key.

#include <cstdint>
#include <string>
#include <string_view>

#include "scripts/script.hpp"

namespace rmig::copy {

// What a DUMP payload holds, from its first byte (the RDB object type).
enum class ValueKind { kString, kList, kSet, kZset, kHash, kStream, kModule, kUnknown };

ValueKind payload_kind(std::string_view payload) noexcept;
// A hash stored with field-expiration metadata (RDB types 22-25: Redis >= 7.4, Valkey >= 9.0).
bool payload_has_field_ttls(std::string_view payload) noexcept;
// From a TYPE reply ("hash", "zset", ...); a module's type name is kModule.
ValueKind type_kind(std::string_view type) noexcept;
const char* kind_name(ValueKind k) noexcept;
// The command that gives a type's length (STRLEN, LLEN, SCARD, ZCARD, HLEN, XLEN); nullptr for a module's
// type.
const char* length_command(std::string_view type) noexcept;
bool mergeable(ValueKind k) noexcept;  // hash, set, zset

// The merge script: KEYS[1] the target, KEYS[2] the temporary key, ARGV[1] "1" when the source's values win.
// Returns 1 merged, -1 the types differ (nothing changed, temporary key deleted), -2 the temporary key is
// gone (its safety TTL ran out: retry), -3 the target is gone (temporary key deleted: restore normally
// instead).
const scripts::Script& merge_script();

// The safety TTL of a temporary key, in milliseconds.
inline constexpr int64_t kTempKeyTtlMs = 3'600'000;

}  // namespace rmig::copy
