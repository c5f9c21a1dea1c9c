// hiredis.h includes sds.h outside its extern "C" block; including it first, inside one, gives the sds
// functions C linkage for this file.
extern "C" {
#include <hiredis/sds.h>
}

#include <cstdlib>
#include <cstring>

#include "resp/reader.hpp"

namespace rmig::resp {

namespace {

constexpr std::size_t kKeepCapacity = 1 << 20;

// Reply objects in one allocation each: a string reply carries its bytes right after the redisReply, an array
// its element pointers. hiredis's own functions make two allocations per string (the struct and the string),
// which showed as a fifth of the copier's instructions in malloc and free.
redisReply* new_reply(const redisReadTask* task, std::size_t extra) noexcept {
  auto* r = static_cast<redisReply*>(std::malloc(sizeof(redisReply) + extra));
  if (r == nullptr) return nullptr;
  std::memset(r, 0, sizeof(redisReply));
  r->type = task->type;
  if (task->parent != nullptr) {
    auto* parent = static_cast<redisReply*>(task->parent->obj);
    parent->element[task->idx] = r;
  }
  return r;
}

void* create_string(const redisReadTask* task, char* str, std::size_t len) {
  redisReply* r = new_reply(task, len + 1);
  if (r == nullptr) return nullptr;
  r->str = reinterpret_cast<char*>(r + 1);
  if (len > 0) std::memcpy(r->str, str, len);
  r->str[len] = '\0';
  r->len = len;
  return r;
}

void* create_array(const redisReadTask* task, int elements) {
  const auto n = static_cast<std::size_t>(elements > 0 ? elements : 0);
  redisReply* r = new_reply(task, n * sizeof(redisReply*));
  if (r == nullptr) return nullptr;
  r->elements = n;
  r->element = n > 0 ? reinterpret_cast<redisReply**>(r + 1) : nullptr;
  for (std::size_t i = 0; i < n; ++i)
    r->element[i] = nullptr;
  return r;
}

void* create_integer(const redisReadTask* task, long long value) {
  redisReply* r = new_reply(task, 0);
  if (r != nullptr) r->integer = value;
  return r;
}

void* create_nil(const redisReadTask* task) {
  // The task's type is the bulk or array being read ($-1, *-1); the object is a nil.
  redisReply* r = new_reply(task, 0);
  if (r != nullptr) r->type = REDIS_REPLY_NIL;
  return r;
}

void free_object(void* obj) { free_reply(static_cast<redisReply*>(obj)); }

redisReplyObjectFunctions kFunctions = {create_string, create_array, create_integer, create_nil, free_object};

}  // namespace

Reply make_string_reply(std::size_t len) noexcept {
  auto* r = static_cast<redisReply*>(std::malloc(sizeof(redisReply) + len + 1));
  if (r == nullptr) return Reply();
  std::memset(r, 0, sizeof(redisReply));
  r->type = REDIS_REPLY_STRING;
  r->str = reinterpret_cast<char*>(r + 1);
  r->str[len] = '\0';
  r->len = len;
  return Reply(r);
}

void free_reply(redisReply* r) noexcept {
  if (r == nullptr) return;
  if (r->type == REDIS_REPLY_ARRAY) {
    for (std::size_t i = 0; i < r->elements; ++i)
      free_reply(r->element[i]);
  }
  std::free(r);
}

Reader::Reader() : r_(redisReaderCreateWithFunctions(&kFunctions)) {
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
