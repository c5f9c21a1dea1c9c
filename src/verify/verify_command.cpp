#include "verify/verify_command.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "engine/engine.hpp"
#include "engine/safety.hpp"
#include "net/loop.hpp"
#include "net/signals.hpp"
#include "report/format.hpp"
#include "report/progress.hpp"
#include "state/run_state.hpp"
#include "verify/sample_task.hpp"

namespace rmig::verify {

namespace {

using Clock = std::chrono::steady_clock;

// Runs the engine to its end with progress lines and SIGINT/SIGTERM handling, and returns its result.
engine::EngineResult drive(net::Loop& loop, engine::Engine& engine, const copy::CopyCommand& cmd,
                           uint64_t keys) {
  report::Progress progress(keys);
  progress.set_pacing(cmd.options.rate_limit_keys, cmd.options.rate_limit_bytes);
  struct Ticker {
    engine::Engine* engine;
    report::Progress* progress;
  } ticker{&engine, &progress};
  net::Timer progress_timer(loop, &ticker, [](void* p) {
    auto* t = static_cast<Ticker*>(p);
    t->progress->print_check(t->engine->totals(), t->engine->in_flight(), t->engine->rate_limited(),
                             t->engine->node_totals());
  });
  progress_timer.unref();
  net::SignalWatcher signals(loop, [&](int signum) { engine.stop(signum); });
  bool done = false;
  engine.start([&] {
    done = true;
    progress_timer.stop();
    signals.close();
  });
  // On a terminal a bar redrawn about twice a second, elsewhere one line per --progress-interval.
  const uint32_t tick = report::Progress::interval_ms(cmd.progress_interval_ms);
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
  engine::EngineResult result = engine.take_result();
  if (stalled && !result.fatal) result.fatal = stalled;
  return result;
}

void take(report::RunReport& rep, engine::EngineResult result) {
  rep.totals = result.total;
  rep.nodes = std::move(result.nodes);
  rep.errors = std::move(result.errors);
  rep.examples = std::move(result.examples);
  if (!rep.fatal) rep.fatal = std::move(result.fatal);
  rep.signal = result.signal;
}

// SMISMEMBER and ZMSCORE arrived in Redis 6.2 (Valkey has them all). Unknown versions try them.
bool has_multi_lookup(const resp::ServerFacts& facts) {
  if (facts.version.empty()) return true;
  int major = 0, minor = 0;
  if (std::sscanf(facts.version.c_str(), "%d.%d", &major, &minor) < 1) return true;
  return major > 6 || (major == 6 && minor >= 2);
}

report::RunReport base_report(const copy::CopyCommand& cmd, const char* command, const VerifyOptions& o) {
  report::RunReport rep;
  rep.command = command;
  rep.source = cmd.source_url;
  rep.destination = cmd.destination_url;
  rep.extra["ttl_tolerance_ms"] = o.ttl_tolerance_ms;
  return rep;
}

}  // namespace

report::RunReport run_verify(const copy::CopyCommand& cmd_in, const VerifyOptions& options, uint64_t sample) {
  const auto started = Clock::now();
  report::RunReport rep = base_report(cmd_in, "verify", options);
  if (sample > 0) rep.extra["sample"] = sample;
  auto finish = [&](report::RunReport& r) -> report::RunReport {
    r.duration_s = std::chrono::duration<double>(Clock::now() - started).count();
    r.exit_code = report::verify_exit_code(r.totals, r.fatal, r.signal);
    return std::move(r);
  };
  auto failed = [&](const Error& e) {
    rep.fatal = e;
    return finish(rep);
  };
  // Read-only: no clock sampling, no writer connections; verify never writes anything.
  copy::CopyCommand cmd = cmd_in;
  cmd.options.dry_run = true;
  cmd.options.cleanup = false;

  net::Loop loop;
  {
    std::vector<std::vector<std::string>> picked;
    std::vector<std::string> picked_from;  // the node each list of `picked` was drawn from
    if (sample > 0) {
      auto sides = copy::open_sides(loop, cmd, false);
      if (!sides) return failed(sides.error());
      rep.source_keys = sides->source_keys;
      const std::size_t nodes = sides->sources.size();
      SampleTask sampler(sample, std::random_device{}());
      engine::Engine engine(loop, cmd.options, std::move(sides->sources), std::move(sides->destination),
                            cmd.source, cmd.destination, sampler);
      spdlog::info("drawing a random sample of {} keys from the selection", report::thousands(sample));
      engine::EngineResult result = drive(loop, engine, cmd, rep.source_keys);
      if (result.fatal || result.signal != 0) {
        take(rep, std::move(result));
        rep.totals = report::Counters{};  // nothing was checked
        return finish(rep);
      }
      for (const auto& n : result.nodes)
        picked_from.push_back(n.name);
      picked = sampler.take(nodes);
      rep.extra["population"] = sampler.population();
      spdlog::info("checking {} keys drawn from {}",
                   report::thousands(std::min(sample, sampler.population())),
                   report::thousands(sampler.population()));
    }

    auto sides = copy::open_sides(loop, cmd, false);
    if (!sides) return failed(sides.error());
    if (sample == 0) rep.source_keys = sides->source_keys;
    VerifyOptions o = options;
    o.cleanup = false;
    o.multi_lookup = has_multi_lookup(sides->destination_facts);
    o.src_field_ttls = resp::has_field_ttls(sides->source_facts);
    o.dst_field_ttls = resp::has_field_ttls(sides->destination_facts);
    VerifyTask task(o);
    std::vector<std::vector<std::string>> keys(sides->sources.size());
    if (sample > 0) {
      // The same nodes as the first pass, matched by name in case the order changed; a key whose node is
      // gone goes to the first one (a cluster redirects it).
      for (std::size_t i = 0; i < picked.size(); ++i) {
        std::size_t to = 0;
        for (std::size_t k = 0; k < sides->sources.size(); ++k) {
          if (i < picked_from.size() && sides->sources[k].name == picked_from[i]) to = k;
        }
        for (auto& key : picked[i])
          keys[to].push_back(std::move(key));
      }
    }
    engine::Engine engine(loop, cmd.options, std::move(sides->sources), std::move(sides->destination),
                          cmd.source, cmd.destination, task);
    uint64_t expected = rep.source_keys;
    if (sample > 0) {
      expected = 0;
      for (const auto& k : keys)
        expected += k.size();
      engine.take_keys(std::move(keys));
    }
    take(rep, drive(loop, engine, cmd, expected));
    rep.differences = task.take_differences();
  }
  if (int rc = loop.close(); rc != 0) spdlog::debug("event loop closed with handles still open ({})", rc);
  return finish(rep);
}

report::RunReport run_cleanup(const copy::CopyCommand& cmd_in, const VerifyOptions& options) {
  const auto started = Clock::now();
  report::RunReport rep = base_report(cmd_in, "cleanup", options);
  rep.dry_run = cmd_in.options.dry_run;
  rep.cleanup = true;
  auto finish = [&](report::RunReport& r) -> report::RunReport {
    r.duration_s = std::chrono::duration<double>(Clock::now() - started).count();
    r.exit_code = report::cleanup_exit_code(r.totals, r.fatal, r.signal);
    return std::move(r);
  };
  auto failed = [&](const Error& e) {
    rep.fatal = e;
    return finish(rep);
  };
  copy::CopyCommand cmd = cmd_in;
  cmd.options.cleanup = true;  // opens the primaries for deletions when a cluster is read on its replicas

  net::Loop loop;
  {
    auto sides = copy::open_sides(loop, cmd, false);
    if (!sides) return failed(sides.error());
    rep.source_keys = sides->source_keys;
    // No deletion whose copy the destination may evict; evictions during the run stop every deletion.
    auto evicting = engine::check_eviction_policy(loop, sides->destination, cmd, "cleanup");
    if (!evicting) return failed(evicting.error());
    cmd.options.watch_evictions = !cmd.options.dry_run && sides->destination_facts.known;
    state::RunState state(loop, cmd, "cleanup");
    if (auto st = state.begin(sides->sources); !st) return failed(st.error());
    VerifyOptions o = options;
    o.cleanup = true;
    o.dry_run = cmd.options.dry_run;
    o.multi_lookup = has_multi_lookup(sides->destination_facts);
    o.src_field_ttls = resp::has_field_ttls(sides->source_facts);
    o.dst_field_ttls = resp::has_field_ttls(sides->destination_facts);
    VerifyTask task(o);
    engine::Engine engine(loop, cmd.options, std::move(sides->sources), std::move(sides->destination),
                          cmd.source, cmd.destination, task);
    state.attach(engine);
    take(rep, drive(loop, engine, cmd, rep.source_keys));
    rep.differences = task.take_differences();
    state.end(rep, report::cleanup_exit_code(rep.totals, rep.fatal, rep.signal), engine.checkpoint());
    if (state.active()) rep.extra["run"] = state.report_section();
  }
  if (int rc = loop.close(); rc != 0) spdlog::debug("event loop closed with handles still open ({})", rc);
  return finish(rep);
}

}  // namespace rmig::verify
