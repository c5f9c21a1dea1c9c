#include "verify/compare.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <tuple>

#include "resp/reply.hpp"
#include "util/escape.hpp"

namespace rmig::verify {

namespace {

bool is_text(int type) noexcept { return type == REDIS_REPLY_STRING || type == REDIS_REPLY_STATUS; }

std::string_view str(const redisReply* r) { return resp::text(r); }

// Flat RESP2 map (XINFO): the value of `field`, or null.
const redisReply* field(const redisReply* map, std::string_view name) {
  if (!resp::is_array(map)) return nullptr;
  for (std::size_t i = 0; i + 1 < map->elements; i += 2) {
    if (resp::is_string(map->element[i]) && str(map->element[i]) == name) return map->element[i + 1];
  }
  return nullptr;
}

std::string scalar(const redisReply* r) {
  if (r == nullptr) return "(none)";
  if (resp::is_integer(r)) return std::to_string(r->integer);
  if (resp::is_string(r)) return std::string(str(r));
  return resp::describe(r);
}

const char* unit(std::string_view type) {
  if (type == "string") return "bytes";
  if (type == "hash") return "fields";
  if (type == "stream") return "entries";
  if (type == "list") return "elements";
  return "members";
}

const redisReply* answer_at(const std::vector<const redisReply*>& answers, std::size_t i) noexcept {
  return i < answers.size() ? answers[i] : nullptr;
}

std::size_t pairs(const redisReply* items) noexcept {
  return resp::is_array(items) ? items->elements / 2 : 0;
}

}  // namespace

bool same_reply(const redisReply* a, const redisReply* b) noexcept {
  if (a == nullptr || b == nullptr) return a == b;
  if (is_text(a->type) && is_text(b->type))
    return a->len == b->len && std::memcmp(a->str, b->str, a->len) == 0;
  if (a->type != b->type) return false;
  switch (a->type) {
    case REDIS_REPLY_ERROR: return a->len == b->len && std::memcmp(a->str, b->str, a->len) == 0;
    case REDIS_REPLY_INTEGER: return a->integer == b->integer;
    case REDIS_REPLY_NIL: return true;
    case REDIS_REPLY_ARRAY:
      if (a->elements != b->elements) return false;
      for (std::size_t i = 0; i < a->elements; ++i) {
        if (!same_reply(a->element[i], b->element[i])) return false;
      }
      return true;
    default: return false;
  }
}

std::optional<std::string> next_stream_id(std::string_view id) {
  const std::size_t dash = id.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  uint64_t ms = 0, seq = 0;
  auto a = std::from_chars(id.data(), id.data() + dash, ms);
  auto b = std::from_chars(id.data() + dash + 1, id.data() + id.size(), seq);
  if (a.ec != std::errc() || a.ptr != id.data() + dash || b.ec != std::errc() ||
      b.ptr != id.data() + id.size()) {
    return std::nullopt;
  }
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  if (seq < kMax) return std::to_string(ms) + "-" + std::to_string(seq + 1);
  if (ms < kMax) return std::to_string(ms + 1) + "-0";
  return std::nullopt;
}

std::optional<bool> same_score(std::string_view a, std::string_view b) {
  if (a == b) return true;
  auto parse = [](std::string_view s) -> std::optional<double> {
    // strtod needs a terminated string; scores are short.
    std::string t(s);
    char* end = nullptr;
    const double v = std::strtod(t.c_str(), &end);
    if (t.empty() || end != t.c_str() + t.size() || std::isnan(v)) return std::nullopt;
    return v;
  };
  auto x = parse(a);
  auto y = parse(b);
  if (!x || !y) return std::nullopt;
  return *x == *y;
}

bool ttl_equal(int64_t src_pttl, int64_t dst_pttl, uint32_t tolerance_ms) noexcept {
  if (src_pttl < 0 || dst_pttl < 0) return src_pttl < 0 && dst_pttl < 0;
  const int64_t d = src_pttl > dst_pttl ? src_pttl - dst_pttl : dst_pttl - src_pttl;
  return d <= static_cast<int64_t>(tolerance_ms);
}

std::string ttl_text(int64_t pttl) {
  if (pttl == -1) return "persistent";
  if (pttl < 0) return "gone";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3fs", static_cast<double>(pttl) / 1000.0);
  return buf;
}

std::optional<uint16_t> rdb_version(std::string_view payload) noexcept {
  if (payload.size() < 10) return std::nullopt;
  const auto* p = reinterpret_cast<const unsigned char*>(payload.data() + payload.size() - 10);
  return static_cast<uint16_t>(p[0] | (p[1] << 8));
}

std::size_t first_difference(std::string_view a, std::string_view b) noexcept {
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return i;
  }
  return n;
}

// ---- verdicts ----

void count_difference(report::Counters& c, std::string_view kind) noexcept {
  ++c.checked;
  if (kind == kMissing) {
    ++c.missing;
  } else if (kind == kTypeDiffers) {
    ++c.type_differs;
  } else if (kind == kValueDiffers) {
    ++c.value_differs;
  } else if (kind == kFieldTtlDiffers) {
    ++c.field_ttl_differs;
  } else {
    ++c.ttl_differs;
  }
}

