#include "verify/verify_task.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "resp/server_error.hpp"
#include "util/escape.hpp"
#include "util/sha1.hpp"
#include "verify/compare.hpp"

namespace rmig::verify {

namespace {

using resp::ServerError;

std::string_view str(const redisReply* r) { return resp::text(r); }

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
  Head head = check_head(st.src.type, st.src.pttl, st.dst.type, opts_.ttl_tolerance_ms);
  switch (head.outcome) {
    case Head::kVanished:
      ++engine_->counters(j).vanished;  // deleted or expired on the source since SCAN: nothing to check
      return engine_->done(j);
    case Head::kExpired: ++engine_->counters(j).expired; return engine_->done(j);
    case Head::kDifferent: return difference(j, head.finding.kind, std::move(head.finding.detail));
    case Head::kCompare: break;
  }
  const std::string& t = st.src.type;
  st.kind = value::type_kind(t);
  st.ttl_ok = ttl_equal(st.src.pttl, st.dst.pttl, opts_.ttl_tolerance_ms);
  job.resent = false;                            // a new stage starts
  if (!value::builtin(st.kind)) return dump(j);  // a module type: only its payload can be compared
  size(j);
}

// ---- stage 2: sizes ----

void VerifyTask::size(uint32_t j) {
  engine::Job& job = engine_->job(j);
  job.stage = kStageSize;
  if (abandon_if_failing(j) || !both_up(j)) return;
  State& st = state_[j];
  const char* cmd = value::length_command(st.src.type);
  st.pending = 2;
  send(j, Side::kSource, {cmd, job.key}, kSrcSize);
  send(j, Side::kDestination, {cmd, job.target()}, kDstSize);
}

void VerifyTask::on_size(uint32_t j, uint8_t op, const redisReply* r) {
  State& st = state_[j];
  const bool src = op == kSrcSize;
  if (!resp::is_integer(r)) {
    // WRONGTYPE: the key was replaced by one of another type in between.
    if (resp::is_error(r) && resp::classify_error(str(r)) == ServerError::kWrongType) {
      return difference(j, kTypeDiffers, "the key changed type while it was checked");
    }
    return reply_error(j, src ? Side::kSource : Side::kDestination, value::length_command(st.src.type), r);
  }
  (src ? st.src : st.dst).size = r->integer;
  if (--st.pending > 0) return;
  if (auto f = check_size(st.src.type, st.src.size, st.dst.size))
    return difference(j, f->kind, std::move(f->detail));
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
  const DumpVerdict verdict = compare_dumps(s, d);
  if (verdict == DumpVerdict::kVanished) {
    ++engine_->counters(j).vanished;
    return engine_->done(j);
  }
  if (verdict == DumpVerdict::kDestinationGone) {
    return difference(j, kMissing, "deleted on the destination while it was checked");
  }
  if (opts_.cleanup) st.sha = sha1_hex(str(s));
  if (verdict == DumpVerdict::kEqual) {
    engine_->hold(j, resp::Reply());
    return value_equal(j);
  }
  if (verdict == DumpVerdict::kOtherRdbFormat && !skip_dump_) {
    skip_dump_ = true;
    spdlog::info(
        "source and destination write different RDB versions ({} and {}): values are compared by type, "
        "not by DUMP payload",
        rdb_version(str(s)).value_or(0), rdb_version(str(d)).value_or(0));
  }
  engine_->hold(j, resp::Reply());
  if (!value::builtin(st.kind)) {
    return difference(j, kValueDiffers,
                      "DUMP payloads differ (" + st.src.type + " has no per-type comparison)");
  }
  // A hash table's order, another RDB version, or a real difference: the per-type comparison tells.
  begin_stream(j);
}

// ---- outcome ----

void VerifyTask::value_equal(uint32_t j) {
  State& st = state_[j];
  release_stream_slot(j);
  if (!st.ttl_ok) {
    Finding f = ttl_differs(st.src.pttl, st.dst.pttl, opts_.ttl_tolerance_ms);
    return difference(j, f.kind, std::move(f.detail));
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
  count_difference(engine_->counters(j), kind);
  spdlog::debug("{} \"{}\": {}", kind, printable_short(job.key), detail);
  if (differences_.size() < opts_.max_differences) {
    differences_.push_back(report::Difference{job.key, job.target() != job.key ? job.target() : std::string(),
                                              kind, std::move(detail)});
  }
  engine_->done(j);
}

}  // namespace rmig::verify
