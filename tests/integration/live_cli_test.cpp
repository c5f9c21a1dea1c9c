// The live run's command line against real servers: the options a live run refuses (exit 2, one line,
// nothing written anywhere), the `cutover` command (refused without a live run, the request it writes, the
// answer it waits for, its --timeout), `status` showing a live run's phase, lag and pending keys, and
// SIGUSR1 ignored by a run that is not live.

#include <doctest/doctest.h>

#include <atomic>
#include <csignal>
#include <nlohmann/json.hpp>
#include <thread>

#include "helpers.hpp"
#include "support/files.hpp"
#include "support/redis_server.hpp"

using namespace rmig::test;

namespace {

// A lease value as the tool writes it (state/lock.cpp), for a run that is (or is not) live.
std::string lease_value(bool live) {
  nlohmann::json j = {{"host", "migrate-pod"},
                      {"pid", 4242},
                      {"started_at", "2026-01-01T00:00:00Z"},
                      {"command", "redis-migrate --live SRC DST"},
                      {"token", "0123456789abcdef"}};
  if (live) j["live"] = true;
  return j.dump();
}

// Every key on the server, the tool's own included.
long long dbsize(KeyReader& c) { return c.command({"DBSIZE"}).integer; }

// The id of the cut-over request on `dst` (empty when there is none).
std::string request_id(KeyReader& dst, const std::string& prefix = "redis-migrate:") {
  const Reply r = dst.command({"GET", prefix + "live:cutover"});
  if (!r.is_string()) return {};
  return nlohmann::json::parse(r.str).value("id", std::string());
}

}  // namespace

