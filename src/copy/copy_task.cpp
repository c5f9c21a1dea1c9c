#include "copy/copy_task.hpp"

#include <spdlog/spdlog.h>

#include "util/sha1.hpp"

namespace rmig::copy {

namespace {
using Side = engine::Engine::Side;
}  // namespace

void CopyTask::attach(engine::Engine& engine) {
  engine_ = &engine;
  fetch_.attach(engine, true);
  restore_.attach(engine);
  cleanup_.attach(engine);
  rewriter_.attach(engine);
  live_.attach(engine);
  state_.assign(engine.window_size(), State{});
}

void CopyTask::start(uint32_t j) {
  // The one reset of the job's state, in the task and each stage.
  state_[j] = State{};
  fetch_.reset(j);
  restore_.reset(j);
  cleanup_.reset(j);
  rewriter_.reset(j);
  live_.reset(j);
  if (engine_->job(j).live == engine::LiveMode::kOrphan) {
    engine_->job(j).stage = kStageLive;
    return live_.orphan(j);
  }
  const uint32_t node = engine_->job(j).node;
  if (engine_->options().mode == engine::CopyMode::kRewrite ||
      (node < rewrite_node_.size() && rewrite_node_[node] != 0))
    return rewrite(j);
  engine_->job(j).stage = kStageFetch;
  fetch_.start(j);
}

void CopyTask::resend(uint32_t j) {
  switch (engine_->job(j).stage) {
    case kStageRestore: return restore_step(j, restore_.resend(j));
    case kStageLive: return live_.resend(j);
    case kStageRewrite: return rewrite_step(j, rewriter_.resend(j));
    case kStageCleanup: return cleanup_.resend(j);
    default: return fetch_.resend(j);
  }
}

void CopyTask::give_up(uint32_t j) {
  switch (engine_->job(j).stage) {
    case kStageRewrite: return rewriter_.give_up(j);
    case kStageCleanup: return cleanup_.give_up(j);  // copied, but the deletion's outcome is unknown
    default: return engine_->abandon(j);
  }
}

void CopyTask::on_reply(uint32_t j, uint8_t op, resp::Reply reply) {
  if (fetch_.owns(op)) return fetch_step(j, fetch_.on_reply(j, op, reply));
  if (restore_.owns(op)) return restore_step(j, restore_.on_reply(j, op, std::move(reply)));
  if (rewriter_.owns(op)) return rewrite_step(j, rewriter_.on_reply(j, op, std::move(reply)));
  if (cleanup_.owns(op)) return cleanup_.on_reply(j, std::move(reply));
  if (live_.owns(op)) return live_.on_reply(j, op, std::move(reply));
}

void CopyTask::fetch_step(uint32_t j, FetchStage::Step step) {
  switch (step) {
    case FetchStage::Step::kWait: return;
    case FetchStage::Step::kBigKey: return rewrite(j, fetch_.big_size(j));
    case FetchStage::Step::kGone: return gone(j);
    case FetchStage::Step::kFetched:
      engine_->job(j).stage = kStageRestore;
      return restore_step(j, restore_.start(j, fetch_.idle(j)));
  }
}

void CopyTask::restore_step(uint32_t j, RestoreStage::Step step) {
  engine::Job& job = engine_->job(j);
  switch (step) {
    case RestoreStage::Step::kWait: return;
    case RestoreStage::Step::kWritten: return written(j);
    case RestoreStage::Step::kRewrite: return rewrite(j);
    case RestoreStage::Step::kGone: return gone(j);
    case RestoreStage::Step::kRefused: {
      // The destination cannot read this payload (an older RDB version, or a type it does not know): the key
      // is rewritten with its type's commands, and so is every later key of this source node.
      const uint32_t node = job.node;
      if (rewrite_node_.size() <= node) rewrite_node_.resize(node + 1, 0);
      if (rewrite_node_[node] == 0) {
        rewrite_node_[node] = 1;
        spdlog::warn(
            "{} refuses DUMP payloads of {} ({}): copying its keys with the rewrite path from now on",
            engine_->label(j, Side::kDestination), engine_->label(j, Side::kSource), restore_.message(j));
      }
      if (engine_->options().cleanup) state_[j].payload_sha = sha1_hex(job.payload_view());
      job.resent = false;
      return rewrite(j, job.payload_view().size());
    }
    case RestoreStage::Step::kTooLong:
      // The payload is longer than the destination's proto-max-bulk-len (it closes the connection after this
      // reply; the commands behind it are sent again): this key alone is rewritten in chunks, which fit when
      // its elements do. A string longer than the limit fails there (APPEND refuses to pass it).
      if (engine_->options().cleanup) state_[j].payload_sha = sha1_hex(job.payload_view());
      job.resent = false;
      return rewrite(j);
  }
}

void CopyTask::rewrite(uint32_t j, uint64_t size_hint) {
  if (engine_->failing()) return engine_->abandon(j);
  engine::Job& job = engine_->job(j);
  job.stage = kStageRewrite;
  state_[j].rewrote = true;
  Rewriter::Options how;
  how.size_hint = size_hint;
  how.may_replace = !restore_.chain_target(j);
  how.hand_over = engine_->options().conflict == engine::ConflictPolicy::kMerge && !job.maybe_duplicate &&
                  how.may_replace;
  rewriter_.start(j, how);
}

void CopyTask::rewrite_step(uint32_t j, Rewriter::Step step) {
  switch (step) {
    case Rewriter::Step::kWait: return;
    case Rewriter::Step::kPlaced: return written(j);
    case Rewriter::Step::kGone: return gone(j);
    case Rewriter::Step::kExists: return restore_.exists(j, rewriter_.field_ttls(j));
    case Rewriter::Step::kHandedOver:
      engine_->job(j).stage = kStageRestore;
      return restore_.merge_temp(j, rewriter_.temp(j));
  }
}

void CopyTask::gone(uint32_t j) {
  engine_->job(j).stage = kStageLive;
  live_.remove(j);
}

void CopyTask::written(uint32_t j) {
  if (!engine_->options().cleanup) return engine_->done(j);
  engine::Job& job = engine_->job(j);
  const State& st = state_[j];
  if (st.rewrote && st.payload_sha.empty()) {
    // No DUMP was read (a big key, --mode rewrite, a node switched to the rewrite path): nothing to compare
    // the source key with, so it stays.
    if (!warned_cleanup_) {
      warned_cleanup_ = true;
      spdlog::warn(
          "--cleanup keeps source keys copied by the rewrite path without a DUMP (big keys, --mode "
          "rewrite, keys after a refused payload): delete them after a verify");
    }
    ++engine_->counters(j).cleanup_kept;
    return engine_->done(j);
  }
  // The expiry the copy has: the one this attempt read, or, for a copy an earlier attempt made (or one sent
  // again after a dropped connection), the one read on the destination when it was recognised.
  const RestoreStage::CopyExpiry& copy = restore_.copy_expiry(j);
  CleanupStage::Copy c;
  c.sha = st.payload_sha.empty() ? sha1_hex(job.payload_view()) : st.payload_sha;
  c.pttl = copy.known ? copy.pttl : job.pttl;
  c.read_at = copy.known ? copy.read_at : job.sent_at;
  job.stage = kStageCleanup;
  cleanup_.start(j, std::move(c));
}

}  // namespace rmig::copy
