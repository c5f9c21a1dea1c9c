#include "engine/live.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "cluster/slot.hpp"
#include "engine/engine.hpp"
#include "engine/retry_policy.hpp"
#include "select/rename.hpp"
#include "util/escape.hpp"

namespace rmig::engine {

namespace {

using Clock = LiveKeys::Clock;

constexpr uint64_t kTickMs = 250;
constexpr auto kRateWindow = std::chrono::seconds(5);

uint64_t ms_between(Clock::time_point from, Clock::time_point to) noexcept {
  if (to <= from) return 0;
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count());
}

LiveStats::Phase stats_phase(uint8_t p) noexcept {
  switch (p) {
    case 0: return LiveStats::Phase::kSubscribing;
    case 1: return LiveStats::Phase::kBulk;
    case 2: return LiveStats::Phase::kLive;
    case 3: return LiveStats::Phase::kCutover;
    default: return LiveStats::Phase::kDone;
  }
}

}  // namespace

// ---- LiveKeys ----

LiveMode LiveKeys::stronger(LiveMode a, LiveMode b) noexcept {
  auto rank = [](LiveMode m) {
    switch (m) {
      case LiveMode::kOrphan: return 1;
      case LiveMode::kResync: return 2;
      default: return 3;  // kApply, and the bulk copy's kNone (which writes too)
    }
  };
  const LiveMode m = rank(a) >= rank(b) ? a : b;
  return m == LiveMode::kNone ? LiveMode::kApply : m;
}

void LiveKeys::push(std::string key, Clock::time_point since, LiveMode mode) {
  pending_.push_back(Entry{std::move(key), since, mode});
  // A deque keeps its elements in place as it grows and shrinks at the ends: the view stays valid.
  in_pending_.emplace(std::string_view(pending_.back().key), &pending_.back());
  pending_peak_ = std::max<uint64_t>(pending_peak_, pending_.size());
}

LiveKeys::Change LiveKeys::changed(std::string_view key, bool quiet, Clock::time_point now) {
  ++changes_;
  if (!quiet) last_change_ = now;
  if (auto it = flight_.find(key); it != flight_.end()) {
    if (!it->second.dirty) {
      it->second.dirty = true;
      it->second.since = now;
    }
    it->second.mode = LiveMode::kApply;
    return Change::kDirty;
  }
  if (auto p = in_pending_.find(key); p != in_pending_.end()) {
    p->second->mode = LiveMode::kApply;
    return Change::kAlreadyPending;
  }
  push(std::string(key), now);
  return pending_.size() > pending_max_ ? Change::kOverflow : Change::kPending;
}

bool LiveKeys::begin(std::string_view key, uint32_t job, Clock::time_point now, LiveMode mode) {
  auto [it, inserted] = flight_.try_emplace(std::string(key), Flight{job, false, {}});
  if (inserted) return true;
  if (!it->second.dirty) {
    it->second.dirty = true;
    it->second.since = now;
    it->second.mode = mode == LiveMode::kNone ? LiveMode::kApply : mode;
  } else {
    it->second.mode = stronger(it->second.mode, mode);
  }
  return false;
}

bool LiveKeys::end(std::string_view key, uint32_t job) {
  auto it = flight_.find(key);
  if (it == flight_.end() || it->second.job != job) return false;
  const bool dirty = it->second.dirty;
  const Clock::time_point since = it->second.since;
  const LiveMode mode = it->second.mode;
  auto node = flight_.extract(it);
  std::string name = std::move(node.key());
  if (!dirty) return false;
  if (auto p = in_pending_.find(std::string_view(name)); p != in_pending_.end()) {
    p->second->mode = stronger(p->second->mode, mode);
    return false;
  }
  push(std::move(name), since, mode);
  return true;
}

bool LiveKeys::in_flight(std::string_view key) const { return flight_.find(key) != flight_.end(); }

std::string LiveKeys::take(Clock::time_point now, LiveMode* mode) {
  Entry& front = pending_.front();
  if (mode != nullptr) *mode = front.mode;
  in_pending_.erase(std::string_view(front.key));
  lag_max_ = std::max(lag_max_, ms_between(front.since, now));
  std::string key = std::move(front.key);
  pending_.pop_front();
  return key;
}

void LiveKeys::clear_pending() {
  in_pending_.clear();
  pending_.clear();
}

uint64_t LiveKeys::lag_ms(Clock::time_point now) const noexcept {
  return pending_.empty() ? 0 : ms_between(pending_.front().since, now);
}

uint64_t LiveKeys::lag_ms_max(Clock::time_point now) const noexcept {
  return std::max(lag_max_, lag_ms(now));
}

