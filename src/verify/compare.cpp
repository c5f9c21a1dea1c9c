#include "verify/compare.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace rmig::verify {

namespace {

bool is_text(int type) noexcept { return type == REDIS_REPLY_STRING || type == REDIS_REPLY_STATUS; }

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

}  // namespace rmig::verify
