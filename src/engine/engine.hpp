#pragma once
// The engine drives keys through a per-key task on one event loop. It owns everything that does not depend on
// what is done to a key: SCAN on each source node, the bounded window of jobs (in keys and in payload bytes),
// the connections ("links") with their reconnection and the jobs parked on them, cluster routing with
// MOVED/ASK, retries with backoff, stopping, and the counters. A KeyTask says what happens to one key: copy
// it (CopyTask), look at it for a plan (PlanTask), compare it (verify), and so on.
//
// Each command a task sends carries a 64-bit tag: the job slot, the job's generation, the side (source,
// source writer, destination) and the task's op code. When a connection drops, the jobs with commands on it
// are parked, their generation is bumped (late replies of the old generation are dropped) and the task's
// resend() runs once the link is back. Redirects and retries go through resend() the same way.

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cluster/slot.hpp"
#include "engine/clock.hpp"
#include "engine/options.hpp"
#include "net/loop.hpp"
#include "report/counters.hpp"
#include "resp/connection.hpp"
#include "select/seen_filter.hpp"
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

// Where a source node's scan stands, for a checkpoint: every key of the batches before `cursor` is done and
// counted in `counters`; keys after it are not (even if some were handled already).
struct NodeProgress {
  std::string name;
  std::string cursor = "0";
  bool complete = false;  // the scan reached its end and every key is done
  report::Counters counters;
  // Keys after the cursor that the run wrote on the destination (Engine::key_hash of the source key): a
  // resumed run that finds one of them already there counts it copied, any other such key skipped.
  std::vector<uint32_t> written;
};

struct EngineResult {
  report::Counters total;
  std::vector<report::NodeCounters> nodes;
  report::ErrorGroups errors;
  std::optional<Error> fatal;  // the condition that stopped the run early
  int signal = 0;              // the signal that stopped the run early
  std::vector<report::Example> examples;
};

class Engine;

// One slot of the window: a key on its way.
struct Job {
  std::string key;    // the source key
  std::string type;   // the key's type when the selection had to ask (TYPE), else empty
  uint32_t node = 0;  // source node index (counters, SCAN)
  uint8_t stage = 0;  // the task's own state
  uint16_t generation = 0;
  bool active = false;
  bool maybe_duplicate = false;  // the seen-filter says SCAN may have returned this key before
  // The command of the current stage may have run before its connection dropped (set by the engine when it
  // parks the job; a task clears it when it starts a new stage).
  bool resent = false;
  // A resumed run: the previous run may have written this key already (one of the first keys after the
  // checkpoint's cursor). Unlike `resent`, it holds for the whole job.
  bool recheck = false;
  // Fetched from the source (most tasks read PTTL and DUMP).
  int64_t pttl = 0;
  std::chrono::steady_clock::time_point sent_at{};  // when PTTL was sent
  resp::Reply payload;                              // the DUMP reply
  std::shared_ptr<redisReply> shared;               // the same, once a write references it
  std::size_t held = 0;                             // payload bytes counted in the window
  std::string_view payload_view() const noexcept;
  // The destination key: the source key renamed by the selection's rules (the same key without rules).
  const std::string& target() const noexcept { return renamed_ ? renamed_to_ : key; }
  // The rename rule that applied, or -1.
  int rule() const noexcept { return rule_; }

 private:
  friend class Engine;
  std::string renamed_to_;
  bool renamed_ = false;
  int rule_ = -1;
  uint64_t batch_ = 0;        // the SCAN batch the key came from
  bool typing_ = false;       // waiting for TYPE (selection by type), before the task starts
  uint32_t read_link = ~0u;   // where source reads go (a redirect may change it)
  uint32_t write_link = ~0u;  // where source writes (cleanup) go
  uint32_t dst_link = ~0u;    // the destination node of the last destination command
  uint32_t ask_link = ~0u;    // -ASK target for the next destination command
  bool read_ask = false;      // source-side -ASK: send ASKING before the next read
  bool write_ask = false;     // source-side -ASK: send ASKING before the next write
  double reserved_ = 0;       // --max-bytes-per-sec: payload bytes charged at dispatch, an estimate
  bool measuring_ = false;    // ... to be corrected by the first hold()
  std::size_t estimate_ = 0;  // window bytes charged at dispatch until the payload's size is known
  uint32_t attempts = 0;      // retries of the current error
  uint64_t gate_round_ = 0;   // waiting at the deletion gate for this reading of evicted_keys (0: not)
  uint32_t redirects = 0;
  std::chrono::steady_clock::time_point first_retry_at{};
};

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

