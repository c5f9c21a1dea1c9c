#pragma once
// The engine drives keys through a per-key task on one event loop: it takes keys from a key source per source
// node (engine/scan_source), asks the selector whether and under which name each is taken (select/selector),
// gives each a job slot while the window has room (engine/window, engine/pacing), and carries the task's
// commands over the links (engine/links), with redirects and retries (engine/retry_policy), stopping and the
// counters. A KeyTask says what happens to one key: copy it (CopyTask), look at it for a plan (PlanTask),
// compare it (verify), and so on.
//
// Each command a task sends carries a 64-bit tag: the job slot, the job's generation, the side and the task's
// op code. When a connection drops, the jobs with commands on it are parked, their generation moves on (late
// replies of the old generation are dropped) and the task's resend() runs once the link is back. Redirects
// and retries go through resend() the same way.

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/clock.hpp"
#include "engine/eviction_watch.hpp"
#include "engine/job.hpp"
#include "engine/key_source.hpp"
#include "engine/links.hpp"
#include "engine/options.hpp"
#include "engine/pacing.hpp"
#include "engine/runner.hpp"
#include "engine/window.hpp"
#include "net/loop.hpp"
#include "report/counters.hpp"
#include "report/source_failover.hpp"
#include "resp/connection.hpp"
#include "select/seen_filter.hpp"
#include "select/selector.hpp"
#include "util/enum_names.hpp"
#include "util/result.hpp"

