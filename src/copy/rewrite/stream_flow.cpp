// The stream part of a key's flow: after the entries, the stream's ID state, its groups, their consumers
// and pending entries (the translations are in stream.cpp).

#include "copy/rewrite/rewriter.hpp"
#include "util/int_text.hpp"

namespace rmig::copy {

using Side = engine::Engine::Side;

void Rewriter::stream_meta(uint32_t j) {
  State& st = state_[j];
  const engine::Job& job = engine_->job(j);
  st.phase = Phase::kStreamMeta;
  const std::string_view info[] = {"XINFO", "STREAM", job.key};
  const std::string_view groups[] = {"XINFO", "GROUPS", job.key};
  if (!engine_->send(j, Side::kSource, info, 3, op(kStreamInfo))) return;
  engine_->send(j, Side::kSource, groups, 3, op(kStreamGroups));
}

void Rewriter::on_stream_info(uint32_t j, const redisReply* r) {
  if (!resp::is_array(r)) return error(j, Side::kSource, "XINFO STREAM", r);
  state_[j].info = rewrite::parse_stream_info(r);
}

void Rewriter::on_stream_groups(uint32_t j, const redisReply* r) {
  State& st = state_[j];
  if (!resp::is_array(r)) return error(j, Side::kSource, "XINFO GROUPS", r);
  if (st.info.last_id.empty()) return fail(j, "XINFO STREAM gave no last-generated-id");
  if (!rewrite::parse_stream_groups(r, st.groups)) return error(j, Side::kSource, "XINFO GROUPS", r);
  writes_.clear();
  rewrite::stream_setup(st.info, st.groups, st.created, engine_->options().destination, st.temp, writes_);
  if (!write_all(j, op(kWrite))) return;
  st.phase = Phase::kStreamGroup;
  st.group = 0;
  next_group(j);
}

void Rewriter::next_group(uint32_t j) {
  State& st = state_[j];
  if (st.group >= st.groups.size()) return maybe_advance(j);
  const engine::Job& job = engine_->job(j);
  const std::string_view args[] = {"XINFO", "CONSUMERS", job.key, st.groups[st.group].name};
  st.reading = true;
  engine_->send(j, Side::kSource, args, 4, op(kConsumers));
}

void Rewriter::on_consumers(uint32_t j, const redisReply* r) {
  State& st = state_[j];
  st.reading = false;
  writes_.clear();
  const int64_t lost = rewrite::stream_consumers(r, st.groups[st.group].name, engine_->options().destination,
                                                 st.temp, writes_);
  if (lost < 0) return error(j, Side::kSource, "XINFO CONSUMERS", r);
  st.not_recreated += static_cast<uint64_t>(lost);
  if (!write_all(j, op(kWrite))) return;
  st.pending_start = "-";
  read_pending(j);
}

void Rewriter::read_pending(uint32_t j) {
  State& st = state_[j];
  if (st.reading) return;
  if (st.writes > 0 && st.write_bytes >= kMaxWriteBytes) return;
  const engine::Job& job = engine_->job(j);
  const IntText count(static_cast<int64_t>(rewrite::kPendingPage));
  const std::string_view args[] = {"XPENDING",       job.key, st.groups[st.group].name,
                                   st.pending_start, "+",     count.view()};
  st.reading = true;
  engine_->send(j, Side::kSource, args, 6, op(kPending));
}

void Rewriter::on_pending(uint32_t j, const redisReply* r) {
  State& st = state_[j];
  st.reading = false;
  writes_.clear();
  std::string next;
  if (!rewrite::stream_pending(r, st.groups[st.group].name, st.temp, writes_, next)) {
    return error(j, Side::kSource, "XPENDING", r);
  }
  if (!write_all(j, op(kClaim))) return;
  if (!next.empty()) {
    st.pending_start = std::move(next);
    return read_pending(j);
  }
  ++st.group;
  if (st.group < st.groups.size()) return next_group(j);
  maybe_advance(j);
}

}  // namespace rmig::copy
