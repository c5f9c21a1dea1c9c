#include "copy/rewrite/translate.hpp"

namespace rmig::copy::rewrite {

Chunk translate_list(const redisReply* r, Cursor& at, std::string_view temp, Writes& out) {
  if (!resp::is_array(r)) return Chunk{Chunk::Status::kMalformed};
  Chunk chunk;
  chunk.elements = r->elements;
  at.done = chunk.elements < at.count;
  at.offset += static_cast<int64_t>(chunk.elements);
  if (chunk.elements == 0) return chunk;
  out.begin();
  out.add("RPUSH");
  out.add(temp);
  for (std::size_t i = 0; i < r->elements; ++i)
    out.add_value(resp::text(r->element[i]));
  chunk.bytes = out.bytes(out.size() - 1);
  return chunk;
}

}  // namespace rmig::copy::rewrite