class Engine final : private resp::Connection::ReplyHandler, private resp::Connection::Observer {
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
  void start(std::function<void()> on_done);
  // SIGINT/SIGTERM: the first stops scanning and lets keys in flight finish; the second abandons them.
  void stop(int signal);

  report::Counters totals() const;
  // The counters of each source node (same order as the sources), for the progress line.
  std::vector<report::NodeCounters> node_totals() const;
  // Continues a previous run: per source node (same order as the sources), its checkpointed progress. Keys
  // between the cursor and where the previous run really was are handled again; a RESTORE of one of them
  // that meets BUSYKEY compares the destination's value to decide copied or skipped. Call before start().
  void resume(const std::vector<NodeProgress>& progress);
  // The checkpoint: progress of every source node.
  std::vector<NodeProgress> checkpoint() const;
  // Called whenever a checkpoint cursor moves (a SCAN batch is fully done), and at most every 250 ms while
  // keys are written past the cursor, so a caller can save it while it is fresh. Must not call back into the
  // engine's job API.
  void on_progress(std::function<void()> callback) { on_progress_ = std::move(callback); }
  // Takes these keys (one list per source node, same order as the sources) instead of scanning: a sample
  // chosen beforehand. Call before start().
  void take_keys(std::vector<std::vector<std::string>> keys);
  // Stops the run for a reason outside the engine (e.g. the destination's lock was lost): as a fatal
  // condition, new work stops and replies on their way are still counted.
  void fail(Error error) { fail_run(std::move(error)); }
  bool rate_limited() const noexcept { return rate_limited_; }
  std::size_t in_flight() const noexcept { return active_; }
  // Payload and chunk bytes held by the jobs in flight (the window's byte count).
  std::size_t bytes_held() const noexcept { return bytes_held_; }
  // The destination holds the scan back: its connection has too much waiting to be sent, or the window is
  // full of keys waiting for its answers.
  bool paused_by_destination() const noexcept;
  std::size_t links_down() const noexcept;
  EngineResult take_result();

  // ---- for tasks ----
  const CopyOptions& options() const noexcept { return opts_; }
  std::size_t window_size() const noexcept { return jobs_.size(); }
  Job& job(uint32_t j) noexcept { return jobs_[j]; }
  report::Counters& counters(uint32_t j) noexcept;
  // Whether a command for job j to `side` would go out now (its link is up). A task that sends to two sides
  // at once checks both first, so a job is never parked with commands still in flight elsewhere.
  bool can_send(uint32_t j, Side side);
  // SourceNode::dataset_bytes of a source node (0: unknown).
  uint64_t dataset_bytes(uint32_t node) const noexcept {
    return node < nodes_.size() ? nodes_[node].dataset_bytes : 0;
  }
  // The task wrote job j's key on the destination (counted copied or merged): recorded with the batch, so
  // that a checkpoint taken before the batch is done says so (NodeProgress::written).
  void wrote(uint32_t j);
  // A resumed run: whether the checkpoint it continues records job j's key as written by an earlier attempt.
  bool written_before(uint32_t j) const noexcept;
  // 32 bits of FNV-1a of a key name, as NodeProgress::written holds them.
  static uint32_t key_hash(std::string_view key) noexcept;
  // Sends a command for job j to the side's node (the destination node owning the key's slot). When that link
  // is down the job is parked, resend() runs once it is back, and false is returned.
  bool send(uint32_t j, Side side, const std::string_view* args, std::size_t argc, uint8_t op);
  // As send(), with args[ref_index] referenced by the write instead of copied (large payloads).
  bool send_ref(uint32_t j, Side side, const std::string_view* args, std::size_t argc, std::size_t ref_index,
                std::shared_ptr<const void> owner, uint8_t op);
  // The clock of the destination node job j's next destination command goes to.
  const ServerClock& destination_clock(uint32_t j);
  // Errors every task treats alike: cluster redirects, retryable conditions (LOADING, BUSY, TRYAGAIN,
  // CLUSTERDOWN), and conditions that doom the run (permissions, OOM, read-only destination). Returns true
  // when it took care of the job; false leaves the error to the task.
  bool handle_error(uint32_t j, Side side, std::string_view command, std::string_view message);
  // Keeps a DUMP reply with the job, counted in the window's bytes.
  void hold(uint32_t j, resp::Reply payload);
  // Counts `bytes` of job j's data in the window's bytes instead of a held payload (the rewrite path's chunks
  // in flight): the dispatcher takes no new key while the window's bytes are used up. Drops a held payload.
  void hold_bytes(uint32_t j, std::size_t bytes);
  // Turns the held payload into a shared owner a write can reference.
  const std::shared_ptr<redisReply>& share_payload(uint32_t j);
  // The job is finished: its slot returns to the window.
  void done(uint32_t j);
  // A per-key failure: counted, grouped by message, and the run goes on.
  void fail_key(uint32_t j, std::string message);
  // Gives a key back: no longer counted as scanned (a failing run cannot finish it).
  void abandon(uint32_t j);
  // Stops the run because of what happened to job j, and gives the key back.
  void fail_job(uint32_t j, Error error);
  bool failing() const noexcept { return fatal_.has_value(); }
  // Stops the run (no new key starts; replies in flight are still counted) with this error.
  void stop_run(Error error) { fail_run(std::move(error)); }
  void add_example(uint32_t j, const char* action);
  const std::string& label(uint32_t j, Side side) const;
  // The connection options of the node job j's last command on `side` went to.
  const resp::ConnectOptions& connect_options(uint32_t j, Side side) const {
    return links_[link_for_error(j, side)]->conn->options();
  }
  void record_error(std::string_view message, std::string_view key) { errors_.add(message, key); }

