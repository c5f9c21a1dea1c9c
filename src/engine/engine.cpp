#include "engine/engine.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "engine/live.hpp"
#include "engine/scan_source.hpp"
#include "report/format.hpp"
#include "resp/connection.hpp"

namespace rmig::engine {

namespace {

uint64_t expected_keys(const std::vector<SourceNode>& sources) {
  uint64_t n = 0;
  for (const auto& s : sources)
    n += s.dbsize;
  return n;
}

}  // namespace

Engine::Engine(net::Loop& loop, const CopyOptions& options, std::vector<SourceNode> sources,
               Destination destination, resp::ConnectOptions source_template,
               resp::ConnectOptions destination_template, KeyTask& task)
    : loop_(loop),
      opts_(options),
      task_(task),
      links_(loop, options.retry_timeout_ms, !options.dry_run, source_template,
             std::move(destination_template), *this),
      watch_(loop, links_, options.watch_evictions, options.cleanup, options.window.keys, *this),
      window_(options.window.keys, options.window.bytes),
      pacing_(options.rate_limit_keys, options.rate_limit_bytes),
      selector_(options.selection, options.detect_rename_collisions, expected_keys(sources),
                options.seen_filter_bytes, options.shared_targets.get()),
      seen_(options.shared_seen ? *options.shared_seen
                                : select::SeenFilter(expected_keys(sources), options.seen_filter_bytes)),
      slots_(window_.slots()),
      retry_timer_(loop, this, &Engine::on_retry_timer),
      rate_timer_(loop, this, &Engine::on_rate_timer) {
  // After a resume, keys up to the previous run's in-flight frontier may be done already: at most the window
  // plus the scanned keys waiting for it.
  recheck_budget_ = opts_.window.keys + 4 * opts_.window.scan_count;
  // A live run that resyncs first compares each key of its bulk scan before writing it.
  const auto bulk_mode = static_cast<uint8_t>(
      opts_.live.enabled && opts_.live.resync_first ? LiveMode::kResync : LiveMode::kNone);
  std::vector<std::vector<std::pair<uint16_t, uint16_t>>> slot_ranges;
  for (auto& s : sources) {
    sources_.push_back(std::make_unique<ScanSource>(s.name, selector_.scan_match(), selector_.scan_type(),
                                                    opts_.window.scan_count, bulk_mode));
    dataset_bytes_.push_back(s.dataset_bytes);
    const uint32_t read = links_.add(std::move(s.conn), s.name, false);
    read_link_.push_back(read);
    if (s.writer) {
      std::string name = s.writer->options().endpoint.to_string();
      write_link_.push_back(links_.add(std::move(s.writer), std::move(name), false));
    } else {
      write_link_.push_back(read);
    }
    links_.add_source(read, write_link_.back(), s.slots);  // followed through a failover
    slot_ranges.push_back(std::move(s.slots));
  }
  for (auto& d : destination.nodes) {
    std::string name = d.conn->options().endpoint.to_string();
    const uint32_t link = links_.add(std::move(d.conn), std::move(name), true);
    links_[link].clock = d.clock;
  }
  links_.set_destination(destination.cluster, destination.slot_owner);
  if (opts_.live.enabled) {
    FeedOptions feed;
    feed.seed = std::move(source_template);
    feed.cluster =
        std::any_of(slot_ranges.begin(), slot_ranges.end(), [](const auto& r) { return !r.empty(); });
    feed.db = feed.seed.db;
    if (!opts_.live.assume_notifications)
      feed.canary_key = opts_.selection.own_prefix + "live:canary:" + opts_.run_id;
    feed.run_id = opts_.run_id;
    feed.retry_timeout_ms = opts_.retry_timeout_ms;
    live_ = std::make_unique<Live>(*this, loop, std::move(feed), std::move(slot_ranges));
  }
}

Engine::~Engine() = default;

void Engine::start(std::function<void()> on_done) {
  on_done_ = std::move(on_done);
  task_.attach(*this);
  links_.start();
  watch_.start();
  if (live_) live_->start();  // no SCAN before the subscription is confirmed (Live::subscribed)
  pump();
}

report::Counters Engine::totals() const {
  report::Counters total;
  total.evicted = watch_.evicted();
  for (const auto& s : sources_)
    total += s->totals();
  if (live_) total += live_->totals();
  return total;
}

std::vector<report::NodeCounters> Engine::node_totals() const {
  std::vector<report::NodeCounters> out;
  out.reserve(sources_.size());
  for (const auto& s : sources_)
    out.push_back(report::NodeCounters{s->name(), s->totals()});
  return out;
}

report::Counters& Engine::counters(uint32_t j) noexcept {
  const JobSlot& slot = slots_[j];
  if (slot.extra != kNoLink) return live_->counters(slot.extra, slot.batch);
  return sources_[slot.job.node]->counters(slot.batch);
}

void Engine::settle_key(uint32_t node, uint32_t extra, uint64_t batch) {
  if (extra != kNoLink) return live_->settle(extra, batch);
  settle(node, batch);
}

void Engine::settle(uint32_t node, uint64_t batch) {
  // Batches complete in order, so the checkpoint never passes a key that is not done.
  if (sources_[node]->settle(batch) && on_progress_) on_progress_();
}

void Engine::wrote(uint32_t j) {
  const JobSlot& slot = slots_[j];
  if (slot.extra != kNoLink) return;  // live keys are in no checkpoint (a resumed live run resyncs)
  sources_[slot.job.node]->wrote(slot.batch, engine::key_hash(slot.job.key));
  // Keys written past the cursor are in no record until the next save: ask for one every 250 ms of writes
  // too, not only when a cursor moves (a batch can take long), so a SIGKILL leaves few of them unrecorded.
  // The loop's time of this iteration: no clock read per key.
  const uint64_t now = uv_now(loop_.get());
  if (on_progress_ && now - written_progress_ms_ >= 250) {
    written_progress_ms_ = now;
    on_progress_();
  }
}

bool Engine::written_before(uint32_t j) const noexcept {
  const Job& job = slots_[j].job;
  if (slots_[j].extra != kNoLink) return false;
  return sources_[job.node]->written_before(engine::key_hash(job.key));
}

std::vector<NodeProgress> Engine::checkpoint() const {
  std::vector<NodeProgress> out;
  out.reserve(sources_.size());
  for (const auto& s : sources_)
    out.push_back(s->progress());
  return out;
}

void Engine::resume(const std::vector<NodeProgress>& progress) {
  // A live run's checkpoint is not trusted: changes after it may have been missed while no one listened. A
  // resumed live run resyncs instead (LiveOptions::resync_first).
  if (live_) return;
  for (std::size_t i = 0; i < sources_.size() && i < progress.size(); ++i)
    sources_[i]->resume(progress[i], recheck_budget_);
}

void Engine::take_keys(std::vector<std::vector<std::string>> keys) {
  for (std::size_t i = 0; i < sources_.size(); ++i) {
    std::vector<std::string> mine = i < keys.size() ? std::move(keys[i]) : std::vector<std::string>();
    sources_[i] = ScanSource::of_keys(sources_[i]->name(), std::move(mine));
  }
}

EngineResult Engine::take_result() {
  EngineResult r;
  r.nodes = node_totals();
  for (const auto& n : r.nodes)
    r.total += n.counters;
  if (live_) r.total += live_->totals();  // the live jobs: in the totals (and the exit code), in no node's
  r.total.evicted = watch_.evicted();
  r.errors = std::move(errors_);
  r.fatal = fatal_;
  r.signal = signal_;
  r.examples = std::move(examples_);
  r.source_failovers = failovers_;
  return r;
}

void Engine::stop(int signal) {
  if (finished_) return;
  if (stopping_ && signal_ != 0) {
    spdlog::warn("second signal: stopping now, abandoning {} keys in flight (nothing is deleted)",
                 window_.active());
    signal_ = signal;
    for (uint32_t j = 0; j < slots_.size(); ++j) {
      if (slots_[j].job.active && !slots_[j].typing) --counters(j).scanned;
    }
    finish();
    return;
  }
  signal_ = signal;
  stopping_ = true;
  spdlog::warn("{}: stopping the scan, waiting for {} keys in flight (signal again to abandon them)",
               report::signal_name(signal), window_.active());
  for (auto& s : sources_)
    s->stop();
  if (live_) live_->stop();
  maybe_finish();
}

// ---- links ----

void Engine::link_up(uint32_t l) {
  if (finished_) return;
  watch_.link_up(l);
  for (uint32_t j : links_.take_parked(l)) {
    if (slots_[j].job.active) resend_job(j);
  }
  pump();
}

void Engine::destination_writable() {
  if (paused_by_destination_) pump();
}

void Engine::rerouted(uint32_t j) {
  if (!slots_[j].job.active) return;
  slots_[j].ask_link = kNoLink;
  resend_job(j);
}

void Engine::destination_failed_over(const std::string& label) {
  if (!opts_.watch_evictions) return;
  // Replication is asynchronous: what the old primary acknowledged may not be on the new one.
  destination_lost_keys(label +
                            " failed over during the run: copies it acknowledged may not have reached its "
                            "replica. Deletions stopped; run `redis-migrate verify` to see which keys are "
                            "missing",
                        false);
  watch_.check_round();
}

// ---- scheduling ----

void Engine::pump() {
  if (finished_) return;
  // A task that finishes a job synchronously (done() inside start()) calls back in here from dispatch():
  // without this guard every queued key would add a level of recursion.
  if (pumping_) {
    pump_again_ = true;
    return;
  }
  pumping_ = true;
  do {
    pump_again_ = false;
    for (uint32_t i = 0; i < sources_.size(); ++i)
      maybe_fetch(i);
    if (live_) live_->fetch();
    dispatch();
    // Dispatching may have emptied a queue by filtering out a whole batch (--match, --exclude, in-place):
    // ask for the next batch now, or nothing would.
    for (uint32_t i = 0; i < sources_.size(); ++i)
      maybe_fetch(i);
    if (live_) live_->fetch();
  } while (pump_again_ && !finished_);
  pumping_ = false;
  maybe_finish();
}

void Engine::maybe_fetch(uint32_t node) {
  KeySource& source = *sources_[node];
  if (stopping_ || !source.wants_keys() || !links_.usable(read_link_[node])) return;
  if (live_ && !live_->may_scan()) return;  // a live run scans once every change from now on is heard
  std::string_view args[8];
  const std::size_t argc = source.request(args, 8);
  // Not sent (the link went down): as a request lost with its connection, asked again once the link is back.
  if (argc > 0 &&
      !links_[read_link_[node]].conn->send(*this, engine_tag(node, kFetch, source.epoch()), args, argc))
    (void)source.on_fetched(nullptr);
}

void Engine::on_fetched(uint32_t node, resp::Reply reply) {
  const FetchOutcome out = sources_[node]->on_fetched(reply.get());
  const resp::Connection& conn = *links_[read_link_[node]].conn;
  switch (out.kind) {
    case FetchOutcome::kKeys:
      if (out.moved && on_progress_) on_progress_();
      return pump();
    case FetchOutcome::kLost: return maybe_finish();  // asked again once the link is back
    case FetchOutcome::kMalformed:
      return fail_run(
          make_error(ExitCode::kKeysFailed, conn.label() + ": unexpected SCAN reply " + out.message));
    case FetchOutcome::kError: break;
  }
  if (retryable(out.error)) {
    // Rare (LOADING after a restart, BUSY script): the same cursor again.
    spdlog::warn("{}: SCAN answered {}; retrying", conn.label(), out.message);
    return pump();
  }
  if (out.error == resp::ServerError::kNoPerm || out.error == resp::ServerError::kUnknownCommand) {
    return fail_run(resp::refused_command_error(conn.options(), "scan", out.message));
  }
  return fail_run(
      make_error(out.error == resp::ServerError::kNoAuth ? ExitCode::kConnect : ExitCode::kKeysFailed,
                 conn.label() + ": SCAN failed (" + out.message + ")"));
}

void Engine::dispatch() {
  paused_by_destination_ = false;
  window_full_ = false;
  rate_limited_ = false;
  task_.room();
  while (!stopping_ && window_.has_room()) {
    if (links_.destination_backed_up(opts_.window.destination_queue)) {
      paused_by_destination_ = true;  // resumed by destination_writable()
      return;
    }
    // Round-robin over the nodes that have keys waiting (and, in a live run, the live phase's keys).
    uint32_t node = kNoLink;
    const std::size_t parts = sources_.size() + (live_ ? 1 : 0);
    std::size_t part = 0;
    for (std::size_t k = 0; k < parts; ++k) {
      const std::size_t i = (next_node_ + k) % parts;
      if (i < sources_.size() ? sources_[i]->has_key() && links_.usable(read_link_[i]) : live_->has_key()) {
        part = i;
        node = static_cast<uint32_t>(i);
        next_node_ = i + 1;
        break;
      }
    }
    if (node == kNoLink) return;
    if (pacing_.limited() && !pacing_.allows(std::chrono::steady_clock::now())) {
      rate_limited_ = true;
      if (!rate_timer_.active()) rate_timer_.start(5, 0);
      return;  // resumed by the rate timer
    }
    const uint32_t j = window_.next_slot();
    JobSlot& slot = slots_[j];
    QueuedKey q;
    uint32_t extra = kNoLink;
    uint32_t read = kNoLink;
    if (part < sources_.size()) {
      q = sources_[node]->take();
      // The duplicate filter's block of a key a few places ahead: its test_and_add then finds it cached.
      if (const std::string* next = sources_[node]->peek(kPrefetchAhead)) seen_.prefetch(*next);
    } else if (!live_->take(q, node, read, extra)) {
      continue;  // filtered out
    }
    // A live run never has a key in flight twice: a key in flight is marked dirty and copied again after.
    if (!selector_.by_name(q.key, slot.job.naming) ||
        (live_ && !live_->claim(q.key, j, extra, static_cast<LiveMode>(q.mode)))) {
      settle_key(node, extra, q.batch);
      continue;
    }
    slot.reset(node, q.batch, read != kNoLink ? read : read_link_[node],
               read != kNoLink ? read : write_link_[node]);
    slot.extra = extra;
    slot.job.live = static_cast<LiveMode>(q.mode);
    slot.job.key = std::move(q.key);
    window_.admit(slot.estimate, slot.job.held);
    pacing_.dispatched(slot.pacing);
    // A changed key's type is not known from a SCAN: its job asks whenever the selection has types. An orphan
    // check asks the source itself (its task).
    const LiveMode live = slot.job.live;
    if ((selector_.type_check() && live != LiveMode::kOrphan) ||
        (live == LiveMode::kApply && !opts_.selection.types.empty())) {
      slot.typing = true;
      send_type(j);
    } else {
      begin(j);
    }
    if (part < sources_.size()) maybe_fetch(node);
  }
  window_full_ = !stopping_;
}

bool Engine::paused_by_destination() const noexcept {
  if (paused_by_destination_) return true;
  // The window is full (in keys or in bytes): when most of the keys in it have their payload and wait for the
  // destination's answer, the destination holds the scan back.
  return window_full_ && window_.waiting_for_destination();
}

// The key is selected (and of a selected type): it counts as scanned and goes to the task.
void Engine::begin(uint32_t j) {
  JobSlot& slot = slots_[j];
  Job& job = slot.job;
  slot.typing = false;
  ++counters(j).scanned;
  job.maybe_duplicate = seen_.test_and_add(job.key);
  // Resumed run: the previous one may have written this key already.
  job.recheck = slot.extra == kNoLink && sources_[job.node]->recheck(slot.batch);
  if (std::string failure = selector_.claim(job.key, job.naming, job.maybe_duplicate); !failure.empty()) {
    return fail_key(j, std::move(failure));
  }
  task_.start(j);
}

void Engine::send_type(uint32_t j) {
  JobSlot& slot = slots_[j];
  const std::string_view args[] = {"TYPE", slot.job.key};
  if (!before_send(j, Side::kSource, slot.read_link)) return;
  if (!links_[slot.read_link].conn->send(*this, job_tag(j, slot.job.generation, Side::kSource, kTypeCheck),
                                         args, 2))
    links_.park(j, slot.read_link);
}

void Engine::on_type(uint32_t j, resp::Reply reply) {
  Job& job = slots_[j].job;
  const redisReply* r = reply.get();
  if (resp::is_error(r)) {
    const std::string msg(resp::text(r));
    if (handle_error(j, Side::kSource, "TYPE", msg)) return;
    ++counters(j).scanned;
    return fail_key(j, "TYPE: " + msg);
  }
  const std::string_view type = resp::text(r);
  // A changed key that is gone, or no longer of a selected type: its destination name goes (an orphan check
  // of a key of a type left out deletes it).
  if (job.live == LiveMode::kApply && !selector_.type_selected(type)) {
    if (type != "none") job.live = LiveMode::kOrphan;
    return begin(j);
  }
  if (!selector_.type_selected(type)) return done(j);  // not selected
  job.type = std::string(type);
  begin(j);
}

void Engine::resend_job(uint32_t j) {
  if (slots_[j].typing) return send_type(j);
  task_.resend(j);
}

void Engine::give_up_job(uint32_t j) {
  if (slots_[j].typing) return done(j);  // not counted yet
  task_.give_up(j);
}

void Engine::on_rate_timer() { pump(); }

void Engine::maybe_finish() {
  if (finished_) return;
  if (live_ && !stopping_) live_->advance();  // bulk done, barrier, drain
  if (window_.active() != 0) return;
  if (!stopping_) {
    for (const auto& s : sources_) {
      if (!s->exhausted()) return;
    }
    if (live_ && !live_->done()) return;  // a live run ends at a cut-over only
  }
  // A last reading of evicted_keys after every write of the run: evictions up to its end are counted.
  if (!fatal_ && !watch_.final_round_done()) return;  // final_round_read() comes back here
  finish();
}

void Engine::finish() {
  if (finished_) return;
  finished_ = true;
  retry_timer_.stop();
  rate_timer_.stop();
  watch_.stop();
  if (live_) live_->finish();
  if (lost_keys_ && !fatal_) fatal_ = lost_keys_;
  links_.close();
  if (on_done_) on_done_();
}

void Engine::fail_run(Error error) {
  if (finished_) return;
  if (!fatal_) {
    fatal_ = std::move(error);
    if (on_fatal_) on_fatal_(*fatal_);
  }
  // Stop taking new work, but let the replies already on their way arrive: a cleanup that ran on the source
  // must be counted, and nothing new is written. Keys that cannot finish are given back (abandon()).
  stopping_ = true;
  for (auto& s : sources_)
    s->stop();
  if (live_) live_->stop();
  std::vector<Retry> retries;
  retries.swap(retries_);
  for (const Retry& r : retries) {
    if (slots_[r.job].job.active && slots_[r.job].job.generation == r.generation) give_up_job(r.job);
  }
  for (uint32_t l = 0; l < links_.size(); ++l) {
    for (uint32_t j : links_.take_parked(l)) {
      if (slots_[j].job.active) give_up_job(j);
    }
  }
  links_.close_down();
  watch_.release();  // deletions waiting at the gate do not happen: their keys stay on the source
  maybe_finish();
}

void Engine::destination_lost_keys(std::string why, bool eviction) {
  if (deletions_stopped_ || finished_) return;
  if (!eviction && !opts_.cleanup) {
    // A run that deletes nothing loses nothing: a restart or failover only leaves copies to check.
    spdlog::warn("{}", why);
    return;
  }
  deletions_stopped_ = true;
  spdlog::error("{}", why);
  if (on_lost_keys_) on_lost_keys_(why, eviction);
  lost_keys_ = make_error(ExitCode::kDestinationRefused, std::move(why));
  if (opts_.cleanup) return fail_run(*lost_keys_);  // nothing more is written or deleted
  watch_.release();
}

void Engine::gate_opened(uint32_t j) {
  if (slots_[j].job.active) resend_job(j);  // the task asks the gate again: go, or stopped
}

}  // namespace rmig::engine

namespace rmig::engine {

// ---- live runs ----

void Engine::cutover(CutoverCause cause) {
  if (live_ && !finished_) live_->cutover(cause);
}

LiveStats Engine::live_stats() const { return live_ ? live_->stats() : LiveStats{}; }

}  // namespace rmig::engine
