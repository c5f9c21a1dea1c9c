#include "copy/fetch_stage.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "copy/merge.hpp"
#include "resp/server_error.hpp"
#include "util/escape.hpp"
#include "util/int_text.hpp"
#include "value/kind.hpp"
#include "value/string_payload.hpp"

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
  switch (resp::classify_error(message)) {
    case ServerError::kNoPerm:
    case ServerError::kUnknownCommand: return true;
    case ServerError::kOther: return message.find("policy") != std::string_view::npos;
    default: return false;
  }
}

std::string error_text(const redisReply* r) {
  return resp::is_error(r) ? std::string(resp::text(r)) : "unexpected reply " + resp::describe(r);
}

}  // namespace

void FetchStage::attach(engine::Engine& engine, bool string_reads) {
  engine_ = &engine;
  state_.assign(engine.window_size(), State{});
  string_reads_ = string_reads && engine.options().string_payload_rdb > 0;
}

void FetchStage::start(uint32_t j) {
  const engine::Job& job = engine_->job(j);
  // A live run's change is read with DUMP: a resync compares the destination's DUMP with what it read.
  if (string_reads_ && job.live == engine::LiveMode::kNone && !strings(job.node).refused) {
    // A selection by type asked already, or SCAN ... TYPE returned only keys of one type.
    const engine::Selection& sel = engine_->options().selection;
    const std::string_view known = !job.type.empty() ? std::string_view(job.type)
                                   : sel.types.size() == 1 && sel.scan_type_supported
                                       ? std::string_view(sel.types.front())
                                       : std::string_view();
    if (!known.empty()) return known == "string" ? read_string(j) : size_or_fetch(j);
    NodeStrings& ns = strings(job.node);
    // After a run of strings, on a node that never answered WRONGTYPE, a key is read as a string without
    // asking: one of another type answers WRONGTYPE and goes the usual way (see wrong_type()).
    if (ns.run >= kUntypedAfter && !ns.mixed) {
      state_[j].untyped = true;
      return read_string(j);
    }
    if (ns.share >= 0.5) return ask_type(j);
  }
  size_or_fetch(j);
}

bool FetchStage::needs_size(uint32_t node) const noexcept {
  const engine::CopyOptions& o = engine_->options();
  // A plan with --mode rewrite sizes keys too: it must not DUMP a big key whole either.
  const uint64_t data = engine_->dataset_bytes(node);
  // A node whose whole dataset is under the threshold cannot hold a key over it: no per-key check there.
  return o.mode != engine::CopyMode::kDump && o.big_key_threshold > 0 &&
         size_mode(node) != SizeMode::kUnsized && (data == 0 || data > o.big_key_threshold);
}

void FetchStage::size_or_fetch(uint32_t j) {
  if (needs_size(engine_->job(j).node)) return check_size(j);
  fetch(j);
}

void FetchStage::resend(uint32_t j) {
  switch (state_[j].phase) {
    case Phase::kSize: return check_size(j);
    case Phase::kType: return ask_type(j);
    case Phase::kString: return read_string(j);
    default: return fetch(j);
  }
}

FetchStage::NodeStrings& FetchStage::strings(uint32_t node) {
  if (strings_.size() <= node) strings_.resize(node + 1);
  return strings_[node];
}

void FetchStage::learn(uint32_t node, bool readable, bool string_type) {
  if (!string_reads_) return;
  NodeStrings& ns = strings(node);
  // A long or empty string breaks no run: its TYPE would not have saved its fallback either.
  if (!string_type) {
    ns.run = 0;
  } else if (readable) {
    ns.run = std::min(ns.run + 1, kUntypedAfter);
  }
  // The mean of the keys seen so far and four strings, then (past 60 keys) a moving average over about the
  // last 64: one key of another type among the first ones does not stop the strings' reads.
  if (ns.seen < 60) ++ns.seen;
  ns.share += ((readable ? 1.0 : 0.0) - ns.share) / (ns.seen + 4.0);
}

uint64_t FetchStage::string_read_max() const noexcept {
  const uint64_t threshold = engine_->options().big_key_threshold;
  return threshold > 0 ? std::min(threshold, kStringReadMax) : kStringReadMax;
}

void FetchStage::ask_type(uint32_t j) {
  state_[j].phase = Phase::kType;
  const std::string_view args[] = {"TYPE", engine_->job(j).key};
  engine_->send(j, Side::kSource, args, 2, op(kType));
}

void FetchStage::strings_refused(uint32_t j, std::string_view command, std::string_view message) {
  NodeStrings& ns = strings(engine_->job(j).node);
  if (!ns.refused) {
    ns.refused = true;
    spdlog::info("{}: {} refused ({}): its strings are read with DUMP instead",
                 engine_->label(j, Side::kSource), command, message);
  }
  size_or_fetch(j);
}