// ---- ChangeRate, idle ----

void ChangeRate::sample(uint64_t changes, Clock::time_point now) {
  samples_.emplace_back(now, changes);
  while (samples_.size() > 2 && now - samples_[1].first >= kRateWindow)
    samples_.pop_front();
}

double ChangeRate::per_second() const noexcept {
  if (samples_.size() < 2) return 0;
  const double seconds =
      std::chrono::duration<double>(samples_.back().first - samples_.front().first).count();
  if (seconds <= 0) return 0;
  return static_cast<double>(samples_.back().second - samples_.front().second) / seconds;
}

bool idle_due(uint32_t idle_s, Clock::time_point live_since, Clock::time_point last_change, bool busy,
              Clock::time_point now) noexcept {
  if (idle_s == 0 || busy) return false;
  const Clock::time_point quiet_from = std::max(live_since, last_change);
  return now - quiet_from >= std::chrono::seconds(idle_s);
}

std::string orphan_match(const select::Selection& selection, const std::string& scan_match) {
  const select::RenameRules* rules = selection.rename.get();
  if (rules == nullptr || rules->empty()) return scan_match;
  return rules->target_match(scan_match, selection.renamed_only);
}

// ---- Live ----

Live::Live(Engine& engine, net::Loop& loop, FeedOptions feed,
           std::vector<std::vector<std::pair<uint16_t, uint16_t>>> slot_ranges)
    : engine_(engine),
      loop_(loop),
      feed_(loop, std::move(feed), *this),
      keys_(engine.options().live.pending_max),
      tick_(loop, this, &Live::on_tick) {
  const bool cluster =
      std::any_of(slot_ranges.begin(), slot_ranges.end(), [](const auto& r) { return !r.empty(); });
  if (cluster) {
    slot_node_.assign(cluster::kSlotCount, 0);
    slot_link_.assign(cluster::kSlotCount, engine.read_link_.front());
    for (std::size_t n = 0; n < slot_ranges.size(); ++n) {
      for (auto [a, b] : slot_ranges[n]) {
        for (uint32_t slot = a; slot <= b && slot < cluster::kSlotCount; ++slot) {
          slot_node_[slot] = static_cast<uint16_t>(n);
          slot_link_[slot] = engine.read_link_[n];
        }
      }
    }
  }
  orphan_match_ = orphan_match(engine.options().selection, engine.selector_.scan_match());
}

Live::~Live() = default;

void Live::start() {
  spdlog::info("live: subscribing to the source's keyspace notifications before the bulk copy");
  feed_.start();
}

uint32_t Live::node_for(std::string_view key) const noexcept {
  return slot_node_.empty() ? 0 : slot_node_[cluster::key_hash_slot(key)];
}

uint32_t Live::link_for(std::string_view key) const noexcept {
  return slot_link_.empty() ? kNoLink : slot_link_[cluster::key_hash_slot(key)];
}

void Live::moved(int slot, uint32_t link) noexcept {
  if (!slot_link_.empty() && slot >= 0 && slot < cluster::kSlotCount)
    slot_link_[static_cast<std::size_t>(slot)] = link;
}

void Live::source_moved(uint32_t node, uint32_t old_read, uint32_t old_write, uint32_t link) {
  for (std::size_t slot = 0; slot < slot_link_.size(); ++slot) {
    if (slot_node_[slot] == node && (slot_link_[slot] == old_read || slot_link_[slot] == old_write))
      slot_link_[slot] = link;
  }
  std::vector<uint32_t> again;
  for (Scan& s : scans_) {
    if (s.mode == LiveMode::kResync && (s.link == old_read || s.link == old_write) &&
        !s.source->exhausted()) {
      s.source->stop();
      again.push_back(s.node);
    }
  }
  for (uint32_t n : again) {
    start_scan(LiveMode::kResync, n, link, engine_.links_[link].name, engine_.selector_.scan_match(),
               engine_.selector_.scan_type());
  }
}

bool Live::has_key() const noexcept {
  if (stopped_ || finished_) return false;
  if (subscribed_ && keys_.has_pending()) return true;
  return std::any_of(scans_.begin(), scans_.end(), [](const Scan& s) { return s.source->has_key(); });
}

