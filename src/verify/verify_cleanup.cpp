#include <spdlog/spdlog.h>

#include "scripts/scripts.hpp"
#include "util/escape.hpp"
#include "util/int_text.hpp"
#include "verify/compare.hpp"
#include "verify/verify_task.hpp"

namespace rmig::verify {

void VerifyTask::sha(uint32_t j) {
  engine::Job& job = engine_->job(j);
  job.stage = kStageSha;
  if (abandon_if_failing(j)) return;
  // Asked of the primary, where the deletion will compare it.
  send(j, Side::kWriter, {"EVAL", scripts::dump_sha().body(), "1", job.key}, kSha);
}

void VerifyTask::on_sha(uint32_t j, const redisReply* r) {
  if (!resp::is_string(r)) return reply_error(j, Side::kWriter, "EVAL", r);
  if (resp::text(r).empty()) {
    ++engine_->counters(j).vanished;
    return engine_->done(j);
  }
  state_[j].sha = std::string(resp::text(r));
  engine_->job(j).resent = false;
  stream(j);
}

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
  IntText elapsed(scripts::elapsed_ms(st.read_at));
  const auto w = scripts::compare_and_delete().words(source_scripts_, st.use_eval);
  send(j, Side::kWriter, {w.verb, w.script, "1", job.key, st.sha, pttl.view(), elapsed.view()}, kDelete);
}

void VerifyTask::on_delete(uint32_t j, const redisReply* r) {
  engine::Job& job = engine_->job(j);
  State& st = state_[j];
  report::Counters& c = engine_->counters(j);
  if (resp::is_integer(r)) {
    switch (scripts::delete_answer(r->integer, job.resent)) {
      case scripts::DeleteAnswer::kDeleted: ++c.deleted; break;
      case scripts::DeleteAnswer::kKept:
        ++c.cleanup_kept;
        spdlog::debug("cleanup kept \"{}\": it changed on the source after it was checked",
                      printable_short(job.key));
        break;
      case scripts::DeleteAnswer::kVanished: ++c.vanished; break;  // gone between the check and the deletion
    }
    return engine_->done(j);
  }
  const std::string_view msg = resp::text(r);
  if (resp::is_error(r)) {
    // NOSCRIPT (the script cache was flushed), or EVALSHA refused: send the body.
    if (scripts::Script::fall_back(msg, source_scripts_, st.use_eval)) return remove(j);
    if (engine_->handle_error(j, Side::kWriter,
                              scripts::compare_and_delete().words(source_scripts_, st.use_eval).verb, msg))
      return;
  }
  engine_->fail_key(
      j, "cleanup: " + (resp::is_error(r) ? std::string(msg) : "unexpected reply " + resp::describe(r)),
      &report::Counters::cleanup_failed);
}

}  // namespace rmig::verify