void FetchStage::wrong_type(uint32_t j) {
  NodeStrings& ns = strings(engine_->job(j).node);
  if (!ns.mixed) {  // said once per node (other reads in flight may meet WRONGTYPE too)
    spdlog::info(
        "{}: a key read as a string without its TYPE is of another type (WRONGTYPE): the node's keys "
        "are asked their TYPE first from now on",
        engine_->label(j, Side::kSource));
  }
  ns.mixed = true;
  ns.run = 0;
}

void FetchStage::read_string(uint32_t j) {
  // One byte more than the longest string read this way tells a longer one apart.
  const IntText end(static_cast<int64_t>(string_read_max()));
  const std::string_view range[] = {"GETRANGE", engine_->job(j).key, "0", end.view()};
  read_value(j, Phase::kString, range, 4, kRange);
}

void FetchStage::read_value(uint32_t j, Phase phase, const std::string_view* read, std::size_t argc,
                            Op code) {
  engine::Job& job = engine_->job(j);
  State& st = state_[j];
  st.phase = phase;
  st.error.clear();
  job.pttl = 0;
  job.sent_at = std::chrono::steady_clock::now();
  const engine::CopyOptions& o = engine_->options();
  if (o.keep_idle && !o.dry_run && !idle_refused_ && !st.idle_read) {
    // Before the first read, which counts as an access and resets the idle time: once per key (a string
    // whose GETRANGE falls back to DUMP keeps what was read before it).
    st.idle = -1;
    st.idle_read = true;
    const std::string_view object[] = {"OBJECT", o.source_lfu ? "FREQ" : "IDLETIME", job.key};
    if (!engine_->send(j, Side::kSource, object, 3, op(kObject))) return;
  }
  const std::string_view pttl[] = {"PTTL", job.key};
  if (!engine_->send(j, Side::kSource, pttl, 2, op(kPttl))) return;
  engine_->send(j, Side::kSource, read, argc, op(code));
}

FetchStage::Step FetchStage::on_type(uint32_t j, const redisReply* r) {
  const engine::Job& job = engine_->job(j);
  if (!resp::is_string(r)) {
    const std::string msg = error_text(r);
    // Refused (ACL, renamed), or an error neither a redirect nor a retry settles (a proxy without the
    // command): DUMP reads the node's keys.
    if ((resp::is_error(r) && memory_refused(msg)) || !resp::is_error(r) ||
        !engine_->handle_error(j, Side::kSource, "TYPE", msg)) {
      strings_refused(j, "TYPE", msg);
    }
    return Step::kWait;
  }
  const std::string_view type = resp::text(r);
  if (type == "none") return vanished(j, false);
  if (type == "string") {
    read_string(j);  // learned from the read's outcome
  } else {
    learn(job.node, false, false);
    size_or_fetch(j);
  }
  return Step::kWait;
}

bool FetchStage::pttl_failed(uint32_t j) {
  const State& st = state_[j];
  if (st.error.empty()) return false;
  const std::string msg = st.error;
  if (!engine_->handle_error(j, Side::kSource, "PTTL", msg)) engine_->fail_key(j, "PTTL: " + msg);
  return true;
}

FetchStage::Step FetchStage::on_range(uint32_t j, resp::Reply& reply) {
  const redisReply* r = reply.get();
  engine::Job& job = engine_->job(j);
  State& st = state_[j];
  if (pttl_failed(j)) return Step::kWait;
  if (resp::is_error(r)) {
    const std::string msg(resp::text(r));
    if (resp::classify_error(msg) == ServerError::kWrongType) {
      // Not a string: read without its TYPE, or changed since its TYPE (a race, which says nothing of the
      // node). The usual way.
      if (st.untyped) wrong_type(j);
      size_or_fetch(j);
    } else if (memory_refused(msg) || !engine_->handle_error(j, Side::kSource, "GETRANGE", msg)) {
      strings_refused(j, "GETRANGE", msg);
    }
    return Step::kWait;
  }
  if (job.pttl == -2) return vanished(j, true);
  if (r == nullptr || r->type != REDIS_REPLY_STRING) {
    engine_->fail_key(j, "GETRANGE: unexpected reply " + resp::describe(r));
    return Step::kWait;
  }
  // Empty: an empty string, or a key deleted between PTTL and GETRANGE; longer than the read: a long string.
  // DUMP tells both apart.
  if (r->len == 0 || r->len > string_read_max()) {
    learn(job.node, false, true);  // a string the read could not take: its TYPE was not worth it
    size_or_fetch(j);
    return Step::kWait;
  }
  learn(job.node, true, true);
  if (engine_->options().string_writes) {
    // Written with SET: the reply is the value, held as it is.
    engine_->hold(j, std::move(reply));
    job.raw_string = true;
  } else {
    const std::string_view value(r->str, r->len);
    resp::Reply payload = resp::make_string_reply(value::string_payload_size(value));
    if (!payload) {
      engine_->fail_key(j, "out of memory building a string's payload");
      return Step::kWait;
    }
    value::write_string_payload(value, engine_->options().string_payload_rdb, payload->str);
    engine_->hold(j, std::move(payload));
  }
  job.built = true;
  job.resent = false;  // a new stage starts
  st.phase = Phase::kIdle;
  return Step::kFetched;
}