TEST_SUITE("live_cli") {
  TEST_CASE(
      "options a live run cannot honour: exit 2, one line naming the conflict and the fix, nothing written") {
    RedisServer src_server;
    RedisServer dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_strings(src, 200, "a:");
    const std::string s = src_server.url();
    const std::string d = dst_server.url();
    struct Case {
      std::vector<std::string> args;
      EnvOverrides env;
      std::string conflict;
      std::string fix;
    };
    const std::vector<Case> cases = {
        {{"--live", s, d, "--cleanup"}, {}, "--live with --cleanup", "redis-migrate cleanup"},
        {{s, "--dry-run", d, "--live"}, {}, "--live with --dry-run", "without --live"},
        {{"plan", s, d, "--live"}, {}, "--live with plan", "without --live"},
        {{s, d, "--live", "--on-conflict", "merge"}, {}, "--on-conflict merge", "drop --on-conflict"},
        {{s, d, "--on-conflict", "fail", "--live"}, {}, "--on-conflict fail", "drop --on-conflict"},
        {{s, d, "--live", "--rename", "a:(.*)", "b:\\1"}, {}, "--rename 'a:(.*)'", "--rename-prefix"},
        {{s, d, "--live", "--all-dbs"}, {}, "--all-dbs", "one live run per database"},
        {{s, d, "--live", "--shard", "1/3"}, {}, "--shard 1/3", "drop --shard"},
        {{s, d, "--live", "--read-from", "replicas"}, {}, "--read-from replicas", "primaries"},
        {{s, d, "--live", "--no-lock"}, {}, "--no-lock", "drop --no-lock"},
        {{s, d}, {{"LIVE", "1"}, {"CLEAN_UP", "1"}}, "LIVE with CLEAN_UP", "cleanup"},
        {{s, d},
         {{"LIVE", "1"}, {"JOB_COMPLETION_INDEX", "0"}, {"SHARD_COUNT", "2"}},
         "--shard 0/2",
         "drop --shard"},
        {{s, d, "--until-idle", "5"}, {}, "--until-idle", "add --live"},
        {{s, d, "--live-pending-max", "10"}, {}, "--live-pending-max", "add --live"},
        {{s, d, "--verify-at-cutover"}, {}, "--verify-at-cutover", "add --live"},
        {{s, d}, {{"ASSUME_NOTIFICATIONS", "1"}}, "ASSUME_NOTIFICATIONS", "add --live"},
        {{s, d, "--live", "--until-idle", "0"}, {}, "--until-idle", "from 1 to"},
        {{s, d, "--live", "--live-pending-max", "-3"}, {}, "--live-pending-max", "from 1 to"},
    };
    for (const Case& c : cases) {
      CAPTURE(c.args);
      CAPTURE(c.conflict);
      const RunResult r = run_tool(c.args, c.env, 60s);
      INFO(r.describe());
      CHECK(r.exit_code == 2);
      const auto lines = nonempty_lines(r.err);
      CHECK(lines.size() == 1);
      CHECK(contains(r.err, c.conflict));
      CHECK(contains(r.err, c.fix));
      CHECK(dbsize(dst) == 0);  // no key, no lock, no run record
      CHECK(dbsize(src) == 200);
    }
  }

  TEST_CASE(
      "a replica as a live run's source: exit 2 naming its primary, nothing written (even when the "
      "notifications are assumed)") {
    RedisServer primary({.extra_args = {"--notify-keyspace-events", "KEA"}});
    RedisServer replica({.extra_args = {"--replicaof", "127.0.0.1", std::to_string(primary.port()),
                                        "--notify-keyspace-events", "KEA"}});
    RedisServer dst_server;
    Client p = primary.client();
    Client r = replica.client();
    Client dst = dst_server.client();
    seed_strings(p, 50, "k:");
    REQUIRE(eventually([&] { return r.dbsize() == 50; }, 10s));
    for (const bool assume : {false, true}) {
      CAPTURE(assume);
      std::vector<std::string> args = {replica.url(), dst_server.url(), "--live", "--until-idle", "1"};
      if (assume) args.push_back("--assume-notifications");
      auto run = run_copy(args, {}, 30s);
      INFO(run.result.describe());
      CHECK(run.exit_code() == 2);
      const std::string line = error_line(run);
      CAPTURE(line);
      CHECK(contains(line, "is a replica (of 127.0.0.1:" + std::to_string(primary.port())));
      CHECK(contains(line, "give the primary's URL"));
      CHECK(dbsize(dst) == 0);
      CHECK(p.dbsize() == 50);
    }
  }

  TEST_CASE("cutover without a live run: exit 2 naming the lock, nothing written") {
    RedisServer dst_server;
    Client dst = dst_server.client();
    const std::string d = dst_server.url();

    // Nobody holds the lock.
    auto none = run_copy({"cutover", d});
    INFO(none.result.describe());
    CHECK(none.exit_code() == 2);
    CHECK(contains(error_line(none), "no run holds the lock redis-migrate:lock"));
    CHECK(contains(error_line(none), "nothing to cut over"));
    CHECK(dbsize(dst) == 0);

    // Another state prefix: that prefix's lock.
    auto other = run_copy({"--state-prefix", "mig:", "cutover", d});
    CHECK(other.exit_code() == 2);
    CHECK(contains(error_line(other), "mig:lock"));

    // A run that is not live holds the lock: it ends by itself.
    dst.command({"SET", "redis-migrate:lock", lease_value(false), "PX", "60000"});
    auto plain = run_copy({"cutover", d});
    INFO(plain.result.describe());
    CHECK(plain.exit_code() == 2);
    CHECK(contains(error_line(plain), "is not a live run"));
    CHECK(contains(error_line(plain), "migrate-pod"));
    CHECK(dbsize(dst) == 1);  // the lock only: no request written
    CHECK(dst.command({"EXISTS", "redis-migrate:live:cutover"}).integer == 0);
  }

  TEST_CASE(
      "cutover of a live run: the request names its lease; --timeout ends the wait with 7, the request "
      "stands") {
    RedisServer dst_server;
    Client dst = dst_server.client();
    const std::string lease = lease_value(true);
    dst.command({"SET", "redis-migrate:lock", lease, "PX", "60000"});
    auto run = run_copy({"cutover", "--timeout", "1", dst_server.url()});
    INFO(run.result.describe());
    CHECK(run.exit_code() == 7);
    CHECK(contains(run.result.out, "cut-over requested"));
    CHECK(contains(error_line(run), "has not ended"));
    CHECK(contains(error_line(run), "the request stands"));
    const Reply req = dst.command({"GET", "redis-migrate:live:cutover"});
    REQUIRE(req.is_string());
    const auto j = nlohmann::json::parse(req.str);
    CHECK(j["lock"] == lease);
    CHECK(j["id"] == run.report["request"]);
    CHECK(run.report["exit_code"] == 7);
    CHECK(run.report["run_exit_code"].is_null());
    const long long ttl = dst.command({"PTTL", "redis-migrate:live:cutover"}).integer;
    CHECK(ttl > 0);
    CHECK(ttl <= 24LL * 3600 * 1000);
  }

  TEST_CASE("cutover waits for the run's answer and exits with its code; a run gone without one gives 7") {
    RedisServer dst_server;
    Client dst = dst_server.client();
    const std::string d = dst_server.url();
    const std::string lease = lease_value(true);

    // The run answers 0 (after "verifying" for --verify-at-cutover) before releasing its lock.
    dst.command({"SET", "redis-migrate:lock", lease, "PX", "60000"});
    {
      ToolProcess p = start_tool({"cutover", d});
      REQUIRE(eventually([&] { return !request_id(dst).empty(); }, 10s));
      const std::string id = request_id(dst);
      dst.command({"SET", "redis-migrate:live:cutover:" + id, "verifying"});
      REQUIRE(p.wait_for_output("verifying the selection", 10s));
      dst.command({"DEL", "redis-migrate:lock"});  // the lease goes while the verify runs: still waiting
      std::this_thread::sleep_for(500ms);
      CHECK(p.running());
      dst.command({"SET", "redis-migrate:live:cutover:" + id, "0"});
      const RunResult r = p.finish(20s);
      INFO(r.describe());
      CHECK(r.exit_code == 0);
      CHECK(contains(r.out, "exit code 0"));
    }

    // The run ends with 1 (a key failed): so does the command.
    dst.command({"SET", "redis-migrate:lock", lease, "PX", "60000"});
    dst.command({"DEL", "redis-migrate:live:cutover"});
    {
      ToolProcess p = start_tool({"cutover", d});
      REQUIRE(eventually([&] { return !request_id(dst).empty(); }, 10s));
      const std::string id = request_id(dst);
      dst.command({"SET", "redis-migrate:live:cutover:" + id, "1"});
      dst.command({"DEL", "redis-migrate:lock"});
      const RunResult r = p.finish(20s);
      INFO(r.describe());
      CHECK(r.exit_code == 1);
    }

    // The run is killed: its lease goes (expires) without an answer.
    dst.command({"SET", "redis-migrate:lock", lease, "PX", "60000"});
    {
      ToolProcess p = start_tool({"cutover", d});
      REQUIRE(p.wait_for_output("cut-over requested", 10s));
      dst.command({"DEL", "redis-migrate:lock"});
      const RunResult r = p.finish(20s);
      INFO(r.describe());
      CHECK(r.exit_code == 7);
      CHECK(contains(r.err, "ended without answering"));
    }
  }

  TEST_CASE("status shows a live run's phase, lag and pending keys") {
    RedisServer dst_server;
    Client dst = dst_server.client();
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    nlohmann::json rec = {{"version", 1},
                          {"id", "00000000000000aa"},
                          {"command", "copy"},
                          {"status", "running"},
                          {"source", "redis://src:6379/0"},
                          {"destination", "redis://dst:6379/0"},
                          {"fingerprint", {{"live", true}}},
                          {"started_ms", now - 60000},
                          {"updated_ms", now},
                          {"nodes", nlohmann::json::array()},
                          {"totals", nlohmann::json::object()},
                          {"live",
                           {{"phase", "live"},
                            {"lag_ms", 37},
                            {"pending", 1234},
                            {"changes", 50000},
                            {"changes_per_s", 812.5},
                            {"recopied", 48000},
                            {"deleted", 766},
                            {"resyncs", 1},
                            {"cutover", nullptr}}}};
    dst.command({"SET", "redis-migrate:run:00000000000000aa", rec.dump()});
    dst.command({"ZADD", "redis-migrate:run:index", std::to_string(now - 60000), "00000000000000aa"});
    dst.command({"SET", "redis-migrate:lock", lease_value(true), "PX", "60000"});
    auto run = run_copy({"status", dst_server.url()});
    INFO(run.result.describe());
    REQUIRE(run.exit_code() == 0);
    CHECK(contains(run.result.out, "a live run: end it with `redis-migrate cutover"));
    CHECK(run.report["lock"]["live"] == true);
    CHECK(contains(run.result.out, "live: phase live, lag 37 ms, pending 1,234"));
    CHECK(contains(run.result.out, "resyncs 1"));
    REQUIRE(run.report["runs"].size() == 1);
    CHECK(run.report["runs"][0]["live"]["phase"] == "live");
    CHECK(run.report["runs"][0]["live"]["pending"] == 1234);
    CHECK(run.report["runs"][0]["live"]["lag_ms"] == 37);
  }

  TEST_CASE("SIGUSR1 to a run that is not live: a log line, and the run goes on to exit 0") {
    RedisServer src_server;
    RedisServer dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_strings(src, 1500, "u:");
    ToolProcess p =
        start_tool({src_server.url(), dst_server.url(), "--rate-limit", "500", "--progress-interval", "0.2"});
    REQUIRE(p.wait_for_output("progress", 20s));
    p.send_signal(SIGUSR1);
    const RunResult r = p.finish(60s);
    INFO(r.describe());
    CHECK(r.exit_code == 0);
    CHECK(contains(r.err, "SIGUSR1 ignored"));
    CHECK(user_dbsize(dst) == 1500);
  }
}

