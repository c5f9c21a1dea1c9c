#include "engine/metrics_feed.hpp"

#include "report/metrics.hpp"
#include "util/enum_names.hpp"

namespace rmig::engine {

namespace {
constexpr uint64_t kIntervalMs = 1'000;
}  // namespace

MetricsFeed::MetricsFeed(net::Loop& loop, const Runner& engine)
    : engine_(engine), timer_(loop, [this] { update(); }) {
  report::Metrics& metrics = report::Metrics::process();
  if (!metrics.enabled()) return;
  metrics.begin_run();
  timer_.unref();
  timer_.start(kIntervalMs, kIntervalMs);
}

void MetricsFeed::update() {
  report::Metrics& metrics = report::Metrics::process();
  if (!metrics.enabled()) return;
  report::MetricsSample s;
  s.totals = engine_.totals();
  s.in_flight = engine_.in_flight();
  s.links_down = engine_.links_down();
  s.paused_by_destination = engine_.paused_by_destination();
  s.rate_limited = engine_.rate_limited();
  if (engine_.options().live.enabled) {
    const LiveStats live = engine_.live_stats();
    s.live = true;
    s.phase = name_of(kLivePhaseNames, live.phase);
    s.phases = names_of(kLivePhaseNames);
    s.pending = live.pending;
    s.lag_ms = live.lag_ms;
    s.changes = live.changes;
    for (const LiveStats::Resync& r : live.resyncs)
      s.resync_causes.push_back(r.cause);
  }
  metrics.update(s);
}

}  // namespace rmig::engine
