#include "copy/rewrite/translate.hpp"

#include <algorithm>

#include "value/kind.hpp"

namespace rmig::copy::rewrite {

void Writes::clear() noexcept {
  words_.clear();
  commands_.clear();
  kept_.clear();
}

void Writes::begin() { commands_.push_back(Command{words_.size(), 0}); }

void Writes::cancel() noexcept {
  words_.resize(commands_.back().first);
  commands_.pop_back();
}

void Writes::add_value(std::string_view word) {
  words_.push_back(word);
  commands_.back().bytes += word.size();
}

void Writes::add_copy(std::string text) { words_.push_back(kept_.emplace_back(std::move(text))); }

std::span<const std::string_view> Writes::command(std::size_t i) const noexcept {
  const std::size_t end = i + 1 < commands_.size() ? commands_[i + 1].first : words_.size();
  return {words_.data() + commands_[i].first, end - commands_[i].first};
}

Cursor first_cursor(value::Kind kind) {
  Cursor at;
  at.cursor = kind == value::Kind::kStream ? "-" : "0";
  return at;
}

const char* read_name(value::Kind kind) noexcept {
  switch (kind) {
    case value::Kind::kString: return "GETRANGE";
    case value::Kind::kList: return "LRANGE";
    case value::Kind::kSet: return "SSCAN";
    case value::Kind::kZset: return "ZSCAN";
    case value::Kind::kHash: return "HSCAN";
    case value::Kind::kStream: return "XRANGE";
    default: return "read";
  }
}

ReadCommand::ReadCommand(value::Kind kind, const Cursor& at, std::string_view key)
    : from_(at.offset),
      to_(at.offset + static_cast<int64_t>(kind == value::Kind::kString ? kStringChunk : at.count) - 1),
      count_text_(static_cast<int64_t>(at.count)) {
  switch (kind) {
    case value::Kind::kString:
    case value::Kind::kList:
      words_ = {read_name(kind), key, from_.view(), to_.view()};
      count_ = 4;
      break;
    case value::Kind::kSet:
    case value::Kind::kZset:
    case value::Kind::kHash:
      // A cursor returns every member present for the whole copy, whatever is added or removed meanwhile
      // (paging a zset by rank would skip members when higher ones are removed).
      words_ = {read_name(kind), key, at.cursor, "COUNT", count_text_.view()};
      count_ = 5;
      break;
    case value::Kind::kStream:
      words_ = {"XRANGE", key, at.cursor, "+", "COUNT", count_text_.view()};
      count_ = 6;
      break;
    default: count_ = 0;
  }
}

std::size_t adapt_count(std::size_t bytes, std::size_t elements, std::size_t current) noexcept {
  if (elements == 0 || bytes == 0) return current;
  const std::size_t per = std::max<std::size_t>(1, bytes / elements);
  return std::clamp<std::size_t>(kChunkBytes / per, 1, kMaxChunkElements);
}

const redisReply* scan_page(const redisReply* r, Cursor& at, bool pairs) {
  if (!resp::is_array(r) || r->elements != 2 || !resp::is_string(r->element[0]) ||
      !resp::is_array(r->element[1])) {
    return nullptr;
  }
  const redisReply* items = r->element[1];
  if (pairs && items->elements % 2 != 0) return nullptr;
  at.cursor = std::string(resp::text(r->element[0]));
  at.done = at.cursor == "0";
  return items;
}

Chunk translate(value::Kind kind, const redisReply* reply, Cursor& at, std::string_view temp, bool first,
                Writes& out) {
  switch (kind) {
    case value::Kind::kString: return translate_string(reply, at, temp, first, out);
    case value::Kind::kList: return translate_list(reply, at, temp, out);
    case value::Kind::kSet: return translate_set(reply, at, temp, out);
    case value::Kind::kZset: return translate_zset(reply, at, temp, out);
    case value::Kind::kStream: return translate_stream(reply, at, temp, out);
    default: return Chunk{Chunk::Status::kMalformed};
  }
}

}  // namespace rmig::copy::rewrite