std::string quoted(std::string_view bytes) { return "\"" + printable_short(bytes, 60) + "\""; }

Head check_head(std::string_view src_type, int64_t src_pttl, std::string_view dst_type,
                uint32_t tolerance_ms) {
  if (src_type == "none") return Head{Head::kVanished};
  if (dst_type == "none") {
    // About to expire on the source: a copy would not have restored it either.
    if (src_pttl >= 0 && src_pttl <= static_cast<int64_t>(tolerance_ms)) return Head{Head::kExpired};
    return Head{Head::kDifferent,
                Finding{kMissing, "not on the destination (source: " + std::string(src_type) + ", " +
                                      ttl_text(src_pttl) + ")"}};
  }
  if (src_type != dst_type) {
    return Head{Head::kDifferent, Finding{kTypeDiffers, "source " + std::string(src_type) + ", destination " +
                                                            std::string(dst_type)}};
  }
  return Head{};
}

Finding ttl_differs(int64_t src_pttl, int64_t dst_pttl, uint32_t tolerance_ms) {
  return Finding{kTtlDiffers, "TTL " + ttl_text(src_pttl) + " on the source, " + ttl_text(dst_pttl) +
                                  " on the destination (tolerance " + ttl_text(tolerance_ms) + ")"};
}

Check check_size(std::string_view type, int64_t src_size, int64_t dst_size) {
  if (src_size == dst_size) return std::nullopt;
  return Finding{kValueDiffers, std::string(type) + " of " + std::to_string(src_size) + " " + unit(type) +
                                    " on the source, " + std::to_string(dst_size) + " on the destination"};
}

DumpVerdict compare_dumps(const redisReply* src, const redisReply* dst) noexcept {
  if (!resp::is_string(src)) return DumpVerdict::kVanished;
  if (!resp::is_string(dst)) return DumpVerdict::kDestinationGone;
  const std::string_view sp = str(src);
  const std::string_view dp = str(dst);
  if (sp == dp) return DumpVerdict::kEqual;
  const auto sv = rdb_version(sp);
  const auto dv = rdb_version(dp);
  if (sv && dv && *sv != *dv) return DumpVerdict::kOtherRdbFormat;
  return DumpVerdict::kDiffer;
}

Check check_string_chunk(const redisReply* src, const redisReply* dst, uint64_t offset, int64_t size) {
  if (same_reply(src, dst)) return std::nullopt;
  return Finding{kValueDiffers, "string differs at byte " +
                                    std::to_string(offset + first_difference(str(src), str(dst))) + " of " +
                                    std::to_string(size)};
}

Check check_list_chunk(const redisReply* src, const redisReply* dst, uint64_t offset) {
  for (std::size_t i = 0; i < std::max(src->elements, dst->elements); ++i) {
    if (i >= src->elements || i >= dst->elements || !same_reply(src->element[i], dst->element[i])) {
      std::string detail = "element " + std::to_string(offset + i) + " differs";
      if (i < src->elements && i < dst->elements) {
        detail += ": " + quoted(str(src->element[i])) + " on the source, " + quoted(str(dst->element[i])) +
                  " on the destination";
      }
      return Finding{kValueDiffers, std::move(detail)};
    }
  }
  return std::nullopt;
}

Check check_stream_entries(const redisReply* src, const redisReply* dst) {
  for (std::size_t i = 0; i < std::max(src->elements, dst->elements); ++i) {
    if (i >= src->elements || i >= dst->elements || !same_reply(src->element[i], dst->element[i])) {
      const redisReply* e = i < src->elements ? src->element[i] : dst->element[i];
      const std::string id = resp::is_array(e) && e->elements > 0 ? scalar(e->element[0]) : "?";
      return Finding{kValueDiffers, "stream entry " + id + " differs"};
    }
  }
  return std::nullopt;
}

std::optional<std::string> next_stream_start(const redisReply* entries) {
  if (!resp::is_array(entries) || entries->elements == 0) return std::nullopt;
  const redisReply* last = entries->element[entries->elements - 1];
  if (!resp::is_array(last) || last->elements == 0) return std::nullopt;
  return next_stream_id(str(last->element[0]));
}

Check check_stream_info(const redisReply* src, const redisReply* dst) {
  for (const char* name : {"last-generated-id", "max-deleted-entry-id", "entries-added"}) {
    const redisReply* a = field(src, name);
    const redisReply* b = field(dst, name);
    if (a == nullptr || b == nullptr) continue;
    if (!same_reply(a, b)) {
      return Finding{kValueDiffers, std::string("stream ") + name + " " + scalar(a) + " on the source, " +
                                        scalar(b) + " on the destination"};
    }
  }
  return std::nullopt;
}

