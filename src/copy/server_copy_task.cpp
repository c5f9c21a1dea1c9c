#include "copy/server_copy_task.hpp"

namespace rmig::copy {

namespace {
using Side = Engine::Side;

// COPY with REPLACE, then UNLINK of the source, atomically: a one-pass move that overwrites.
constexpr const char* kMoveReplaceScript =
    "local n = redis.call('COPY', KEYS[1], KEYS[1], 'DB', ARGV[1], 'REPLACE')\n"
    "if n == 1 then redis.call('UNLINK', KEYS[1]) end\n"
    "return n\n";
}  // namespace

const char* ServerCopyTask::move_replace_script() noexcept { return kMoveReplaceScript; }

void ServerCopyTask::resend(uint32_t j) {
  if (engine_->job(j).stage == kStageExists) return check_source(j);
  send(j);
}

void ServerCopyTask::send(uint32_t j) {
  Job& job = engine_->job(j);
  job.stage = kStageCopy;
  const CopyOptions& o = engine_->options();
  const bool replace = o.conflict == ConflictPolicy::kReplace;
  if (o.cleanup && !replace) {
    const std::string_view args[] = {"MOVE", job.key, db_};
    engine_->send(j, Side::kWriter, args, std::size(args), kCopy);
  } else if (o.cleanup) {
    const std::string_view args[] = {"EVAL", kMoveReplaceScript, "1", job.key, db_};
    engine_->send(j, Side::kWriter, args, std::size(args), kCopy);
  } else if (replace) {
    const std::string_view args[] = {"COPY", job.key, job.key, "DB", db_, "REPLACE"};
    engine_->send(j, Side::kSource, args, std::size(args), kCopy);
  } else {
    const std::string_view args[] = {"COPY", job.key, job.key, "DB", db_};
    engine_->send(j, Side::kSource, args, std::size(args), kCopy);
  }
}

void ServerCopyTask::check_source(uint32_t j) {
  Job& job = engine_->job(j);
  job.stage = kStageExists;
  const std::string_view args[] = {"EXISTS", job.key};
  engine_->send(j, Side::kSource, args, 2, kExists);
}

void ServerCopyTask::on_reply(uint32_t j, uint8_t op, resp::Reply reply) {
  const redisReply* r = reply.get();
  report::Counters& c = engine_->counters(j);
  if (resp::is_error(r)) {
    const std::string msg(resp::text(r));
    const char* cmd = op == kExists ? "EXISTS" : engine_->options().cleanup ? "MOVE" : "COPY";
    if (!engine_->handle_error(j, op == kExists ? Side::kSource : Side::kWriter, cmd, msg)) {
      engine_->fail_key(j, std::string(cmd) + ": " + msg);
    }
    return;
  }
  if (!resp::is_integer(r)) return engine_->fail_key(j, "COPY: unexpected reply " + resp::describe(r));
  if (op == kExists) {
    // COPY/MOVE said 0: either the key exists in the destination DB (skipped) or it went away (vanished).
    ++(r->integer == 0 ? c.vanished : c.skipped);
    return engine_->done(j);
  }
  if (r->integer == 1) {
    ++c.copied;
    if (engine_->options().cleanup) ++c.deleted;
    return engine_->done(j);
  }
  check_source(j);
}

}  // namespace rmig::copy