bool Live::take(QueuedKey& q, uint32_t& node, uint32_t& read, uint32_t& extra) {
  const std::size_t parts = scans_.size() + 1;
  for (std::size_t k = 0; k < parts; ++k) {
    const std::size_t i = (next_ + k) % parts;
    if (i == 0) {
      if (!subscribed_ || !keys_.has_pending()) continue;
      next_ = i + 1;
      LiveMode mode = LiveMode::kApply;
      q.key = keys_.take(Clock::now(), &mode);
      q.batch = 0;
      q.mode = static_cast<uint8_t>(mode);
      node = node_for(q.key);
      read = link_for(q.key);
      extra = kApplyExtra;
      return true;
    }
    Scan& scan = scans_[i - 1];
    if (!scan.source->has_key()) continue;
    next_ = i + 1;
    QueuedKey d = scan.source->take();
    extra = static_cast<uint32_t>(i);
    if (scan.mode != LiveMode::kOrphan) {
      q = std::move(d);
      node = scan.node;
      read = scan.link;
      return true;
    }
    // A destination name: the source name it came from, when that name is selected and renamed to it.
    const select::RenameRules* rules = engine_.options().selection.rename.get();
    std::optional<std::string> name =
        rules != nullptr && !rules->empty() ? rules->invert(d.key) : std::optional<std::string>(d.key);
    select::Naming naming;
    if (!name || !engine_.selector_.by_name_unscanned(*name, naming) ||
        (naming.renamed ? naming.renamed_to : *name) != d.key) {
      scan.source->settle(d.batch);
      return false;
    }
    q.key = std::move(*name);
    q.batch = d.batch;
    q.mode = static_cast<uint8_t>(LiveMode::kOrphan);
    node = node_for(q.key);
    read = link_for(q.key);
    return true;
  }
  return false;
}

bool Live::claim(std::string_view key, uint32_t j, uint32_t extra, LiveMode mode) {
  if (!keys_.begin(key, j, Clock::now(), mode)) return false;
  if (extra != kNoLink && extra != kApplyExtra) ++scans_[extra - 1].jobs;
  return true;
}

void Live::ended(const std::string& key, uint32_t j, uint32_t extra) {
  if (extra != kNoLink && extra != kApplyExtra && scans_[extra - 1].jobs > 0) --scans_[extra - 1].jobs;
  if (!keys_.end(key, j)) return;
  if (stopped_) return keys_.clear_pending();
  if (keys_.pending() > keys_.pending_max()) {
    keys_.clear_pending();
    resync("*", "pending set overflow (--live-pending-max " + std::to_string(keys_.pending_max()) + ")");
  }
}

report::Counters& Live::counters(uint32_t extra, uint64_t batch) noexcept {
  if (extra == kApplyExtra || extra > scans_.size()) return apply_counters_;
  return scans_[extra - 1].source->counters(batch);
}

void Live::settle(uint32_t extra, uint64_t batch) {
  if (extra == kApplyExtra || extra > scans_.size()) return;
  scans_[extra - 1].source->settle(batch);
}

report::Counters Live::totals() const {
  report::Counters c = apply_counters_;
  c += folded_;
  for (const Scan& s : scans_)
    c += s.source->totals();
  return c;
}

bool Live::scans_exhausted() const noexcept {
  return std::all_of(scans_.begin(), scans_.end(), [](const Scan& s) { return s.source->exhausted(); });
}

bool Live::drained() const noexcept {
  return !keys_.has_pending() && engine_.window_.active() == 0 && scans_exhausted();
}

void Live::fetch() {
  if (stopped_ || finished_) return;
  for (std::size_t i = 0; i < scans_.size(); ++i) {
    Scan& scan = scans_[i];
    if (!scan.source->wants_keys() || !engine_.links_.usable(scan.link)) continue;
    std::string_view args[8];
    const std::size_t argc = scan.source->request(args, 8);
    if (argc > 0 && !engine_.links_[scan.link].conn->send(*this, i, args, argc))
      (void)scan.source->on_fetched(nullptr);  // asked again once the link is back
  }
}

void Live::on_reply(uint64_t tag, resp::Reply reply) {
  if (finished_ || tag >= scans_.size()) return;
  Scan& scan = scans_[tag];
  const FetchOutcome out = scan.source->on_fetched(reply.get());
  const resp::Connection& conn = *engine_.links_[scan.link].conn;
  switch (out.kind) {
    case FetchOutcome::kKeys: return engine_.pump();
    case FetchOutcome::kLost: return;  // asked again once the link is back (link_up pumps)
    case FetchOutcome::kMalformed:
      return engine_.stop_run(
          make_error(ExitCode::kKeysFailed, conn.label() + ": unexpected SCAN reply " + out.message));
    case FetchOutcome::kError: break;
  }
  if (retryable(out.error)) {
    spdlog::warn("{}: SCAN answered {}; retrying", conn.label(), out.message);
    return engine_.pump();
  }
  if (out.error == resp::ServerError::kNoPerm || out.error == resp::ServerError::kUnknownCommand)
    return engine_.stop_run(resp::refused_command_error(conn.options(), "scan", out.message));
  engine_.stop_run(
      make_error(out.error == resp::ServerError::kNoAuth ? ExitCode::kConnect : ExitCode::kKeysFailed,
                 conn.label() + ": SCAN failed (" + out.message + ")"));
}

