#include "copy/cleanup_stage.hpp"

#include <spdlog/spdlog.h>

#include "resp/server_error.hpp"
#include "scripts/scripts.hpp"
#include "util/escape.hpp"
#include "util/int_text.hpp"

namespace rmig::copy {

namespace {

using Side = engine::Engine::Side;
using resp::ServerError;

}  // namespace

void CleanupStage::attach(engine::Engine& engine) {
  engine_ = &engine;
  scripts_ = engine.options().source_scripts;
  state_.assign(engine.window_size(), State{});
}

void CleanupStage::start(uint32_t j, Copy copy) {
  state_[j].copy = std::move(copy);
  engine_->job(j).resent = false;  // a new stage starts
  send(j);
}

void CleanupStage::send(uint32_t j) {
  switch (engine_->deletion_gate(j)) {
    case engine::Engine::Gate::kWait: return;  // resend() comes back here once the destination was read
    case engine::Engine::Gate::kStopped:
      ++engine_->counters(j).cleanup_kept;  // copied, but deletions stopped: the source key stays
      return engine_->done(j);
    case engine::Engine::Gate::kGo: break;
  }
  const State& st = state_[j];
  const IntText pttl(st.copy.pttl < 0 ? -1 : st.copy.pttl);
  const IntText elapsed(scripts::elapsed_ms(st.copy.read_at));
  const auto w = scripts::compare_and_delete().words(scripts_, st.use_eval);
  const std::string_view args[] = {w.verb,      w.script,    "1",           engine_->job(j).key,
                                   st.copy.sha, pttl.view(), elapsed.view()};
  engine_->send(j, Side::kWriter, args, std::size(args), ops_.at(0));
}

void CleanupStage::give_up(uint32_t j) {
  ++engine_->counters(j).cleanup_failed;
  engine_->record_error(
      "cleanup: no answer before the run stopped; the key may still be on the source (its copy is "
      "on the destination)",
      engine_->job(j).key);
  engine_->done(j);
}

void CleanupStage::on_reply(uint32_t j, resp::Reply reply) {
  engine::Job& job = engine_->job(j);
  const redisReply* r = reply.get();
  report::Counters& c = engine_->counters(j);
  if (resp::is_integer(r)) {
    if (scripts::delete_answer(r->integer, job.resent) == scripts::DeleteAnswer::kDeleted) {
      ++c.deleted;
    } else {
      ++c.cleanup_kept;
      spdlog::debug("cleanup kept \"{}\": it changed or went away on the source during the copy",
                    printable_short(job.key));
    }
    return engine_->done(j);
  }
  const std::string_view msg = resp::text(r);
  if (resp::is_error(r)) {
    const ServerError kind = resp::classify_error(msg);
    // NOSCRIPT (the script cache was flushed: restart, failover), or EVALSHA refused: send the body.
    if (scripts::Script::fall_back(msg, scripts_, state_[j].use_eval)) return send(j);
    if (kind == ServerError::kNoPerm) {
      // A refused EVAL, or a command the script runs (Redis 7.0 does not say which: PTTL and DUMP already
      // worked for this user, so it is UNLINK), fails the cleanup of every key: stop rather than copy on.
      const std::string cmd = resp::denied_command(msg);
      engine_->stop_run(resp::permission_error(
          engine_->connect_options(j, Side::kWriter), cmd.empty() ? "unlink" : cmd, msg,
          " (--cleanup runs EVALSHA or EVAL of a script calling PTTL, DUMP and UNLINK)"));
      return give_up(j);
    }
    if (engine_->handle_error(j, Side::kWriter,
                              scripts::compare_and_delete().words(scripts_, state_[j].use_eval).verb, msg))
      return;
  }
  engine_->fail_key(
      j, "cleanup: " + (resp::is_error(r) ? std::string(msg) : "unexpected reply " + resp::describe(r)),
      &report::Counters::cleanup_failed);
}

}  // namespace rmig::copy
