#pragma once
// Everything verify decides without a server: reply equality, stream id arithmetic, score and TTL rules, the
// RDB version of a DUMP payload, and each stage's verdict from the replies of both sides (VerifyTask sends
// the commands, checks each reply's shape, and turns a verdict into a count, a difference or the next
// stage). No function here sends anything or keeps state.

#include <hiredis/hiredis.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "report/counters.hpp"

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

// ---- verdicts ----

// The report's names of the kinds of difference.
inline constexpr const char* kMissing = "missing";
inline constexpr const char* kTypeDiffers = "type differs";
inline constexpr const char* kValueDiffers = "value differs";
inline constexpr const char* kTtlDiffers = "ttl differs";
inline constexpr const char* kFieldTtlDiffers = "field TTL differs";

// A difference found in one key: its kind (one of the names above) and a one-line detail for the report.
struct Finding {
  const char* kind;
  std::string detail;
};
// nullopt: no difference found in what was compared.
using Check = std::optional<Finding>;

// Counts a checked key with a difference: `checked` and the counter of `kind` (ttl_differs for a name that
// is none of the others).
void count_difference(report::Counters& c, std::string_view kind) noexcept;

// An element's, member's or field's bytes for a detail: quoted, escaped, cut at about 60 characters.
std::string quoted(std::string_view bytes);

// Stage 1, from TYPE and PTTL on both sides ("none" for a missing key).
struct Head {
  enum Outcome : uint8_t {
    kCompare,    // the same type on both sides: compare the values
    kVanished,   // gone from the source since SCAN: not checked
    kExpired,    // missing on the destination, and the source's TTL is within the tolerance: not checked
    kDifferent,  // `finding`: missing, or type differs
  } outcome = kCompare;
  Finding finding{nullptr, {}};
};
Head check_head(std::string_view src_type, int64_t src_pttl, std::string_view dst_type,
                uint32_t tolerance_ms);

// The key TTLs of a key whose value is equal, when !ttl_equal(src_pttl, dst_pttl, tolerance_ms).
Finding ttl_differs(int64_t src_pttl, int64_t dst_pttl, uint32_t tolerance_ms);

// Stage 2: sizes (STRLEN, LLEN, SCARD, ZCARD, HLEN, XLEN) of a key of `type` on both sides.
Check check_size(std::string_view type, int64_t src_size, int64_t dst_size);

// Stage 3: both DUMP replies (a bulk string, or nil for a key gone meanwhile).
enum class DumpVerdict : uint8_t {
  kEqual,            // equal payloads: equal values (and equal field TTLs)
  kVanished,         // the source's key is gone
  kDestinationGone,  // the destination's key is gone (it was there at stage 1)
  kDiffer,           // different payloads: the per-type comparison tells
  kOtherRdbFormat,   // different payloads whose footers name different RDB versions: no DUMP of this pair of
                     // servers will ever be equal
};
DumpVerdict compare_dumps(const redisReply* src, const redisReply* dst) noexcept;

// Stage 4, one chunk of each type. The replies have the shape their command returns (checked by the caller).
// GETRANGE of the chunk starting at byte `offset` of strings of `size` bytes.
Check check_string_chunk(const redisReply* src, const redisReply* dst, uint64_t offset, int64_t size);
// LRANGE of the chunk starting at element `offset`.
Check check_list_chunk(const redisReply* src, const redisReply* dst, uint64_t offset);
// XRANGE of one chunk of entries.
Check check_stream_entries(const redisReply* src, const redisReply* dst);
// The XRANGE start of the next chunk: the id after the last entry of `entries`; nullopt when there is none
// (no entries, a malformed id, or the last possible id).
std::optional<std::string> next_stream_start(const redisReply* entries);
// XINFO STREAM: last-generated-id, max-deleted-entry-id and entries-added, each compared only when both
// sides report it (older servers lack the last two).
Check check_stream_info(const redisReply* src, const redisReply* dst);
// XINFO GROUPS: the set of groups by name, last-delivered-id, pending and consumers count.
Check check_stream_groups(const redisReply* src, const redisReply* dst);

// A source scan chunk's items (SSCAN: members; ZSCAN: member, score, ...; HSCAN: field, value, ...) against
// the destination's answers, one per member or field in order: SMISMEMBER/SISMEMBER (1 or 0), ZMSCORE/ZSCORE
// (a score or nil), HMGET (a value or nil). `answers` holds items->elements (set) or half of it.
Check check_set_members(const redisReply* items, const std::vector<const redisReply*>& answers);
Check check_zset_members(const redisReply* items, const std::vector<const redisReply*>& answers);
Check check_hash_fields(const redisReply* items, const std::vector<const redisReply*>& answers);

// HPTTL of an HSCAN chunk's fields on both sides. A side's reply is null when that side has no field
// expiration (each field then counts as persistent). A field gone on either side (-2) is skipped: it
// changed since HSCAN, which is not this check's to judge.
struct FieldTtls {
  enum Outcome : uint8_t {
    kEqual,
    kBadSource,       // the source's reply has another length or a non-integer element
    kBadDestination,  // the same on the destination
    kDifferent,       // `finding`: field TTL differs
  } outcome = kEqual;
  Finding finding{nullptr, {}};
};
FieldTtls check_field_ttls(const redisReply* items, const redisReply* src_ttls, const redisReply* dst_ttls,
                           uint32_t tolerance_ms);

}  // namespace rmig::verify
