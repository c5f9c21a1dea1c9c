#pragma once
// Bytes queued for one write. Small pieces are copied into 64 KiB chunks; a large payload (a DUMP of a big
// key) is referenced in place and kept alive by a shared owner until the write completes, so a 50 MB value
// is never copied on its way out.

#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

namespace rmig::net {

class OutBuffer {
 public:
  static constexpr std::size_t kChunkSize = 64 * 1024;
  // Pieces at least this large are referenced rather than copied when an owner is given.
  static constexpr std::size_t kReferenceThreshold = 16 * 1024;

  struct Piece {
    const char* data;
    std::size_t len;
  };

  OutBuffer() = default;
  OutBuffer(OutBuffer&&) noexcept = default;
  OutBuffer& operator=(OutBuffer&&) noexcept = default;
  OutBuffer(const OutBuffer&) = delete;
  OutBuffer& operator=(const OutBuffer&) = delete;

  void append(const char* data, std::size_t len);
  void append(std::string_view s) { append(s.data(), s.size()); }
  // Returns room for at least n contiguous bytes in the tail chunk; commit() says how many were written.
  char* reserve(std::size_t n);
  void commit(std::size_t n);
  // References [data, data+len) without copying; owner keeps the memory alive until the buffer is released.
  void append_shared(const char* data, std::size_t len, std::shared_ptr<const void> owner);

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  const std::vector<Piece>& pieces() const noexcept { return pieces_; }
  // Drops everything already handed out; keeps one chunk for reuse.
  void clear() noexcept;

 private:
  struct Chunk {
    std::unique_ptr<char[]> data;
    std::size_t cap = 0;
    std::size_t used = 0;
  };
  Chunk& tail_with_room(std::size_t n);

  std::vector<Chunk> chunks_;
  std::vector<Piece> pieces_;
  std::vector<std::shared_ptr<const void>> owners_;
  std::size_t size_ = 0;
  bool tail_open_ = false;  // the last piece ends at the tail chunk's used mark and may grow
};

}  // namespace rmig::net