  // Before a task deletes job j's source key (CopyOptions::watch_evictions): kGo once a reading of every
  // destination node's evicted_keys, sent after the task called this, shows no eviction; kWait parks the job
  // until that reading (the task's resend() runs then and calls this again); kStopped when deletions have
  // stopped (an eviction, a restart or a vanished lock was seen, or the run is failing): the key stays.
  enum class Gate { kGo, kWait, kStopped };
  Gate deletion_gate(uint32_t j);
  // Evidence that the destination lost keys during the run (seen by the engine's eviction watch, or the lock
  // found missing): every deletion stops at once and a run that deletes stops (exit code 5). `eviction`: the
  // destination evicted keys, and any other writing run goes on and ends with exit code 5 too; otherwise (a
  // restart, a failover, a vanished lock) a run that deletes nothing only warns.
  void destination_lost_keys(std::string why, bool eviction);
  // Keys the destination evicted since the run started (sum over its nodes).
  uint64_t evicted() const noexcept { return evicted_; }

 private:
  enum EngineOp : uint8_t { kScan = 1, kTime, kShards, kSlots, kEvictBase, kEvictStats };
  // Engine commands sent for a job (the task's ops start at kFirstTaskOp).
  enum JobOp : uint8_t { kAsking = 0, kTypeCheck = 1 };
  static constexpr uint8_t kEngineSide = 0xff;
  static constexpr uint32_t kNoLink = ~0u;

  struct Link {
    std::unique_ptr<resp::Connection> conn;
    std::string name;  // host:port
    bool destination = false;
    ServerClock clock;
    std::vector<uint32_t> parked;  // jobs to resend when the link is up
    bool down = false;             // lost, being reconnected
    bool retired = false;          // a destination node that no longer owns slots (failed over): not retried
    uint32_t attempts = 0;
    std::chrono::steady_clock::time_point down_since{};
    std::chrono::steady_clock::time_point retry_at{};
    std::string last_error;
    // Destination links, eviction watch: evicted_keys and run_id at the first reading.
    int64_t evicted_base = -1;
    int64_t evicted_last = -1;
    uint64_t evicted_carried = 0;  // evictions counted before the counter went back (a restart)
    std::string run_id;
    bool evict_in_flight = false;  // an INFO stats is on its way
    bool evict_owed = false;       // the open round still needs this link's reading
  };

