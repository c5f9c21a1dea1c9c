#pragma once
// The eviction watch and the deletion gate (CopyOptions::watch_evictions; why and how: docs/internals.md,
// "Identity and evictions"). Contract: a destination link's baseline INFO is sent before any write of the run
// on it; gate() says kGo for a job only after a round of readings sent after the job first asked came back
// from every destination node; any evidence of lost keys is reported through WatchEvents::lost_keys, and from
// then on (WatchEvents::deletions_stopped) every gate says kStopped.

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "engine/links.hpp"
#include "net/loop.hpp"
#include "resp/connection.hpp"

namespace rmig::engine {

class WatchEvents {
 public:
  // Evidence that the destination lost keys (Engine::destination_lost_keys).
  virtual void lost_keys(std::string why, bool eviction) = 0;
  // A job waiting at the gate may ask again (its round was read, or deletions stopped).
  virtual void gate_opened(uint32_t job) = 0;
  // The final round was read: the run may finish.
  virtual void final_round_read() = 0;
  // The mean payload size (headroom: four of them are kept free on an evicting destination).
  virtual double mean_payload() const noexcept = 0;
  // Deletions have stopped (keys were lost, or the run is failing): the gate says kStopped.
  virtual bool deletions_stopped() const noexcept = 0;

 protected:
  ~WatchEvents() = default;
};

class EvictionWatch final : private resp::Connection::ReplyHandler {
 public:
  enum class Gate { kGo, kWait, kStopped };

  // `cleanup`: the run deletes (the headroom check applies); `window_keys`: with one key, rounds are not
  // spaced (one reading per key is the point).
  EvictionWatch(net::Loop& loop, Links& links, bool enabled, bool cleanup, std::size_t window_keys,
                WatchEvents& events);
  EvictionWatch(const EvictionWatch&) = delete;
  EvictionWatch& operator=(const EvictionWatch&) = delete;

  bool enabled() const noexcept { return enabled_; }
  // Sends the baselines and starts the rounds.
  void start();
  void stop();
  // A destination link came up (maybe after a restart: its run_id says so).
  void link_up(uint32_t link);
  // The gate for job `j` (see Engine::deletion_gate).
  Gate gate(uint32_t j);
  // Job `j` ended: it waits no more.
  void forget(uint32_t j) noexcept {
    if (j < job_round_.size()) job_round_[j] = 0;
  }
  // Hands every waiting job whose round was read (or all once deletions stopped) back through gate_opened().
  void release();
  // The run may end once this returns true: it starts the final round and says whether it was read.
  bool final_round_done();
  // Re-evaluates the open round (a destination link retired).
  void check_round();
  // Keys evicted since the run started (sum over the destination nodes).
  uint64_t evicted() const noexcept { return evicted_; }

 private:
  enum Op : uint8_t { kBase = 1, kStats };
  struct Reading {
    int64_t evicted_base = -1;  // evicted_keys at the first reading
    int64_t evicted_last = -1;
    uint64_t evicted_carried = 0;  // evictions counted before the counter went back (a restart)
    std::string run_id;
    bool in_flight = false;  // an INFO is on its way
    bool owed = false;       // the open round still needs this link's reading
  };
  static uint64_t tag(uint32_t link, Op op) noexcept { return (uint64_t{link} << 32) | op; }
  void on_reply(uint64_t tag, resp::Reply reply) override;
  Reading& reading(uint32_t link);
  // Starts counting a link's evictions again from `evicted`, keeping those counted so far.
  static void rebase(Reading& r, int64_t evicted);
  void send_base(uint32_t link);
  void send_stats(uint32_t link);
  void round();
  void schedule();
  std::chrono::milliseconds every() const noexcept {
    return std::chrono::milliseconds(window_keys_ > 1 ? 10 : 0);
  }
  void on_timer();

  Links& links_;
  bool enabled_;
  bool cleanup_;
  std::size_t window_keys_;
  WatchEvents& events_;
  std::deque<Reading> readings_;  // by link (a deque: a reference stays valid while links are added)
  net::Timer every_second_;
  net::Timer gate_timer_;
  bool round_open_ = false;
  uint64_t round_id_ = 0;     // the last round sent
  uint64_t round_done_ = 0;   // the last round every destination link answered
  uint64_t final_round_ = 0;  // the round that ends the run (0: not asked yet)
  std::chrono::steady_clock::time_point round_sent_at_{};
  std::vector<uint32_t> gate_;       // jobs waiting at the deletion gate
  std::vector<uint64_t> job_round_;  // by job: the round it waits for (0: not waiting)
  bool closed_ = false;
  uint64_t evicted_ = 0;
};

}  // namespace rmig::engine
