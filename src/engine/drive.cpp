#include "engine/drive.hpp"

#include <spdlog/spdlog.h>

#include <csignal>
#include <optional>

#include "engine/metrics_feed.hpp"
#include "net/signals.hpp"
#include "report/progress.hpp"

namespace rmig::engine {

namespace {

// SIGUSR1: a live run cuts over (Engine::cutover is safe to call more than once); any other run ignores it.
void on_usr1(Runner& engine, bool early) {
  if (!engine.options().live.enabled) {
    spdlog::info("SIGUSR1 ignored: only a live run (--live) cuts over on it");
    return;
  }
  spdlog::info(
      "SIGUSR1{}: cutting over once the bulk copy is done and every change received before it is "
      "applied",
      early ? " (received before the run started)" : "");
  engine.cutover(CutoverCause::kSignal);
}

report::LiveLine live_line(const LiveStats& s) {
  report::LiveLine l;
  l.phase = name_of(kLivePhaseNames, s.phase);
  l.pending = s.pending;
  l.lag_ms = s.lag_ms;
  l.changes = s.changes;
  l.changes_per_s = s.changes_per_s;
  l.recopied = s.recopied;
  l.deleted = s.deleted;
  l.resyncs = s.resyncs.size();
  return l;
}

}  // namespace

std::optional<Error> run_until_done(net::Loop& loop, const bool& done, const std::function<void()>& stop) {
  while (!done) {
    if (uv_run(loop.get(), UV_RUN_ONCE) == 0 && !done) {
      stop();
      return make_error(ExitCode::kKeysFailed, "internal error: the event loop ran dry before the run ended");
    }
  }
  return std::nullopt;
}

EngineResult drive(net::Loop& loop, Runner& engine, uint64_t keys, uint32_t progress_interval_ms,
                   ProgressStyle style) {
  MetricsFeed metrics(loop, engine);  // --metrics-port: the engine's values once a second
  report::Progress progress(keys);
  progress.set_pacing(engine.options().rate_limit_keys, engine.options().rate_limit_bytes);
  const bool live = engine.options().live.enabled;
  net::Timer progress_timer(loop, [&] {
    if (live) {
      // After the bulk copy: the live phase's own line.
      const LiveStats s = engine.live_stats();
      if (s.phase == LiveStats::Phase::kLive || s.phase == LiveStats::Phase::kCutover) {
        progress.print_live(live_line(s), engine.totals(), engine.in_flight());
        return;
      }
    }
    if (style == ProgressStyle::kCopy) {
      progress.print(engine.totals(), engine.in_flight(), engine.paused_by_destination(),
                     engine.rate_limited(), engine.node_totals());
    } else {
      progress.print_check(engine.totals(), engine.in_flight(), engine.rate_limited(), engine.node_totals());
    }
  });
  progress_timer.unref();
  net::SignalWatcher signals(loop, [&](int signum) {
    if (signum == SIGUSR1) return on_usr1(engine, false);
    engine.stop(signum);
  });
  bool done = false;
  engine.start([&] {
    done = true;
    progress_timer.stop();
    signals.close();
  });
  if (net::take_early_usr1() && !done) on_usr1(engine, true);
  const uint32_t tick = report::Progress::interval_ms(progress_interval_ms);
  if (tick > 0 && !done) progress_timer.start(tick, tick);
  const std::optional<Error> stalled = run_until_done(loop, done, [&] { engine.stop(0); });
  progress_timer.stop();
  progress.finish();
  metrics.update();
  EngineResult result = engine.take_result();
  if (stalled && !result.fatal) result.fatal = stalled;
  return result;
}

}  // namespace rmig::engine
