#include "copy/copy_command.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>

#include "copy/pipeline.hpp"
#include "net/loop.hpp"
#include "net/signals.hpp"
#include "report/progress.hpp"
#include "resp/probe.hpp"

namespace rmig::copy {

namespace {

using Clock = std::chrono::steady_clock;

const char* policy_name(ConflictPolicy p) { return p == ConflictPolicy::kReplace ? "replace" : "skip"; }

// Checks that only need the two connections: same database on both sides, read-only destination.
Status check_servers(const CopyCommand& cmd, const resp::ServerFacts& src, const resp::ServerFacts& dst) {
  if (src.known && dst.known && !src.run_id.empty() && src.run_id == dst.run_id &&
      cmd.source.db == cmd.destination.db) {
    return make_error(ExitCode::kUsage, "source and destination are the same database (" +
                                            cmd.destination.label +
                                            "): every key would land on itself; choose "
                                            "another destination db (e.g. /0 vs /1)");
  }
  if (dst.known && dst.role == "slave") {
    return make_error(ExitCode::kDestinationRefused,
                      cmd.destination.label + " is a read-only replica (role: slave" +
                          (dst.primary.empty() ? "" : ", primary at " + dst.primary) +
                          "): point the destination URL at the primary");
  }
  return {};
}

}  // namespace

report::RunReport run_copy(const CopyCommand& cmd) {
  const auto started = Clock::now();
  report::RunReport rep;
  rep.command = "copy";
  rep.source = cmd.source_url;
  rep.destination = cmd.destination_url;
  rep.dry_run = cmd.options.dry_run;
  rep.conflict_policy = policy_name(cmd.options.conflict);
  rep.cleanup = cmd.options.cleanup;
  auto finish = [&](report::RunReport& r) -> report::RunReport {
    r.duration_s = std::chrono::duration<double>(Clock::now() - started).count();
    r.exit_code = report::copy_exit_code(r.totals, r.fatal, r.signal);
    return std::move(r);
  };

  net::Loop loop;
  {
    auto src = std::make_unique<resp::Connection>(loop, cmd.source, nullptr);
    auto dst = std::make_unique<resp::Connection>(loop, cmd.destination, nullptr);
    Status st = resp::open_sync(loop, *src);
    if (st) st = resp::open_sync(loop, *dst);
    if (!st) {
      rep.fatal = st.error();
      return finish(rep);
    }
    auto src_facts = resp::probe_server(loop, *src);
    if (!src_facts) {
      rep.fatal = src_facts.error();
      return finish(rep);
    }
    auto dst_facts = resp::probe_server(loop, *dst);
    if (!dst_facts) {
      rep.fatal = dst_facts.error();
      return finish(rep);
    }
    if (auto ok = check_servers(cmd, *src_facts, *dst_facts); !ok) {
      rep.fatal = ok.error();
      return finish(rep);
    }
    spdlog::info("source {} (version {}), destination {} (version {})", cmd.source_url,
                 src_facts->version.empty() ? "?" : src_facts->version, cmd.destination_url,
                 dst_facts->version.empty() ? "?" : dst_facts->version);

    uint64_t dbsize = 0;
    if (auto r = resp::call_sync(loop, *src, {"DBSIZE"}); r && resp::is_integer(r->get())) {
      dbsize = static_cast<uint64_t>((*r)->integer);
    } else if (!r) {
      rep.fatal = r.error();
      return finish(rep);
    } else {
      spdlog::debug("{}: DBSIZE refused ({}); no ETA", cmd.source.label, resp::describe(r->get()));
    }
    rep.source_keys = dbsize;

    std::string cleanup_sha;
    if (cmd.options.cleanup && !cmd.options.dry_run) {
      auto r = resp::call_sync(loop, *src, {"SCRIPT", "LOAD", Pipeline::cleanup_script()});
      if (!r) {
        rep.fatal = r.error();
        return finish(rep);
      }
      if (resp::is_string(r->get())) {
        cleanup_sha = std::string(resp::text(r->get()));
      } else {
        spdlog::debug("SCRIPT LOAD refused ({}); cleanup sends the script with EVAL",
                      resp::describe(r->get()));
      }
    }

    ServerClock dst_clock;
    if (!cmd.options.dry_run) {
      // ABSTTL needs Redis >= 5 and TIME; without them, relative TTLs are used.
      auto t = resp::call_sync(loop, *dst, {"TIME"});
      if (!t) {
        rep.fatal = t.error();
        return finish(rep);
      }
      const redisReply* r = t->get();
      const int major = dst_facts->version.empty() ? 0 : std::atoi(dst_facts->version.c_str());
      if (resp::is_array(r) && r->elements == 2 && (major == 0 || major >= 5)) {
        auto secs = resp::to_integer(r->element[0]);
        auto micros = resp::to_integer(r->element[1]);
        if (secs && micros) dst_clock.sample(*secs, *micros, Clock::now());
      } else {
        spdlog::debug("destination clock unknown ({}): TTLs are sent relative", resp::describe(r));
      }
    }

    std::vector<SourceNode> sources;
    sources.push_back(SourceNode{std::move(src), cmd.source.endpoint.to_string(), dbsize});
    Pipeline pipeline(loop, cmd.options, std::move(sources), std::move(dst), cleanup_sha);
    pipeline.set_destination_clock(dst_clock);
    report::Progress progress(dbsize);
    struct Ticker {
      Pipeline* pipeline;
      report::Progress* progress;
    } ticker{&pipeline, &progress};
    net::Timer progress_timer(loop, &ticker, [](void* p) {
      auto* t = static_cast<Ticker*>(p);
      t->progress->print(t->pipeline->totals(), t->pipeline->in_flight(),
                         t->pipeline->paused_by_destination());
    });
    progress_timer.unref();
    net::SignalWatcher signals(loop, [&](int signum) { pipeline.stop(signum); });
    bool done = false;
    rep.started = true;
    pipeline.start([&] {
      done = true;
      progress_timer.stop();
      signals.close();
    });
    if (cmd.progress_interval_ms > 0 && !done) {
      progress_timer.start(cmd.progress_interval_ms, cmd.progress_interval_ms);
    }
    while (!done) {
      if (uv_run(loop.get(), UV_RUN_ONCE) == 0 && !done) {
        // Nothing left that could finish the run: a bug, reported instead of spinning.
        pipeline.stop(0);
        rep.fatal =
            make_error(ExitCode::kKeysFailed, "internal error: the event loop ran dry before the copy ended");
        break;
      }
    }
    progress_timer.stop();

    PipelineResult result = pipeline.take_result();
    rep.totals = result.total;
    rep.nodes = std::move(result.nodes);
    rep.errors = std::move(result.errors);
    rep.examples = std::move(result.examples);
    rep.fatal = std::move(result.fatal);
    rep.signal = result.signal;
  }
  if (int rc = loop.close(); rc != 0) spdlog::debug("event loop closed with handles still open ({})", rc);
  return finish(rep);
}

}  // namespace rmig::copy
