#include "copy/dump_task.hpp"

#include <spdlog/spdlog.h>

#include "copy/merge.hpp"
#include "resp/server_error.hpp"
#include "util/escape.hpp"

namespace rmig::copy {

namespace {

using Side = engine::Engine::Side;
using resp::ServerError;

// A command is refused as such (ACL, renamed, a managed service), not for this key.
bool memory_refused(std::string_view message) {
  const ServerError kind = resp::classify_error(message);
  if (kind == ServerError::kUnknownCommand) return true;
  if (kind != ServerError::kNoPerm) return false;
  return message.find("access a key") == std::string_view::npos &&
         message.find("one of the keys") == std::string_view::npos;
}

// OBJECT's answer is refused for good (ACL, renamed command, another eviction policy), not for the moment
// (a redirect or a loading server, which the DUMP behind it meets and handles).
bool refuses_object(std::string_view message) {
  using resp::ServerError;
  switch (resp::classify_error(message)) {
    case ServerError::kNoPerm:
    case ServerError::kUnknownCommand: return true;
    case ServerError::kOther: return message.find("policy") != std::string_view::npos;
    default: return false;
  }
}

}  // namespace

void DumpTask::attach(engine::Engine& engine) {
  engine_ = &engine;
  fetch_error_.assign(engine.window_size(), std::string());
  size_.assign(engine.window_size(), 0);
  idle_.assign(engine.window_size(), -1);
}

void DumpTask::start(uint32_t j) {
  const engine::CopyOptions& o = engine_->options();
  // A plan with --mode rewrite sizes keys too: it must not DUMP a big key whole either.
  const uint32_t node = engine_->job(j).node;
  const uint64_t data = engine_->dataset_bytes(node);
  // A node whose whole dataset is under the threshold cannot hold a key over it: no per-key check there.
  if (o.mode != engine::CopyMode::kDump && o.big_key_threshold > 0 && size_mode(node) != kUnsized &&
      (data == 0 || data > o.big_key_threshold)) {
    return check_size(j);
  }
  fetch(j);
}

uint8_t DumpTask::size_mode(uint32_t node) const noexcept {
  return node < size_mode_.size() ? size_mode_[node] : kByMemory;
}

void DumpTask::refused(uint32_t j, uint8_t mode, std::string_view command, std::string_view message) {
  const uint32_t node = engine_->job(j).node;
  if (size_mode_.size() <= node) size_mode_.resize(node + 1, kByMemory);
  if (size_mode_[node] < mode) {
    size_mode_[node] = mode;
    if (mode == kByLength) {
      spdlog::warn(
          "{}: {} refused ({}): sizing keys for --big-key-threshold with TYPE and the type's length "
          "command instead",
          engine_->label(j, Side::kSource), command, message);
    } else {
      spdlog::warn("{}: {} refused ({}): big keys cannot be found on this node, every key is DUMPed whole",
                   engine_->label(j, Side::kSource), command, message);
    }
  }
  if (size_mode_[node] == kUnsized) return fetch(j);
  check_size(j);
}

void DumpTask::fetch(uint32_t j) {
  engine::Job& job = engine_->job(j);
  job.stage = kStageFetch;
  job.pttl = 0;
  fetch_error_[j].clear();
  job.sent_at = std::chrono::steady_clock::now();
  idle_[j] = -1;
  const engine::CopyOptions& o = engine_->options();
  if (o.keep_idle && !o.dry_run && !idle_refused_) {
    // Before the DUMP, which counts as an access and would reset the idle time.
    const std::string_view object[] = {"OBJECT", o.source_lfu ? "FREQ" : "IDLETIME", job.key};
    if (!engine_->send(j, engine::Engine::Side::kSource, object, 3, kObject)) return;
  }
  const std::string_view pttl[] = {"PTTL", job.key};
  const std::string_view dump[] = {"DUMP", job.key};
  if (!engine_->send(j, engine::Engine::Side::kSource, pttl, 2, kPttl)) return;
  engine_->send(j, engine::Engine::Side::kSource, dump, 2, kDump);
}

void DumpTask::check_size(uint32_t j) {
  engine::Job& job = engine_->job(j);
  job.stage = kStageSize;
  size_[j] = 0;
  if (size_mode(job.node) == kByLength) {
    const std::string_view args[] = {"TYPE", job.key};
    engine_->send(j, Side::kSource, args, 2, kSizeType);
    return;
  }
  // The default sampling (5 nested values) is O(1) whatever the key's size and close enough for a threshold;
  // SAMPLES 0 would walk every element of a big key.
  const std::string_view args[] = {"MEMORY", "USAGE", job.key};
  engine_->send(j, Side::kSource, args, 3, kSize);
}

bool DumpTask::resend_fetch(uint32_t j) {
  switch (engine_->job(j).stage) {
    case kStageSize: check_size(j); return true;
    case kStageFetch: fetch(j); return true;
    default: return false;
  }
}

void DumpTask::on_size(uint32_t j, const redisReply* r) {
  engine::Job& job = engine_->job(j);
  if (resp::is_nil(r)) {
    ++engine_->counters(j).vanished;
    return engine_->done(j);
  }
  if (resp::is_integer(r)) {
    const auto size = static_cast<uint64_t>(std::max<long long>(r->integer, 0));
    if (size <= engine_->options().big_key_threshold) return fetch(j);
    size_[j] = size;
    const std::string_view args[] = {"TYPE", job.key};
    engine_->send(j, Side::kSource, args, 2, kSizeType);
    return;
  }
  const std::string msg =
      resp::is_error(r) ? std::string(resp::text(r)) : "unexpected reply " + resp::describe(r);
  if (resp::is_error(r) && memory_refused(msg)) return refused(j, kByLength, "MEMORY USAGE", msg);
  if (resp::is_error(r) && engine_->handle_error(j, Side::kSource, "MEMORY", msg)) return;
  engine_->fail_key(j, "MEMORY USAGE: " + msg);
}

void DumpTask::on_size_type(uint32_t j, const redisReply* r) {
  engine::Job& job = engine_->job(j);
  if (!resp::is_string(r)) {
    const std::string msg =
        resp::is_error(r) ? std::string(resp::text(r)) : "unexpected reply " + resp::describe(r);
    if (resp::is_error(r) && memory_refused(msg)) return refused(j, kUnsized, "TYPE", msg);
    if (resp::is_error(r) && engine_->handle_error(j, Side::kSource, "TYPE", msg)) return;
    return engine_->fail_key(j, "TYPE: " + msg);
  }
  job.type = std::string(resp::text(r));
  if (job.type == "none") {
    ++engine_->counters(j).vanished;
    return engine_->done(j);
  }
  if (size_[j] > 0) return found_big(j, size_[j]);
  const char* cmd = length_command(job.type);
  if (cmd == nullptr) return fetch(j);  // a module's type: its size is unknown, and only DUMP can copy it
  const std::string_view args[] = {cmd, job.key};
  engine_->send(j, Side::kSource, args, 2, kLength);
}

void DumpTask::on_length(uint32_t j, const redisReply* r) {
  const engine::Job& job = engine_->job(j);
  if (!resp::is_integer(r)) {
    const std::string msg =
        resp::is_error(r) ? std::string(resp::text(r)) : "unexpected reply " + resp::describe(r);
    if (resp::is_error(r) && memory_refused(msg)) return refused(j, kUnsized, length_command(job.type), msg);
    if (resp::is_error(r) && engine_->handle_error(j, Side::kSource, length_command(job.type), msg)) return;
    return engine_->fail_key(j, std::string(length_command(job.type)) + ": " + msg);
  }
  const auto n = static_cast<uint64_t>(std::max<long long>(r->integer, 0));
  const uint64_t size = job.type == "string" ? n : n * kElementEstimate;
  if (size <= engine_->options().big_key_threshold) return fetch(j);
  found_big(j, size);
}

void DumpTask::found_big(uint32_t j, uint64_t size) {
  const engine::Job& job = engine_->job(j);
  ++engine_->counters(j).big_keys;
  big_keys_.add(report::BigKey{job.key, job.type, size});
  spdlog::debug("big key \"{}\" ({}, {} bytes): rewrite path in chunks", printable_short(job.key), job.type,
                size);
  big_key(j, size);
}

bool DumpTask::on_fetch_reply(uint32_t j, uint8_t op, resp::Reply& reply) {
  engine::Job& job = engine_->job(j);
  const redisReply* r = reply.get();
  switch (op) {
    case kSize: on_size(j, r); return true;
    case kSizeType: on_size_type(j, r); return true;
    case kLength: on_length(j, r); return true;
    default: break;
  }
  if (op == kObject) {
    if (resp::is_integer(r)) {
      idle_[j] = r->integer;
    } else if (resp::is_error(r) && !idle_refused_ && refuses_object(resp::text(r))) {
      // An ACL without OBJECT, or a policy changed meanwhile: the keys go on without their idle times.
      idle_refused_ = true;
      spdlog::warn("{}: OBJECT {} refused ({}): --keep-idle carries no idle times from now on",
                   engine_->label(j, Side::kSource), engine_->options().source_lfu ? "FREQ" : "IDLETIME",
                   resp::text(r));
    }
    return true;
  }
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
    if (!engine_->handle_error(j, engine::Engine::Side::kSource, "PTTL", msg))
      engine_->fail_key(j, "PTTL: " + msg);
    return true;
  }
  if (resp::is_error(r)) {
    const std::string msg(resp::text(r));
    if (!engine_->handle_error(j, engine::Engine::Side::kSource, "DUMP", msg))
      engine_->fail_key(j, "DUMP: " + msg);
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