namespace {

// A source with keyspace notifications on (what a live run needs), seeded with `n` strings "k:<i>".
struct LivePair {
  RedisServer src_server{ServerOptions{.extra_args = {"--notify-keyspace-events", "KEA"}}};
  RedisServer dst_server;
  Client src = src_server.client();
  Client dst = dst_server.client();
  explicit LivePair(int n) { seed_strings(src, n, "k:"); }
};

}  // namespace

TEST_SUITE("live_cli") {
  TEST_CASE(
      "a live run takes the cutover request meant for its lease, answers it, and cutover exits with its "
      "code") {
    LivePair p(1500);
    TempDir dir("live");
    const std::string report = dir.file("report.json");
    // Paced so that the run is still busy when the request comes.
    ToolProcess run = start_tool({"--live", p.src_server.url(), p.dst_server.url(), "--rate-limit", "400",
                                  "--progress-interval", "0.2", "--report-json", report});
    // The lease says the run is live; the record carries the live state for `status`.
    REQUIRE(eventually(
        [&] {
          const Reply lock = p.dst.command({"GET", "redis-migrate:lock"});
          return lock.is_string() && contains(lock.str, "\"live\":true");
        },
        20s));
    REQUIRE(eventually(
        [&] {
          const nlohmann::json rec = latest_record(p.dst);
          return rec.is_object() && rec.contains("live") && rec["live"].contains("phase");
        },
        20s));
    const RunResult cut = run_tool({"cutover", p.dst_server.url()}, {}, 120s);
    INFO(cut.describe());
    const RunResult r = run.finish(60s);
    INFO(r.describe());
    CHECK(r.exit_code == 0);
    CHECK(cut.exit_code == 0);
    CHECK(contains(cut.out, "cut-over requested"));
    CHECK(contains(cut.out, "exit code 0"));
    CHECK(user_dbsize(p.dst) == 1500);
    // The answer is under the prefix, with the run's code; the lock is gone.
    const std::string id = request_id(p.dst);
    REQUIRE(!id.empty());
    CHECK(p.dst.command({"GET", "redis-migrate:live:cutover:" + id}).str == "0");
    CHECK(p.dst.command({"EXISTS", "redis-migrate:lock"}).integer == 0);
    const nlohmann::json rep = nlohmann::json::parse(read_file(report));
    REQUIRE(rep.contains("live"));
    CHECK(rep["live"]["cutover"] == "command");
    CHECK(rep["run"]["cutover_requests"].size() == 1);
    CHECK(rep["run"]["cutover_requests"][0] == id);
  }

  TEST_CASE("--until-idle with --verify-at-cutover: exit 0, the report's live object and verify results") {
    LivePair p(800);
    const RunResult r = run_tool({p.src_server.url(), p.dst_server.url(), "--live", "--until-idle", "1",
                                  "--verify-at-cutover", "--report-json", "-"},
                                 {}, 120s);
    INFO(r.describe());
    REQUIRE(r.exit_code == 0);
    const nlohmann::json rep = nlohmann::json::parse(r.out);
    REQUIRE(rep.contains("live"));
    for (const char* field :
         {"changes", "recopied", "deleted", "resyncs", "lag_ms_max", "pending_max", "cutover", "cutover_ms"})
      CHECK_MESSAGE(rep["live"].contains(field), "no live." << field);
    CHECK(rep["live"]["cutover"] == "idle");
    CHECK(rep["live"]["resyncs"]["count"].is_number());
    CHECK(rep["live"]["resyncs"]["list"].is_array());
    REQUIRE(rep.contains("verify"));
    CHECK(rep["verify"]["checked"] == 800);
    CHECK(rep["verify"]["equal"] == 800);
    CHECK(rep["verify"]["exit_code"] == 0);
    CHECK(rep["verify"]["differences"].empty());
    CHECK(contains(r.err, "verify at cut-over: 800 keys checked, all equal"));
    CHECK(user_dbsize(p.dst) == 800);
  }
}

