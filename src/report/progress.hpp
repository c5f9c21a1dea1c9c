#pragma once
// The progress line printed every few seconds on stderr: counters, rates over the last interval, ETA. On a
// terminal (report::status_line_enabled: stderr a terminal, text logs) it is a bar redrawn in place instead,
// about twice a second (kLiveIntervalMs), with rates over the last few seconds; finish() erases it so that
// the summary starts on its own line.

#include <chrono>
#include <cstdint>
#include <deque>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "report/counters.hpp"

namespace rmig::report {

// Where a live run (--live) stands in its live phase, for its progress line.
struct LiveLine {
  std::string phase;  // "live", "cutover"
  uint64_t pending = 0;
  uint64_t lag_ms = 0;  // age of the oldest pending change
  uint64_t changes = 0;
  double changes_per_s = 0;
  uint64_t recopied = 0;
  uint64_t deleted = 0;
  uint64_t resyncs = 0;
};

class Progress {
 public:
  static constexpr uint32_t kLiveIntervalMs = 500;
  // True when the progress is a bar redrawn in place (see above).
  static bool live() noexcept;
  // The timer's period: kLiveIntervalMs on a terminal, else --progress-interval; 0 (none) stays 0.
  static uint32_t interval_ms(uint32_t progress_interval_ms) noexcept;

  explicit Progress(uint64_t total_estimate);
  ~Progress() { finish(); }
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  // Erases the bar (nothing without one).
  void finish();
  // --rate-limit / --max-bytes-per-sec (0: none): shown on every line while set.
  void set_pacing(uint64_t keys_per_s, uint64_t bytes_per_s) noexcept {
    pacing_keys_ = keys_per_s;
    pacing_bytes_ = bytes_per_s;
  }
  // `rate_limited`: the pacing held reads back at the moment of the line. `nodes`: the counters per source
  // node; with two or more, the line ends with a segment per node.
  void print(const Counters& c, std::size_t in_flight, bool paused_by_destination, bool rate_limited = false,
             const std::vector<NodeCounters>& nodes = {});
  // The line of verify and cleanup: checked, equal, differences.
  void print_check(const Counters& c, std::size_t in_flight, bool rate_limited = false,
                   const std::vector<NodeCounters>& nodes = {});
  // A live run's line after its bulk copy: "live | pending 12 | lag 35 ms | 1,234 changes/s | changes ...
  // re-copied ... deleted ... | resyncs 0 | in flight 3 | failed 0" (on a terminal, redrawn in place).
  void print_live(const LiveLine& l, const Counters& c, std::size_t in_flight);
  double elapsed_s() const;

 private:
  using Clock = std::chrono::steady_clock;
  std::string pacing_text(bool rate_limited) const;
  // " | per node NAME scanned N <done_name> N failed N; ..." for two or more nodes (else empty), and the same
  // as JSON fields.
  static std::string nodes_text(const std::vector<NodeCounters>& nodes, bool check, nlohmann::json& fields);
  void add_pacing(nlohmann::json& fields, bool rate_limited) const;
  // The bar: "[#####.....]  42% <middle> | 5,432 keys/s <bytes> | ETA 1m2s | <window>", rates over the last
  // few seconds of samples.
  void draw_bar(uint64_t scanned, uint64_t done, uint64_t bytes, bool with_bytes, const std::string& middle,
                const std::string& window);
  struct Sample {
    Clock::time_point at;
    uint64_t done;
    uint64_t bytes;
  };
  std::deque<Sample> samples_;
  uint64_t total_;
  uint64_t pacing_keys_ = 0;
  uint64_t pacing_bytes_ = 0;
  Clock::time_point start_;
  Clock::time_point last_;
  uint64_t last_done_ = 0;
  uint64_t last_bytes_ = 0;
};

}  // namespace rmig::report
