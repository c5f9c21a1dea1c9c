#include "copy/rewrite/translate.hpp"

namespace rmig::copy::rewrite {

Chunk translate_zset(const redisReply* r, Cursor& at, std::string_view temp, Writes& out) {
  const redisReply* items = scan_page(r, at, true);
  if (items == nullptr) return Chunk{Chunk::Status::kMalformed};
  Chunk chunk;
  chunk.elements = items->elements / 2;
  if (chunk.elements == 0) return chunk;
  out.begin();
  out.add("ZADD");
  out.add(temp);
  // ZSCAN gives member, score; ZADD takes score, member; the score text is the server's exact double. Pairs
  // go in reverse: a listpack-encoded zset comes back in ascending score order, and descending inserts each
  // go in front, where a listpack finds an ascending member's place only after parsing every score before
  // it (see docs/internals.md).
  for (std::size_t i = items->elements; i >= 2; i -= 2) {
    out.add_value(resp::text(items->element[i - 1]));
    out.add_value(resp::text(items->element[i - 2]));
  }
  chunk.bytes = out.bytes(out.size() - 1);
  return chunk;
}

}  // namespace rmig::copy::rewrite
