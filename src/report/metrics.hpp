#pragma once
// --metrics-port: Prometheus metrics of the process's engine runs, served in the text exposition format at
// http://0.0.0.0:PORT/metrics by prometheus-cpp's exposer (civetweb).
//
// Threads: every value is set on the event loop's thread (engine/metrics_feed: once a second and once when a
// run ends); the exposer's own threads only read the registry while they answer a scrape. prometheus-cpp's
// counters and gauges are atomics and its registry and families lock, so a scrape never sees a torn value
// (it may see one metric updated and the next not yet, within one update).
//
// The process has one instance (Metrics::process()). Without start() (no --metrics-port) every call is a
// no-op. Once started, the endpoint stays up until the process exits: a run that ends keeps its final values
// there until then, but nothing waits for a scrape, so the last values are only seen by a scrape that comes
// between the run's end and the process's exit.
//
// The counters are monotonic over the whole process: a command that runs several engines (a plan before a
// confirmed copy, verify at cut-over, cleanup's passes) adds each run's totals to those of the runs before it
// (begin_run() starts a new run's baseline).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "report/counters.hpp"
#include "util/result.hpp"

namespace rmig::report {

// What one engine run looks like at a moment: its totals so far and its gauges.
struct MetricsSample {
  Counters totals;
  uint64_t in_flight = 0;
  uint64_t links_down = 0;
  bool paused_by_destination = false;
  bool rate_limited = false;
  // Live runs only (--live).
  bool live = false;
  std::string phase;  // engine::kLivePhaseNames
  uint64_t pending = 0;
  uint64_t lag_ms = 0;
  uint64_t changes = 0;
  std::vector<std::string> resync_causes;  // one entry per resync so far, its cause
};

class Metrics {
 public:
  // The process's instance.
  static Metrics& process();

  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Serves the metrics on 0.0.0.0:port from now until the process exits; port 0 does nothing. `command`,
  // `source` and `destination` (redacted URLs) label redis_migrate_info. Fails with exit code 2 (usage) and
  // one line naming the port and the reason ("address already in use: choose another port") when the port
  // cannot be listened on. Call once, before anything is written.
  Status start(uint16_t port, std::string_view command, std::string_view source,
               std::string_view destination);
  // The same metrics, not served (tests read them with text()); port() stays 0.
  void start_unexposed(std::string_view command, std::string_view source, std::string_view destination);
  bool enabled() const noexcept { return impl_ != nullptr; }
  // What a scrape would get now (the text exposition format); empty when not enabled.
  std::string text() const;
  // The port the exposer listens on (0: none).
  uint16_t port() const noexcept;

  // A new engine run starts: its totals start again from zero and are added to those of the runs before it.
  void begin_run();
  // The run's values now (its totals are cumulative since begin_run()).
  void update(const MetricsSample& sample);

  // Every counter of report::Counters exported under redis_migrate_keys_total{outcome=NAME}: all but the
  // byte counts and the cluster redirects, which have metrics of their own.
  static bool is_key_outcome(std::string_view counter_name) noexcept;

 private:
  struct Impl;
  static std::unique_ptr<Impl> make_impl(std::string_view command, std::string_view source,
                                         std::string_view destination);
  std::unique_ptr<Impl> impl_;
};

}  // namespace rmig::report