  // The keys of one SCAN reply. Batches complete in order: when the oldest one has no key pending, its
  // counters join the node's committed counters and the cursor after it becomes the node's checkpoint cursor.
  struct Batch {
    uint64_t seq = 0;
    std::string next_cursor;
    uint32_t pending = 0;
    report::Counters counters;
    std::vector<uint32_t> written;  // key_hash() of its keys the task wrote
  };

  struct QueuedKey {
    std::string key;
    uint64_t batch;
  };

  struct Node {
    std::string name;
    uint32_t read_link = kNoLink;
    uint32_t write_link = kNoLink;
    uint64_t dbsize = 0;
    uint64_t dataset_bytes = 0;
    std::string cursor = "0";
    bool scanning = false;
    bool scan_done = false;
    std::deque<QueuedKey> queue;  // scanned, waiting for a job slot
    std::deque<Batch> batches;    // batches with keys pending, oldest first
    uint64_t next_batch = 0;
    std::string safe_cursor = "0";
    report::Counters committed;
    uint64_t recheck = 0;  // after a resume: keys still to treat as possibly copied already
    // After a resume: the keys the checkpoint says were written after its cursor (sorted), kept until the
    // batches of the keys marked recheck are done.
    std::vector<uint32_t> written_before;
    uint64_t recheck_last_batch = 0;
  };

  struct Retry {
    uint32_t job;
    uint16_t generation;
    std::chrono::steady_clock::time_point due;
  };

  static uint64_t job_tag(uint32_t j, uint16_t generation, Side side, uint8_t op) noexcept {
    return (uint64_t{j} << 32) | (uint64_t{generation} << 16) | (uint64_t{static_cast<uint8_t>(side)} << 8) |
           op;
  }
  static uint64_t engine_tag(uint32_t index, EngineOp op) noexcept {
    return (uint64_t{index} << 32) | (uint64_t{kEngineSide} << 8) | op;
  }

  // resp callbacks
  void on_reply(uint64_t tag, resp::Reply reply) override;
  void on_connection_ready(resp::Connection& c) override;
  void on_connection_error(resp::Connection& c, const Error& error) override;
  void on_connection_writable(resp::Connection& c) override;

  // links
  uint32_t add_link(std::unique_ptr<resp::Connection> conn, std::string name, bool destination);
  uint32_t link_of(const resp::Connection& c) const noexcept;
  uint32_t link_for_address(const std::string& host, int port, bool destination);
  bool usable(uint32_t link) const noexcept;
  uint32_t link_for(uint32_t j, Side side);
  // The link job j's last command on `side` went to (for messages).
  uint32_t link_for_error(uint32_t j, Side side) const noexcept;
  void park(uint32_t j, uint32_t link);
  void unpark(uint32_t link);
  static void on_reconnect_timer(void* self);
  uint32_t route(std::string_view key) const noexcept;
  bool destination_backed_up() const noexcept;
  void refresh_destination_topology();
  void on_topology(EngineOp op, resp::Reply reply);
  static void on_clock_timer(void* self);
  void on_time(uint32_t link, resp::Reply reply);
  bool before_send(uint32_t j, Side side, uint32_t link);

  // scheduling
  void pump();
  void maybe_scan(Node& node, uint32_t index);
  void on_scan(uint32_t node, resp::Reply reply);
  void dispatch();
  // Applies the selection to a queued key; false when the key is not selected (it is settled right away).
  bool select(Node& node, QueuedKey& q, uint32_t j);
  void settle(Node& node, uint64_t batch);
  Batch* batch_of(Node& node, uint64_t seq) noexcept;
  void on_type(uint32_t j, resp::Reply reply);
  void send_type(uint32_t j);
  void begin(uint32_t j);
  // A rename collision found while copying: the message job j fails with, or empty when its destination
  // name is still free (and is now taken).
  std::string take_target(uint32_t j);
  // resend() / give_up() for a job still in the engine's TYPE check, else the task's.
  void resend_job(uint32_t j);
  void give_up_job(uint32_t j);
  bool rate_allows();
  static void on_rate_timer(void* self);
  void maybe_finish();
  void finish();
  void fail_run(Error error);
  void on_lost(uint32_t j, Side side);
  bool redirect(uint32_t j, Side side, std::string_view message);
  void retry(uint32_t j, std::string_view message);
  static void on_retry_timer(void* self);
  // eviction watch
  // Starts counting a link's evictions again from `evicted`, keeping those counted so far.
  static void rebase(Link& link, int64_t evicted);
  void send_evict_base(uint32_t link);
  void send_evict_stats(uint32_t link);
  void on_evict_reply(uint32_t link, EngineOp op, resp::Reply reply);
  void evict_round();
  void check_round();
  void release_gate();
  // The least time between two rounds (none with a window of one key: one reading per key is the point).
  std::chrono::milliseconds gate_every() const noexcept {
    return std::chrono::milliseconds(opts_.window.keys > 1 ? 10 : 0);
  }
  static void on_evict_timer(void* self);
  static void on_gate_timer(void* self);