FetchStage::SizeMode FetchStage::size_mode(uint32_t node) const noexcept {
  return node < size_mode_.size() ? size_mode_[node] : SizeMode::kByMemory;
}

void FetchStage::refused(uint32_t j, SizeMode mode, std::string_view command, std::string_view message) {
  const uint32_t node = engine_->job(j).node;
  if (size_mode_.size() <= node) size_mode_.resize(node + 1, SizeMode::kByMemory);
  if (size_mode_[node] < mode) {
    size_mode_[node] = mode;
    if (mode == SizeMode::kByLength) {
      spdlog::warn(
          "{}: {} refused ({}): sizing keys for --big-key-threshold with TYPE and the type's length "
          "command instead",
          engine_->label(j, Side::kSource), command, message);
    } else {
      spdlog::warn("{}: {} refused ({}): big keys cannot be found on this node, every key is DUMPed whole",
                   engine_->label(j, Side::kSource), command, message);
    }
  }
  if (size_mode_[node] == SizeMode::kUnsized) return fetch(j);
  check_size(j);
}

void FetchStage::fetch(uint32_t j) {
  const std::string_view dump[] = {"DUMP", engine_->job(j).key};
  read_value(j, Phase::kFetch, dump, 2, kDump);
}

void FetchStage::check_size(uint32_t j) {
  engine::Job& job = engine_->job(j);
  State& st = state_[j];
  st.phase = Phase::kSize;
  st.size = 0;
  if (size_mode(job.node) == SizeMode::kByLength) {
    const std::string_view args[] = {"TYPE", job.key};
    engine_->send(j, Side::kSource, args, 2, op(kSizeType));
    return;
  }
  // The default sampling (5 nested values) is O(1) whatever the key's size and close enough for a threshold;
  // SAMPLES 0 would walk every element of a big key.
  const std::string_view args[] = {"MEMORY", "USAGE", job.key};
  engine_->send(j, Side::kSource, args, 3, op(kSize));
}

FetchStage::Step FetchStage::on_reply(uint32_t j, uint8_t code, resp::Reply& reply) {
  const redisReply* r = reply.get();
  switch (static_cast<Op>(ops_.index(code))) {
    case kSize: return on_size(j, r);
    case kSizeType: return on_size_type(j, r);
    case kLength: return on_length(j, r);
    case kObject: on_object(j, r); return Step::kWait;
    case kType: return on_type(j, r);
    case kRange: return on_range(j, reply);
    case kPttl:
      if (resp::is_integer(r)) {
        engine_->job(j).pttl = r->integer;
      } else {
        state_[j].error = error_text(r);
      }
      return Step::kWait;
    case kDump: return on_dump(j, reply);
  }
  return Step::kWait;
}

FetchStage::Step FetchStage::on_size(uint32_t j, const redisReply* r) {
  engine::Job& job = engine_->job(j);
  if (resp::is_nil(r)) return vanished(j, false);
  if (resp::is_integer(r)) {
    const auto size = static_cast<uint64_t>(std::max<long long>(r->integer, 0));
    if (size <= engine_->options().big_key_threshold) {
      fetch(j);
      return Step::kWait;
    }
    state_[j].size = size;
    const std::string_view args[] = {"TYPE", job.key};
    engine_->send(j, Side::kSource, args, 2, op(kSizeType));
    return Step::kWait;
  }
  const std::string msg = error_text(r);
  if (resp::is_error(r) && memory_refused(msg)) {
    refused(j, SizeMode::kByLength, "MEMORY USAGE", msg);
  } else if (!resp::is_error(r) || !engine_->handle_error(j, Side::kSource, "MEMORY", msg)) {
    engine_->fail_key(j, "MEMORY USAGE: " + msg);
  }
  return Step::kWait;
}

