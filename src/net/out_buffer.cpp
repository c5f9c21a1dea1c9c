#include "net/out_buffer.hpp"

#include <algorithm>

namespace rmig::net {

OutBuffer::Chunk& OutBuffer::tail_with_room(std::size_t n) {
  if (chunks_.empty() || chunks_.back().cap - chunks_.back().used < n) {
    std::size_t cap = std::max(kChunkSize, n);
    chunks_.push_back(Chunk{std::make_unique_for_overwrite<char[]>(cap), cap, 0});  // no zero-fill
    tail_open_ = false;
  }
  return chunks_.back();
}

char* OutBuffer::reserve(std::size_t n) {
  Chunk& c = tail_with_room(n);
  return c.data.get() + c.used;
}

void OutBuffer::commit(std::size_t n) {
  if (n == 0) return;
  Chunk& c = chunks_.back();
  const char* start = c.data.get() + c.used;
  if (tail_open_ && !pieces_.empty() && pieces_.back().data + pieces_.back().len == start) {
    pieces_.back().len += n;
  } else {
    pieces_.push_back(Piece{start, n});
  }
  tail_open_ = true;
  c.used += n;
  size_ += n;
}

void OutBuffer::append(const char* data, std::size_t len) {
  while (len > 0) {
    // Fill the tail chunk, then continue in a new one: no single allocation larger than a chunk for copies.
    Chunk* c = chunks_.empty() ? nullptr : &chunks_.back();
    std::size_t room = c != nullptr ? c->cap - c->used : 0;
    if (room == 0) {
      c = &tail_with_room(std::min(len, kChunkSize));
      room = c->cap - c->used;
    }
    std::size_t n = std::min(room, len);
    std::memcpy(c->data.get() + c->used, data, n);
    commit(n);
    data += n;
    len -= n;
  }
}

void OutBuffer::append_shared(const char* data, std::size_t len, std::shared_ptr<const void> owner) {
  if (len == 0) return;
  pieces_.push_back(Piece{data, len});
  owners_.push_back(std::move(owner));
  tail_open_ = false;
  size_ += len;
}

void OutBuffer::clear() noexcept {
  pieces_.clear();
  owners_.clear();
  if (chunks_.size() > 1) chunks_.erase(chunks_.begin() + 1, chunks_.end());
  if (!chunks_.empty()) {
    if (chunks_.front().cap != kChunkSize) {
      chunks_.clear();
    } else {
      chunks_.front().used = 0;
    }
  }
  size_ = 0;
  tail_open_ = false;
}

}  // namespace rmig::net
