#include "verify/verify_command.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "engine/drive.hpp"
#include "engine/engine.hpp"
#include "engine/safety.hpp"
#include "engine/sides.hpp"
#include "net/loop.hpp"
#include "report/format.hpp"
#include "state/run_state.hpp"
#include "verify/sample_task.hpp"

namespace rmig::verify {

namespace {

using Clock = std::chrono::steady_clock;

void take(report::RunReport& rep, engine::EngineResult result) {
  rep.totals = result.total;
  rep.nodes = std::move(result.nodes);
  rep.errors = std::move(result.errors);
  rep.examples = std::move(result.examples);
  rep.source_failovers = std::move(result.source_failovers);
  if (!rep.fatal) rep.fatal = std::move(result.fatal);
  rep.signal = result.signal;
}

// SMISMEMBER and ZMSCORE arrived in Redis 6.2 (Valkey has them all). Unknown versions try them.
bool has_multi_lookup(const resp::ServerFacts& facts) {
  return !facts.version.known() || facts.version.at_least(6, 2);
}

report::RunReport base_report(const VerifyCommand& cmd, const char* command, const VerifyOptions& o) {
  report::RunReport rep;
  rep.command = command;
  rep.source = cmd.run.source_url;
  rep.destination = cmd.run.destination_url;
  rep.extra["ttl_tolerance_ms"] = o.ttl_tolerance_ms;
  return rep;
}

}  // namespace

report::RunReport run_verify(const VerifyCommand& cmd_in) {
  const auto started = Clock::now();
  const VerifyOptions& options = cmd_in.checks;
  const uint64_t sample = cmd_in.sample;
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
  engine::RunSpec cmd = cmd_in.run;
  cmd.options.dry_run = true;
  cmd.options.cleanup = false;
  const engine::SideChecks checks{false, true, false, "cleanup"};

  net::Loop loop;
  {
    std::vector<std::vector<std::string>> picked;
    std::vector<std::string> picked_from;  // the node each list of `picked` was drawn from
    if (sample > 0) {
      auto sides = engine::open_sides(loop, cmd, checks);
      if (!sides) return failed(sides.error());
      rep.source_keys = sides->source_keys;
      const std::size_t nodes = sides->sources.size();
      SampleTask sampler(sample, std::random_device{}());
      engine::Engine engine(loop, cmd.options, std::move(sides->sources), std::move(sides->destination),
                            cmd.source, cmd.destination, sampler);
      spdlog::info("drawing a random sample of {} keys from the selection", report::thousands(sample));
      engine::EngineResult result = engine::drive(loop, engine, rep.source_keys, cmd.progress_interval_ms,
                                                  engine::ProgressStyle::kCheck);
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

    auto sides = engine::open_sides(loop, cmd, checks);
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
    take(rep, engine::drive(loop, engine, expected, cmd.progress_interval_ms, engine::ProgressStyle::kCheck));
    rep.differences = task.take_differences();
  }
  if (int rc = loop.close(); rc != 0) spdlog::debug("event loop closed with handles still open ({})", rc);
  return finish(rep);
}

report::RunReport run_cleanup(const VerifyCommand& cmd_in) {
  const auto started = Clock::now();
  const VerifyOptions& options = cmd_in.checks;
  report::RunReport rep = base_report(cmd_in, "cleanup", options);
  rep.dry_run = cmd_in.dry_run;
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
  engine::RunSpec cmd = cmd_in.run;
  cmd.options.cleanup = true;  // opens the primaries for deletions when a cluster is read on its replicas
  cmd.options.dry_run = cmd_in.dry_run;
  const engine::SideChecks checks{true, false, false, "cleanup"};

  net::Loop loop;
  {
    auto sides = engine::open_sides(loop, cmd, checks);
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
    take(rep, engine::drive(loop, engine, rep.source_keys, cmd.progress_interval_ms,
                            engine::ProgressStyle::kCheck));
    rep.differences = task.take_differences();
    state.end(rep, report::cleanup_exit_code(rep.totals, rep.fatal, rep.signal), engine.checkpoint());
    if (state.active()) rep.extra["run"] = state.report_section();
  }
  if (int rc = loop.close(); rc != 0) spdlog::debug("event loop closed with handles still open ({})", rc);
  return finish(rep);
}

}  // namespace rmig::verify
