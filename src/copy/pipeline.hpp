#pragma once
// The copy pipeline on one loop: SCAN on each source node feeds a queue; keys enter a bounded window of jobs
// (in keys and in payload bytes); each job sends PTTL + DUMP to its source node, then RESTORE to the
// destination, then (with --cleanup) a compare-and-delete back to the source. Replies come back through the
// connections' FIFOs tagged with the job index. Dispatching pauses while the destination has too many bytes
// waiting to be sent, and resumes when its socket drains.
//
// Invariants: a key is deleted from the source only after its RESTORE succeeded and only if the source still
// holds the value that was copied; a skipped key is never deleted; a remaining TTL of 0 or less is counted
// expired and never restored (RESTORE ttl 0 would make it immortal); nothing is written in a dry run.

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "copy/clock.hpp"
#include "copy/options.hpp"
#include "copy/seen_filter.hpp"
#include "net/loop.hpp"
#include "report/counters.hpp"
#include "resp/connection.hpp"
#include "util/result.hpp"

namespace rmig::copy {

// One scanned server: a standalone source, or one node of a source cluster.
struct SourceNode {
  std::unique_ptr<resp::Connection> conn;
  std::string name;     // host:port, for per-node reporting
  uint64_t dbsize = 0;  // at start, for the ETA
};

struct PipelineResult {
  report::Counters total;
  std::vector<report::NodeCounters> nodes;
  report::ErrorGroups errors;
  std::optional<Error> fatal;  // the condition that stopped the run early
  int signal = 0;              // the signal that stopped the run early
  std::vector<report::Example> examples;
};

class Pipeline final : private resp::Connection::ReplyHandler, private resp::Connection::Observer {
 public:
  // `cleanup_sha` is the SHA1 of the compare-and-delete script when SCRIPT LOAD worked, else empty (EVAL).
  Pipeline(net::Loop& loop, CopyOptions options, std::vector<SourceNode> sources,
           std::unique_ptr<resp::Connection> destination, std::string cleanup_sha);
  ~Pipeline() override;
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Starts scanning. `on_done` runs once, when every key is handled or the run stopped; all connections are
  // closed by then.
  void start(std::function<void()> on_done);
  // The destination's clock, measured before the start; when known, expiries are sent as absolute times.
  void set_destination_clock(const ServerClock& clock) noexcept { dst_clock_ = clock; }
  // SIGINT/SIGTERM: the first stops scanning and lets keys in flight finish; the second abandons them.
  void stop(int signal);

  report::Counters totals() const;
  std::size_t in_flight() const noexcept { return active_; }
  bool paused_by_destination() const noexcept { return paused_by_destination_; }
  PipelineResult take_result();

  // The compare-and-delete script run on the source by --cleanup.
  static const char* cleanup_script() noexcept;

 private:
  enum Op : uint8_t { kScan = 1, kPttl, kDump, kRestore, kExists, kCleanup, kTime };
  enum class Stage : uint8_t { kFree, kFetch, kApply, kCleanup };

  struct Job {
    std::string key;
    uint32_t node = 0;
    Stage stage = Stage::kFree;
    bool maybe_duplicate = false;      // the seen-filter says SCAN may have returned this key before
    bool probing = false;              // replace mode, maybe_duplicate: first RESTORE without REPLACE
    bool duplicate_confirmed = false;  // the probe hit BUSYKEY: the next OK is the duplicate's
    int64_t pttl = 0;
    std::string fetch_error;
    std::chrono::steady_clock::time_point sent_at{};
    std::chrono::steady_clock::time_point first_retry_at{};
    uint32_t attempts = 0;
    resp::Reply payload;                 // the DUMP reply
    std::shared_ptr<redisReply> shared;  // the same, once a write references it
    std::size_t held = 0;                // payload bytes counted in the window
    std::string_view payload_view() const noexcept;
  };

  struct Node {
    SourceNode src;
    std::string cursor = "0";
    bool scanning = false;
    bool scan_done = false;
    std::deque<std::string> queue;  // scanned, waiting for a job slot
    report::Counters counters;
  };

  struct Retry {
    uint32_t job;
    Op op;
    std::chrono::steady_clock::time_point due;
  };

  void on_reply(uint64_t tag, resp::Reply reply) override;
  void on_connection_ready(resp::Connection& c) override;
  void on_connection_error(resp::Connection& c, const Error& error) override;
  void on_connection_writable(resp::Connection& c) override;

  static uint64_t tag(uint32_t index, Op op) noexcept { return (uint64_t{index} << 8) | op; }

  void pump();
  void maybe_scan(Node& node, uint32_t index);
  void dispatch();
  void maybe_finish();
  void finish();

  void on_scan(uint32_t node, resp::Reply reply);
  void send_fetch(uint32_t j);
  void on_pttl(uint32_t j, resp::Reply reply);
  void on_dump(uint32_t j, resp::Reply reply);
  void send_apply(uint32_t j);
  void on_restore(uint32_t j, resp::Reply reply);
  void on_exists(uint32_t j, resp::Reply reply);
  void send_cleanup(uint32_t j, bool use_eval);
  void on_cleanup(uint32_t j, resp::Reply reply);
  void on_time(resp::Reply reply);

  void source_error(uint32_t j, std::string_view message);
  void destination_error(uint32_t j, std::string_view message);
  void schedule_retry(uint32_t j, Op op, std::string_view message);
  static void on_retry_timer(void* self);
  static void on_clock_timer(void* self);
  void fail_key(uint32_t j, std::string message);
  // Gives a key back: it is no longer counted as scanned (a failing run cannot finish it).
  void abandon(uint32_t j);
  // Stops the run because of what happened to job j, and gives the key back.
  void fail_job(uint32_t j, Error error);
  void on_lost(uint32_t index, Op op);
  void release(uint32_t j);
  void fail_run(Error error);
  void add_example(const Job& job, const char* action);
  report::Counters& counters_of(const Job& job) noexcept { return nodes_[job.node].counters; }
  resp::Connection& source_of(const Job& job) noexcept { return *nodes_[job.node].src.conn; }

  net::Loop& loop_;
  CopyOptions opts_;
  std::vector<Node> nodes_;
  std::unique_ptr<resp::Connection> dst_;
  std::string cleanup_sha_;
  std::vector<Job> jobs_;
  std::vector<uint32_t> free_;
  std::size_t active_ = 0;
  std::size_t bytes_held_ = 0;
  std::size_t next_node_ = 0;
  SeenFilter seen_;
  std::vector<Retry> retries_;
  net::Timer retry_timer_;
  ServerClock dst_clock_;
  net::Timer clock_timer_;  // refreshes dst_clock_
  report::ErrorGroups errors_;
  std::vector<report::Example> examples_;
  std::optional<Error> fatal_;
  std::function<void()> on_done_;
  int signal_ = 0;
  bool stopping_ = false;
  bool finished_ = false;
  bool paused_by_destination_ = false;
};

}  // namespace rmig::copy
