#include "copy/pipeline.hpp"

#include <openssl/sha.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <csignal>

#include "copy/ttl.hpp"
#include "resp/server_error.hpp"
#include "util/escape.hpp"

namespace rmig::copy {

namespace {

using Clock = std::chrono::steady_clock;
using resp::ServerError;

constexpr uint64_t kRetryTickMs = 50;
constexpr uint64_t kClockRefreshMs = 10'000;

// Compare-and-delete for --cleanup. KEYS[1] is the source key, ARGV[1] the SHA1 of the DUMP payload that was
// copied, ARGV[2] the PTTL read before the copy (-1: persistent). The key is deleted only if it still holds
// that value and its expiry was not changed meanwhile (a TTL only goes down on its own; a larger TTL or a
// different persistence means somebody wrote the key). Returns 1 when deleted, 0 when kept.
constexpr const char* kCleanupScript =
    "local t = redis.call('PTTL', KEYS[1])\n"
    "local want = tonumber(ARGV[2])\n"
    "if want < 0 then\n"
    "  if t ~= -1 then return 0 end\n"
    "elseif t < 0 or t > want then\n"
    "  return 0\n"
    "end\n"
    "local v = redis.call('DUMP', KEYS[1])\n"
    "if not v or redis.sha1hex(v) ~= ARGV[1] then return 0 end\n"
    "redis.call('UNLINK', KEYS[1])\n"
    "return 1\n";

std::string sha1_hex(std::string_view data) {
  std::array<unsigned char, SHA_DIGEST_LENGTH> digest{};
  SHA1(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest.data());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(SHA_DIGEST_LENGTH * 2, '0');
  for (std::size_t i = 0; i < digest.size(); ++i) {
    out[2 * i] = kHex[digest[i] >> 4];
    out[2 * i + 1] = kHex[digest[i] & 0xf];
  }
  return out;
}

struct IntText {
  std::array<char, 24> buf{};
  std::size_t len = 0;
  explicit IntText(int64_t v) {
    auto r = std::to_chars(buf.data(), buf.data() + buf.size(), v);
    len = static_cast<std::size_t>(r.ptr - buf.data());
  }
  std::string_view view() const noexcept { return {buf.data(), len}; }
};

bool retryable(ServerError e) noexcept {
  return e == ServerError::kLoading || e == ServerError::kBusy || e == ServerError::kTryAgain ||
         e == ServerError::kClusterDown || e == ServerError::kMasterDown;
}

}  // namespace

const char* Pipeline::cleanup_script() noexcept { return kCleanupScript; }

std::string_view Pipeline::Job::payload_view() const noexcept {
  const redisReply* r = shared ? shared.get() : payload.get();
  if (r == nullptr) return {};
  return {r->str, r->len};
}

Pipeline::Pipeline(net::Loop& loop, CopyOptions options, std::vector<SourceNode> sources,
                   std::unique_ptr<resp::Connection> destination, std::string cleanup_sha)
    : loop_(loop),
      opts_(options),
      dst_(std::move(destination)),
      cleanup_sha_(std::move(cleanup_sha)),
      seen_(
          [&] {
            uint64_t n = 0;
            for (const auto& s : sources)
              n += s.dbsize;
            return n;
          }(),
          options.seen_filter_bytes),
      retry_timer_(loop, this, &Pipeline::on_retry_timer),
      clock_timer_(loop, this, &Pipeline::on_clock_timer) {
  clock_timer_.unref();
  nodes_.reserve(sources.size());
  for (auto& s : sources) {
    Node n;
    n.src = std::move(s);
    nodes_.push_back(std::move(n));
  }
  jobs_.resize(std::max<std::size_t>(opts_.window.keys, 1));
  free_.reserve(jobs_.size());
  for (std::size_t i = jobs_.size(); i-- > 0;)
    free_.push_back(static_cast<uint32_t>(i));
}

Pipeline::~Pipeline() {
  for (auto& n : nodes_) {
    if (n.src.conn) n.src.conn->set_observer(nullptr);
  }
  if (dst_) dst_->set_observer(nullptr);
}

void Pipeline::start(std::function<void()> on_done) {
  on_done_ = std::move(on_done);
  for (auto& n : nodes_)
    n.src.conn->set_observer(this);
  dst_->set_observer(this);
  if (dst_clock_.known() && !opts_.dry_run) clock_timer_.start(kClockRefreshMs, kClockRefreshMs);
  pump();
}

void Pipeline::on_clock_timer(void* self_ptr) {
  auto* self = static_cast<Pipeline*>(self_ptr);
  if (self->finished_ || !self->dst_->ready()) return;
  const std::string_view args[] = {"TIME"};
  self->dst_->send(*self, tag(0, kTime), args, 1);
}

report::Counters Pipeline::totals() const {
  report::Counters total;
  for (const auto& n : nodes_)
    total += n.counters;
  return total;
}

PipelineResult Pipeline::take_result() {
  PipelineResult r;
  for (const auto& n : nodes_) {
    r.total += n.counters;
    r.nodes.push_back(report::NodeCounters{n.src.name, n.counters});
  }
  r.errors = std::move(errors_);
  r.fatal = fatal_;
  r.signal = signal_;
  r.examples = std::move(examples_);
  return r;
}

void Pipeline::stop(int signal) {
  if (finished_) return;
  if (stopping_ && signal_ != 0) {
    spdlog::warn("second signal: stopping now, abandoning {} keys in flight (nothing is deleted)", active_);
    signal_ = signal;
    finish();
    return;
  }
  signal_ = signal;
  stopping_ = true;
  spdlog::warn("{}: stopping the scan, waiting for {} keys in flight (signal again to abandon them)",
               signal == SIGTERM ? "SIGTERM" : "SIGINT", active_);
  for (auto& n : nodes_)
    n.queue.clear();
  maybe_finish();
}

// ---- scheduling ----

void Pipeline::pump() {
  if (finished_) return;
  for (uint32_t i = 0; i < nodes_.size(); ++i)
    maybe_scan(nodes_[i], i);
  dispatch();
  maybe_finish();
}

void Pipeline::maybe_scan(Node& node, uint32_t index) {
  if (stopping_ || node.scanning || node.scan_done || node.queue.size() >= opts_.window.scan_count) return;
  if (!node.src.conn->ready()) return;
  node.scanning = true;
  IntText count(static_cast<int64_t>(opts_.window.scan_count));
  const std::string_view args[] = {"SCAN", node.cursor, "COUNT", count.view()};
  node.src.conn->send(*this, tag(index, kScan), args, std::size(args));
}

void Pipeline::dispatch() {
  paused_by_destination_ = false;
  while (!stopping_ && !free_.empty() && bytes_held_ < opts_.window.bytes) {
    if (dst_->queued_bytes() >= opts_.window.destination_queue) {
      paused_by_destination_ = true;  // resumed by on_connection_writable
      return;
    }
    // Round-robin over the nodes that have keys waiting.
    Node* node = nullptr;
    uint32_t node_index = 0;
    for (std::size_t k = 0; k < nodes_.size(); ++k) {
      std::size_t i = (next_node_ + k) % nodes_.size();
      if (!nodes_[i].queue.empty() && nodes_[i].src.conn->ready()) {
        node = &nodes_[i];
        node_index = static_cast<uint32_t>(i);
        next_node_ = i + 1;
        break;
      }
    }
    if (node == nullptr) return;
    uint32_t j = free_.back();
    free_.pop_back();
    ++active_;
    Job& job = jobs_[j];
    job.key.swap(node->queue.front());
    node->queue.pop_front();
    job.node = node_index;
    job.maybe_duplicate = seen_.test_and_add(job.key);
    job.duplicate_confirmed = false;
    job.attempts = 0;
    job.first_retry_at = {};
    ++node->counters.scanned;
    send_fetch(j);
    if (node->queue.size() < opts_.window.scan_count) maybe_scan(*node, node_index);
  }
}

void Pipeline::maybe_finish() {
  if (finished_ || active_ != 0 || !retries_.empty()) return;
  if (!stopping_) {
    for (const auto& n : nodes_) {
      if (!n.scan_done || !n.queue.empty() || n.scanning) return;
    }
  }
  finish();
}

void Pipeline::finish() {
  if (finished_) return;
  finished_ = true;
  retry_timer_.stop();
  clock_timer_.stop();
  for (auto& n : nodes_) {
    n.src.conn->set_observer(nullptr);
    n.src.conn->close();
  }
  dst_->set_observer(nullptr);
  dst_->close();
  if (on_done_) on_done_();
}

void Pipeline::fail_run(Error error) {
  if (finished_) return;
  if (!fatal_) fatal_ = std::move(error);
  stopping_ = true;
  finish();
}

// ---- replies ----

void Pipeline::on_reply(uint64_t t, resp::Reply reply) {
  if (finished_) return;
  const auto index = static_cast<uint32_t>(t >> 8);
  const auto op = static_cast<Op>(t & 0xff);
  if (!reply) return;  // the connection failed; on_connection_error decides
  switch (op) {
    case kScan: return on_scan(index, std::move(reply));
    case kPttl: return on_pttl(index, std::move(reply));
    case kDump: return on_dump(index, std::move(reply));
    case kRestore: return on_restore(index, std::move(reply));
    case kExists: return on_exists(index, std::move(reply));
    case kCleanup: return on_cleanup(index, std::move(reply));
    case kTime: return on_time(std::move(reply));
  }
}

void Pipeline::on_time(resp::Reply reply) {
  const redisReply* r = reply.get();
  if (!resp::is_array(r) || r->elements != 2) return;
  auto secs = resp::to_integer(r->element[0]);
  auto micros = resp::to_integer(r->element[1]);
  if (secs && micros) dst_clock_.sample(*secs, *micros, Clock::now());
}

void Pipeline::on_connection_ready(resp::Connection&) { pump(); }

void Pipeline::on_connection_error(resp::Connection&, const Error& error) { fail_run(error); }

void Pipeline::on_connection_writable(resp::Connection& c) {
  if (&c == dst_.get() && paused_by_destination_) pump();
}

void Pipeline::on_scan(uint32_t index, resp::Reply reply) {
  Node& node = nodes_[index];
  node.scanning = false;
  const redisReply* r = reply.get();
  if (resp::is_error(r)) {
    std::string_view msg = resp::text(r);
    ServerError kind = resp::classify_error(msg);
    if (retryable(kind)) {
      // Rare (LOADING after a restart, BUSY script): try the same cursor again shortly.
      spdlog::warn("{}: SCAN answered {}; retrying", node.src.conn->label(), msg);
      node.scanning = true;
      IntText count(static_cast<int64_t>(opts_.window.scan_count));
      const std::string_view args[] = {"SCAN", node.cursor, "COUNT", count.view()};
      node.src.conn->send(*this, tag(index, kScan), args, std::size(args));
      return;
    }
    if (kind == ServerError::kNoPerm)
      return fail_run(resp::permission_error(node.src.conn->options(), "scan", msg));
    return fail_run(make_error(kind == ServerError::kNoAuth ? ExitCode::kConnect : ExitCode::kKeysFailed,
                               node.src.conn->label() + ": SCAN failed (" + std::string(msg) + ")"));
  }
  if (!resp::is_array(r) || r->elements != 2 || !resp::is_string(r->element[0]) ||
      !resp::is_array(r->element[1])) {
    return fail_run(make_error(ExitCode::kKeysFailed,
                               node.src.conn->label() + ": unexpected SCAN reply " + resp::describe(r)));
  }
  node.cursor.assign(r->element[0]->str, r->element[0]->len);
  const redisReply* keys = r->element[1];
  for (std::size_t i = 0; i < keys->elements; ++i) {
    const redisReply* k = keys->element[i];
    if (!resp::is_string(k)) continue;
    node.queue.emplace_back(k->str, k->len);
  }
  if (node.cursor == "0") node.scan_done = true;
  pump();
}

void Pipeline::send_fetch(uint32_t j) {
  Job& job = jobs_[j];
  job.stage = Stage::kFetch;
  job.pttl = 0;
  job.fetch_error.clear();
  job.sent_at = Clock::now();
  resp::Connection& src = source_of(job);
  const std::string_view pttl[] = {"PTTL", job.key};
  const std::string_view dump[] = {"DUMP", job.key};
  src.send(*this, tag(j, kPttl), pttl, 2);
  src.send(*this, tag(j, kDump), dump, 2);
}

void Pipeline::on_pttl(uint32_t j, resp::Reply reply) {
  Job& job = jobs_[j];
  const redisReply* r = reply.get();
  if (resp::is_integer(r)) {
    job.pttl = r->integer;
  } else if (resp::is_error(r)) {
    job.fetch_error = "PTTL: " + std::string(resp::text(r));
  } else {
    job.fetch_error = "PTTL: unexpected reply " + resp::describe(r);
  }
}

void Pipeline::on_dump(uint32_t j, resp::Reply reply) {
  Job& job = jobs_[j];
  const redisReply* r = reply.get();
  if (!job.fetch_error.empty()) return source_error(j, job.fetch_error);
  if (resp::is_error(r)) return source_error(j, "DUMP: " + std::string(resp::text(r)));
  if (resp::is_nil(r) || job.pttl == -2) {
    // Deleted (or expired) between SCAN and DUMP: not an error. A DUMP that is not nil after PTTL said -2
    // is a key created meanwhile, which this pass does not promise to copy.
    ++counters_of(job).vanished;
    add_example(job, "vanished");
    return release(j);
  }
  if (r->type != REDIS_REPLY_STRING) return fail_key(j, "DUMP: unexpected reply " + resp::describe(r));
  job.payload = std::move(reply);
  job.held = job.payload->len;
  bytes_held_ += job.held;
  send_apply(j);
}

void Pipeline::send_apply(uint32_t j) {
  Job& job = jobs_[j];
  job.stage = Stage::kApply;
  const TtlPlan plan = plan_ttl(
      job.pttl, std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - job.sent_at).count());
  if (plan.kind == TtlPlan::Kind::kExpired) {
    ++counters_of(job).expired;
    add_example(job, "expired");
    return release(j);
  }
  if (opts_.dry_run) {
    const std::string_view args[] = {"EXISTS", job.key};
    dst_->send(*this, tag(j, kExists), args, 2);
    return;
  }
  // With the destination's clock known the expiry is absolute (ABSTTL), computed from the moment the PTTL
  // was sent: waiting in the destination's queue then cannot extend the key's life.
  const bool absolute = plan.kind == TtlPlan::Kind::kExpiring && dst_clock_.known();
  IntText ttl(absolute ? dst_clock_.unix_ms_at(job.sent_at + std::chrono::milliseconds(job.pttl))
                       : plan.restore_ttl_ms);
  const std::string_view payload = job.payload_view();
  // A possible duplicate in replace mode is first restored without REPLACE: success proves the key is new
  // (counted copied); BUSYKEY means it is (almost surely) the copy this run already made, restored again
  // with REPLACE and counted as a duplicate. Everything else goes straight to the policy's RESTORE.
  job.probing = job.maybe_duplicate && opts_.conflict == ConflictPolicy::kReplace && !job.duplicate_confirmed;
  const bool replace = opts_.conflict == ConflictPolicy::kReplace && !job.probing;
  std::string_view args[6] = {"RESTORE", job.key, ttl.view(), payload};
  std::size_t argc = 4;
  if (replace) args[argc++] = "REPLACE";
  if (absolute) args[argc++] = "ABSTTL";
  if (payload.size() >= net::OutBuffer::kReferenceThreshold) {
    // Large payload: the write references it instead of copying it.
    if (!job.shared) job.shared = std::shared_ptr<redisReply>(job.payload.release(), resp::ReplyDeleter{});
    dst_->send_ref(*this, tag(j, kRestore), args, argc, 3, job.shared);
  } else {
    dst_->send(*this, tag(j, kRestore), args, argc);
  }
}

