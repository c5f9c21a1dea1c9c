#include <charconv>

#include "copy/rewrite/translate.hpp"

namespace rmig::copy::rewrite {

namespace {

// The guard group that creates an empty stream without entries or groups (XGROUP CREATE ... MKSTREAM).
constexpr std::string_view kMakeStreamGroup = "redis-migrate:mkstream";

// Field -> value of a flat RESP2 map (XINFO); only scalar values.
std::string map_field(const redisReply* r, std::string_view field) {
  if (!resp::is_array(r)) return {};
  for (std::size_t i = 0; i + 1 < r->elements; i += 2) {
    const redisReply* k = r->element[i];
    const redisReply* v = r->element[i + 1];
    if (!resp::is_string(k) || resp::text(k) != field) continue;
    if (resp::is_integer(v)) return std::to_string(v->integer);
    if (resp::is_string(v)) return std::string(resp::text(v));
    return {};
  }
  return {};
}

}  // namespace

std::string next_stream_id(std::string_view id) {
  const std::size_t dash = id.find('-');
  if (dash == std::string_view::npos) return {};
  uint64_t ms = 0, seq = 0;
  if (std::from_chars(id.data(), id.data() + dash, ms).ec != std::errc() ||
      std::from_chars(id.data() + dash + 1, id.data() + id.size(), seq).ec != std::errc()) {
    return {};
  }
  if (seq == UINT64_MAX) {
    if (ms == UINT64_MAX) return {};
    ++ms;
    seq = 0;
  } else {
    ++seq;
  }
  return std::to_string(ms) + "-" + std::to_string(seq);
}

Chunk translate_stream(const redisReply* r, Cursor& at, std::string_view temp, Writes& out) {
  if (!resp::is_array(r)) return Chunk{Chunk::Status::kMalformed};
  for (std::size_t i = 0; i < r->elements; ++i) {
    const redisReply* e = r->element[i];
    if (!resp::is_array(e) || e->elements != 2 || !resp::is_string(e->element[0]) ||
        !resp::is_array(e->element[1])) {
      return Chunk{Chunk::Status::kMalformed};
    }
  }
  Chunk chunk;
  chunk.elements = r->elements;
  at.done = chunk.elements < at.count;
  for (std::size_t i = 0; i < r->elements; ++i) {
    const redisReply* e = r->element[i];
    const redisReply* fields = e->element[1];
    out.begin();
    out.add("XADD");
    out.add(temp);
    out.add_value(resp::text(e->element[0]));
    for (std::size_t k = 0; k < fields->elements; ++k)
      out.add_value(resp::text(fields->element[k]));
    chunk.bytes += out.bytes(out.size() - 1);
  }
  if (chunk.elements > 0) {
    at.cursor = next_stream_id(resp::text(r->element[chunk.elements - 1]->element[0]));
    if (at.cursor.empty()) at.done = true;
  }
  return chunk;
}

StreamInfo parse_stream_info(const redisReply* r) {
  if (!resp::is_array(r)) return {};
  return StreamInfo{map_field(r, "last-generated-id"), map_field(r, "entries-added"),
                    map_field(r, "max-deleted-entry-id")};
}

bool parse_stream_groups(const redisReply* r, std::vector<StreamGroup>& groups) {
  groups.clear();
  if (!resp::is_array(r)) return false;
  for (std::size_t i = 0; i < r->elements; ++i) {
    const redisReply* g = r->element[i];
    StreamGroup group{map_field(g, "name"), map_field(g, "last-delivered-id"), map_field(g, "entries-read")};
    if (group.name.empty() || group.last_delivered.empty()) return false;
    groups.push_back(std::move(group));
  }
  return true;
}

void stream_setup(const StreamInfo& info, const std::vector<StreamGroup>& groups, bool created,
                  const engine::DestinationTraits& dst, std::string_view temp, Writes& out) {
  // No entries: the stream is made empty by its first group (put at its last-delivered ID below with SETID),
  // or by a guard group dropped right away.
  const bool made_by_group = !created && !groups.empty();
  if (!created) {
    out.begin();
    for (std::string_view w : {std::string_view("XGROUP"), std::string_view("CREATE"), temp,
                               made_by_group ? std::string_view(groups[0].name) : kMakeStreamGroup,
                               std::string_view("0"), std::string_view("MKSTREAM")})
      out.add(w);
    if (!made_by_group) {
      out.begin();
      for (std::string_view w :
           {std::string_view("XGROUP"), std::string_view("DESTROY"), temp, kMakeStreamGroup})
        out.add(w);
    }
  }
  out.begin();
  out.add("XSETID");
  out.add(temp);
  out.add(info.last_id);
  if (dst.stream_metadata && !info.entries_added.empty()) {
    out.add("ENTRIESADDED");
    out.add(info.entries_added);
  }
  if (dst.stream_metadata && !info.max_deleted.empty() && info.max_deleted != "0-0") {
    out.add("MAXDELETEDID");
    out.add(info.max_deleted);
  }
  for (std::size_t i = 0; i < groups.size(); ++i) {
    const StreamGroup& g = groups[i];
    out.begin();
    out.add("XGROUP");
    out.add(i == 0 && made_by_group ? "SETID" : "CREATE");
    out.add(temp);
    out.add(g.name);
    out.add(g.last_delivered);
    if (dst.stream_metadata && !g.entries_read.empty()) {
      out.add("ENTRIESREAD");
      out.add(g.entries_read);
    }
  }
}

int64_t stream_consumers(const redisReply* r, std::string_view group, const engine::DestinationTraits& dst,
                         std::string_view temp, Writes& out) {
  if (!resp::is_array(r)) return -1;
  int64_t lost = 0;
  for (std::size_t i = 0; i < r->elements; ++i) {
    if (dst.create_consumer) {
      out.begin();
      out.add("XGROUP");
      out.add("CREATECONSUMER");
      out.add(temp);
      out.add(group);
      out.add_copy(map_field(r->element[i], "name"));
    } else if (map_field(r->element[i], "pending") == "0") {
      // Without CREATECONSUMER (before Redis 6.2) a consumer exists only through its pending entries.
      ++lost;
    }
  }
  return lost;
}

bool stream_pending(const redisReply* r, std::string_view group, std::string_view temp, Writes& out,
                    std::string& next) {
  next.clear();
  if (!resp::is_array(r)) return false;
  for (std::size_t i = 0; i < r->elements; ++i) {
    const redisReply* p = r->element[i];
    // [id, consumer, idle ms, deliveries]
    if (!resp::is_array(p) || p->elements != 4 || !resp::is_integer(p->element[2]) ||
        !resp::is_integer(p->element[3])) {
      return false;
    }
  }
  for (std::size_t i = 0; i < r->elements; ++i) {
    const redisReply* p = r->element[i];
    out.begin();
    for (std::string_view w : {std::string_view("XCLAIM"), temp, group, resp::text(p->element[1]),
                               std::string_view("0"), resp::text(p->element[0]), std::string_view("IDLE")})
      out.add(w);
    out.add_copy(std::to_string(p->element[2]->integer));
    out.add("RETRYCOUNT");
    out.add_copy(std::to_string(p->element[3]->integer));
    out.add("FORCE");
    out.add("JUSTID");
  }
  if (r->elements == kPendingPage) next = next_stream_id(resp::text(r->element[r->elements - 1]->element[0]));
  return true;
}

}  // namespace rmig::copy::rewrite
