#include "state/run_state.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "report/format.hpp"
#include "state/cutover.hpp"
#include "state/lock.hpp"

namespace rmig::state {

namespace {

report::Counters sum(const std::vector<engine::NodeProgress>& nodes) {
  report::Counters c;
  for (const auto& n : nodes)
    c += n.counters;
  return c;
}

std::string names(const std::vector<engine::NodeProgress>& nodes) {
  std::string s;
  for (const auto& n : nodes)
    s += (s.empty() ? "" : ", ") + n.name;
  return s;
}

}  // namespace

RunState::RunState(net::Loop& loop, const engine::RunSpec& cmd, std::string command)
    : loop_(loop),
      cmd_(cmd),
      command_(std::move(command)),
      heartbeat_(loop, this, &RunState::on_heartbeat),
      live_poll_(loop, this, &RunState::on_live_poll) {
  heartbeat_.unref();
  live_poll_.unref();
}

RunState::~RunState() {
  heartbeat_.stop();
  live_poll_.stop();
  if (live_link_) live_link_->close();
  if (lease_) lease_->stop_renewing();
  if (store_) store_->close();
}

Status RunState::begin(const std::vector<engine::SourceNode>& sources) {
  if (cmd_.options.dry_run) return {};  // writes nothing anywhere, not even its own state
  const StateOptions& so = cmd_.state;
  client_ = std::make_unique<StateClient>(loop_, cmd_.destination);
  const std::string command_line = so.command_line.empty() ? "redis-migrate " + command_ + " " +
                                                                 cmd_.source_url + " " + cmd_.destination_url
                                                           : so.command_line;
  if (so.lock) {
    const select::Shard& shard = cmd_.options.selection.shard;
    auto lease = Lease::acquire(*client_, lock_key(so.prefix, shard), so.lock_ttl_ms, command_line,
                                cmd_.destination_url, live());
    if (!lease) return lease.error();
    lease_ = std::move(*lease);
    // Sharded and unsharded runs (and shards of another count) cover overlapping slots: they exclude each
    // other through the leases they hold.
    if (auto st = exclude_overlapping(*client_, so.prefix, shard, cmd_.destination_url); !st) {
      lease_->release(*client_);
      lease_.reset();
      return st.error();
    }
  } else if (auto st = exclude_overlapping(*client_, so.prefix, cmd_.options.selection.shard,
                                           cmd_.destination_url, false);
             !st) {
    // --no-lock: no lease of its own, but an overlapping run's lease still keeps it out.
    if (st.error().code == ExitCode::kLocked) return st.error();
    spdlog::warn(
        "--no-lock: whether a run of other slots (sharded, unsharded, or another shard count) "
        "holds the destination was not checked: {}",
        st.error().message);
  }
  auto fail = [&](Error e) -> Status {
    if (lease_) lease_->release(*client_);
    lease_.reset();
    return e;
  };

  store_ = so.state_file.empty()
               ? destination_records(loop_, *client_, so.prefix, cmd_.destination_url, cmd_.destination)
               : file_records(so.state_file);
  const nlohmann::json fp = fingerprint(cmd_, command_);
  record_.id = run_id(fp);
  record_.command = command_;
  record_.status = "running";
  record_.source = cmd_.source_url;
  record_.destination = cmd_.destination_url;
  record_.fingerprint = fp;
  record_.command_line = command_line;
  record_.host = host_name();
  record_.pid = static_cast<int64_t>(getpid());
  record_.started_ms = unix_ms_now();
  record_.updated_ms = record_.started_ms;
  for (const auto& s : sources) {
    record_.nodes.push_back(engine::NodeProgress{s.name, "0", false, {}, {}, {}});
    record_.source_keys += s.dbsize;  // a --shard run's share (engine/sides.cpp)
  }

  auto old = store_->load(record_.id);
  if (!old) return fail(old.error());
  if (*old) decide_resume(**old, sources);
  if (resumed_) record_.nodes = resume_;
  if (auto st = store_->save_now(record_); !st) return fail(st.error());
  active_ = true;
  return {};
}

void RunState::decide_resume(const RunRecord& old, const std::vector<engine::SourceNode>& sources) {
  const std::string where = store_->where(old.id);
  if (old.id != record_.id) {
    spdlog::info("the state file holds another run ({} {} -> {}): starting a new run, which replaces it",
                 old.command, old.source, old.destination);
    return;
  }
  const report::Counters done = sum(old.nodes);
  if (cmd_.state.restart) {
    spdlog::info("--restart: not resuming run {} ({}, {} keys done); starting from the beginning", old.id,
                 old.status, report::thousands(done.scanned));
    return;
  }
  if (old.status == "finished") {
    spdlog::info(
        "run {} finished at {}: running it again from the beginning (keys already on the destination are "
        "skipped)",
        old.id, iso_utc_ms(old.finished_ms));
    return;
  }
  // A live run never trusts its checkpoint: it resyncs instead (copy/live_preflight.hpp).
  if (cmd_.options.live.enabled) return;
  std::vector<engine::NodeProgress> ordered;
  for (const auto& s : sources) {
    auto it = std::find_if(old.nodes.begin(), old.nodes.end(),
                           [&](const engine::NodeProgress& p) { return p.name == s.name; });
    if (it == old.nodes.end()) break;
    ordered.push_back(*it);
  }
  if (ordered.size() != sources.size() || old.nodes.size() != sources.size()) {
    std::vector<engine::NodeProgress> now;
    now.reserve(sources.size());
    for (const auto& s : sources)
      now.push_back(engine::NodeProgress{s.name, "0", false, {}, {}, {}});
    spdlog::warn(
        "run {}: the source's nodes changed since its checkpoint (then: {}; now: {}): starting from the "
        "beginning (keys already on the destination are skipped)",
        old.id, names(old.nodes), names(now));
    return;
  }
  if (old.status == "running" && !cmd_.state.lock &&
      unix_ms_now() - old.updated_ms < static_cast<int64_t>(cmd_.state.heartbeat_ms) * 3) {
    spdlog::warn("run {} looks alive (saved {} ms ago by host {} pid {}) and --no-lock keeps nothing out",
                 old.id, unix_ms_now() - old.updated_ms, old.host, old.pid);
  }
  resume_ = std::move(ordered);
  resumed_ = true;
  resumed_from_ = done;
  record_.started_ms = old.started_ms;
  record_.attempts = old.attempts + 1;
  spdlog::info("resuming run {} (attempt {}, {} when it stopped) from its checkpoint in the {}: {} keys done",
               old.id, record_.attempts, old.status, where, report::thousands(done.scanned));
}

void RunState::attach(engine::Runner& engine) {
  if (!active_) return;
  engine_ = &engine;
  if (resumed_) engine.resume(resume_);
  // Saved as soon as a cursor moves, one save in flight at a time: after a SIGKILL, the keys handled since
  // the last save are about the window in flight, which the resumed engine re-checks.
  engine.on_progress([this] { request_save(); });
  heartbeat_.start(cmd_.state.heartbeat_ms, cmd_.state.heartbeat_ms);
  if (live() && lease_) {
    const std::string key = cutover_request_key(cmd_.state.prefix);
    live_link_ = std::make_unique<StateLink>(loop_, client_->options_for(key), cmd_.destination);
    live_link_->open();
    live_poll_.start(kCutoverPollMs, kCutoverPollMs);
  }
  if (lease_) {
    lease_->start_renewing(
        loop_, cmd_.destination,
        [this](Error e) {
          if (engine_ != nullptr && !ended_) engine_->stop_run(std::move(e));
        },
        [this] {
          // Only an eviction, a flush or a restart without persistence removes a live lease: the copies
          // written so far may be gone too.
          if (engine_ != nullptr && !ended_) {
            engine_->destination_lost_keys(
                cmd_.destination_url + ": the lock " + lease_->key() +
                    " vanished while this run held it (evicted, flushed, or the "
                    "destination restarted without its data): deletions stopped; run "
                    "`redis-migrate verify` to see which copies are missing",
                false);
          }
        });
  }
}

void RunState::on_heartbeat() { request_save(); }

void RunState::on_live_poll() {
  if (ended_ || engine_ == nullptr) return;
  // Where the live phase stands, for `status`: about every second.
  if (++poll_ticks_ % 2 == 0) request_save();
  if (polling_ || !live_link_) return;
  polling_ = live_link_->send({"GET", cutover_request_key(cmd_.state.prefix)}, [this](const redisReply* r) {
    polling_ = false;
    if (r == nullptr || ended_ || !resp::is_string(r)) return;
    take_request(resp::text(r));
  });
}

void RunState::take_request(std::string_view value) {
  auto req = parse_cutover_request(value);
  // A request for another run (an earlier one of this destination, whose cutover gave up) is left alone.
  if (!req || !lease_ || req->lock != lease_->value()) return;
  if (std::find(cutover_requests_.begin(), cutover_requests_.end(), req->id) != cutover_requests_.end())
    return;
  cutover_requests_.push_back(req->id);
  if (cutover_requests_.size() == 1) {
    spdlog::info("cut-over requested by `redis-migrate cutover` (request {}, host {} pid {}, at {})", req->id,
                 req->host, req->pid, req->requested_at);
  }
  if (engine_ != nullptr) engine_->cutover(engine::CutoverCause::kCommand);
}

RunRecord RunState::snapshot() const {
  RunRecord r = record_;
  r.updated_ms = unix_ms_now();
  if (engine_ != nullptr) {
    r.nodes = engine_->checkpoint();
    r.totals = engine_->totals();
    if (live()) r.live = live_record_json(engine_->live_stats());
  }
  return r;
}

void RunState::request_save() {
  if (!active_ || ended_) return;
  if (saving_) {
    dirty_ = true;
    return;
  }
  saving_ = true;
  dirty_ = false;
  const bool started = store_->save(snapshot(), [this](bool /*ok*/) {
    // A failed save is not fatal: the next progress or heartbeat saves again.
    saving_ = false;
    if (dirty_ && !ended_) request_save();
  });
  if (!started) {
    saving_ = false;
    dirty_ = true;
  }
}

void RunState::end(const report::RunReport& report, ExitCode exit_code,
                   std::vector<engine::NodeProgress> progress) {
  if (!active_ || ended_) return;
  ended_ = true;
  if (live() && engine_ != nullptr) record_.live = live_record_json(engine_->live_stats());
  engine_ = nullptr;
  heartbeat_.stop();
  live_poll_.stop();
  if (live_link_) live_link_->close();
  if (lease_) lease_->stop_renewing();
  store_->close();
  record_.status = report.fatal ? "failed" : report.signal != 0 ? "interrupted" : "finished";
  record_.nodes = std::move(progress);
  record_.totals = report.totals;
  record_.updated_ms = unix_ms_now();
  record_.finished_ms = record_.updated_ms;
  record_.exit_code = to_int(exit_code);
  record_.error = report.fatal ? report.fatal->message : std::string();
  if (auto st = store_->save_now(record_); !st) {
    spdlog::warn("could not save the run's final record ({}); the last checkpoint stays", st.error().message);
  }
  if (live() && lease_ && !lease_->lost()) {
    // A request written after the last poll is answered too; then every request taken, before the lease is
    // released (the cutover command reads the answer once it sees the lease gone).
    const std::string key = cutover_request_key(cmd_.state.prefix);
    if (auto r = client_->call(key, {"GET", key}); r && resp::is_string(r->get())) {
      take_request(resp::text(r->get()));
    }
    const bool verify_follows = cmd_.options.live.verify_at_cutover && exit_code == ExitCode::kOk;
    const std::string answer =
        verify_follows ? std::string(kCutoverVerifying) : std::to_string(to_int(exit_code));
    for (const std::string& id : cutover_requests_)
      write_cutover_result(*client_, cmd_.state.prefix, id, answer);
  }
  if (lease_) lease_->release(*client_);
  // The last shard to end removes the registry entries of finished shards (their own included).
  if (lease_ && cmd_.options.selection.shard.active()) {
    if (auto pruned = prune_shard_registry(*client_, cmd_.state.prefix); !pruned)
      spdlog::debug("the shard registry was not pruned: {}", pruned.error().message);
  }
}

nlohmann::json RunState::report_section() const {
  if (!active_) return nullptr;
  nlohmann::json j = {{"id", record_.id},
                      {"state", store_->where(record_.id)},
                      {"attempt", record_.attempts},
                      {"resumed", resumed_},
                      {"locked", lease_ != nullptr}};
  j["resumed_from"] = resumed_ ? report::counters_to_json(resumed_from_) : nlohmann::json();
  if (live()) j["cutover_requests"] = cutover_requests_;
  return j;
}

}  // namespace rmig::state
