#pragma once
// The engine's side of --metrics-port (report/metrics.hpp): while drive() runs an engine, its totals and
// gauges go to the process's Metrics once a second and once more when the run ends, on the loop's thread.
// Without --metrics-port it does nothing (no timer).

#include "engine/engine.hpp"
#include "net/loop.hpp"

namespace rmig::engine {

class MetricsFeed {
 public:
  // A new run for the metrics (its totals are added to those of the runs before it); the timer starts now.
  MetricsFeed(net::Loop& loop, const Runner& engine);
  MetricsFeed(const MetricsFeed&) = delete;
  MetricsFeed& operator=(const MetricsFeed&) = delete;
  // Sends the engine's values now (the last call before the engine's result is taken).
  void update();

 private:
  const Runner& engine_;
  net::Timer timer_;
};

}  // namespace rmig::engine
