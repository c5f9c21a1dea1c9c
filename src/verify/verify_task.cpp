#include "verify/verify_task.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <map>
#include <tuple>

#include "copy/copy_task.hpp"
#include "copy/merge.hpp"
#include "resp/server_error.hpp"
#include "util/escape.hpp"
#include "util/int_text.hpp"
#include "util/sha1.hpp"
#include "verify/compare.hpp"

namespace rmig::verify {

namespace {

using resp::ServerError;

// SHA-1 of the source's current DUMP, computed on the server so a large value never travels: the cleanup of
// a key compared in chunks deletes it only if it still hashes to this. "" when the key is gone.
constexpr const char* kShaScript =
    "local v = redis.call('DUMP', KEYS[1])\n"
    "if not v then return '' end\n"
    "return redis.sha1hex(v)\n";

std::string q(std::string_view bytes) { return "\"" + printable_short(bytes, 60) + "\""; }

std::string_view str(const redisReply* r) { return resp::text(r); }

// Flat RESP2 map (XINFO): the value of `field`, or null.
const redisReply* field(const redisReply* map, std::string_view name) {
  if (!resp::is_array(map)) return nullptr;
  for (std::size_t i = 0; i + 1 < map->elements; i += 2) {
    if (resp::is_string(map->element[i]) && str(map->element[i]) == name) return map->element[i + 1];
  }
  return nullptr;
}

std::string scalar(const redisReply* r) {
  if (r == nullptr) return "(none)";
  if (resp::is_integer(r)) return std::to_string(r->integer);
  if (resp::is_string(r)) return std::string(str(r));
  return resp::describe(r);
}

const char* unit(std::string_view type) {
  if (type == "string") return "bytes";
  if (type == "hash") return "fields";
  if (type == "stream") return "entries";
  if (type == "list") return "elements";
  return "members";
}

}  // namespace

void VerifyTask::attach(engine::Engine& engine) {
  engine_ = &engine;
  state_.clear();
  state_.resize(engine.window_size());
  streaming_ = 0;
  waiters_.clear();
  source_scripts_ = engine.options().source_scripts;
}

// ---- plumbing ----

bool VerifyTask::up(uint32_t j, Side side) {
  if (engine_->can_send(j, side)) return true;
  // send() on a side that is down parks the job and sends nothing.
  const std::string_view none[] = {"PING"};
  engine_->send(j, side, none, 1, kParkOnly);
  return false;
}

bool VerifyTask::both_up(uint32_t j) { return up(j, Side::kSource) && up(j, Side::kDestination); }

bool VerifyTask::abandon_if_failing(uint32_t j) {
  if (!engine_->failing()) return false;
  engine_->abandon(j);  // the run is stopping: nothing new starts, the key is given back
  return true;
}

void VerifyTask::send(uint32_t j, Side side, std::initializer_list<std::string_view> args, uint8_t op) {
  engine_->send(j, side, args.begin(), args.size(), op);
}

void VerifyTask::send_args(uint32_t j, Side side, const std::vector<std::string_view>& args, uint8_t op) {
  engine_->send(j, side, args.data(), args.size(), op);
}

void VerifyTask::reply_error(uint32_t j, Side side, const char* command, const redisReply* r) {
  const std::string msg = resp::is_error(r) ? std::string(str(r)) : "unexpected reply " + resp::describe(r);
  if (resp::is_error(r) && engine_->handle_error(j, side, command, msg)) return;
  engine_->fail_key(
      j, std::string(command) + (side == Side::kDestination ? " on the destination: " : ": ") + msg);
}

bool VerifyTask::pair(State& st, bool from_src, resp::Reply& reply, resp::Reply& src, resp::Reply& dst) {
  if (!st.held) {
    st.held = std::move(reply);
    st.held_src = from_src;
    return false;
  }
  if (st.held_src == from_src) {  // cannot happen: one command per side and pair
    st.held = std::move(reply);
    return false;
  }
  src = from_src ? std::move(reply) : std::move(st.held);
  dst = from_src ? std::move(st.held) : std::move(reply);
  st.held.reset();
  return true;
}

void VerifyTask::start(uint32_t j) {
  State& st = state_[j];
  st = State{};
  // Every scanned key is checked, also one the seen-filter thinks SCAN returned before: the filter can be
  // wrong, and a key it wrongly skipped would never be checked. (A key SCAN really returns twice, only while
  // the source's table resizes, is then checked and counted twice.)
  head(j);
}

void VerifyTask::resend(uint32_t j) {
  State& st = state_[j];
  st.held.reset();
  switch (engine_->job(j).stage) {
    case kStageHead: return head(j);
    case kStageSize: return size(j);
    case kStageDump: engine_->hold(j, resp::Reply()); return dump(j);
    case kStageStream:
      st.src_ttls.reset();
      st.dst_ttls.reset();
      if (st.chunk && st.field_ttl_phase) return field_ttls(j);
      if (st.chunk) return lookup(j);
      return stream(j);
    case kStageSha: return sha(j);
    case kStageDelete: return remove(j);
    default: return head(j);
  }
}

void VerifyTask::give_up(uint32_t j) {
  if (engine_->job(j).stage != kStageDelete) return engine_->abandon(j);
  // Checked equal; whether the deletion ran is unknown.
  ++engine_->counters(j).cleanup_failed;
  engine_->record_error("cleanup: no answer before the run stopped; the key may still be on the source",
                        engine_->job(j).key);
  engine_->done(j);
}

void VerifyTask::finished(uint32_t j) {
  State& st = state_[j];
  st.held.reset();
  st.chunk.reset();
  st.singles.clear();
  st.src_ttls.reset();
  st.dst_ttls.reset();
  st.field_ttl_phase = false;
  st.waiting = false;
  release_stream_slot(j);
}

void VerifyTask::release_stream_slot(uint32_t j) {
  State& st = state_[j];
  if (!st.streaming) return;
  st.streaming = false;
  --streaming_;
  while (!waiters_.empty()) {
    const uint32_t w = waiters_.front();
    waiters_.pop_front();
    State& ws = state_[w];
    if (!ws.waiting || !engine_->job(w).active) continue;
    ws.waiting = false;
    ws.streaming = true;
    ++streaming_;
    if (opts_.cleanup && !opts_.dry_run && ws.sha.empty()) return sha(w);
    return stream(w);
  }
}

void VerifyTask::on_reply(uint32_t j, uint8_t op, resp::Reply reply) {
  switch (op) {
    case kSrcType:
    case kDstType:
    case kSrcPttl:
    case kDstPttl: return on_head(j, op, reply.get());
    case kSrcSize:
    case kDstSize: return on_size(j, op, reply.get());
    case kSrcDump:
    case kDstDump: return on_dump(j, op, std::move(reply));
    case kSrcChunk:
    case kDstChunk: return on_chunk(j, op, std::move(reply));
    case kScan: return on_scan(j, std::move(reply));
    case kLookup:
    case kLookupOne: return on_lookup(j, op, std::move(reply));
    case kSha: return on_sha(j, reply.get());
    case kDelete: return on_delete(j, reply.get());
    case kSrcFieldTtl:
    case kDstFieldTtl: return on_field_ttl(j, op, std::move(reply));
    default: return;
  }
}

// ---- stage 1: TYPE and PTTL ----

void VerifyTask::head(uint32_t j) {
  engine::Job& job = engine_->job(j);
  job.stage = kStageHead;
  if (abandon_if_failing(j) || !both_up(j)) return;
  State& st = state_[j];
  st.pending = 4;
  st.src = SideRead{};
  st.dst = SideRead{};
  st.read_at = std::chrono::steady_clock::now();
  send(j, Side::kSource, {"TYPE", job.key}, kSrcType);
  send(j, Side::kSource, {"PTTL", job.key}, kSrcPttl);
  send(j, Side::kDestination, {"TYPE", job.target()}, kDstType);
  send(j, Side::kDestination, {"PTTL", job.target()}, kDstPttl);
}

void VerifyTask::on_head(uint32_t j, uint8_t op, const redisReply* r) {
  State& st = state_[j];
  const bool src = op == kSrcType || op == kSrcPttl;
  const Side side = src ? Side::kSource : Side::kDestination;
  SideRead& sr = src ? st.src : st.dst;
  if (op == kSrcType || op == kDstType) {
    if (!resp::is_string(r)) return reply_error(j, side, "TYPE", r);
    sr.type = std::string(str(r));
  } else {
    if (!resp::is_integer(r)) return reply_error(j, side, "PTTL", r);
    sr.pttl = r->integer;
  }
  if (--st.pending > 0) return;

  engine::Job& job = engine_->job(j);
  report::Counters& c = engine_->counters(j);
  if (st.src.type == "none") {
    ++c.vanished;  // deleted or expired on the source since SCAN: nothing to check
    return engine_->done(j);
  }
  if (st.dst.type == "none") {
    if (st.src.pttl >= 0 && st.src.pttl <= static_cast<int64_t>(opts_.ttl_tolerance_ms)) {
      // About to expire on the source: a copy would not have restored it either.
      ++c.expired;
      return engine_->done(j);
    }
    return difference(j, "missing",
                      "not on the destination (source: " + st.src.type + ", " + ttl_text(st.src.pttl) + ")");
  }
  if (st.src.type != st.dst.type) {
    return difference(j, "type differs", "source " + st.src.type + ", destination " + st.dst.type);
  }
  const std::string& t = st.src.type;
  st.kind = t == "string"   ? Kind::kString
            : t == "list"   ? Kind::kList
            : t == "set"    ? Kind::kSet
            : t == "zset"   ? Kind::kZset
            : t == "hash"   ? Kind::kHash
            : t == "stream" ? Kind::kStream
                            : Kind::kOther;
  st.ttl_ok = ttl_equal(st.src.pttl, st.dst.pttl, opts_.ttl_tolerance_ms);
  job.resent = false;                           // a new stage starts
  if (st.kind == Kind::kOther) return dump(j);  // a module type: only its payload can be compared
  size(j);
}

// ---- stage 2: sizes ----

void VerifyTask::size(uint32_t j) {
  engine::Job& job = engine_->job(j);
  job.stage = kStageSize;
  if (abandon_if_failing(j) || !both_up(j)) return;
  State& st = state_[j];
  const char* cmd = copy::length_command(st.src.type);
  st.pending = 2;
  send(j, Side::kSource, {cmd, job.key}, kSrcSize);
  send(j, Side::kDestination, {cmd, job.target()}, kDstSize);
}

void VerifyTask::on_size(uint32_t j, uint8_t op, const redisReply* r) {
  State& st = state_[j];
  const bool src = op == kSrcSize;
  if (!resp::is_integer(r)) {
    // WRONGTYPE: the key was replaced by one of another type in between.
    if (resp::is_error(r) && resp::classify_error(str(r)) == ServerError::kOther &&
        str(r).rfind("WRONGTYPE", 0) == 0) {
      return difference(j, "type differs", "the key changed type while it was checked");
    }
    return reply_error(j, src ? Side::kSource : Side::kDestination, copy::length_command(st.src.type), r);
  }
  (src ? st.src : st.dst).size = r->integer;
  if (--st.pending > 0) return;
  if (st.src.size != st.dst.size) {
    return difference(j, "value differs",
                      std::string(st.src.type) + " of " + std::to_string(st.src.size) + " " +
                          unit(st.src.type) + " on the source, " + std::to_string(st.dst.size) +
                          " on the destination");
  }
  engine_->job(j).resent = false;
  const uint64_t n = static_cast<uint64_t>(st.src.size);
  const bool small = st.kind == Kind::kString ? n <= kDumpMaxBytes : n <= kDumpMaxElements;
  if (small && !skip_dump_) return dump(j);
  begin_stream(j);
}

// ---- stage 3: DUMP ----

void VerifyTask::dump(uint32_t j) {
  engine::Job& job = engine_->job(j);
  job.stage = kStageDump;
  if (abandon_if_failing(j) || !both_up(j)) return;
  State& st = state_[j];
  st.held.reset();
  st.pending = 2;
  send(j, Side::kSource, {"DUMP", job.key}, kSrcDump);
  send(j, Side::kDestination, {"DUMP", job.target()}, kDstDump);
}

void VerifyTask::on_dump(uint32_t j, uint8_t op, resp::Reply reply) {
  State& st = state_[j];
  const bool src = op == kSrcDump;
  const redisReply* r = reply.get();
  if (resp::is_error(r) || (!resp::is_nil(r) && r->type != REDIS_REPLY_STRING)) {
    return reply_error(j, src ? Side::kSource : Side::kDestination, "DUMP", r);
  }
  if (--st.pending > 0) {
    // The first payload waits for the other, counted in the window's bytes.
    st.held_src = src;
    engine_->hold(j, std::move(reply));
    return;
  }
  engine::Job& job = engine_->job(j);
  const redisReply* held = job.payload.get();
  const redisReply* s = src ? r : held;
  const redisReply* d = src ? held : r;
  report::Counters& c = engine_->counters(j);
  if (resp::is_nil(s)) {
    ++c.vanished;
    return engine_->done(j);
  }
  if (resp::is_nil(d)) {
    return difference(j, "missing", "deleted on the destination while it was checked");
  }
  const std::string_view sp(s->str, s->len);
  const std::string_view dp(d->str, d->len);
  if (opts_.cleanup) st.sha = sha1_hex(sp);
  if (sp == dp) {
    engine_->hold(j, resp::Reply());
    return value_equal(j);
  }
  const auto sv = rdb_version(sp);
  const auto dv = rdb_version(dp);
  if (sv && dv && *sv != *dv && !skip_dump_) {
    skip_dump_ = true;
    spdlog::info(
        "source and destination write different RDB versions ({} and {}): values are compared by type, "
        "not by DUMP payload",
        *sv, *dv);
  }
  engine_->hold(j, resp::Reply());
  if (st.kind == Kind::kOther) {
    return difference(j, "value differs",
                      "DUMP payloads differ (" + st.src.type + " has no per-type comparison)");
  }
  // A hash table's order, another RDB version, or a real difference: the per-type comparison tells.
  begin_stream(j);
}

// ---- stage 4: per-type comparison in chunks ----

void VerifyTask::begin_stream(uint32_t j) {
  State& st = state_[j];
  engine_->job(j).stage = kStageStream;
  if (st.kind == Kind::kString && st.src.size == 0) return value_equal(j);  // two empty strings
  st.offset = 0;
  st.cursor = st.kind == Kind::kStream ? "-" : "0";
  st.step = kEntries;
  st.last_chunk = false;
  if (streaming_ >= kMaxStreaming) {
    st.waiting = true;
    waiters_.push_back(j);
    return;
  }
  st.streaming = true;
  ++streaming_;
  if (opts_.cleanup && !opts_.dry_run && st.sha.empty()) return sha(j);
  stream(j);
}

void VerifyTask::sha(uint32_t j) {
  engine::Job& job = engine_->job(j);
  job.stage = kStageSha;
  if (abandon_if_failing(j)) return;
  // Asked of the primary, where the deletion will compare it.
  send(j, Side::kWriter, {"EVAL", kShaScript, "1", job.key}, kSha);
}

void VerifyTask::on_sha(uint32_t j, const redisReply* r) {
  if (!resp::is_string(r)) return reply_error(j, Side::kWriter, "EVAL", r);
  if (str(r).empty()) {
    ++engine_->counters(j).vanished;
    return engine_->done(j);
  }
  state_[j].sha = std::string(str(r));
  engine_->job(j).resent = false;
  stream(j);
}

void VerifyTask::stream(uint32_t j) {
  engine::Job& job = engine_->job(j);
  job.stage = kStageStream;
  if (abandon_if_failing(j)) return;
  State& st = state_[j];
  st.held.reset();
  st.chunk.reset();
  const std::string& key = job.key;
  const std::string& target = job.target();
  switch (st.kind) {
    case Kind::kString: {
      if (!both_up(j)) return;
      const uint64_t end =
          std::min<uint64_t>(st.offset + kChunkBytes, static_cast<uint64_t>(st.src.size)) - 1;
      IntText from(static_cast<int64_t>(st.offset)), to(static_cast<int64_t>(end));
      send(j, Side::kSource, {"GETRANGE", key, from.view(), to.view()}, kSrcChunk);
      send(j, Side::kDestination, {"GETRANGE", target, from.view(), to.view()}, kDstChunk);
      return;
    }
    case Kind::kList: {
      if (!both_up(j)) return;
      IntText from(static_cast<int64_t>(st.offset)), to(static_cast<int64_t>(st.offset + kChunkElements - 1));
      send(j, Side::kSource, {"LRANGE", key, from.view(), to.view()}, kSrcChunk);
      send(j, Side::kDestination, {"LRANGE", target, from.view(), to.view()}, kDstChunk);
      return;
    }
    case Kind::kStream: {
      if (!both_up(j)) return;
      if (st.step == kEntries) {
        IntText count(static_cast<int64_t>(kChunkElements));
        send(j, Side::kSource, {"XRANGE", key, st.cursor, "+", "COUNT", count.view()}, kSrcChunk);
        send(j, Side::kDestination, {"XRANGE", target, st.cursor, "+", "COUNT", count.view()}, kDstChunk);
      } else if (st.step == kInfo) {
        send(j, Side::kSource, {"XINFO", "STREAM", key}, kSrcChunk);
        send(j, Side::kDestination, {"XINFO", "STREAM", target}, kDstChunk);
      } else {
        send(j, Side::kSource, {"XINFO", "GROUPS", key}, kSrcChunk);
        send(j, Side::kDestination, {"XINFO", "GROUPS", target}, kDstChunk);
      }
      return;
    }
    case Kind::kSet:
    case Kind::kZset:
    case Kind::kHash: {
      const char* cmd = st.kind == Kind::kSet ? "SSCAN" : st.kind == Kind::kZset ? "ZSCAN" : "HSCAN";
      IntText count(static_cast<int64_t>(kChunkElements));
      send(j, Side::kSource, {cmd, key, st.cursor, "COUNT", count.view()}, kScan);
      return;
    }
    case Kind::kOther: return difference(j, "value differs", "DUMP payloads differ");
  }
}

void VerifyTask::on_chunk(uint32_t j, uint8_t op, resp::Reply reply) {
  State& st = state_[j];
  const bool from_src = op == kSrcChunk;
  const redisReply* r = reply.get();
  const char* cmd = st.kind == Kind::kString ? "GETRANGE"
                    : st.kind == Kind::kList ? "LRANGE"
                    : st.step == kEntries    ? "XRANGE"
                                             : "XINFO";
  if (resp::is_error(r)) return reply_error(j, from_src ? Side::kSource : Side::kDestination, cmd, r);
  resp::Reply s_reply, d_reply;
  if (!pair(st, from_src, reply, s_reply, d_reply)) return;
  const redisReply* s = s_reply.get();
  const redisReply* d = d_reply.get();
  switch (st.kind) {
    case Kind::kString: {
      if (!resp::is_string(s) || !resp::is_string(d)) return reply_error(j, Side::kSource, cmd, s);
      if (!same_reply(s, d)) {
        return difference(j, "value differs",
                          "string differs at byte " +
                              std::to_string(st.offset + first_difference(str(s), str(d))) + " of " +
                              std::to_string(st.src.size));
      }
      st.offset += kChunkBytes;
      if (st.offset >= static_cast<uint64_t>(st.src.size)) return value_equal(j);
      return stream(j);
    }
    case Kind::kList: {
      if (!resp::is_array(s) || !resp::is_array(d)) return reply_error(j, Side::kSource, cmd, s);
      for (std::size_t i = 0; i < std::max(s->elements, d->elements); ++i) {
        if (i >= s->elements || i >= d->elements || !same_reply(s->element[i], d->element[i])) {
          std::string detail = "element " + std::to_string(st.offset + i) + " differs";
          if (i < s->elements && i < d->elements) {
            detail += ": " + q(str(s->element[i])) + " on the source, " + q(str(d->element[i])) +
                      " on the destination";
          }
          return difference(j, "value differs", std::move(detail));
        }
      }
      st.offset += kChunkElements;
      if (st.offset >= static_cast<uint64_t>(st.src.size) || s->elements < kChunkElements)
        return value_equal(j);
      return stream(j);
    }
    case Kind::kStream: {
      if (st.step == kEntries) {
        if (!resp::is_array(s) || !resp::is_array(d)) return reply_error(j, Side::kSource, cmd, s);
        for (std::size_t i = 0; i < std::max(s->elements, d->elements); ++i) {
          if (i >= s->elements || i >= d->elements || !same_reply(s->element[i], d->element[i])) {
            const redisReply* e = i < s->elements ? s->element[i] : d->element[i];
            const std::string id = resp::is_array(e) && e->elements > 0 ? scalar(e->element[0]) : "?";
            return difference(j, "value differs", "stream entry " + id + " differs");
          }
        }
        if (s->elements < kChunkElements) {
          st.step = kInfo;
          return stream(j);
        }
        const redisReply* last = s->element[s->elements - 1];
        auto next =
            resp::is_array(last) && last->elements > 0 ? next_stream_id(str(last->element[0])) : std::nullopt;
        if (!next) {
          st.step = kInfo;
        } else {
          st.cursor = *next;
        }
        return stream(j);
      }
      if (st.step == kInfo) return compare_stream_info(j, s, d);
      return compare_groups(j, s, d);
    }
    default: return;
  }
}

void VerifyTask::compare_stream_info(uint32_t j, const redisReply* s, const redisReply* d) {
  State& st = state_[j];
  // Fields older servers lack are compared only when both sides report them.
  for (const char* name : {"last-generated-id", "max-deleted-entry-id", "entries-added"}) {
    const redisReply* a = field(s, name);
    const redisReply* b = field(d, name);
    if (a == nullptr || b == nullptr) continue;
    if (!same_reply(a, b)) {
      return difference(j, "value differs",
                        std::string("stream ") + name + " " + scalar(a) + " on the source, " + scalar(b) +
                            " on the destination");
    }
  }
  st.step = kGroups;
  stream(j);
}

void VerifyTask::compare_groups(uint32_t j, const redisReply* s, const redisReply* d) {
  using Group = std::tuple<std::string, std::string, std::string, std::string>;
  auto groups = [](const redisReply* r) {
    std::vector<Group> out;
    if (!resp::is_array(r)) return out;
    for (std::size_t i = 0; i < r->elements; ++i) {
      const redisReply* g = r->element[i];
      out.emplace_back(scalar(field(g, "name")), scalar(field(g, "last-delivered-id")),
                       scalar(field(g, "pending")), scalar(field(g, "consumers")));
    }
    std::sort(out.begin(), out.end());
    return out;
  };
  const auto a = groups(s);
  const auto b = groups(d);
  if (a != b) {
    for (std::size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
      if (i < a.size() && i < b.size() && a[i] == b[i]) continue;
      const Group& g = i < a.size() ? a[i] : b[i];
      std::string detail = "consumer group " + q(std::get<0>(g));
      if (i < a.size() && i < b.size() && std::get<0>(a[i]) == std::get<0>(b[i])) {
        detail += " differs: last-delivered-id " + std::get<1>(a[i]) + " / " + std::get<1>(b[i]) +
                  ", pending " + std::get<2>(a[i]) + " / " + std::get<2>(b[i]) + ", consumers " +
                  std::get<3>(a[i]) + " / " + std::get<3>(b[i]) + " (source / destination)";
      } else {
        detail += i < a.size() ? " only on the source" : " only on the destination";
        if (a.size() != b.size()) {
          detail = std::to_string(a.size()) + " consumer groups on the source, " + std::to_string(b.size()) +
                   " on the destination";
        }
      }
      return difference(j, "value differs", std::move(detail));
    }
  }
  value_equal(j);
}

void VerifyTask::on_scan(uint32_t j, resp::Reply reply) {
  State& st = state_[j];
  const redisReply* r = reply.get();
  const char* cmd = st.kind == Kind::kSet ? "SSCAN" : st.kind == Kind::kZset ? "ZSCAN" : "HSCAN";
  if (!resp::is_array(r) || r->elements != 2 || !resp::is_string(r->element[0]) ||
      !resp::is_array(r->element[1])) {
    return reply_error(j, Side::kSource, cmd, r);
  }
  st.cursor = std::string(str(r->element[0]));
  st.last_chunk = st.cursor == "0";
  if (r->element[1]->elements == 0) {
    if (st.last_chunk) return value_equal(j);
    return stream(j);
  }
  st.chunk = std::move(reply);
  lookup(j);
}

void VerifyTask::lookup(uint32_t j) {
  engine::Job& job = engine_->job(j);
  State& st = state_[j];
  if (abandon_if_failing(j) || !up(j, Side::kDestination)) return;
  const redisReply* items = st.chunk->element[1];
  const std::size_t stride = st.kind == Kind::kSet ? 1 : 2;  // ZSCAN and HSCAN: member/field, score/value
  st.singles.clear();
  if (st.kind == Kind::kHash || opts_.multi_lookup) {
    const char* cmd = st.kind == Kind::kSet ? "SMISMEMBER" : st.kind == Kind::kZset ? "ZMSCORE" : "HMGET";
    std::vector<std::string_view> args = {cmd, job.target()};
    for (std::size_t i = 0; i < items->elements; i += stride)
      args.push_back(str(items->element[i]));
    st.pending = 1;
    return send_args(j, Side::kDestination, args, kLookup);
  }
  const char* cmd = st.kind == Kind::kSet ? "SISMEMBER" : "ZSCORE";
  st.pending = 0;
  for (std::size_t i = 0; i < items->elements; i += stride) {
    ++st.pending;
    send(j, Side::kDestination, {cmd, job.target(), str(items->element[i])}, kLookupOne);
  }
}

void VerifyTask::on_lookup(uint32_t j, uint8_t op, resp::Reply reply) {
  State& st = state_[j];
  const redisReply* r = reply.get();
  const char* cmd = op == kLookupOne         ? (st.kind == Kind::kSet ? "SISMEMBER" : "ZSCORE")
                    : st.kind == Kind::kSet  ? "SMISMEMBER"
                    : st.kind == Kind::kZset ? "ZMSCORE"
                                             : "HMGET";
  if (resp::is_error(r)) {
    if (op == kLookup && st.kind != Kind::kHash &&
        resp::classify_error(str(r)) == ServerError::kUnknownCommand) {
      // Redis < 6.2: one command per member from now on.
      spdlog::info("the destination has no {}: checking members one by one", cmd);
      opts_.multi_lookup = false;
      return lookup(j);
    }
    if (str(r).rfind("WRONGTYPE", 0) == 0) {
      return difference(j, "type differs", "the key changed type while it was checked");
    }
    return reply_error(j, Side::kDestination, cmd, r);
  }
  if (op == kLookup) return check_lookup(j, r);
  st.singles.push_back(std::move(reply));
  if (--st.pending > 0) return;
  check_lookup(j, nullptr);
}

void VerifyTask::check_lookup(uint32_t j, const redisReply* multi) {
  State& st = state_[j];
  const redisReply* items = st.chunk->element[1];
  const std::size_t stride = st.kind == Kind::kSet ? 1 : 2;
  const std::size_t n = items->elements / stride;
  if (multi != nullptr && (!resp::is_array(multi) || multi->elements != n)) {
    return reply_error(j, Side::kDestination, "lookup", multi);
  }
  for (std::size_t i = 0; i < n; ++i) {
    const redisReply* member = items->element[i * stride];
    const redisReply* answer = multi != nullptr ? multi->element[i] : st.singles[i].get();
    switch (st.kind) {
      case Kind::kSet:
        if (!resp::is_integer(answer) || answer->integer != 1) {
          return difference(j, "value differs", "member " + q(str(member)) + " not on the destination");
        }
        break;
      case Kind::kHash: {
        const redisReply* value = items->element[i * stride + 1];
        if (resp::is_nil(answer)) {
          return difference(j, "value differs", "field " + q(str(member)) + " not on the destination");
        }
        if (!same_reply(value, answer)) {
          return difference(j, "value differs",
                            "field " + q(str(member)) + ": " + q(str(value)) + " on the source, " +
                                q(str(answer)) + " on the destination");
        }
        break;
      }
      case Kind::kZset: {
        const redisReply* score = items->element[i * stride + 1];
        if (resp::is_nil(answer)) {
          return difference(j, "value differs", "member " + q(str(member)) + " not on the destination");
        }
        auto same = same_score(str(score), str(answer));
        if (!same || !*same) {
          return difference(j, "value differs",
                            "member " + q(str(member)) + ": score " + std::string(str(score)) +
                                " on the source, " + std::string(str(answer)) + " on the destination");
        }
        break;
      }
      default: break;
    }
  }
  st.singles.clear();
  if (st.kind == Kind::kHash && (opts_.src_field_ttls || opts_.dst_field_ttls)) return field_ttls(j);
  chunk_done(j);
}

void VerifyTask::chunk_done(uint32_t j) {
  State& st = state_[j];
  st.chunk.reset();
  st.field_ttl_phase = false;
  if (st.last_chunk) return value_equal(j);
  stream(j);
}

void VerifyTask::field_ttls(uint32_t j) {
  engine::Job& job = engine_->job(j);
  State& st = state_[j];
  st.field_ttl_phase = true;
  if (abandon_if_failing(j) || !both_up(j)) return;
  const redisReply* items = st.chunk->element[1];
  const IntText n(static_cast<int64_t>(items->elements / 2));
  st.pending = 0;
  for (const bool src : {true, false}) {
    if (!(src ? opts_.src_field_ttls : opts_.dst_field_ttls)) continue;
    std::vector<std::string_view> args = {"HPTTL", src ? std::string_view(job.key) : job.target(), "FIELDS",
                                          n.view()};
    for (std::size_t i = 0; i < items->elements; i += 2)
      args.push_back(str(items->element[i]));
    ++st.pending;
    send_args(j, src ? Side::kSource : Side::kDestination, args, src ? kSrcFieldTtl : kDstFieldTtl);
  }
}

void VerifyTask::on_field_ttl(uint32_t j, uint8_t op, resp::Reply reply) {
  State& st = state_[j];
  const bool src = op == kSrcFieldTtl;
  const redisReply* r = reply.get();
  if (resp::is_error(r) && resp::classify_error(str(r)) == ServerError::kUnknownCommand) {
    // A server of unknown version without field expiration: its fields have no TTLs.
    (src ? opts_.src_field_ttls : opts_.dst_field_ttls) = false;
  } else if (!resp::is_array(r)) {
    return reply_error(j, src ? Side::kSource : Side::kDestination, "HPTTL", r);
  } else {
    (src ? st.src_ttls : st.dst_ttls) = std::move(reply);
  }
  if (--st.pending > 0) return;
  const redisReply* items = st.chunk->element[1];
  const std::size_t n = items->elements / 2;
  auto ttl_of = [&](const resp::Reply& side, std::size_t i) -> int64_t {
    if (!side) return -1;  // no field expiration on that side
    if (side->elements != n || !resp::is_integer(side->element[i])) return -3;
    return side->element[i]->integer;
  };
  for (std::size_t i = 0; i < n; ++i) {
    const int64_t s = ttl_of(st.src_ttls, i);
    const int64_t d = ttl_of(st.dst_ttls, i);
    if (s == -3 || d == -3) {
      return reply_error(j, s == -3 ? Side::kSource : Side::kDestination, "HPTTL",
                         (s == -3 ? st.src_ttls : st.dst_ttls).get());
    }
    // -2: the field went away since HSCAN (deleted, or its own TTL ran out): not this check's to judge.
    if (s == -2 || d == -2) continue;
    if (!ttl_equal(s, d, opts_.ttl_tolerance_ms)) {
      const std::string field = q(str(items->element[i * 2]));
      st.src_ttls.reset();
      st.dst_ttls.reset();
      return difference(j, "field TTL differs",
                        "field " + field + ": TTL " + ttl_text(s) + " on the source, " + ttl_text(d) +
                            " on the destination (tolerance " + ttl_text(opts_.ttl_tolerance_ms) + ")");
    }
  }
  st.src_ttls.reset();
  st.dst_ttls.reset();
  engine_->job(j).resent = false;
  chunk_done(j);
}

// ---- outcome ----

void VerifyTask::value_equal(uint32_t j) {
  State& st = state_[j];
  release_stream_slot(j);
  if (!st.ttl_ok) {
    return difference(j, "ttl differs",
                      "TTL " + ttl_text(st.src.pttl) + " on the source, " + ttl_text(st.dst.pttl) +
                          " on the destination (tolerance " + ttl_text(opts_.ttl_tolerance_ms) + ")");
  }
  report::Counters& c = engine_->counters(j);
  ++c.checked;
  ++c.equal;
  // A failing run deletes nothing more: the key checked equal and stays.
  if (!opts_.cleanup || engine_->failing()) return engine_->done(j);
  if (opts_.dry_run) {
    ++c.would_delete;
    engine_->add_example(j, "delete");
    return engine_->done(j);
  }
  engine_->job(j).resent = false;
  remove(j);
}

void VerifyTask::difference(uint32_t j, const char* kind, std::string detail) {
  const engine::Job& job = engine_->job(j);
  report::Counters& c = engine_->counters(j);
  ++c.checked;
  const std::string_view k(kind);
  if (k == "missing") {
    ++c.missing;
  } else if (k == "type differs") {
    ++c.type_differs;
  } else if (k == "value differs") {
    ++c.value_differs;
  } else if (k == "field TTL differs") {
    ++c.field_ttl_differs;
  } else {
    ++c.ttl_differs;
  }
  spdlog::debug("{} \"{}\": {}", kind, printable_short(job.key), detail);
  if (differences_.size() < opts_.max_differences) {
    differences_.push_back(report::Difference{job.key, job.target() != job.key ? job.target() : std::string(),
                                              kind, std::move(detail)});
  }
  engine_->done(j);
}

// ---- cleanup: compare-and-delete on the source ----

void VerifyTask::remove(uint32_t j) {
  engine::Job& job = engine_->job(j);
  State& st = state_[j];
  job.stage = kStageDelete;
  switch (engine_->deletion_gate(j)) {
    case engine::Engine::Gate::kWait: return;  // resend() comes back here once the destination was read
    case engine::Engine::Gate::kStopped:
      ++engine_->counters(j).cleanup_kept;  // equal, but deletions stopped: the source key stays
      return engine_->done(j);
    case engine::Engine::Gate::kGo: break;
  }
  // The expiry the source key must still have is its copy's (read with the source's, at the same moment):
  // a source TTL changed since the copy, even within --ttl-tolerance, keeps the key.
  IntText pttl(st.dst.pttl < 0 ? -1 : st.dst.pttl);
  IntText elapsed(copy::CopyTask::cleanup_elapsed_ms(st.read_at));
  const auto w = copy::CopyTask::cleanup_script().words(source_scripts_, st.use_eval);
  send(j, Side::kWriter, {w.verb, w.script, "1", job.key, st.sha, pttl.view(), elapsed.view()}, kDelete);
}

void VerifyTask::on_delete(uint32_t j, const redisReply* r) {
  engine::Job& job = engine_->job(j);
  State& st = state_[j];
  report::Counters& c = engine_->counters(j);
  if (resp::is_integer(r)) {
    if (r->integer == 1 || (r->integer == -1 && job.resent)) {
      ++c.deleted;  // -1 after a re-send: the first send deleted it before the connection dropped
    } else if (r->integer == 0) {
      ++c.cleanup_kept;
      spdlog::debug("cleanup kept \"{}\": it changed on the source after it was checked",
                    printable_short(job.key));
    } else {
      ++c.vanished;  // gone from the source between the check and the deletion
    }
    return engine_->done(j);
  }
  const std::string_view msg = str(r);
  if (resp::is_error(r)) {
    const bool sent_eval = st.use_eval || !source_scripts_.evalsha;
    // NOSCRIPT (the script cache was flushed), or EVALSHA refused: send the body.
    if (scripts::Script::fall_back(msg, source_scripts_, st.use_eval)) return remove(j);
    if (engine_->handle_error(j, Side::kWriter, sent_eval ? "EVAL" : "EVALSHA", msg)) return;
  }
  ++c.cleanup_failed;
  engine_->record_error(
      "cleanup: " + (resp::is_error(r) ? std::string(msg) : "unexpected reply " + resp::describe(r)),
      job.key);
  engine_->done(j);
}

}  // namespace rmig::verify
