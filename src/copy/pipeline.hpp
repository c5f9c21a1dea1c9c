#pragma once
// The copy pipeline on one loop. SCAN on each source node feeds that node's queue; keys enter a bounded
// window of jobs (in keys and in payload bytes); each job sends PTTL + DUMP to its source node, then RESTORE
// to the destination node owning the key's slot, then (with --cleanup) a compare-and-delete back to the
// source. Replies come back through the connections' FIFOs tagged with the job index. Dispatching pauses
// while a destination node has too many bytes waiting to be sent and resumes when its socket drains.
//
// Every connection is a Link. A link that drops is reconnected with exponential backoff for up to
// --retry-timeout; the jobs whose commands were in flight are parked on it and re-sent when it is back, so no
// key is lost or counted twice. -MOVED updates the slot map and resends, -ASK resends once to the target
// after ASKING, TRYAGAIN/CLUSTERDOWN/LOADING back off and retry.
//
// Invariants: a key is deleted from the source only after its RESTORE succeeded and only if the source still
// holds the value that was copied; a skipped key is never deleted; a remaining TTL of 0 or less is counted
// expired and never restored (RESTORE ttl 0 would make it immortal); nothing is written in a dry run.

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
#include "copy/clock.hpp"
#include "copy/options.hpp"
#include "copy/seen_filter.hpp"
#include "net/loop.hpp"
#include "report/counters.hpp"
#include "resp/connection.hpp"
#include "util/result.hpp"

namespace rmig::copy {

// One scanned server: a standalone source, or one shard of a source cluster.
struct SourceNode {
  std::unique_ptr<resp::Connection> conn;    // SCAN, PTTL, DUMP: the primary, or a replica (READONLY)
  std::unique_ptr<resp::Connection> writer;  // --cleanup when conn is a replica: the shard's primary
  std::string name;                          // host:port, for per-node reporting
  uint64_t dbsize = 0;                       // at start, for the ETA
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
  // `source_template` and `destination_template` open connections to nodes first met through a redirect.
  Pipeline(net::Loop& loop, CopyOptions options, std::vector<SourceNode> sources, Destination destination,
           resp::ConnectOptions source_template, resp::ConnectOptions destination_template);
  ~Pipeline() override;
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Starts scanning. `on_done` runs once, when every key is handled or the run stopped; all connections are
  // closed by then.
  void start(std::function<void()> on_done);
  // SIGINT/SIGTERM: the first stops scanning and lets keys in flight finish; the second abandons them.
  void stop(int signal);

  report::Counters totals() const;
  std::size_t in_flight() const noexcept { return active_; }
  bool paused_by_destination() const noexcept { return paused_by_destination_; }
  // Links currently down and being reconnected, for the progress line.
  std::size_t links_down() const noexcept;
  PipelineResult take_result();

  // The compare-and-delete script run on the source by --cleanup, and its SHA1 for EVALSHA.
  static const char* cleanup_script() noexcept;
  static const std::string& cleanup_sha() noexcept;

 private:
  enum Op : uint8_t {
    kScan = 1,
    kPttl,
    kDump,
    kRestore,
    kExists,
    kCleanup,
    kTime,
    kAsking,
    kCheckBusy,
    kShards,
    kSlots
  };
  enum class Stage : uint8_t { kFree, kFetch, kApply, kCleanup };
  static constexpr uint32_t kNoLink = ~0u;

  struct Link {
    std::unique_ptr<resp::Connection> conn;
    std::string name;  // host:port
    bool destination = false;
    ServerClock clock;
    std::vector<uint32_t> parked;  // jobs to (re)send when the link is up
    bool down = false;             // lost, being reconnected
    bool retired = false;          // a destination node that no longer owns slots (failed over): not retried
    uint32_t attempts = 0;
    std::chrono::steady_clock::time_point down_since{};
    std::chrono::steady_clock::time_point retry_at{};
    std::string last_error;
  };

