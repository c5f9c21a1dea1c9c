#include "copy/plan_task.hpp"

#include "copy/ttl.hpp"

namespace rmig::copy {

void PlanTask::attach(Engine& engine) {
  DumpTask::attach(engine);
  big_size_.assign(engine.window_size(), 0);
}

void PlanTask::resend(uint32_t j) {
  if (engine_->job(j).stage == kStageExists) return exists(j);
  if (resend_fetch(j)) return;
  fetch(j);
}

void PlanTask::big_key(uint32_t j, uint64_t size) {
  big_size_[j] = size;
  exists(j);
}

void PlanTask::fetched(uint32_t j) {
  big_size_[j] = 0;
  Job& job = engine_->job(j);
  const TtlPlan plan = plan_ttl(job.pttl, std::chrono::duration_cast<std::chrono::nanoseconds>(
                                              std::chrono::steady_clock::now() - job.sent_at)
                                              .count());
  if (plan.kind == TtlPlan::Kind::kExpired) {
    ++engine_->counters(j).expired;
    engine_->add_example(j, "expired");
    return engine_->done(j);
  }
  exists(j);
}

void PlanTask::exists(uint32_t j) {
  Job& job = engine_->job(j);
  job.stage = kStageExists;
  const std::string_view args[] = {"EXISTS", job.target()};
  engine_->send(j, Engine::Side::kDestination, args, 2, kExists);
}

void PlanTask::on_reply(uint32_t j, uint8_t op, resp::Reply reply) {
  if (on_fetch_reply(j, op, reply) || op != kExists) return;
  Job& job = engine_->job(j);
  const redisReply* r = reply.get();
  report::Counters& c = engine_->counters(j);
  if (resp::is_error(r)) {
    const std::string msg(resp::text(r));
    if (!engine_->handle_error(j, Engine::Side::kDestination, "EXISTS", msg))
      engine_->fail_key(j, "EXISTS: " + msg);
    return;
  }
  if (!resp::is_integer(r)) return engine_->fail_key(j, "EXISTS: unexpected reply " + resp::describe(r));
  if (job.maybe_duplicate) {
    ++c.duplicates;
    --c.scanned;
    return engine_->done(j);
  }
  const bool exists = r->integer > 0;
  if (exists) ++c.existing;
  if (exists && engine_->options().conflict == ConflictPolicy::kSkip) {
    ++c.would_skip;
    engine_->add_example(j, "skip (exists)");
  } else {
    ++c.would_copy;
    c.would_copy_bytes += job.held + big_size_[j];
    engine_->add_example(j, exists ? "replace (exists)" : "copy");
  }
  engine_->done(j);
}

}  // namespace rmig::copy
