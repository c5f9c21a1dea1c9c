#include "copy/live_stage.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "resp/server_error.hpp"
#include "select/glob.hpp"

namespace rmig::copy {

namespace {

using Side = engine::Engine::Side;

std::string error_text(const redisReply* r) {
  return resp::is_error(r) ? std::string(resp::text(r)) : "unexpected reply " + resp::describe(r);
}

}  // namespace

void LiveStage::attach(engine::Engine& engine) {
  engine_ = &engine;
  scripts_ = engine.options().destination_scripts;
  state_.assign(engine.window_size(), Phase::kIdle);
}

void LiveStage::remove(uint32_t j) {
  if (engine_->failing()) return engine_->abandon(j);  // nothing new is written once the run is failing
  engine_->job(j).resent = false;                      // a new stage starts
  send_remove(j);
}

void LiveStage::orphan(uint32_t j) {
  // The selection's one --match pattern is the source's SCAN MATCH, which the selector leaves to the server:
  // a destination name renamed back to a source name outside it is not the selection's, and is never deleted.
  const std::vector<std::string>& match = engine_->options().selection.match;
  if (match.size() == 1 && !select::glob_match(match.front(), engine_->job(j).key)) {
    --engine_->counters(j).scanned;
    return engine_->done(j);
  }
  send_exists(j);
}

void LiveStage::resend(uint32_t j) {
  if (state_[j] == Phase::kRemove) return send_remove(j);
  send_exists(j);
}

void LiveStage::send_exists(uint32_t j) {
  state_[j] = Phase::kExists;
  const bool typed = !engine_->options().selection.types.empty();
  const std::string_view args[] = {typed ? "TYPE" : "EXISTS", engine_->job(j).key};
  engine_->send(j, Side::kSource, args, 2, op(kExists));
}

void LiveStage::send_remove(uint32_t j) {
  state_[j] = Phase::kRemove;
  const std::string_view args[] = {scripts::delete_command(scripts_), engine_->job(j).target()};
  engine_->send(j, Side::kDestination, args, 2, op(kRemove));
}

void LiveStage::on_reply(uint32_t j, uint8_t code, resp::Reply reply) {
  const redisReply* r = reply.get();
  switch (static_cast<Op>(ops_.index(code))) {
    case kExists: return on_exists(j, r);
    case kRemove: return on_remove(j, r);
  }
}

void LiveStage::on_exists(uint32_t j, const redisReply* r) {
  const std::vector<std::string>& types = engine_->options().selection.types;
  const bool typed = !types.empty();
  if (typed ? resp::is_string(r) : resp::is_integer(r)) {
    const bool present =
        typed ? std::find(types.begin(), types.end(), resp::text(r)) != types.end() : r->integer != 0;
    if (!present) return remove(j);
    // The source key exists: the destination name is its copy's, which the source side's resync checks.
    state_[j] = Phase::kIdle;
    --engine_->counters(j).scanned;
    return engine_->done(j);
  }
  const std::string msg = error_text(r);
  const char* verb = typed ? "TYPE" : "EXISTS";
  if (resp::is_error(r) && engine_->handle_error(j, Side::kSource, verb, msg)) return;
  engine_->fail_key(j, std::string(verb) + ": " + msg);
}

void LiveStage::on_remove(uint32_t j, const redisReply* r) {
  engine::Job& job = engine_->job(j);
  if (resp::is_integer(r)) {
    state_[j] = Phase::kIdle;
    report::Counters& c = engine_->counters(j);
    if (r->integer > 0 || job.resent) {
      ++c.removed;
    } else {
      ++c.vanished;  // gone from both sides already
    }
    return engine_->done(j);
  }
  const std::string msg = error_text(r);
  const std::string_view verb = scripts::delete_command(scripts_);
  if (resp::is_error(r) && scripts_.unlink &&
      resp::classify_error(msg) == resp::ServerError::kUnknownCommand) {
    // UNLINK renamed away since the start: DEL from now on.
    spdlog::info("{}: UNLINK refused ({}): keys are deleted with DEL", engine_->label(j, Side::kDestination),
                 msg);
    scripts_.unlink = false;
    return send_remove(j);
  }
  if (resp::is_error(r) && engine_->handle_error(j, Side::kDestination, verb, msg)) return;
  engine_->fail_key(j, std::string(verb) + ": " + msg);
}

}  // namespace rmig::copy
