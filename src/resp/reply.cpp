#include "resp/reply.hpp"

#include <charconv>

namespace rmig::resp {

std::optional<long long> to_integer(const redisReply* r) noexcept {
  if (r == nullptr) return std::nullopt;
  if (r->type == REDIS_REPLY_INTEGER) return r->integer;
  if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) {
    long long v = 0;
    auto [p, ec] = std::from_chars(r->str, r->str + r->len, v);
    if (ec == std::errc() && p == r->str + r->len) return v;
  }
  return std::nullopt;
}

std::string describe(const redisReply* r) {
  if (r == nullptr) return "(no reply)";
  switch (r->type) {
    case REDIS_REPLY_STATUS: return "+" + std::string(r->str, r->len);
    case REDIS_REPLY_ERROR: return "-" + std::string(r->str, r->len);
    case REDIS_REPLY_INTEGER: return "(integer) " + std::to_string(r->integer);
    case REDIS_REPLY_NIL: return "(nil)";
    case REDIS_REPLY_STRING: return "(string of " + std::to_string(r->len) + " bytes)";
    case REDIS_REPLY_ARRAY: return "(array of " + std::to_string(r->elements) + ")";
    default: return "(reply type " + std::to_string(r->type) + ")";
  }
}

}  // namespace rmig::resp
