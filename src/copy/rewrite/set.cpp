#include "copy/rewrite/translate.hpp"

namespace rmig::copy::rewrite {

Chunk translate_set(const redisReply* r, Cursor& at, std::string_view temp, Writes& out) {
  const redisReply* items = scan_page(r, at, false);
  if (items == nullptr) return Chunk{Chunk::Status::kMalformed};
  Chunk chunk;
  chunk.elements = items->elements;
  if (chunk.elements == 0) return chunk;
  out.begin();
  out.add("SADD");
  out.add(temp);
  for (std::size_t i = 0; i < items->elements; ++i)
    out.add_value(resp::text(items->element[i]));
  chunk.bytes = out.bytes(out.size() - 1);
  return chunk;
}

}  // namespace rmig::copy::rewrite
