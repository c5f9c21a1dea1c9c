#pragma once
// The DUMP payload of a string value, built from the value itself: what RESTORE reads when a string was read
// with GETRANGE instead of DUMP (copy/fetch_stage.hpp). The layout is the one DUMP writes (rdb.c,
// createDumpPayload): the RDB object type (0, string), the value, the RDB version (2 bytes, little-endian)
// and the CRC-64 of everything before it (8 bytes, little-endian). The value is encoded as DUMP encodes it
// (rdbSaveRawString): a canonical decimal integer of at most 11 characters that fits 32 bits as an 8, 16 or
// 32-bit integer, anything else verbatim after its RDB length. Never LZF-compressed: DUMP compresses values
// over 20 bytes when that saves space, and a verbatim one loads into the same value (the destination then
// DUMPs it as the source would).

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace rmig::value {

// The payload's size for `value`.
std::size_t string_payload_size(std::string_view value) noexcept;

// Writes the payload of `value` with RDB version `rdb_version` to `out` (string_payload_size(value) bytes).
void write_string_payload(std::string_view value, int rdb_version, char* out);

// The value of a payload write_string_payload() wrote (verbatim or integer-encoded; the CRC is not checked);
// nullopt for any other payload (another type, an LZF-compressed string).
std::optional<std::string> string_payload_value(std::string_view payload);

}  // namespace rmig::value
