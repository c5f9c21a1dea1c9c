#pragma once
// The live phase of a run (--live, CopyOptions::live): the engine owns a Live when the run is live. Live
// subscribes to the source's keyspace notifications (NotificationFeed) before the bulk scan starts, turns
// every notification for a selected key into a pending key that a job copies again (LiveMode::kApply),
// repairs lost notifications by a resync (a new SCAN of the node, kResync, and an orphan scan of the
// destination, kOrphan), and ends the run at a cut-over: a barrier on the feed, then every change received
// up to it applied. docs/internals.md ("The live phase") gives the reasoning.
//
// LiveKeys is the bookkeeping without servers (unit-tested): the pending set, the keys in flight and the
// dirty marks, the overflow bound, the lag and the idle clock. Live wires it to the engine and the feed.

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "engine/job.hpp"
#include "engine/key_source.hpp"
#include "engine/notifications.hpp"
#include "engine/scan_source.hpp"
#include "net/loop.hpp"
#include "report/counters.hpp"
#include "resp/connection.hpp"
#include "select/selection.hpp"

namespace rmig::engine {

class Engine;
struct LiveStats;
enum class CutoverCause : uint8_t;

// Which keys wait to be copied again and which are in flight. Names are bytes.
//   - A key is never in flight twice: every job of the run (bulk, apply, resync, orphan) is registered by
//     begin(); a second begin() for a key in flight refuses and marks the key dirty instead.
//   - changed() of a key in flight marks it dirty; a dirty key is pending again (kApply) when its job ends.
//   - Otherwise the key joins the pending set: insertion-ordered, each key once, with the time of its first
//     change since it was last taken (the lag is the age of the oldest).
//   - The pending set holds at most `pending_max` keys: the change that would pass it is reported kOverflow
//     (the caller clears the set and resyncs instead of growing).
class LiveKeys {
 public:
  using Clock = std::chrono::steady_clock;
  enum class Change : uint8_t { kPending, kAlreadyPending, kDirty, kOverflow };

  explicit LiveKeys(uint64_t pending_max) : pending_max_(pending_max) {}

  // A notification for a selected key (the caller has filtered by the selection). `quiet`: an event that
  // does not reset the idle clock ("expired", "evicted").
  Change changed(std::string_view key, bool quiet, Clock::time_point now);
  static bool quiet_event(std::string_view event) noexcept {
    return event == "expired" || event == "evicted";
  }

  // A job (slot `job`) takes `key` for work of `mode`: false when the key is in flight already (no second job
  // may start): the key is marked dirty, to be queued again with the strongest work asked of it meanwhile
  // (see stronger()): a change or the bulk copy's key asks kApply, a resync's key kResync (compare first, so
  // an unchanged key is not written), an orphan check kOrphan (EXISTS only).
  bool begin(std::string_view key, uint32_t job, Clock::time_point now, LiveMode mode = LiveMode::kApply);
  // The work that covers both: kApply covers a resync (it writes whatever the source holds) and a resync
  // covers an orphan check (a missing source key is deleted on the destination either way).
  static LiveMode stronger(LiveMode a, LiveMode b) noexcept;
  // The job holding `key` ended: true when the key was dirty and is pending again.
  bool end(std::string_view key, uint32_t job);
  bool in_flight(std::string_view key) const;
  std::size_t flying() const noexcept { return flight_.size(); }

  bool has_pending() const noexcept { return !pending_.empty(); }
  std::size_t pending() const noexcept { return pending_.size(); }
  // The oldest pending key (call when has_pending()); its age counts in lag_ms_max(). `mode`: its work
  // (kApply for a change; kResync or kOrphan for a resync's or an orphan check's key that met a job in
  // flight).
  std::string take(Clock::time_point now, LiveMode* mode = nullptr);
  // Forgets every pending key (after an overflow, the resync covers them).
  void clear_pending();