  net::Loop& loop_;
  CopyOptions opts_;
  KeyTask& task_;
  resp::ConnectOptions source_template_;
  resp::ConnectOptions destination_template_;
  std::vector<std::unique_ptr<Link>> links_;
  std::vector<Node> nodes_;
  bool dst_cluster_ = false;
  uint32_t dst_single_ = kNoLink;
  std::vector<uint32_t> dst_links_;
  std::vector<uint32_t> slot_link_;  // cluster destination: slot -> link
  bool topology_in_flight_ = false;
  std::chrono::steady_clock::time_point topology_asked_at_{};
  std::vector<Job> jobs_;
  std::vector<uint32_t> free_;
  std::size_t active_ = 0;
  std::size_t bytes_held_ = 0;
  std::size_t next_node_ = 0;
  select::SeenFilter seen_;
  // Copies with rename rules (CopyOptions::detect_rename_collisions): the destination names taken so far.
  std::unique_ptr<select::SeenFilter> targets_;
  std::vector<Retry> retries_;
  net::Timer retry_timer_;
  net::Timer clock_timer_;
  net::Timer reconnect_timer_;
  net::Timer rate_timer_;
  net::Timer evict_timer_;  // a round of readings every second
  net::Timer gate_timer_;   // the next round for deletions waiting at the gate
  bool round_open_ = false;
  uint64_t round_id_ = 0;     // the last round sent
  uint64_t round_done_ = 0;   // the last round every destination link answered
  uint64_t final_round_ = 0;  // the round that ends the run (0: not asked yet)
  std::chrono::steady_clock::time_point round_sent_at_{};
  std::vector<uint32_t> gate_;  // jobs waiting at the deletion gate
  bool deletions_stopped_ = false;
  uint64_t evicted_ = 0;
  std::optional<Error> lost_keys_;
  double key_tokens_ = 0;
  double byte_tokens_ = 0;
  double avg_payload_ = 0;   // running mean of payload sizes, the charge of a key whose size is unknown yet
  uint32_t unmeasured_ = 0;  // keys dispatched before any size was known
  // The window's charge of a key whose payload has not arrived: the running mean of payload sizes, so that
  // keys dispatched together take about --window-bytes between them once their payloads arrive (more only
  // when they are larger than the mean).
  double window_estimate_ = 0;
  bool any_done_ = false;  // a key has finished (before that, nothing says whether payloads are held)
  std::size_t estimated_keys_ = 0;  // keys in flight still charged an estimate (waiting for the source)
  // The window's charge of the next key dispatched.
  std::size_t dispatch_estimate() const noexcept;
  // Replaces job j's estimate by nothing (its real size is about to be held, or it is done).
  void drop_estimate(Job& job) noexcept;
  std::chrono::steady_clock::time_point tokens_at_{};
  bool rate_limited_ = false;
  std::string scan_match_;  // SCAN MATCH argument, empty for none
  std::string scan_type_;   // SCAN TYPE argument, empty for none
  uint64_t recheck_budget_ = 0;
  report::ErrorGroups errors_;
  std::vector<report::Example> examples_;
  std::optional<Error> fatal_;
  std::function<void()> on_done_;
  std::function<void()> on_progress_;
  std::chrono::steady_clock::time_point written_progress_at_{};  // wrote() last called on_progress_
  int signal_ = 0;
  bool pumping_ = false;  // pump() is on the stack: a nested call only asks for another round
  bool pump_again_ = false;
  bool stopping_ = false;
  bool finished_ = false;
  bool paused_by_destination_ = false;  // the destination's connection has too much waiting to be sent
  bool window_full_ = false;            // the dispatcher stopped because the window is full
};

}  // namespace rmig::engine
