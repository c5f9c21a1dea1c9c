#include "copy/rewrite/translate.hpp"

namespace rmig::copy::rewrite {

Chunk translate_string(const redisReply* r, Cursor& at, std::string_view temp, bool first, Writes& out) {
  if (!resp::is_string(r)) return Chunk{Chunk::Status::kMalformed};
  const std::string_view chunk = resp::text(r);
  at.done = chunk.size() < kStringChunk;
  at.offset += static_cast<int64_t>(chunk.size());
  if (chunk.empty()) return Chunk{first ? Chunk::Status::kEmptyString : Chunk::Status::kOk};
  out.begin();
  out.add(first ? "SET" : "APPEND");
  out.add(temp);
  out.add_value(chunk);
  return Chunk{Chunk::Status::kOk, chunk.size(), 0};
}

}  // namespace rmig::copy::rewrite
