#include <spdlog/spdlog.h>

#include <algorithm>

#include "resp/server_error.hpp"
#include "util/int_text.hpp"
#include "verify/compare.hpp"
#include "verify/verify_task.hpp"

namespace rmig::verify {

using resp::ServerError;

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
    case Kind::kModule:
    case Kind::kUnknown: return difference(j, kValueDiffers, "DUMP payloads differ");
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
      if (auto f = check_string_chunk(s, d, st.offset, st.src.size)) {
        return difference(j, f->kind, std::move(f->detail));
      }
      st.offset += kChunkBytes;
      if (st.offset >= static_cast<uint64_t>(st.src.size)) return value_equal(j);
      return stream(j);
    }
    case Kind::kList: {
      if (!resp::is_array(s) || !resp::is_array(d)) return reply_error(j, Side::kSource, cmd, s);
      if (auto f = check_list_chunk(s, d, st.offset)) return difference(j, f->kind, std::move(f->detail));
      st.offset += kChunkElements;
      if (st.offset >= static_cast<uint64_t>(st.src.size) || s->elements < kChunkElements)
        return value_equal(j);
      return stream(j);
    }
    case Kind::kStream: {
      if (st.step == kEntries) {
        if (!resp::is_array(s) || !resp::is_array(d)) return reply_error(j, Side::kSource, cmd, s);
        if (auto f = check_stream_entries(s, d)) return difference(j, f->kind, std::move(f->detail));
        auto next = s->elements < kChunkElements ? std::nullopt : next_stream_start(s);
        if (!next) {
          st.step = kInfo;
        } else {
          st.cursor = *next;
        }
        return stream(j);
      }
      if (st.step == kInfo) {
        if (auto f = check_stream_info(s, d)) return difference(j, f->kind, std::move(f->detail));
        st.step = kGroups;
        return stream(j);
      }
      if (auto f = check_stream_groups(s, d)) return difference(j, f->kind, std::move(f->detail));
      return value_equal(j);
    }
    default: return;
  }
}

void VerifyTask::on_scan(uint32_t j, resp::Reply reply) {
  State& st = state_[j];
  const redisReply* r = reply.get();
  const char* cmd = st.kind == Kind::kSet ? "SSCAN" : st.kind == Kind::kZset ? "ZSCAN" : "HSCAN";
  if (!resp::is_array(r) || r->elements != 2 || !resp::is_string(r->element[0]) ||
      !resp::is_array(r->element[1])) {
    return reply_error(j, Side::kSource, cmd, r);
  }
  st.cursor = std::string(resp::text(r->element[0]));
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
      args.push_back(resp::text(items->element[i]));
    st.pending = 1;
    return send_args(j, Side::kDestination, args, kLookup);
  }
  const char* cmd = st.kind == Kind::kSet ? "SISMEMBER" : "ZSCORE";
  st.pending = 0;
  for (std::size_t i = 0; i < items->elements; i += stride) {
    ++st.pending;
    send(j, Side::kDestination, {cmd, job.target(), resp::text(items->element[i])}, kLookupOne);
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
        resp::classify_error(resp::text(r)) == ServerError::kUnknownCommand) {
      // Redis < 6.2: one command per member from now on.
      spdlog::info("the destination has no {}: checking members one by one", cmd);
      opts_.multi_lookup = false;
      return lookup(j);
    }
    if (resp::classify_error(resp::text(r)) == resp::ServerError::kWrongType) {
      return difference(j, kTypeDiffers, "the key changed type while it was checked");
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
  std::vector<const redisReply*> answers(n);
  for (std::size_t i = 0; i < n; ++i)
    answers[i] = multi != nullptr ? multi->element[i] : st.singles[i].get();
  Check found = st.kind == Kind::kSet    ? check_set_members(items, answers)
                : st.kind == Kind::kZset ? check_zset_members(items, answers)
                                         : check_hash_fields(items, answers);
  if (found) return difference(j, found->kind, std::move(found->detail));
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
      args.push_back(resp::text(items->element[i]));
    ++st.pending;
    send_args(j, src ? Side::kSource : Side::kDestination, args, src ? kSrcFieldTtl : kDstFieldTtl);
  }
}

void VerifyTask::on_field_ttl(uint32_t j, uint8_t op, resp::Reply reply) {
  State& st = state_[j];
  const bool src = op == kSrcFieldTtl;
  const redisReply* r = reply.get();
  if (resp::is_error(r) && resp::classify_error(resp::text(r)) == ServerError::kUnknownCommand) {
    // A server of unknown version without field expiration: its fields have no TTLs.
    (src ? opts_.src_field_ttls : opts_.dst_field_ttls) = false;
  } else if (!resp::is_array(r)) {
    return reply_error(j, src ? Side::kSource : Side::kDestination, "HPTTL", r);
  } else {
    (src ? st.src_ttls : st.dst_ttls) = std::move(reply);
  }
  if (--st.pending > 0) return;
  FieldTtls ttls =
      check_field_ttls(st.chunk->element[1], st.src_ttls.get(), st.dst_ttls.get(), opts_.ttl_tolerance_ms);
  switch (ttls.outcome) {
    case FieldTtls::kBadSource: return reply_error(j, Side::kSource, "HPTTL", st.src_ttls.get());
    case FieldTtls::kBadDestination: return reply_error(j, Side::kDestination, "HPTTL", st.dst_ttls.get());
    case FieldTtls::kDifferent:
      st.src_ttls.reset();
      st.dst_ttls.reset();
      return difference(j, ttls.finding.kind, std::move(ttls.finding.detail));
    case FieldTtls::kEqual: break;
  }
  st.src_ttls.reset();
  st.dst_ttls.reset();
  engine_->job(j).resent = false;
  chunk_done(j);
}

}  // namespace rmig::verify