  uint64_t changes() const noexcept { return changes_; }
  uint64_t pending_peak() const noexcept { return pending_peak_; }
  uint64_t pending_max() const noexcept { return pending_max_; }
  // Age of the oldest pending change now, ms (0: nothing pending).
  uint64_t lag_ms(Clock::time_point now) const noexcept;
  uint64_t lag_ms_max(Clock::time_point now) const noexcept;
  // When the last change that resets the idle clock arrived (time_point{}: none yet).
  Clock::time_point last_change() const noexcept { return last_change_; }

 private:
  struct Entry {
    std::string key;
    Clock::time_point since;
    LiveMode mode = LiveMode::kApply;
  };
  struct Flight {
    uint32_t job = 0;
    bool dirty = false;
    Clock::time_point since{};          // the first change while in flight
    LiveMode mode = LiveMode::kOrphan;  // dirty: the strongest work asked meanwhile
  };
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  void push(std::string key, Clock::time_point since, LiveMode mode = LiveMode::kApply);

  uint64_t pending_max_;
  std::deque<Entry> pending_;  // oldest first
  // Views into pending_ and their entries (a deque keeps its elements in place at both ends).
  std::unordered_map<std::string_view, Entry*, Hash, std::equal_to<>> in_pending_;
  std::unordered_map<std::string, Flight, Hash, std::equal_to<>> flight_;
  uint64_t changes_ = 0;
  uint64_t pending_peak_ = 0;
  uint64_t lag_max_ = 0;
  Clock::time_point last_change_{};
};

// Changes per second over the last few seconds, from samples of the change counter.
class ChangeRate {
 public:
  using Clock = std::chrono::steady_clock;
  void sample(uint64_t changes, Clock::time_point now);
  double per_second() const noexcept;

 private:
  std::deque<std::pair<Clock::time_point, uint64_t>> samples_;
};

// The idle rule of --until-idle: after the bulk copy (`live_since`: when it ended), nothing pending or in
// flight, and no change but expirations and evictions for `idle_s` seconds.
bool idle_due(uint32_t idle_s, LiveKeys::Clock::time_point live_since,
              LiveKeys::Clock::time_point last_change, bool busy, LiveKeys::Clock::time_point now) noexcept;

// SCAN's MATCH for the orphan scan of the destination: the destination names of the selection's MATCH
// (a single --match under a prefix rule's OLD becomes NEW + the rest; in place, a single prefix rule gives
// NEW*), or empty (every name, each filtered by inverting it).
std::string orphan_match(const select::Selection& selection, const std::string& scan_match);

class Live final : public FeedEvents, private resp::Connection::ReplyHandler {
 public:
  // `slot_ranges`: per source node, the slots its shard owned at start (a cluster), or empty (standalone).
  Live(Engine& engine, net::Loop& loop, FeedOptions feed,
       std::vector<std::vector<std::pair<uint16_t, uint16_t>>> slot_ranges);
  ~Live() override;
  Live(const Live&) = delete;
  Live& operator=(const Live&) = delete;

  // Subscribes (the feed); the bulk scan waits for subscribed().
  void start();
  bool may_scan() const noexcept { return subscribed_; }

  // -- the dispatcher --
  bool has_key() const noexcept;
  // The next key of the live phase (pending, resync, orphan): its name (the source name), mode, batch, the
  // source node it belongs to, the link that reads it (kNoLink: the node's) and the live key source it counts
  // in (JobSlot::extra). False when the key taken was filtered out (an orphan name that is not selected):
  // call again while has_key().
  bool take(QueuedKey& q, uint32_t& node, uint32_t& read, uint32_t& extra);
  // A source-side MOVED: the slot is read from `link` from now on.
  void moved(int slot, uint32_t link) noexcept;
  // Source node `node` continues on `link` (a source failover): its slots' keys are read there, and a
  // resync scan of it still reading through an old link starts again there.
  void source_moved(uint32_t node, uint32_t old_read, uint32_t old_write, uint32_t link);
  // A job of any kind is about to take `key` in slot j: false when the key is in flight (marked dirty).
  bool claim(std::string_view key, uint32_t j, uint32_t extra, LiveMode mode);
  // Job j (key, extra) ended.
  void ended(const std::string& key, uint32_t j, uint32_t extra);
  report::Counters& counters(uint32_t extra, uint64_t batch) noexcept;
  void settle(uint32_t extra, uint64_t batch);
  // The live jobs' counters (apply, resync, orphan), the bulk copy's not included.
  report::Counters totals() const;