void Pipeline::on_restore(uint32_t j, resp::Reply reply) {
  Job& job = jobs_[j];
  const redisReply* r = reply.get();
  report::Counters& c = counters_of(job);
  if (resp::is_status(r, "OK")) {
    if (job.duplicate_confirmed) {
      // The REPLACE that follows a BUSYKEY probe: the key was restored earlier in this run.
      ++c.duplicates;
      --c.scanned;
    } else {
      ++c.copied;
      c.bytes += job.held;
    }
    if (opts_.cleanup) return send_cleanup(j, cleanup_sha_.empty());
    return release(j);
  }
  if (resp::is_error(r)) return destination_error(j, resp::text(r));
  fail_key(j, "RESTORE: unexpected reply " + resp::describe(r));
}

void Pipeline::on_exists(uint32_t j, resp::Reply reply) {
  Job& job = jobs_[j];
  const redisReply* r = reply.get();
  report::Counters& c = counters_of(job);
  if (resp::is_error(r)) return destination_error(j, resp::text(r));
  if (!resp::is_integer(r)) return fail_key(j, "EXISTS: unexpected reply " + resp::describe(r));
  if (job.maybe_duplicate) {
    ++c.duplicates;
    --c.scanned;
    return release(j);
  }
  const bool exists = r->integer > 0;
  if (exists) ++c.existing;
  if (exists && opts_.conflict == ConflictPolicy::kSkip) {
    ++c.would_skip;
    add_example(job, "skip (exists)");
  } else {
    ++c.would_copy;
    c.would_copy_bytes += job.held;
    add_example(job, exists ? "replace (exists)" : "copy");
  }
  release(j);
}

