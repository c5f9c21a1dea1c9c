// hiredis.h includes sds.h outside its extern "C" block; including it first, inside one, gives the sds
// functions C linkage for this file.
extern "C" {
#include <hiredis/sds.h>
}

#include <cstdlib>

#include "resp/reader.hpp"

namespace rmig::resp {

namespace {
constexpr std::size_t kKeepCapacity = 1 << 20;
}

Reader::Reader() : r_(redisReaderCreate()) {
  if (r_ == nullptr) std::abort();
}

Reader::~Reader() { redisReaderFree(r_); }

Status Reader::feed(const char* data, std::size_t len) {
  if (redisReaderFeed(r_, data, len) != REDIS_OK) {
    return make_error(ExitCode::kConnect, std::string("protocol error: ") + r_->errstr);
  }
  return {};
}

Result<Reply> Reader::next() {
  void* out = nullptr;
  if (redisReaderGetReply(r_, &out) != REDIS_OK) {
    return make_error(ExitCode::kConnect, std::string("protocol error: ") + r_->errstr);
  }
  return Reply(static_cast<redisReply*>(out));
}

void Reader::compact() noexcept {
  if (r_->buf == nullptr) return;
  if (sdsavail(r_->buf) > kKeepCapacity && sdslen(r_->buf) - r_->pos < kKeepCapacity) {
    // Drop what was consumed, then shrink the allocation to what remains.
    if (r_->pos > 0) {
      sdsrange(r_->buf, static_cast<int>(r_->pos), -1);
      r_->pos = 0;
      r_->len = sdslen(r_->buf);
    }
    r_->buf = sdsRemoveFreeSpace(r_->buf);
  }
}

std::size_t Reader::buffered() const noexcept { return r_->len - r_->pos; }

std::size_t Reader::capacity() const noexcept { return r_->buf == nullptr ? 0 : sdsalloc(r_->buf); }

}  // namespace rmig::resp