namespace {

// Waits until the live run's record says its live phase runs (saved about every second); false when the run
// ended first or it took too long.
bool wait_live(ToolProcess& run, KeyReader& dst) {
  return eventually(
             [&] {
               if (!run.running()) return true;
               const nlohmann::json rec = latest_record(dst);
               return rec.is_object() && rec.contains("live") && rec["live"].value("phase", "") == "live";
             },
             60s) &&
         run.running();
}

// Changes during the live phase: 20 keys deleted, 20 changed, 20 new (the source had k:0 .. k:n-1).
void write_changes(KeyWriter& src) {
  for (int i = 0; i < 20; ++i) {
    src.command({"DEL", "k:" + std::to_string(i)});
    src.command({"SET", "k:" + std::to_string(20 + i), "changed-" + std::to_string(i)});
    src.command({"SET", "new:" + std::to_string(i), "new-" + std::to_string(i), "PX", "600000"});
  }
}

// Every change is on the destination, exactly: the deleted keys gone, the changed ones changed, the new ones
// there with their TTL.
void check_changes(KeyReader& dst) {
  for (int i = 0; i < 20; ++i) {
    CHECK(dst.command({"EXISTS", "k:" + std::to_string(i)}).integer == 0);
    CHECK(dst.command({"GET", "k:" + std::to_string(20 + i)}).str == "changed-" + std::to_string(i));
    CHECK(dst.command({"GET", "new:" + std::to_string(i)}).str == "new-" + std::to_string(i));
    CHECK(dst.command({"PTTL", "new:" + std::to_string(i)}).integer > 500000);
  }
}

// The report of a run ended by a cut-over of `cause` after write_changes.
void check_live_report(const nlohmann::json& rep, const std::string& cause) {
  INFO("report: " << rep.dump());
  REQUIRE(rep.contains("live"));
  const nlohmann::json& live = rep["live"];
  CHECK(live["cutover"] == cause);
  CHECK(live["changes"].get<uint64_t>() >= 60);
  CHECK(live["recopied"].get<uint64_t>() >= 40);
  CHECK(live["deleted"].get<uint64_t>() >= 20);
  CHECK(live["pending_max"].get<uint64_t>() >= 1);
  CHECK(live["cutover_ms"].get<double>() >= 0);
  CHECK(live["resyncs"]["count"] == 0);
  CHECK(rep["exit_code"] == 0);
  CHECK(rep["failed"] == 0);
}

}  // namespace