Check check_stream_groups(const redisReply* src, const redisReply* dst) {
  using Group = std::tuple<std::string, std::string, std::string, std::string>;
  auto groups = [](const redisReply* r) {
    std::vector<Group> out;
    if (!resp::is_array(r)) return out;
    for (std::size_t i = 0; i < r->elements; ++i) {
      const redisReply* g = r->element[i];
      out.emplace_back(scalar(field(g, "name")), scalar(field(g, "last-delivered-id")),
                       scalar(field(g, "pending")), scalar(field(g, "consumers")));
    }
    std::sort(out.begin(), out.end());
    return out;
  };
  const auto a = groups(src);
  const auto b = groups(dst);
  if (a == b) return std::nullopt;
  for (std::size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    if (i < a.size() && i < b.size() && a[i] == b[i]) continue;
    const Group& g = i < a.size() ? a[i] : b[i];
    std::string detail = "consumer group " + quoted(std::get<0>(g));
    if (i < a.size() && i < b.size() && std::get<0>(a[i]) == std::get<0>(b[i])) {
      detail += " differs: last-delivered-id " + std::get<1>(a[i]) + " / " + std::get<1>(b[i]) +
                ", pending " + std::get<2>(a[i]) + " / " + std::get<2>(b[i]) + ", consumers " +
                std::get<3>(a[i]) + " / " + std::get<3>(b[i]) + " (source / destination)";
    } else {
      detail += i < a.size() ? " only on the source" : " only on the destination";
      if (a.size() != b.size()) {
        detail = std::to_string(a.size()) + " consumer groups on the source, " + std::to_string(b.size()) +
                 " on the destination";
      }
    }
    return Finding{kValueDiffers, std::move(detail)};
  }
  return std::nullopt;  // not reached: a != b
}

Check check_set_members(const redisReply* items, const std::vector<const redisReply*>& answers) {
  const std::size_t n = resp::is_array(items) ? items->elements : 0;
  for (std::size_t i = 0; i < n; ++i) {
    const redisReply* answer = answer_at(answers, i);
    if (!resp::is_integer(answer) || answer->integer != 1) {
      return Finding{kValueDiffers, "member " + quoted(str(items->element[i])) + " not on the destination"};
    }
  }
  return std::nullopt;
}

Check check_zset_members(const redisReply* items, const std::vector<const redisReply*>& answers) {
  for (std::size_t i = 0; i < pairs(items); ++i) {
    const redisReply* member = items->element[i * 2];
    const redisReply* score = items->element[i * 2 + 1];
    const redisReply* answer = answer_at(answers, i);
    if (answer == nullptr || resp::is_nil(answer)) {
      return Finding{kValueDiffers, "member " + quoted(str(member)) + " not on the destination"};
    }
    auto same = same_score(str(score), str(answer));
    if (!same || !*same) {
      return Finding{kValueDiffers, "member " + quoted(str(member)) + ": score " + std::string(str(score)) +
                                        " on the source, " + std::string(str(answer)) +
                                        " on the destination"};
    }
  }
  return std::nullopt;
}

Check check_hash_fields(const redisReply* items, const std::vector<const redisReply*>& answers) {
  for (std::size_t i = 0; i < pairs(items); ++i) {
    const redisReply* name = items->element[i * 2];
    const redisReply* value = items->element[i * 2 + 1];
    const redisReply* answer = answer_at(answers, i);
    if (answer == nullptr || resp::is_nil(answer)) {
      return Finding{kValueDiffers, "field " + quoted(str(name)) + " not on the destination"};
    }
    if (!same_reply(value, answer)) {
      return Finding{kValueDiffers, "field " + quoted(str(name)) + ": " + quoted(str(value)) +
                                        " on the source, " + quoted(str(answer)) + " on the destination"};
    }
  }
  return std::nullopt;
}

FieldTtls check_field_ttls(const redisReply* items, const redisReply* src_ttls, const redisReply* dst_ttls,
                           uint32_t tolerance_ms) {
  const std::size_t n = pairs(items);
  constexpr int64_t kBad = -3;
  auto ttl_of = [n](const redisReply* side, std::size_t i) -> int64_t {
    if (side == nullptr) return -1;  // no field expiration on that side
    if (!resp::is_array(side) || side->elements != n || !resp::is_integer(side->element[i])) return kBad;
    return side->element[i]->integer;
  };
  for (std::size_t i = 0; i < n; ++i) {
    const int64_t s = ttl_of(src_ttls, i);
    const int64_t d = ttl_of(dst_ttls, i);
    if (s == kBad) return FieldTtls{FieldTtls::kBadSource};
    if (d == kBad) return FieldTtls{FieldTtls::kBadDestination};
    if (s == -2 || d == -2) continue;
    if (!ttl_equal(s, d, tolerance_ms)) {
      return FieldTtls{
          FieldTtls::kDifferent,
          Finding{kFieldTtlDiffers, "field " + quoted(str(items->element[i * 2])) + ": TTL " + ttl_text(s) +
                                        " on the source, " + ttl_text(d) + " on the destination (tolerance " +
                                        ttl_text(tolerance_ms) + ")"}};
    }
  }
  return FieldTtls{};
}

}  // namespace rmig::verify
