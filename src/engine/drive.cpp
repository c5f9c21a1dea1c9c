#include "engine/drive.hpp"

#include <optional>

#include "engine/metrics_feed.hpp"
#include "net/signals.hpp"
#include "report/progress.hpp"

namespace rmig::engine {

EngineResult drive(net::Loop& loop, Engine& engine, uint64_t keys, uint32_t progress_interval_ms,
                   ProgressStyle style) {
  MetricsFeed metrics(loop, engine);  // --metrics-port: the engine's values once a second
  report::Progress progress(keys);
  progress.set_pacing(engine.options().rate_limit_keys, engine.options().rate_limit_bytes);
  net::Timer progress_timer(loop, [&] {
    if (style == ProgressStyle::kCopy) {
      progress.print(engine.totals(), engine.in_flight(), engine.paused_by_destination(),
                     engine.rate_limited(), engine.node_totals());
    } else {
      progress.print_check(engine.totals(), engine.in_flight(), engine.rate_limited(), engine.node_totals());
    }
  });
  progress_timer.unref();
  net::SignalWatcher signals(loop, [&](int signum) { engine.stop(signum); });
  bool done = false;
  engine.start([&] {
    done = true;
    progress_timer.stop();
    signals.close();
  });
  const uint32_t tick = report::Progress::interval_ms(progress_interval_ms);
  if (tick > 0 && !done) progress_timer.start(tick, tick);
  std::optional<Error> stalled;
  while (!done) {
    if (uv_run(loop.get(), UV_RUN_ONCE) == 0 && !done) {
      // Nothing left that could finish the run: a bug, reported instead of spinning.
      engine.stop(0);
      stalled =
          make_error(ExitCode::kKeysFailed, "internal error: the event loop ran dry before the run ended");
      break;
    }
  }
  progress_timer.stop();
  progress.finish();
  metrics.update();
  EngineResult result = engine.take_result();
  if (stalled && !result.fatal) result.fatal = stalled;
  return result;
}

}  // namespace rmig::engine