namespace rmig::engine {

// One scanned server: a standalone source, or one shard of a source cluster.
struct SourceNode {
  std::unique_ptr<resp::Connection> conn;    // SCAN, PTTL, DUMP: the primary, or a replica (READONLY)
  std::unique_ptr<resp::Connection> writer;  // --cleanup when conn is a replica: the shard's primary
  std::string name;                          // host:port, for per-node reporting
  uint64_t dbsize = 0;                       // at start, for the ETA
  // No key is bigger than this at start (0: unknown; engine/key_size_bound.hpp: used_memory_dataset, or INFO
  // keysizes for a node of strings only), so a node whose bound is under --big-key-threshold needs no per-key
  // size check.
  uint64_t dataset_bytes = 0;
  // A cluster source: the slots the node's shard owned at start (inclusive ranges); empty: a standalone
  // source. A live run routes a changed key to its node by them.
  std::vector<std::pair<uint16_t, uint16_t>> slots;
};

struct DestinationNode {
  std::unique_ptr<resp::Connection> conn;
  ServerClock clock;  // known: expiries are sent as absolute times (ABSTTL)
};

// Where keys are written: one server, or the primaries of a cluster with the slot map.
struct Destination {
  bool cluster = false;
  std::vector<DestinationNode> nodes;
  std::vector<uint16_t> slot_owner;  // cluster: 16384 entries, index into nodes
};

struct EngineResult {
  report::Counters total;
  std::vector<report::NodeCounters> nodes;
  report::ErrorGroups errors;
  std::optional<Error> fatal;  // the condition that stopped the run early
  int signal = 0;              // the signal that stopped the run early
  std::vector<report::Example> examples;
  std::vector<report::SourceFailover> source_failovers;  // in the order they happened
};

class Engine;
class Live;

// How a live run (--live) ended its live phase.
enum class CutoverCause : uint8_t { kCommand, kSignal, kIdle };
inline constexpr std::array<NamedValue<CutoverCause>, 3> kCutoverCauseNames = {{
    {CutoverCause::kCommand, "command"},
    {CutoverCause::kSignal, "signal"},
    {CutoverCause::kIdle, "idle"},
}};

// Where a live run stands (Engine::live_stats), for the progress line, `status`, metrics and the report's
// `live` object.
struct LiveStats {
  enum class Phase : uint8_t { kSubscribing, kBulk, kLive, kCutover, kDone };
  Phase phase = Phase::kSubscribing;
  uint64_t changes = 0;    // notifications for selected keys received
  uint64_t recopied = 0;   // keys copied again (a change, a resync)
  uint64_t deleted = 0;    // destination keys deleted (their source key no longer exists)
  uint64_t unchanged = 0;  // keys a resync found equal
  uint64_t pending = 0;    // keys waiting to be copied again now
  uint64_t pending_max = 0;
  uint64_t lag_ms = 0;  // age of the oldest pending change now
  uint64_t lag_ms_max = 0;
  double changes_per_s = 0;  // over the last few seconds
  struct Resync {
    std::string node;   // host:port of the source node ("*" for every node)
    std::string cause;  // e.g. "subscriber disconnected", "pending set overflow", "FLUSHDB/SWAPDB seen"
  };
  std::vector<Resync> resyncs;
  std::optional<CutoverCause> cutover;  // set once a cut-over was requested
  double cutover_ms = 0;                // request to the end of the live phase
};
inline constexpr std::array<NamedValue<LiveStats::Phase>, 5> kLivePhaseNames = {{
    {LiveStats::Phase::kSubscribing, "subscribing"},
    {LiveStats::Phase::kBulk, "bulk"},
    {LiveStats::Phase::kLive, "live"},
    {LiveStats::Phase::kCutover, "cutover"},
    {LiveStats::Phase::kDone, "done"},
}};

// What happens to one key once the engine has scanned it and given it a job slot. Replies arrive with the
// task's op codes (>= Engine::kFirstTaskOp); a null reply never reaches the task (the engine parks the job).
class KeyTask {
 public:
  virtual ~KeyTask() = default;
  // The engine is about to start; the task may size per-job state to engine.window_size().
  virtual void attach(Engine& engine) = 0;
  // A new job: send its first commands.
  virtual void start(uint32_t j) = 0;
  virtual void on_reply(uint32_t j, uint8_t op, resp::Reply reply) = 0;
  // Send the job's current stage again (after a reconnection, a redirect or a retry).
  virtual void resend(uint32_t j) = 0;
  // The run is failing and the job cannot go on: settle it (usually Engine::abandon; a key already copied is
  // counted as such).
  virtual void give_up(uint32_t j) = 0;
  // The job's slot is about to return to the window, whatever ended it (the task, a per-key failure decided
  // by the engine, a give-up): per-job resources the task holds outside the job go here.
  virtual void finished(uint32_t /*j*/) {}
  // Before new keys are dispatched: work of jobs in flight that waits for room in the window's bytes goes
  // first (the rewrite path's reads).
  virtual void room() {}
};

class Engine final : public Runner,
                     private resp::Connection::ReplyHandler,
                     private LinkEvents,
                     private WatchEvents {
  friend class Live;  // the live phase (engine/live.hpp) feeds the dispatcher and reads the links

 public:
  enum class Side : uint8_t { kSource = 0, kWriter = 1, kDestination = 2 };
  static constexpr uint8_t kFirstTaskOp = 16;

  // `source_template` and `destination_template` open connections to nodes first met through a redirect.
  Engine(net::Loop& loop, const CopyOptions& options, std::vector<SourceNode> sources,
         Destination destination, resp::ConnectOptions source_template,
         resp::ConnectOptions destination_template, KeyTask& task);
  ~Engine() override;
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Starts scanning. `on_done` runs once, when every key is handled or the run stopped; all connections are
  // closed by then.
  void start(std::function<void()> on_done) override;
  // SIGINT/SIGTERM: the first stops scanning and lets keys in flight finish; the second abandons them.
  void stop(int signal) override;

  report::Counters totals() const override;
  // The counters of each source node (same order as the sources), for the progress line.
  std::vector<report::NodeCounters> node_totals() const override;
  // Continues a previous run: per source node (same order as the sources), its checkpointed progress
  // (KeySource::resume; the first window + 4 x scan-count keys are rechecked). Call before start().
  void resume(const std::vector<NodeProgress>& progress) override;
  // The checkpoint: each key source's progress.
  std::vector<NodeProgress> checkpoint() const override;
  // Called whenever a checkpoint cursor moves (a batch is fully done), and at most every 250 ms while keys
  // are written past the cursor, so a caller can save it while it is fresh. Must not call back into the
  // engine's job API.
  void on_progress(std::function<void()> callback) override { on_progress_ = std::move(callback); }
  // Takes these keys (one list per source node, same order as the sources) instead of scanning: a sample
  // chosen beforehand. Call before start().
  void take_keys(std::vector<std::vector<std::string>> keys);
  bool rate_limited() const noexcept override { return rate_limited_; }
  std::size_t in_flight() const noexcept override { return window_.active(); }
  // Payload and chunk bytes held by the jobs in flight (the window's byte count).
  std::size_t bytes_held() const noexcept override { return window_.bytes_held(); }
  // The destination holds the scan back: its connection has too much waiting to be sent, or the window is
  // full of keys waiting for its answers.
  bool paused_by_destination() const noexcept override;
  std::size_t links_down() const noexcept override { return links_.down(); }
  EngineResult take_result() override;

  // ---- live runs (CopyOptions::live.enabled) ----
  // Ends the live phase: a barrier on every subscriber connection, every change received up to it applied,
  // then the run ends (exit 0 when nothing failed). Safe to call more than once (the first cause counts) and
  // in the bulk phase (the cut-over follows the bulk copy).
  void cutover(CutoverCause cause) override;
  LiveStats live_stats() const override;

  // ---- for tasks ----
  const CopyOptions& options() const noexcept override { return opts_; }
  std::size_t window_size() const noexcept { return slots_.size(); }
  Job& job(uint32_t j) noexcept { return slots_[j].job; }
  report::Counters& counters(uint32_t j) noexcept;
  // Whether a command for job j to `side` would go out now (its link is up). A task that sends to two sides
  // at once checks both first, so a job is never parked with commands still in flight elsewhere.
  bool can_send(uint32_t j, Side side);
  // SourceNode::dataset_bytes of a source node (0: unknown).
  uint64_t dataset_bytes(uint32_t node) const noexcept {
    return node < dataset_bytes_.size() ? dataset_bytes_[node] : 0;
  }
  // The task wrote job j's key on the destination (counted copied or merged): recorded with its batch, so
  // that a checkpoint taken before the batch is done says so (NodeProgress::written).
  void wrote(uint32_t j);
  // A resumed run: whether the checkpoint it continues records job j's key as written by an earlier attempt.
  bool written_before(uint32_t j) const noexcept;
  // 32 bits of FNV-1a of a key name, as NodeProgress::written holds them.
  static uint32_t key_hash(std::string_view key) noexcept { return engine::key_hash(key); }
  // Sends a command for job j to the side's node (the destination node owning the key's slot). When that link
  // is down the job is parked, resend() runs once it is back, and false is returned.
  bool send(uint32_t j, Side side, const std::string_view* args, std::size_t argc, uint8_t op);
  // As send(), with args[ref_index] referenced by the write instead of copied (large payloads).
  bool send_ref(uint32_t j, Side side, const std::string_view* args, std::size_t argc, std::size_t ref_index,
                std::shared_ptr<const void> owner, uint8_t op);
  // The clock of the destination node job j's next destination command goes to.
  const ServerClock& destination_clock(uint32_t j);
  // Errors every task treats alike (retry_policy: error_action): cluster redirects, retryable conditions
  // (LOADING, BUSY, TRYAGAIN, CLUSTERDOWN), and conditions that doom the run (permissions, OOM, read-only
  // destination). Returns true when it took care of the job; false leaves the error to the task.
  bool handle_error(uint32_t j, Side side, std::string_view command, std::string_view message);
  // Keeps a DUMP reply with the job, counted in the window's bytes.
  void hold(uint32_t j, resp::Reply payload);
  // Counts `bytes` of job j's data in the window's bytes instead of a held payload (the rewrite path's chunks
  // in flight): the dispatcher takes no new key while the window's bytes are used up. Drops a held payload.
  void hold_bytes(uint32_t j, std::size_t bytes);
  // Turns the held payload into a shared owner a write can reference.
  const std::shared_ptr<redisReply>& share_payload(uint32_t j);

  // How a job ends. Each frees the slot (KeyTask::finished runs first) and settles the key with its batch.
  //   done(j)      the task counted the key's outcome itself;
  //   fail_key(j)  a per-key failure: counted failed (or in `counter`, e.g. cleanup_failed), grouped by
  //                message, and the run goes on;
  //   abandon(j)   the key is given back: no longer counted as scanned (a failing run cannot finish it).
  // A task that cannot go on because the run is failing settles the job in give_up(); stop_run() stops the
  // run while the job's own replies still arrive.
  void done(uint32_t j);
  void fail_key(uint32_t j, std::string message,
                uint64_t report::Counters::*counter = &report::Counters::failed);
  void abandon(uint32_t j);
  bool failing() const noexcept { return fatal_.has_value(); }
  // Stops the run with this error, from a task or from outside the engine (e.g. the destination's lock was
  // lost): no new key starts; replies in flight are still counted.
  void stop_run(Error error) override { fail_run(std::move(error)); }
  void add_example(uint32_t j, const char* action);
  const std::string& label(uint32_t j, Side side) const;
  // The connection options of the node job j's last command on `side` went to.
  const resp::ConnectOptions& connect_options(uint32_t j, Side side) const {
    return links_[link_for_error(j, side)].conn->options();
  }
  void record_error(std::string_view message, std::string_view key) { errors_.add(message, key); }

  // Before a task deletes job j's source key (CopyOptions::watch_evictions): kGo once a reading of every
  // destination node's evicted_keys, sent after the task called this, shows no eviction; kWait parks the job
  // until that reading (the task's resend() runs then and calls this again); kStopped when deletions have
  // stopped (an eviction, a restart or a vanished lock was seen, or the run is failing): the key stays.
  using Gate = EvictionWatch::Gate;
  Gate deletion_gate(uint32_t j) { return watch_.gate(j); }
  // Evidence that the destination lost keys during the run (seen by the engine's eviction watch, or the lock
  // found missing): every deletion stops at once and a run that deletes stops (exit code 5). `eviction`: the
  // destination evicted keys, and any other writing run goes on and ends with exit code 5 too; otherwise (a
  // restart, a failover, a vanished lock) a run that deletes nothing only warns.
  void destination_lost_keys(std::string why, bool eviction) override;
  // Called when destination_lost_keys() stops this engine's deletions (engine::Crew tells its other loops).
  // Called once, when the run's first fatal error stops this engine (engine::Crew stops its other loops at
  // once).
  void on_fatal(std::function<void(const Error& error)> callback) { on_fatal_ = std::move(callback); }
  void on_lost_keys(std::function<void(const std::string& why, bool eviction)> callback) {
    on_lost_keys_ = std::move(callback);
  }
  // Keys the destination evicted since the run started (sum over its nodes).
  uint64_t evicted() const noexcept override { return watch_.evicted(); }

 private:
  // Engine commands: a source's request for keys (SCAN), and per job ASKING and the selection's TYPE.
  enum EngineOp : uint8_t { kFetch = 1 };
  enum JobOp : uint8_t { kAsking = 0, kTypeCheck = 1 };
  static constexpr uint8_t kEngineSide = 0xff;
  // How many keys ahead of the one dispatched the duplicate filter is prefetched.
  static constexpr std::size_t kPrefetchAhead = 8;

  struct Retry {
    uint32_t job;
    uint16_t generation;
    std::chrono::steady_clock::time_point due;
  };

  static uint64_t job_tag(uint32_t j, uint16_t generation, Side side, uint8_t op) noexcept {
    return (uint64_t{j} << 32) | (uint64_t{generation} << 16) | (uint64_t{static_cast<uint8_t>(side)} << 8) |
           op;
  }
  // `epoch`: a key source's restart count when the request was sent (KeySource::epoch), low 16 bits.
  static uint64_t engine_tag(uint32_t index, EngineOp op, uint32_t epoch = 0) noexcept {
    return (uint64_t{index} << 32) | (uint64_t{epoch & 0xffff} << 16) | (uint64_t{kEngineSide} << 8) | op;
  }

  // resp
  void on_reply(uint64_t tag, resp::Reply reply) override;
  // LinkEvents
  void link_up(uint32_t link) override;
  void link_failed(Error error) override { fail_run(std::move(error)); }
  void destination_writable() override;
  void rerouted(uint32_t j) override;
  void destination_failed_over(const std::string& label) override;
  // engine/source_failover.cpp: the node's jobs and scan continue on `link`.
  void source_failed_over(uint32_t node, uint32_t link, const std::string& cause) override;
  void source_identified(uint32_t link, const std::string& run_id) override;
  bool stopping() const noexcept override { return stopping_; }
  // WatchEvents
  void lost_keys(std::string why, bool eviction) override { destination_lost_keys(std::move(why), eviction); }
  void gate_opened(uint32_t j) override;
  void final_round_read() override { maybe_finish(); }
  double mean_payload() const noexcept override { return window_.mean_payload(); }
  bool deletions_stopped() const noexcept override { return deletions_stopped_ || fatal_.has_value(); }

  // links
  uint32_t link_for(uint32_t j, Side side);
  // The link job j's last command on `side` went to (for messages).
  uint32_t link_for_error(uint32_t j, Side side) const noexcept;
  bool before_send(uint32_t j, Side side, uint32_t link);

  // scheduling
  void pump();
  void maybe_fetch(uint32_t node);
  void on_fetched(uint32_t node, resp::Reply reply);
  void dispatch();
  void settle(uint32_t node, uint64_t batch);
  // settle() for a key of the node's bulk source (extra kNoLink) or of a live key source.
  void settle_key(uint32_t node, uint32_t extra, uint64_t batch);
  void on_type(uint32_t j, resp::Reply reply);
  void send_type(uint32_t j);
  void begin(uint32_t j);
  // resend() / give_up() for a job still in the engine's TYPE check, else the task's.
  void resend_job(uint32_t j);
  void give_up_job(uint32_t j);
  void on_rate_timer();
  void maybe_finish();
  void finish();
  void fail_run(Error error);
  void on_lost(uint32_t j, Side side);
  bool redirect(uint32_t j, Side side, std::string_view message);
  void retry(uint32_t j, std::string_view message);
  void on_retry_timer();

  net::Loop& loop_;
  CopyOptions opts_;
  KeyTask& task_;
  // A live run's live phase (null otherwise). Before links_, so it outlives the connections it sends on.
  std::unique_ptr<Live> live_;
  Links links_;
  EvictionWatch watch_;
  Window window_;
  Pacing pacing_;
  select::Selector selector_;
  select::SeenFilter seen_;
  std::vector<std::unique_ptr<KeySource>> sources_;  // one per source node
  std::vector<uint32_t> read_link_;                  // by source node
  std::vector<uint32_t> write_link_;                 // by source node
  std::vector<uint64_t> dataset_bytes_;              // by source node
  std::vector<JobSlot> slots_;
  std::size_t next_node_ = 0;
  std::vector<Retry> retries_;
  net::Timer retry_timer_;
  net::Timer rate_timer_;
  bool deletions_stopped_ = false;
  std::optional<Error> lost_keys_;
  uint64_t recheck_budget_ = 0;
  report::ErrorGroups errors_;
  std::vector<report::Example> examples_;
  std::vector<report::SourceFailover> failovers_;
  std::optional<Error> fatal_;
  std::function<void()> on_done_;
  std::function<void()> on_progress_;
  std::function<void(const std::string&, bool)> on_lost_keys_;
  std::function<void(const Error&)> on_fatal_;
  uint64_t written_progress_ms_ = 0;  // the loop's time (uv_now) when wrote() last called on_progress_
  int signal_ = 0;
  bool rate_limited_ = false;
  bool pumping_ = false;  // pump() is on the stack: a nested call only asks for another round
  bool pump_again_ = false;
  bool stopping_ = false;
  bool finished_ = false;
  bool paused_by_destination_ = false;  // the destination's connection has too much waiting to be sent
  bool window_full_ = false;            // the dispatcher stopped because the window is full
};

}  // namespace rmig::engine
