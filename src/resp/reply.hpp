#pragma once
// Replies are hiredis redisReply trees, owned by a unique_ptr. Helpers check the shape before use: a reply is
// never assumed to be of the type a command usually returns.

#include <hiredis/hiredis.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace rmig::resp {

// Replies come from Reader, which allocates each one with its string or element array in one block (see
// reader.cpp); they are freed with free_reply, never with hiredis's freeReplyObject.
void free_reply(redisReply* r) noexcept;

struct ReplyDeleter {
  void operator()(redisReply* r) const noexcept { free_reply(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

// A string reply of `len` bytes (uninitialised, NUL after them) allocated as Reader allocates its own, for a
// value the program builds (value/string_payload.hpp) where a server's reply is expected. Null when out of
// memory.
Reply make_string_reply(std::size_t len) noexcept;

inline bool is_error(const redisReply* r) noexcept { return r != nullptr && r->type == REDIS_REPLY_ERROR; }
inline bool is_nil(const redisReply* r) noexcept { return r != nullptr && r->type == REDIS_REPLY_NIL; }
inline bool is_integer(const redisReply* r) noexcept {
  return r != nullptr && r->type == REDIS_REPLY_INTEGER;
}
inline bool is_array(const redisReply* r) noexcept { return r != nullptr && r->type == REDIS_REPLY_ARRAY; }
inline bool is_string(const redisReply* r) noexcept {
  return r != nullptr && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}
inline bool is_status(const redisReply* r, std::string_view s) noexcept {
  return r != nullptr && r->type == REDIS_REPLY_STATUS && std::string_view(r->str, r->len) == s;
}

// The text of a string, status or error reply; empty for other types.
inline std::string_view text(const redisReply* r) noexcept {
  if (r == nullptr ||
      (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS && r->type != REDIS_REPLY_ERROR)) {
    return {};
  }
  return {r->str, r->len};
}

// Integer replies, and bulk strings holding an integer (RESP2 returns some numbers as strings).
std::optional<long long> to_integer(const redisReply* r) noexcept;

// A one-line description for messages: "+OK", "-ERR ...", "(integer) 3", "(nil)", "(array of 2)".
std::string describe(const redisReply* r);

}  // namespace rmig::resp
