#pragma once
// Bytes to replies, separate from sockets: wraps hiredis's redisReader so it can be fed any fragmentation of
// the stream (unit-tested by feeding "*2\r\n" and then the rest).

#include <hiredis/read.h>

#include <cstddef>

#include "resp/reply.hpp"
#include "util/result.hpp"

namespace rmig::resp {

class Reader {
 public:
  Reader();
  ~Reader();
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  Status feed(const char* data, std::size_t len);
  // The next complete reply, or a null Reply when more bytes are needed. A protocol error is an Error.
  Result<Reply> next();
  // Gives back memory after a large reply was consumed: hiredis keeps its buffer's capacity while a partial
  // reply remains, so a single 50 MB value would otherwise pin 50 MB for the rest of the run.
  void compact() noexcept;
  std::size_t buffered() const noexcept;
  std::size_t capacity() const noexcept;

 private:
  redisReader* r_;
};

}  // namespace rmig::resp