TEST_SUITE("live_cli") {
  TEST_CASE("cut-over by `redis-migrate cutover` from another process: every change applied, exit 0") {
    LivePair p(300);
    TempDir dir("live");
    const std::string report = dir.file("report.json");
    ToolProcess run = start_tool({"--live", p.src_server.url(), p.dst_server.url(), "--report-json", report});
    REQUIRE(wait_live(run, p.dst));
    write_changes(p.src);
    const RunResult cut = run_tool({"cutover", p.dst_server.url()}, {}, 120s);
    INFO(cut.describe());
    const RunResult r = run.finish(60s);
    INFO(r.describe());
    CHECK(cut.exit_code == 0);
    CHECK(r.exit_code == 0);
    check_changes(p.dst);
    check_live_report(nlohmann::json::parse(read_file(report)), "command");
  }

  TEST_CASE("cut-over by SIGUSR1: every change applied, exit 0") {
    LivePair p(300);
    TempDir dir("live");
    const std::string report = dir.file("report.json");
    ToolProcess run = start_tool({"--live", p.src_server.url(), p.dst_server.url(), "--report-json", report,
                                  "--progress-interval", "0.2"});
    REQUIRE(wait_live(run, p.dst));
    write_changes(p.src);
    // The live phase's progress line shows its state.
    CHECK(run.wait_for_output("progress live | pending", 10s));
    run.send_signal(SIGUSR1);
    const RunResult r = run.finish(60s);
    INFO(r.describe());
    CHECK(r.exit_code == 0);
    CHECK(contains(r.err, "SIGUSR1: cutting over"));
    check_changes(p.dst);
    check_live_report(nlohmann::json::parse(read_file(report)), "signal");
  }

  TEST_CASE("cut-over by --until-idle: every change applied, exit 0") {
    LivePair p(300);
    TempDir dir("live");
    const std::string report = dir.file("report.json");
    ToolProcess run = start_tool(
        {"--live", "--until-idle", "3", p.src_server.url(), p.dst_server.url(), "--report-json", report});
    REQUIRE(wait_live(run, p.dst));
    write_changes(p.src);
    const RunResult r = run.finish(60s);
    INFO(r.describe());
    CHECK(r.exit_code == 0);
    check_changes(p.dst);
    check_live_report(nlohmann::json::parse(read_file(report)), "idle");
  }
}

