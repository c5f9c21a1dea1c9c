// The engine's API for tasks: sending a job's commands, the errors every task treats alike, the window's
// bytes, and how a job ends.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "engine/engine.hpp"
#include "engine/live.hpp"
#include "util/escape.hpp"

namespace rmig::engine {

namespace {

using Clock = std::chrono::steady_clock;
constexpr uint64_t kRetryTickMs = 50;

}  // namespace

uint32_t Engine::link_for(uint32_t j, Side side) {
  JobSlot& slot = slots_[j];
  switch (side) {
    case Side::kSource: return slot.read_link;
    case Side::kWriter: return slot.write_link;
    case Side::kDestination:
      return slot.dst_link = slot.ask_link != kNoLink ? slot.ask_link : links_.route(slot.job.target());
  }
  return kNoLink;
}

uint32_t Engine::link_for_error(uint32_t j, Side side) const noexcept {
  const JobSlot& slot = slots_[j];
  const uint32_t l = side == Side::kSource   ? slot.read_link
                     : side == Side::kWriter ? slot.write_link
                                             : slot.dst_link;
  return l == kNoLink ? links_.destinations().front() : l;
}

const std::string& Engine::label(uint32_t j, Side side) const {
  return links_[link_for_error(j, side)].conn->label();
}

const ServerClock& Engine::destination_clock(uint32_t j) {
  return links_[link_for(j, Side::kDestination)].clock;
}

// Sends ASKING when a -ASK redirect asked for it; parks the job when the link is down. ASKING holds for one
// command only, and a stage may send several for its key (PTTL and DUMP or GETRANGE; a RESTORE's checks), so
// once asked, every later command of the job on that side goes with its own ASKING (harmless once the slot
// has moved: the target then owns it). A -MOVED ends it.
bool Engine::before_send(uint32_t j, Side side, uint32_t link) {
  JobSlot& slot = slots_[j];
  if (!links_.usable(link)) {
    links_.park(j, link);
    return false;
  }
  const bool asking = side == Side::kDestination ? slot.ask_link != kNoLink
                      : side == Side::kSource    ? slot.read_ask
                                                 : slot.write_ask;
  if (asking) {
    const std::string_view args[] = {"ASKING"};
    if (!links_[link].conn->send(*this, job_tag(j, slot.job.generation, side, kAsking), args, 1)) {
      links_.park(j, link);
      return false;
    }
  }
  return true;
}

bool Engine::can_send(uint32_t j, Side side) { return links_.usable(link_for(j, side)); }

bool Engine::send(uint32_t j, Side side, const std::string_view* args, std::size_t argc, uint8_t op) {
  const uint32_t link = link_for(j, side);
  if (!before_send(j, side, link)) return false;
  if (links_[link].conn->send(*this, job_tag(j, slots_[j].job.generation, side, op), args, argc)) return true;
  links_.park(j, link);
  return false;
}

bool Engine::send_ref(uint32_t j, Side side, const std::string_view* args, std::size_t argc,
                      std::size_t ref_index, std::shared_ptr<const void> owner, uint8_t op) {
  const uint32_t link = link_for(j, side);
  if (!before_send(j, side, link)) return false;
  if (links_[link].conn->send_ref(*this, job_tag(j, slots_[j].job.generation, side, op), args, argc,
                                  ref_index, std::move(owner)))
    return true;
  links_.park(j, link);
  return false;
}

void Engine::on_reply(uint64_t t, resp::Reply reply) {
  if (finished_) return;
  const auto index = static_cast<uint32_t>(t >> 32);
  const auto op = static_cast<uint8_t>(t & 0xff);
  if (((t >> 8) & 0xff) == kEngineSide) {
    // A reply to a request of an earlier epoch came from the node's old server: dropped (restart()).
    if (op == kFetch && index < sources_.size() &&
        ((t >> 16) & 0xffff) == (sources_[index]->epoch() & 0xffff))
      on_fetched(index, std::move(reply));
    return;
  }
  Job& job = slots_[index].job;
  const auto generation = static_cast<uint16_t>(t >> 16);
  if (!job.active || job.generation != generation) return;  // a stale reply (the job moved on)
  if (op == kAsking) return;                                // ASKING's +OK
  const auto side = static_cast<Side>((t >> 8) & 0xff);
  if (!reply) return on_lost(index, side);
  if (op == kTypeCheck) return on_type(index, std::move(reply));
  task_.on_reply(index, op, std::move(reply));
}

void Engine::on_lost(uint32_t j, Side side) {
  // The connection failed before this reply: the job waits for the link and is sent again (or is given back
  // when the run is failing). Its other replies still on their way become stale.
  JobSlot& slot = slots_[j];
  ++slot.job.generation;
  if (fatal_) return give_up_job(j);
  slot.job.resent = true;
  const uint32_t link = side == Side::kSource   ? slot.read_link
                        : side == Side::kWriter ? slot.write_link
                                                : slot.dst_link;
  // The job already moved to a link that is up (its source node failed over): sent again there now.
  if (side != Side::kDestination && links_.usable(link)) return resend_job(j);
  links_.park(j, link);
}

bool Engine::redirect(uint32_t j, Side side, std::string_view message) {
  const auto target = resp::parse_redirect(message);
  if (!target) return false;
  JobSlot& slot = slots_[j];
  if (++slot.retry.redirects > kMaxRedirects) {
    fail_key(j, "too many cluster redirects (last: " + std::string(message) + ")");
    return true;
  }
  const bool ask = resp::classify_error(message) == resp::ServerError::kAsk;
  ++(ask ? counters(j).redirects_ask : counters(j).redirects_moved);
  const uint32_t l = links_.at_address(target->host, target->port, side == Side::kDestination);
  switch (side) {
    case Side::kDestination:
      if (ask) {
        slot.ask_link = l;
      } else {
        slot.ask_link = kNoLink;
        links_.moved(target->slot, l);
      }
      break;
    case Side::kWriter:
      slot.write_link = l;
      slot.write_ask = ask;
      if (!ask) links_.source_redirected();  // a failover demoted the node? (the topology says)
      break;
    case Side::kSource:
      // The source reshards: read the key where it now lives (and delete it there).
      if (live_ && !ask) live_->moved(target->slot, l);  // a live run's next keys of the slot go there
      if (!ask) links_.source_redirected();              // a failover demoted the node? (the topology says)
      slot.read_link = l;
      slot.write_link = l;
      slot.read_ask = ask;
      break;
  }
  ++slot.job.generation;
  resend_job(j);
  return true;
}

bool Engine::handle_error(uint32_t j, Side side, std::string_view command, std::string_view message) {
  if (fatal_) {
    give_up_job(j);  // the other commands in flight when the run failed (e.g. more OOMs)
    return true;
  }
  const resp::ServerError kind = resp::classify_error(message);
  const bool dst = side == Side::kDestination;
  switch (error_action(kind, dst)) {
    case ErrorAction::kRedirect: return redirect(j, side, message);
    case ErrorAction::kRetry: retry(j, message); return true;
    case ErrorAction::kTask: return false;
    case ErrorAction::kFailKey:
    case ErrorAction::kStopRun: break;
  }
  const uint32_t link = link_for_error(j, side);
  Error error = error_message(
      kind, message, ErrorContext{dst, links_[link].conn->label(), command, &links_[link].conn->options()});
  if (error_action(kind, dst) == ErrorAction::kFailKey) {
    fail_key(j, std::move(error.message));
  } else {
    // Stops the run because of what happened to job j, and gives the key back.
    fail_run(std::move(error));
    if (slots_[j].job.active) give_up_job(j);
  }
  return true;
}

void Engine::retry(uint32_t j, std::string_view message) {
  JobSlot& slot = slots_[j];
  const auto due = next_retry(slot.retry, Clock::now(), std::chrono::milliseconds(opts_.retry_timeout_ms));
  if (due == Clock::time_point{})
    return fail_key(j, std::string(message) + " (still failing after retrying)");
  ++slot.job.generation;
  retries_.push_back(Retry{j, slot.job.generation, due});
  if (!retry_timer_.active()) retry_timer_.start(kRetryTickMs, kRetryTickMs);
}

void Engine::on_retry_timer() {
  if (finished_) return;
  const auto now = Clock::now();
  std::vector<Retry> due;
  auto it = std::partition(retries_.begin(), retries_.end(), [&](const Retry& r) { return r.due > now; });
  due.assign(it, retries_.end());
  retries_.erase(it, retries_.end());
  if (retries_.empty()) retry_timer_.stop();
  for (const Retry& r : due) {
    const Job& job = slots_[r.job].job;
    if (job.active && job.generation == r.generation) resend_job(r.job);
  }
  maybe_finish();
}

void Engine::hold(uint32_t j, resp::Reply payload) {
  JobSlot& slot = slots_[j];
  Job& job = slot.job;
  job.shared.reset();
  job.payload = std::move(payload);
  const std::size_t bytes = job.payload ? job.payload->len : 0;
  window_.hold(slot.estimate, job.held, bytes, job.payload != nullptr);
  pacing_.measured(slot.pacing, bytes);
}

void Engine::hold_bytes(uint32_t j, std::size_t bytes) {
  JobSlot& slot = slots_[j];
  slot.job.payload.reset();
  slot.job.shared.reset();
  slot.job.raw_string = false;
  window_.hold(slot.estimate, slot.job.held, bytes, false);
}

const std::shared_ptr<redisReply>& Engine::share_payload(uint32_t j) {
  Job& job = slots_[j].job;
  if (!job.shared && job.payload)
    job.shared = std::shared_ptr<redisReply>(job.payload.release(), resp::ReplyDeleter{});
  return job.shared;
}

void Engine::done(uint32_t j) {
  JobSlot& slot = slots_[j];
  Job& job = slot.job;
  if (!job.active) return;
  watch_.forget(j);
  task_.finished(j);
  pacing_.finished(slot.pacing);  // one never dumped (vanished, failed) keeps its charge
  window_.release(j, slot.estimate, job.held);
  job.payload.reset();
  job.shared.reset();
  job.active = false;
  slot.typing = false;
  ++job.generation;  // replies still on their way for this slot are stale
  settle_key(job.node, slot.extra, slot.batch);
  if (live_) live_->ended(job.key, j, slot.extra);  // a key changed while in flight is pending again
  pump();
}

void Engine::fail_key(uint32_t j, std::string message, uint64_t report::Counters::*counter) {
  const Job& job = slots_[j].job;
  ++(counters(j).*counter);
  spdlog::debug("key \"{}\" failed: {}", printable_short(job.key), message);
  errors_.add(message, job.key);
  done(j);
}

void Engine::abandon(uint32_t j) {
  --counters(j).scanned;
  done(j);
}

void Engine::add_example(uint32_t j, const char* action) {
  if (!opts_.dry_run || examples_.size() >= opts_.examples) return;
  const Job& job = slots_[j].job;
  examples_.push_back(
      report::Example{job.key, job.naming.renamed ? job.naming.renamed_to : std::string(), action, job.held});
}

}  // namespace rmig::engine