  // -- the engine's pump --
  // Sends the resync and orphan scans' SCANs.
  void fetch();
  // Moves the phases on (bulk done, barrier, drained); from Engine::maybe_finish.
  void advance();
  // The live phase is over (the cut-over's drain is done): the run may end.
  bool done() const noexcept { return phase_ == Phase::kDone; }
  // The run stops (signal, failure): no key is handed out any more.
  void stop();
  // The run ended: the feed and the timer stop.
  void finish();

  void cutover(CutoverCause cause);
  LiveStats stats() const;

  // FeedEvents
  void changed(std::string_view key, std::string_view event) override;
  void lost(const std::string& node, const std::string& cause) override;
  void barrier_done() override;
  void subscribed() override;
  void failed(Error error) override;

  // For tests and logs.
  const LiveKeys& keys() const noexcept { return keys_; }

 private:
  enum class Phase : uint8_t { kSubscribing, kBulk, kLive, kCutover, kDone };
  // A resync (SCAN of a source node, kResync) or an orphan scan (SCAN of a destination node, kOrphan).
  struct Scan {
    std::unique_ptr<ScanSource> source;
    LiveMode mode = LiveMode::kResync;
    uint32_t node = 0;        // kResync: the source node
    uint32_t link = kNoLink;  // where its SCAN goes (kResync: where its keys are read)
    uint32_t jobs = 0;        // jobs of its keys in flight
  };
  static constexpr uint32_t kApplyExtra = 0;  // JobSlot::extra of pending keys; scans_[i] is extra i + 1

  void on_reply(uint64_t tag, resp::Reply reply) override;
  void resync(const std::string& node, const std::string& cause);
  void start_scan(LiveMode mode, uint32_t node, uint32_t link, std::string name, std::string match,
                  std::string type);
  uint32_t node_for(std::string_view key) const noexcept;
  uint32_t link_for(std::string_view key) const noexcept;
  bool drained() const noexcept;
  bool scans_exhausted() const noexcept;
  void on_tick();
  void end_phase();

  Engine& engine_;
  net::Loop& loop_;
  NotificationFeed feed_;
  LiveKeys keys_;
  ChangeRate rate_;
  std::vector<uint16_t> slot_node_;  // cluster source: slot -> source node at start; empty: standalone
  std::vector<uint32_t> slot_link_;  // cluster source: slot -> the link reading it (MOVED updates it)
  std::string orphan_match_;
  std::vector<Scan> scans_;
  report::Counters apply_counters_;  // the pending keys' jobs
  report::Counters folded_;          // counters of finished scans whose place was reused
  std::vector<std::pair<std::string, std::string>> resyncs_;  // node, cause
  std::size_t next_ = 0;                                      // round-robin over pending and the scans
  Phase phase_ = Phase::kSubscribing;
  bool subscribed_ = false;
  bool accepting_ = true;  // changes are taken (until the barrier is done)
  bool barrier_sent_ = false;
  bool barrier_done_ = false;
  bool stopped_ = false;
  bool finished_ = false;
  std::optional<CutoverCause> cutover_;
  LiveKeys::Clock::time_point cutover_at_{};
  double cutover_ms_ = 0;
  LiveKeys::Clock::time_point live_since_{};
  net::Timer tick_;
};

}  // namespace rmig::engine