TEST_SUITE("live_cli") {
  TEST_CASE("--verify-at-cutover finds the writes made after the cut-over: exit 1, and cutover says 1 too") {
    LivePair p(200);
    TempDir dir("live");
    const std::string report = dir.file("report.json");
    ToolProcess run = start_tool(
        {"--live", "--verify-at-cutover", p.src_server.url(), p.dst_server.url(), "--report-json", report});
    REQUIRE(wait_live(run, p.dst));
    // An application that was not stopped: it keeps rewriting 20 keys, also after the cut-over.
    std::atomic<bool> stop{false};
    std::thread writer([&] {
      Client c = p.src_server.client();
      for (long i = 0; !stop; ++i)
        c.command({"SET", "w:" + std::to_string(i % 20), "v" + std::to_string(i)});
    });
    std::this_thread::sleep_for(300ms);
    const RunResult cut = run_tool({"cutover", p.dst_server.url()}, {}, 120s);
    const RunResult r = run.finish(60s);
    stop = true;
    writer.join();
    INFO(cut.describe());
    INFO(r.describe());
    CHECK(r.exit_code == 1);
    CHECK(cut.exit_code == 1);
    CHECK(contains(cut.out, "exit code 1"));
    const nlohmann::json rep = nlohmann::json::parse(read_file(report));
    INFO(rep.dump());
    CHECK(rep["exit_code"] == 1);
    CHECK(rep["live"]["cutover"] == "command");
    REQUIRE(rep.contains("verify"));
    CHECK(rep["verify"]["exit_code"] == 1);
    CHECK(rep["verify"]["value_differs"].get<uint64_t>() >= 1);
    CHECK(!rep["verify"]["differences"].empty());
    CHECK(contains(r.err, "verify at cut-over:"));
  }
}
