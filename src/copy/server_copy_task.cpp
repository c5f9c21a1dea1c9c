#include "copy/server_copy_task.hpp"

namespace rmig::copy {

namespace {
using Side = engine::Engine::Side;

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

std::size_t ServerCopyTask::command(const engine::CopyOptions& o, std::string_view key, std::string_view db,
                                    std::string_view (&args)[6], engine::Engine::Side& side) {
  const bool replace = o.conflict == engine::ConflictPolicy::kReplace;
  side = o.cleanup ? Side::kWriter : Side::kSource;
  std::size_t n = 0;
  if (o.cleanup && !replace) {
    for (std::string_view w : {std::string_view("MOVE"), key, db})
      args[n++] = w;
  } else if (o.cleanup) {
    static const scripts::Script script(kMoveReplaceScript);
    for (std::string_view w :
         {std::string_view("EVAL"), std::string_view(script.body(o.source_scripts.unlink)),
          std::string_view("1"), key, db})
      args[n++] = w;
  } else {
    for (std::string_view w : {std::string_view("COPY"), key, key, std::string_view("DB"), db})
      args[n++] = w;
    if (replace) args[n++] = "REPLACE";
  }
  return n;
}

void ServerCopyTask::send(uint32_t j) {
  engine::Job& job = engine_->job(j);
  job.stage = kStageCopy;
  std::string_view args[6];
  Side side = Side::kSource;
  const std::size_t n = command(engine_->options(), job.key, db_, args, side);
  engine_->send(j, side, args, n, kCopy);
}

void ServerCopyTask::check_source(uint32_t j) {
  engine::Job& job = engine_->job(j);
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