void Live::start_scan(LiveMode mode, uint32_t node, uint32_t link, std::string name, std::string match,
                      std::string type) {
  // A scan of the same node still running started before the loss: a fresh one replaces it.
  for (Scan& s : scans_) {
    if (s.mode == mode && s.link == link && !s.source->exhausted()) s.source->stop();
  }
  Scan scan;
  scan.source = std::make_unique<ScanSource>(std::move(name), std::move(match), std::move(type),
                                             engine_.options().window.scan_count, static_cast<uint8_t>(mode));
  scan.mode = mode;
  scan.node = node;
  scan.link = link;
  // The place of a finished scan with no job left is reused (its counters are kept): resyncs do not grow the
  // list for ever.
  for (Scan& s : scans_) {
    if (s.jobs == 0 && s.source->exhausted() && !s.source->has_key()) {
      folded_ += s.source->totals();
      s = std::move(scan);
      return;
    }
  }
  scans_.push_back(std::move(scan));
}

void Live::resync(const std::string& node, const std::string& cause) {
  resyncs_.emplace_back(node, cause);
  // The nodes to scan again: the one named, or every primary the feed subscribes now ("*": after a topology
  // change these may be new nodes, read through links of their own).
  std::vector<std::string> names;
  if (node != "*") {
    names.push_back(node);
  } else {
    names = feed_.nodes();
    if (names.empty()) {
      for (const auto& s : engine_.sources_)
        names.push_back(s->name());
    }
  }
  std::vector<std::pair<uint32_t, uint32_t>> scans;  // node, link
  for (const std::string& name : names) {
    uint32_t n = 0;
    while (n < engine_.sources_.size() && engine_.sources_[n]->name() != name)
      ++n;
    if (n < engine_.sources_.size()) {
      scans.emplace_back(n, engine_.read_link_[n]);
      continue;
    }
    const std::size_t colon = name.rfind(':');
    int port = 0;
    if (colon != std::string::npos) port = std::atoi(name.c_str() + colon + 1);
    if (port <= 0) continue;
    std::string host = name.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    scans.emplace_back(0, engine_.links_.at_address(host, port, false));
  }
  if (scans.empty()) {
    for (uint32_t n = 0; n < engine_.sources_.size(); ++n)
      scans.emplace_back(n, engine_.read_link_[n]);
  }
  spdlog::warn(
      "live: resync of {} ({}): {} source node(s) scanned again (keys compared, copied where they "
      "differ) and the destination scanned for keys whose source key is gone",
      node, cause, scans.size());
  for (auto [n, link] : scans) {
    start_scan(LiveMode::kResync, n, link, engine_.links_[link].name, engine_.selector_.scan_match(),
               engine_.selector_.scan_type());
  }
  for (uint32_t l : engine_.links_.destinations()) {
    if (engine_.links_[l].retired) continue;
    start_scan(LiveMode::kOrphan, 0, l, engine_.links_[l].name, orphan_match_, std::string());
  }
  engine_.pump();
}

void Live::advance() {
  if (stopped_ || finished_) return;
  const auto now = Clock::now();
  if (phase_ == Phase::kBulk && std::all_of(engine_.sources_.begin(), engine_.sources_.end(),
                                            [](const auto& s) { return s->exhausted(); })) {
    phase_ = Phase::kLive;
    live_since_ = now;
    spdlog::info("live: bulk scan done; applying changes until a cut-over ({} pending)", keys_.pending());
  }
  if (phase_ == Phase::kLive && cutover_ && !barrier_sent_) {
    phase_ = Phase::kCutover;
    barrier_sent_ = true;
    spdlog::info("live: cut-over: barrier sent on every subscriber");
    feed_.barrier();
  }
  if (phase_ == Phase::kCutover && barrier_done_ && drained()) end_phase();
}

void Live::end_phase() {
  phase_ = Phase::kDone;
  cutover_ms_ = std::chrono::duration<double, std::milli>(Clock::now() - cutover_at_).count();
  tick_.stop();
  spdlog::info(
      "live: cut-over done: every change received up to the barrier is applied ({:.0f} ms after the "
      "request)",
      cutover_ms_);
}

