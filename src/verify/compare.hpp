#pragma once
// Pieces of the per-type comparison that need no server: reply equality, stream id arithmetic, score and
// TTL rules, the RDB version of a DUMP payload.

#include <hiredis/hiredis.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rmig::verify {

// Deep equality of two replies (strings byte-exact, arrays element by element). A status and a bulk string
// with the same bytes are equal: RESP2 servers differ in which they send for some fields.
bool same_reply(const redisReply* a, const redisReply* b) noexcept;

// The smallest stream id after `id` ("5-3" -> "5-4", "5-18446744073709551615" -> "6-0"); nullopt when `id`
// is not an id or is the last possible one.
std::optional<std::string> next_stream_id(std::string_view id);

// Two sorted-set scores as the server prints them ("1.5", "inf", "-inf", "1e+300"): equal when they are the
// same double. nullopt when one is not a number.
std::optional<bool> same_score(std::string_view a, std::string_view b);

// PTTL rule of verify: both persistent (-1), or both expiring with remaining times at most `tolerance_ms`
// apart.
bool ttl_equal(int64_t src_pttl, int64_t dst_pttl, uint32_t tolerance_ms) noexcept;
// "persistent" or "12.3s".
std::string ttl_text(int64_t pttl);

// The RDB format version in a DUMP payload's footer (2 bytes before the 8-byte CRC), or nullopt.
std::optional<uint16_t> rdb_version(std::string_view payload) noexcept;

// Offset of the first byte where `a` and `b` differ (the shorter length when one is a prefix of the other).
std::size_t first_difference(std::string_view a, std::string_view b) noexcept;

}  // namespace rmig::verify
