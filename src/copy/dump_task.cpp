#include "copy/dump_task.hpp"

namespace rmig::copy {

void DumpTask::attach(Engine& engine) {
  engine_ = &engine;
  fetch_error_.assign(engine.window_size(), std::string());
}

void DumpTask::fetch(uint32_t j) {
  Job& job = engine_->job(j);
  job.stage = kStageFetch;
  job.pttl = 0;
  fetch_error_[j].clear();
  job.sent_at = std::chrono::steady_clock::now();
  const std::string_view pttl[] = {"PTTL", job.key};
  const std::string_view dump[] = {"DUMP", job.key};
  if (!engine_->send(j, Engine::Side::kSource, pttl, 2, kPttl)) return;
  engine_->send(j, Engine::Side::kSource, dump, 2, kDump);
}

bool DumpTask::on_fetch_reply(uint32_t j, uint8_t op, resp::Reply& reply) {
  Job& job = engine_->job(j);
  const redisReply* r = reply.get();
  if (op == kPttl) {
    if (resp::is_integer(r)) {
      job.pttl = r->integer;
    } else {
      fetch_error_[j] =
          resp::is_error(r) ? std::string(resp::text(r)) : "unexpected reply " + resp::describe(r);
    }
    return true;
  }
  if (op != kDump) return false;
  if (!fetch_error_[j].empty()) {
    const std::string msg = fetch_error_[j];
    if (!engine_->handle_error(j, Engine::Side::kSource, "PTTL", msg)) engine_->fail_key(j, "PTTL: " + msg);
    return true;
  }
  if (resp::is_error(r)) {
    const std::string msg(resp::text(r));
    if (!engine_->handle_error(j, Engine::Side::kSource, "DUMP", msg)) engine_->fail_key(j, "DUMP: " + msg);
    return true;
  }
  if (resp::is_nil(r) || job.pttl == -2) {
    // Deleted (or expired) between SCAN and DUMP: not an error. A DUMP that is not nil after PTTL said -2
    // is a key created meanwhile, which this pass does not promise to copy.
    ++engine_->counters(j).vanished;
    engine_->add_example(j, "vanished");
    engine_->done(j);
    return true;
  }
  if (r->type != REDIS_REPLY_STRING) {
    engine_->fail_key(j, "DUMP: unexpected reply " + resp::describe(r));
    return true;
  }
  engine_->hold(j, std::move(reply));
  job.resent = false;  // a new stage starts
  fetched(j);
  return true;
}

}  // namespace rmig::copy