FetchStage::Step FetchStage::on_size_type(uint32_t j, const redisReply* r) {
  engine::Job& job = engine_->job(j);
  if (!resp::is_string(r)) {
    const std::string msg = error_text(r);
    if (resp::is_error(r) && memory_refused(msg)) {
      refused(j, SizeMode::kUnsized, "TYPE", msg);
    } else if (!resp::is_error(r) || !engine_->handle_error(j, Side::kSource, "TYPE", msg)) {
      engine_->fail_key(j, "TYPE: " + msg);
    }
    return Step::kWait;
  }
  job.type = std::string(resp::text(r));
  if (job.type == "none") return vanished(j, false);
  if (state_[j].size > 0) return found_big(j, state_[j].size);
  const char* cmd = value::length_command(job.type);
  if (cmd == nullptr) {
    fetch(j);  // a module's type: its size is unknown, and only DUMP can copy it
    return Step::kWait;
  }
  const std::string_view args[] = {cmd, job.key};
  engine_->send(j, Side::kSource, args, 2, op(kLength));
  return Step::kWait;
}

FetchStage::Step FetchStage::on_length(uint32_t j, const redisReply* r) {
  const engine::Job& job = engine_->job(j);
  const char* cmd = value::length_command(job.type);
  if (!resp::is_integer(r)) {
    const std::string msg = error_text(r);
    if (resp::is_error(r) && memory_refused(msg)) {
      refused(j, SizeMode::kUnsized, cmd, msg);
    } else if (!resp::is_error(r) || !engine_->handle_error(j, Side::kSource, cmd, msg)) {
      engine_->fail_key(j, std::string(cmd) + ": " + msg);
    }
    return Step::kWait;
  }
  const auto n = static_cast<uint64_t>(std::max<long long>(r->integer, 0));
  const uint64_t size = job.type == "string" ? n : n * kElementEstimate;
  if (size <= engine_->options().big_key_threshold) {
    fetch(j);
    return Step::kWait;
  }
  return found_big(j, size);
}

FetchStage::Step FetchStage::vanished(uint32_t j, bool example) {
  state_[j].phase = Phase::kIdle;
  if (engine_->job(j).live != engine::LiveMode::kNone) {
    engine_->job(j).resent = false;  // a new stage starts
    return Step::kGone;
  }
  ++engine_->counters(j).vanished;
  if (example) engine_->add_example(j, "vanished");
  engine_->done(j);
  return Step::kWait;
}

FetchStage::Step FetchStage::found_big(uint32_t j, uint64_t size) {
  const engine::Job& job = engine_->job(j);
  state_[j].size = size;
  state_[j].phase = Phase::kIdle;
  ++engine_->counters(j).big_keys;
  big_keys_.add(report::BigKey{job.key, job.type, size});
  spdlog::debug("big key \"{}\" ({}, {} bytes): rewrite path in chunks", printable_short(job.key), job.type,
                size);
  return Step::kBigKey;
}

void FetchStage::on_object(uint32_t j, const redisReply* r) {
  if (resp::is_integer(r)) {
    state_[j].idle = r->integer;
  } else if (resp::is_error(r) && !idle_refused_ && refuses_object(resp::text(r))) {
    // An ACL without OBJECT, or a policy changed meanwhile: the keys go on without their idle times.
    idle_refused_ = true;
    spdlog::warn("{}: OBJECT {} refused ({}): --keep-idle carries no idle times from now on",
                 engine_->label(j, Side::kSource), engine_->options().source_lfu ? "FREQ" : "IDLETIME",
                 resp::text(r));
  }
}

FetchStage::Step FetchStage::on_dump(uint32_t j, resp::Reply& reply) {
  engine::Job& job = engine_->job(j);
  State& st = state_[j];
  const redisReply* r = reply.get();
  if (pttl_failed(j)) return Step::kWait;
  if (resp::is_error(r)) {
    const std::string msg(resp::text(r));
    if (!engine_->handle_error(j, Side::kSource, "DUMP", msg)) engine_->fail_key(j, "DUMP: " + msg);
    return Step::kWait;
  }
  if (resp::is_nil(r) || job.pttl == -2) {
    // Deleted (or expired) between SCAN and DUMP: not an error. A DUMP that is not nil after PTTL said -2
    // is a key created meanwhile, which this pass does not promise to copy (a live run hears of it).
    return vanished(j, true);
  }
  if (r->type != REDIS_REPLY_STRING) {
    engine_->fail_key(j, "DUMP: unexpected reply " + resp::describe(r));
    return Step::kWait;
  }
  // A string the read would have taken (its payload about its length) counts for reading strings.
  const bool string = value::payload_kind(resp::text(r)) == value::Kind::kString;
  learn(job.node, string && r->len <= string_read_max(), string);
  engine_->hold(j, std::move(reply));
  job.resent = false;  // a new stage starts
  st.phase = Phase::kIdle;
  return Step::kFetched;
}

}  // namespace rmig::copy