void Pipeline::send_cleanup(uint32_t j, bool use_eval) {
  Job& job = jobs_[j];
  job.stage = Stage::kCleanup;
  const std::string sha = sha1_hex(job.payload_view());
  IntText pttl(job.pttl < 0 ? -1 : job.pttl);
  if (use_eval) {
    const std::string_view args[] = {"EVAL", kCleanupScript, "1", job.key, sha, pttl.view()};
    source_of(job).send(*this, tag(j, kCleanup), args, std::size(args));
  } else {
    const std::string_view args[] = {"EVALSHA", cleanup_sha_, "1", job.key, sha, pttl.view()};
    source_of(job).send(*this, tag(j, kCleanup), args, std::size(args));
  }
}

void Pipeline::on_cleanup(uint32_t j, resp::Reply reply) {
  Job& job = jobs_[j];
  const redisReply* r = reply.get();
  report::Counters& c = counters_of(job);
  if (resp::is_integer(r)) {
    if (r->integer == 1) {
      ++c.deleted;
    } else {
      ++c.cleanup_kept;
      spdlog::debug("cleanup kept \"{}\": it changed on the source during the copy",
                    printable_short(job.key));
    }
    return release(j);
  }
  std::string_view msg = resp::text(r);
  if (resp::is_error(r)) {
    const ServerError kind = resp::classify_error(msg);
    if (kind == ServerError::kNoScript) {
      return send_cleanup(j, true);  // the script cache was flushed (restart, failover): send the body
    }
    if (kind == ServerError::kNoPerm) {
      const std::string cmd = resp::denied_command(msg);
      if (cmd == "evalsha" && !cleanup_sha_.empty()) {
        // SCRIPT LOAD was allowed but EVALSHA is not: EVAL does the same, sending the script each time.
        spdlog::debug("{}: EVALSHA refused ({}); cleanup sends the script with EVAL", source_of(job).label(),
                      msg);
        cleanup_sha_.clear();
        return send_cleanup(j, true);
      }
      // A refused EVAL, or a command the script runs (Redis 7.0 does not say which: PTTL and DUMP already
      // worked for this user, so it is UNLINK), fails the cleanup of every key: stop rather than copy on.
      return fail_run(
          resp::permission_error(source_of(job).options(), cmd.empty() ? "unlink" : cmd, msg,
                                 " (--cleanup runs EVALSHA or EVAL of a script calling PTTL, DUMP and "
                                 "UNLINK)"));
    }
  }
  ++c.cleanup_failed;
  errors_.add("cleanup: " + (resp::is_error(r) ? std::string(msg) : "unexpected reply " + resp::describe(r)),
              job.key);
  release(j);
}