  struct Job {
    std::string key;
    uint32_t node = 0;              // source node index
    uint32_t read_link = kNoLink;   // where PTTL/DUMP go (a redirect may change it)
    uint32_t write_link = kNoLink;  // where the cleanup goes (a redirect may change it)
    uint32_t dst_link = kNoLink;    // where RESTORE went
    uint32_t ask_link = kNoLink;    // -ASK target for the next send
    Stage stage = Stage::kFree;
    bool maybe_duplicate = false;      // the seen-filter says SCAN may have returned this key before
    bool probing = false;              // replace mode, maybe_duplicate: first RESTORE without REPLACE
    bool duplicate_confirmed = false;  // the probe hit BUSYKEY: the next OK is the duplicate's
    bool resent = false;               // the RESTORE/cleanup was sent before a connection loss
    bool read_ask = false;             // source-side -ASK: send ASKING before PTTL/DUMP
    bool write_ask = false;            // source-side -ASK: send ASKING before the cleanup
    int64_t pttl = 0;
    std::string fetch_error;
    std::chrono::steady_clock::time_point sent_at{};
    std::chrono::steady_clock::time_point first_retry_at{};
    uint32_t attempts = 0;
    uint32_t redirects = 0;
    resp::Reply payload;                 // the DUMP reply
    std::shared_ptr<redisReply> shared;  // the same, once a write references it
    std::size_t held = 0;                // payload bytes counted in the window
    std::string_view payload_view() const noexcept;
  };

  struct Node {
    std::string name;
    uint32_t read_link = kNoLink;
    uint32_t write_link = kNoLink;
    uint64_t dbsize = 0;
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

  // resp callbacks
  void on_reply(uint64_t tag, resp::Reply reply) override;
  void on_connection_ready(resp::Connection& c) override;
  void on_connection_error(resp::Connection& c, const Error& error) override;
  void on_connection_writable(resp::Connection& c) override;

  static uint64_t tag(uint32_t index, Op op) noexcept { return (uint64_t{index} << 8) | op; }

  // links
  uint32_t add_link(std::unique_ptr<resp::Connection> conn, std::string name, bool destination);
  uint32_t link_of(const resp::Connection& c) const noexcept;
  uint32_t link_for_address(const std::string& host, int port, bool destination);
  bool usable(uint32_t link) const noexcept;
  void park(uint32_t j, uint32_t link);
  void unpark(uint32_t link);
  static void on_reconnect_timer(void* self);
  uint32_t route(std::string_view key) const noexcept;
  bool destination_backed_up() const noexcept;

  // scheduling
  void pump();
  void maybe_scan(Node& node, uint32_t index);
  void dispatch();
  void maybe_finish();
  void finish();

  // the path of one key
  void on_scan(uint32_t node, resp::Reply reply);
  void send_fetch(uint32_t j);
  void on_pttl(uint32_t j, resp::Reply reply);
  void on_dump(uint32_t j, resp::Reply reply);
  void send_apply(uint32_t j);
  void on_restore(uint32_t j, resp::Reply reply);
  void on_exists(uint32_t j, resp::Reply reply);
  void on_check_busy(uint32_t j, resp::Reply reply);
  void send_cleanup(uint32_t j, bool use_eval);
  void on_cleanup(uint32_t j, resp::Reply reply);
  void on_time(uint32_t link, resp::Reply reply);
  void refresh_destination_topology();
  void on_topology(Op op, resp::Reply reply);
  void on_lost(uint32_t index, Op op);
  void count_restored(uint32_t j);

  // errors
  bool redirect(uint32_t j, std::string_view message, bool destination);
  void source_error(uint32_t j, std::string_view message);
  void destination_error(uint32_t j, std::string_view message);
  void schedule_retry(uint32_t j, Op op, std::string_view message);
  static void on_retry_timer(void* self);
  static void on_clock_timer(void* self);
  void fail_key(uint32_t j, std::string message);
  void release(uint32_t j);
  // Gives a key back: it is no longer counted as scanned (a failing run cannot finish it).
  void abandon(uint32_t j);
  // Stops the run because of what happened to job j, and gives the key back.
  void fail_job(uint32_t j, Error error);
  void fail_run(Error error);
  void add_example(const Job& job, const char* action);
  report::Counters& counters_of(const Job& job) noexcept { return nodes_[job.node].counters; }

  net::Loop& loop_;
  CopyOptions opts_;
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
  std::size_t parked_ = 0;
  std::size_t bytes_held_ = 0;
  std::size_t next_node_ = 0;
  SeenFilter seen_;
  std::vector<Retry> retries_;
  net::Timer retry_timer_;
  net::Timer clock_timer_;
  net::Timer reconnect_timer_;
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
