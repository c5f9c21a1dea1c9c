#pragma once
// What kind of value a key holds, one enum for every layer: from a TYPE reply, from the first byte of a DUMP
// payload (the RDB object type), its name, and the command that gives its length. Knows nothing of servers.

#include <array>
#include <cstdint>
#include <string_view>

#include "util/enum_names.hpp"

namespace rmig::value {

// kUnknown: no TYPE read yet, "none", or a payload type byte this table lacks. kModule: a module's type
// (any other TYPE name; RDB types 6 and 7), which only its DUMP payload can carry.
enum class Kind : uint8_t { kUnknown, kString, kList, kSet, kZset, kHash, kStream, kModule };

// The names TYPE replies with ("module" and "unknown" for the other two, as reports and plans print them).
inline constexpr std::array<NamedValue<Kind>, 8> kKindNames = {{
    {Kind::kUnknown, "unknown"},
    {Kind::kString, "string"},
    {Kind::kList, "list"},
    {Kind::kSet, "set"},
    {Kind::kZset, "zset"},
    {Kind::kHash, "hash"},
    {Kind::kStream, "stream"},
    {Kind::kModule, "module"},
}};

const char* kind_name(Kind k) noexcept;
// From a TYPE reply ("hash", "zset", ...): "" and "none" are kUnknown, any name not built in is kModule.
Kind type_kind(std::string_view type) noexcept;
// string, list, set, zset, hash, stream: the types read and written with their own commands.
bool builtin(Kind k) noexcept;
// hash, set, zset: the types --on-conflict merge folds into an existing key.
bool mergeable(Kind k) noexcept;

// The command that gives a type's length (STRLEN, LLEN, SCARD, ZCARD, HLEN, XLEN) from its TYPE name;
// nullptr for a module's type or an unknown one.
const char* length_command(std::string_view type) noexcept;

// What a DUMP payload holds, from its first byte (the RDB object type); kUnknown for an empty payload.
Kind payload_kind(std::string_view payload) noexcept;
// A hash stored with field-expiration metadata (RDB types 22-25: Redis >= 7.4, Valkey >= 9.0).
bool payload_has_field_ttls(std::string_view payload) noexcept;

}  // namespace rmig::value