// ---- errors ----

void Pipeline::source_error(uint32_t j, std::string_view message) {
  Job& job = jobs_[j];
  const std::string_view server_msg = message.substr(message.find(": ") + 2);
  const ServerError kind = resp::classify_error(server_msg);
  const std::string& who = source_of(job).label();
  if (retryable(kind)) return schedule_retry(j, kPttl, message);
  if (kind == ServerError::kNoPerm) {
    const std::string cmd = resp::denied_command(server_msg);
    std::string fallback(message.substr(0, message.find(':')));  // the command sent: "PTTL" / "DUMP"
    std::transform(fallback.begin(), fallback.end(), fallback.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    return fail_run(
        resp::permission_error(source_of(job).options(), cmd.empty() ? fallback : cmd, server_msg));
  }
  if (kind == ServerError::kNoAuth) {
    return fail_run(make_error(ExitCode::kConnect, who + ": " + std::string(message) +
                                                       ": the server now requires a password; put it in the "
                                                       "URL or use --source-password-file"));
  }
  if (kind == ServerError::kNoPermKey) {
    // Only this key is out of the user's reach: it fails, the others go on.
    return fail_key(j, std::string(message) + ": the source user's key patterns (~...) exclude the key");
  }
  if (kind == ServerError::kUnknownCommand) {
    return fail_run(make_error(
        ExitCode::kConnect, who + ": " + std::string(message) + ": the source does not allow this command"));
  }
  fail_key(j, std::string(message));
}

void Pipeline::destination_error(uint32_t j, std::string_view message) {
  Job& job = jobs_[j];
  report::Counters& c = counters_of(job);
  const ServerError kind = resp::classify_error(message);
  const std::string& who = dst_->label();
  const char* what = opts_.dry_run ? "EXISTS" : "RESTORE";
  switch (kind) {
    case ServerError::kBusyKey:
      if (job.probing) {
        job.duplicate_confirmed = true;
        return send_apply(j);
      }
      if (job.maybe_duplicate) {
        ++c.duplicates;
        --c.scanned;
      } else {
        ++c.skipped;
      }
      return release(j);
    case ServerError::kOom:
      return fail_run(make_error(ExitCode::kDestinationRefused,
                                 who + ": out of memory (" + std::string(message) +
                                     "): free memory or raise maxmemory on the destination, then run again "
                                     "(keys already copied are skipped)"));
    case ServerError::kReadOnly:
      return fail_run(
          make_error(ExitCode::kDestinationRefused, who + " is a read-only replica (" + std::string(message) +
                                                        "): point the destination URL at the primary"));
    case ServerError::kMisconf:
      return fail_run(make_error(ExitCode::kDestinationRefused,
                                 who + " refuses writes because it cannot persist (" + std::string(message) +
                                     "): fix its disk or RDB settings"));
    case ServerError::kNoAuth:
      return fail_run(make_error(ExitCode::kConnect, who + ": " + what + " refused (" + std::string(message) +
                                                         "): the server now requires a password; put it in "
                                                         "the URL or use --destination-password-file"));
    case ServerError::kNoPerm: {
      const std::string cmd = resp::denied_command(message);
      return fail_run(resp::permission_error(
          dst_->options(), cmd.empty() ? std::string(opts_.dry_run ? "exists" : "restore") : cmd, message));
    }
    case ServerError::kNoPermKey:
      return fail_key(j, std::string(what) + ": " + std::string(message) +
                             ": the destination user's key patterns (~...) exclude the key");
    case ServerError::kUnknownCommand:
      return fail_run(make_error(ExitCode::kDestinationRefused, who + ": " + what + " is not available (" +
                                                                    std::string(message) +
                                                                    "): the destination must allow " + what));
    default: break;
  }
  if (retryable(kind)) return schedule_retry(j, kRestore, message);
  fail_key(j, std::string(what) + ": " + std::string(message));
}

void Pipeline::schedule_retry(uint32_t j, Op op, std::string_view message) {
  Job& job = jobs_[j];
  const auto now = Clock::now();
  if (job.attempts == 0) job.first_retry_at = now;
  if (now - job.first_retry_at > std::chrono::milliseconds(opts_.retry_timeout_ms)) {
    return fail_key(j, std::string(message) + " (still failing after retrying)");
  }
  const uint32_t shift = std::min<uint32_t>(job.attempts, 5);
  ++job.attempts;
  retries_.push_back(Retry{j, op, now + std::chrono::milliseconds(100u << shift)});
  if (!retry_timer_.active()) retry_timer_.start(kRetryTickMs, kRetryTickMs);
}

void Pipeline::on_retry_timer(void* self_ptr) {
  auto* self = static_cast<Pipeline*>(self_ptr);
  if (self->finished_) return;
  const auto now = Clock::now();
  std::vector<Retry> due;
  auto it = std::partition(self->retries_.begin(), self->retries_.end(),
                           [&](const Retry& r) { return r.due > now; });
  due.assign(it, self->retries_.end());
  self->retries_.erase(it, self->retries_.end());
  if (self->retries_.empty()) self->retry_timer_.stop();
  for (const Retry& r : due) {
    Job& job = self->jobs_[r.job];
    resp::Connection& conn = r.op == kRestore ? *self->dst_ : self->source_of(job);
    if (!conn.ready()) {
      self->retries_.push_back(Retry{r.job, r.op, now + std::chrono::milliseconds(100)});
      if (!self->retry_timer_.active()) self->retry_timer_.start(kRetryTickMs, kRetryTickMs);
      continue;
    }
    if (r.op == kRestore) {
      self->send_apply(r.job);
    } else {
      if (job.held > 0) {
        self->bytes_held_ -= job.held;
        job.held = 0;
      }
      job.payload.reset();
      job.shared.reset();
      self->send_fetch(r.job);
    }
  }
  self->maybe_finish();
}

void Pipeline::fail_key(uint32_t j, std::string message) {
  Job& job = jobs_[j];
  ++counters_of(job).failed;
  spdlog::debug("key \"{}\" failed: {}", printable_short(job.key), message);
  errors_.add(message, job.key);
  release(j);
}

void Pipeline::add_example(const Job& job, const char* action) {
  if (!opts_.dry_run || examples_.size() >= opts_.examples) return;
  examples_.push_back(report::Example{job.key, action, job.held});
}

void Pipeline::release(uint32_t j) {
  Job& job = jobs_[j];
  bytes_held_ -= job.held;
  job.held = 0;
  job.payload.reset();
  job.shared.reset();
  job.stage = Stage::kFree;
  free_.push_back(j);
  --active_;
  pump();
}

}  // namespace rmig::copy
