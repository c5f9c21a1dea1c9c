#pragma once
// --threads N: one event loop per thread, each running its own Engine over a share of the source nodes (the
// shards of a source cluster), with its own connections to those nodes and to every destination node (libuv
// handles never move between loops). The Crew is the Runner the caller's loop sees: one lock and one run
// record (state::RunState on the caller's loop), the checkpoint per source node in the sources' order,
// counters merged for the progress line, the metrics and the report.
//
// Thread safety: no Engine method is ever called from another thread than its loop's.
//   - caller -> loop: stop, cutover, stop_run and destination_lost_keys are queued (a mutex-guarded list of
//     functions) and the loop is woken (uv_async_t); the loop runs them on its engine.
//   - loop -> caller: each loop publishes a snapshot of its engine (totals, node counters, checkpoint, in
//     flight, ...) under a mutex, every 100 ms and whenever its checkpoint moves, and wakes the caller's loop
//     (uv_async_t) for on_progress and when it is done. The getters read the snapshots.
//   - shared by all loops: the options and the selection (read only), the duplicate filter and the rename
//     target filter (one concurrent select::SeenFilter each).
// Memory stays bounded as with one loop: the window's bytes and the rate limits are split between the loops.
// When one loop's destination loses keys (an eviction, a restart, the lock gone) every loop stops deleting.

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.hpp"
#include "engine/runner.hpp"
#include "net/loop.hpp"

namespace rmig::engine {

// Which loop scans which source node: the largest DBSIZE first, each to the loop with the fewest keys so far
// (ties: the lower loop). Per loop, the indices of its nodes in the sources' order; no loop is empty (at
// most `loops` = sizes.size() loops are used).
std::vector<std::vector<uint32_t>> spread_nodes(const std::vector<uint64_t>& sizes, uint32_t loops);

// The cores this process may use: the CPUs of its affinity mask (a cpuset), at most its cgroup v2 CPU quota
// (cpu.max, rounded up: a Kubernetes CPU limit) and std::thread::hardware_concurrency(); at least 1.
uint32_t available_cores();

// The options of each of `loops` loops: the window's bytes and the rate limits (keys and bytes per second)
// divided between them (at least 1 key/s, 1 KB of window bytes per loop), so the totals stay those given.
CopyOptions loop_options(const CopyOptions& options, uint32_t loops);

// Makes the KeyTask of one loop; called on that loop's thread.
using TaskFactory = std::function<std::unique_ptr<KeyTask>()>;
// Reads what a loop's task gathered (plan statistics, big keys) once its engine is done; called on the loop's
// thread, one loop at a time.
using TaskHarvest = std::function<void(KeyTask&)>;

class Crew final : public Runner {
 public:
  // `sources` and `destination` were opened on `loop`: their connections are closed here, and each loop opens
  // its own from their options (the destination nodes' clocks and slot map are copied). `loops` >= 2 and at
  // most sources.size().
  Crew(net::Loop& loop, const CopyOptions& options, std::vector<SourceNode> sources, Destination destination,
       resp::ConnectOptions source_template, resp::ConnectOptions destination_template, uint32_t loops,
       TaskFactory factory, TaskHarvest harvest);
  ~Crew() override;
  Crew(const Crew&) = delete;
  Crew& operator=(const Crew&) = delete;

  std::size_t loops() const noexcept { return workers_.size(); }
  // "3 loops: loop 1 127.0.0.1:7000 (1,000 keys); loop 2 ..."
  std::string spread_text() const;

  void start(std::function<void()> on_done) override;
  void stop(int signal) override;
  void cutover(CutoverCause cause) override;
  void stop_run(Error error) override;
  void destination_lost_keys(std::string why, bool eviction) override;
  void on_progress(std::function<void()> callback) override { on_progress_ = std::move(callback); }
  void resume(const std::vector<NodeProgress>& progress) override;
  std::vector<NodeProgress> checkpoint() const override;
  report::Counters totals() const override;
  std::vector<report::NodeCounters> node_totals() const override;
  std::size_t in_flight() const override;
  bool paused_by_destination() const override;
  bool rate_limited() const override;
  std::size_t bytes_held() const override;
  std::size_t links_down() const override;
  uint64_t evicted() const override;
  LiveStats live_stats() const override;
  const CopyOptions& options() const override { return options_; }
  EngineResult take_result() override;

 private:
  struct Node {
    resp::ConnectOptions conn;
    std::unique_ptr<resp::ConnectOptions> writer;
    std::string name;
    uint64_t dbsize = 0;
    uint64_t dataset_bytes = 0;
    std::vector<std::pair<uint16_t, uint16_t>> slots;
  };
  struct DestinationPlan {
    bool cluster = false;
    std::vector<resp::ConnectOptions> nodes;
    std::vector<ServerClock> clocks;
    std::vector<uint16_t> slot_owner;
  };
  struct Snapshot {
    std::vector<report::NodeCounters> nodes;
    std::vector<NodeProgress> checkpoint;
    uint64_t evicted = 0;
    std::size_t in_flight = 0;
    std::size_t bytes_held = 0;
    std::size_t links_down = 0;
    bool paused_by_destination = false;
    bool rate_limited = false;
  };
  struct LostKeys {
    std::string why;
    bool eviction = false;
  };
  struct Worker {
    uint32_t index = 0;
    std::vector<uint32_t> nodes;  // indices into nodes_
    CopyOptions options;
    std::vector<NodeProgress> resume;  // in the order of `nodes`; empty: a fresh start
    std::thread thread;
    // Guarded by mu:
    mutable std::mutex mu;
    std::vector<std::function<void(Engine&)>> inbox;
    uv_async_t* inbox_handle = nullptr;  // set while the loop takes messages
    Snapshot snap;
    std::vector<LostKeys> lost;
    std::optional<Error> fatal;  // the loop's first fatal error, as soon as it stops the loop
    bool progressed = false;
    bool done = false;
    EngineResult result;
    // The caller's thread only:
    bool joined = false;
  };

  void run(Worker& w);
  void run_engine(Worker& w, net::Loop& loop);
  void post(Worker& w, std::function<void(Engine&)> message);
  void post_all(const std::function<void(Engine&)>& message, const Worker* except = nullptr);
  void publish(Worker& w, const Engine& engine);
  void wake_caller();
  void on_wake();
  void finish();

  net::Loop& loop_;
  CopyOptions options_;
  std::vector<Node> nodes_;
  DestinationPlan destination_;
  resp::ConnectOptions source_template_;
  resp::ConnectOptions destination_template_;
  TaskFactory factory_;
  TaskHarvest harvest_;
  std::mutex harvest_mu_;
  std::vector<std::unique_ptr<Worker>> workers_;
  net::UvHandle<uv_async_t> wake_;
  std::function<void()> on_done_;
  std::function<void()> on_progress_;
  bool started_ = false;
  bool finished_ = false;
  bool lost_keys_sent_ = false;  // one loop's destination_lost_keys went to every loop
  bool stop_sent_ = false;       // one loop's failure stopped the others
  std::optional<Error> first_fatal_;
  EngineResult result_;
};

}  // namespace rmig::engine
