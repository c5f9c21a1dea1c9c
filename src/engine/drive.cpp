#include "engine/drive.hpp"

#include <optional>

#include "net/signals.hpp"
#include "report/progress.hpp"

namespace rmig::engine {

EngineResult drive(net::Loop& loop, Engine& engine, uint64_t keys, uint32_t progress_interval_ms,
                   ProgressStyle style) {
  report::Progress progress(keys);
  progress.set_pacing(engine.options().rate_limit_keys, engine.options().rate_limit_bytes);
  struct Ticker {
    Engine* engine;
    report::Progress* progress;
    ProgressStyle style;
  } ticker{&engine, &progress, style};
  net::Timer progress_timer(loop, &ticker, [](void* p) {
    auto* t = static_cast<Ticker*>(p);
    if (t->style == ProgressStyle::kCopy) {
      t->progress->print(t->engine->totals(), t->engine->in_flight(), t->engine->paused_by_destination(),
                         t->engine->rate_limited(), t->engine->node_totals());
    } else {
      t->progress->print_check(t->engine->totals(), t->engine->in_flight(), t->engine->rate_limited(),
                               t->engine->node_totals());
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
  EngineResult result = engine.take_result();
  if (stalled && !result.fatal) result.fatal = stalled;
  return result;
}

}  // namespace rmig::engine