void Live::stop() {
  stopped_ = true;
  keys_.clear_pending();
  for (Scan& s : scans_)
    s.source->stop();
  tick_.stop();
}

void Live::finish() {
  if (finished_) return;
  finished_ = true;
  tick_.stop();
  feed_.stop();
}

void Live::cutover(CutoverCause cause) {
  if (cutover_ || stopped_ || finished_) return;
  cutover_ = cause;
  cutover_at_ = Clock::now();
  spdlog::info("live: cut-over requested ({}){}", name_of(kCutoverCauseNames, cause),
               phase_ == Phase::kLive ? "" : ": it follows the bulk copy");
  engine_.maybe_finish();
}

void Live::on_tick() {
  if (stopped_ || finished_) return;
  const auto now = Clock::now();
  rate_.sample(keys_.changes(), now);
  if (phase_ == Phase::kLive && !cutover_) {
    const bool busy = keys_.has_pending() || engine_.window_.active() != 0 || !scans_exhausted();
    if (idle_due(engine_.options().live.until_idle_s, live_since_, keys_.last_change(), busy, now)) {
      spdlog::info("live: no change but expirations and evictions for {}s and nothing pending",
                   engine_.options().live.until_idle_s);
      cutover(CutoverCause::kIdle);
    }
  }
}

LiveStats Live::stats() const {
  const auto now = Clock::now();
  LiveStats s;
  s.phase = stats_phase(static_cast<uint8_t>(phase_));
  s.changes = keys_.changes();
  const report::Counters total = engine_.totals();
  s.recopied = total.recopied;
  s.deleted = total.removed;
  s.unchanged = total.unchanged;
  s.pending = keys_.pending();
  s.pending_max = keys_.pending_peak();
  s.lag_ms = keys_.lag_ms(now);
  s.lag_ms_max = keys_.lag_ms_max(now);
  s.changes_per_s = rate_.per_second();
  for (const auto& [node, cause] : resyncs_)
    s.resyncs.push_back(LiveStats::Resync{node, cause});
  s.cutover = cutover_;
  s.cutover_ms = phase_ == Phase::kDone ? cutover_ms_ : 0;
  return s;
}

// ---- FeedEvents ----

void Live::changed(std::string_view key, std::string_view event) {
  if (!accepting_ || stopped_ || finished_) return;
  select::Naming naming;
  if (!engine_.selector_.by_name_unscanned(key, naming)) return;
  switch (keys_.changed(key, LiveKeys::quiet_event(event), Clock::now())) {
    case LiveKeys::Change::kPending: return engine_.pump();
    case LiveKeys::Change::kAlreadyPending:
    case LiveKeys::Change::kDirty: return;
    case LiveKeys::Change::kOverflow:
      keys_.clear_pending();
      return resync("*",
                    "pending set overflow (--live-pending-max " + std::to_string(keys_.pending_max()) + ")");
  }
}

void Live::lost(const std::string& node, const std::string& cause) {
  if (!accepting_ || stopped_ || finished_) return;
  if (!subscribed_) {
    // The bulk scan has not started: it reads every key after the subscription anyway.
    spdlog::info("live: {} before the first subscription was confirmed ({}): the bulk copy covers it", node,
                 cause);
    return;
  }
  resync(node, cause);
}

void Live::barrier_done() {
  if (barrier_done_ || stopped_ || finished_) return;
  barrier_done_ = true;
  accepting_ = false;  // later changes are after the cut-over request
  spdlog::info("live: barrier answered: applying the {} pending change(s), then ending", keys_.pending());
  engine_.pump();
}

void Live::subscribed() {
  if (subscribed_ || stopped_ || finished_) return;
  subscribed_ = true;
  phase_ = Phase::kBulk;
  tick_.start(kTickMs, kTickMs);
  spdlog::info("live: subscribed; the bulk copy starts");
  if (engine_.options().live.resync_first) {
    // The bulk scan's keys are kResync already (Engine): only the destination's orphans need a scan.
    resyncs_.emplace_back("*",
                          "resync at start (a resumed live run, or a destination holding the selection)");
    spdlog::warn(
        "live: the bulk copy is a resync (keys compared first) and the destination is scanned for "
        "keys whose source key is gone");
    for (uint32_t l : engine_.links_.destinations())
      start_scan(LiveMode::kOrphan, 0, l, engine_.links_[l].name, orphan_match_, std::string());
  }
  engine_.pump();
}

void Live::failed(Error error) { engine_.stop_run(std::move(error)); }

}  // namespace rmig::engine
