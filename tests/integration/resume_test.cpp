// Trusting a run that was interrupted: the destination's lock keeps a second run out and expires when its
// holder is killed, the checkpoint lets the same command continue where the last one stopped (on the
// destination or in a --state-file) with counters that add up, dropped servers are waited for, and the
// pacing holds.

#include <doctest/doctest.h>
#include <unistd.h>

#include <array>
#include <csignal>
#include <functional>
#include <random>
#include <set>
#include <thread>

#include "helpers.hpp"
#include "support/compare.hpp"
#include "support/redis_server.hpp"
#include "support/seed.hpp"

using namespace rmig::test;

namespace {

// The defaults a run's re-check budget is made of: --window-keys and 4 x --scan-count.
constexpr uint64_t kResumeSlack = 2048 + 4 * 1000;

std::string host_name() {
  std::array<char, 256> buf{};
  gethostname(buf.data(), buf.size() - 1);
  return buf.data();
}

// Every tenth key compared key by key (the whole keyspace is checked by verify).
CompareOptions tenth() {
  CompareOptions o;
  o.include = [](const std::string& k) { return !k.empty() && k.back() == '7'; };
  o.check_extra_keys_on_dst = false;
  return o;
}

}  // namespace

TEST_SUITE("resume") {
  TEST_CASE("kill -9 mid-run on 300,000 keys: the rerun resumes, verify passes, the counters add up") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_strings(src, 300000, "k:", 20);
    const std::vector<std::string> args = {
        src_server.url(), dst_server.url(), "--lock-ttl", "2", "--progress-interval", "0"};
    auto tool = start_tool(args);
    REQUIRE(eventually([&] { return dst.dbsize() >= 60000; }, 60s));
    const pid_t killed = tool.pid();
    tool.kill9();  // no chance to save anything
    const long long on_dst = user_dbsize(dst);
    CHECK(on_dst < 300000);
    const nlohmann::json record = latest_record(dst);
    REQUIRE(record.is_object());
    CHECK(record["status"] == "running");
    CHECK(record["pid"] == killed);
    const uint64_t saved = record_scanned(record);
    CHECK(saved > 0);
    CHECK(saved <= static_cast<uint64_t>(on_dst));
    // Saved as the copy went: what was copied after the checkpoint is about the window in flight.
    MESSAGE("copied when killed: " << on_dst << ", checkpoint: " << saved);
    CHECK(static_cast<uint64_t>(on_dst) - saved <= kResumeSlack);

    // The killed run's lease keeps the next one out, then expires by itself.
    auto refused = run_copy(args);
    CHECK(refused.exit_code() == 4);
    CHECK(refused.result.err.find("pid " + std::to_string(killed)) != std::string::npos);
    REQUIRE(eventually([&] { return dst.command({"EXISTS", "redis-migrate:lock"}).integer == 0; }, 5s));

    auto resumed = run_copy(args);
    INFO(resumed.result.describe());
    REQUIRE(resumed.exit_code() == 0);
    CHECK(resumed.result.err.find("resuming run") != std::string::npos);
    CHECK(resumed.report["run"]["resumed"] == true);
    CHECK(resumed.report["run"]["attempt"] == 2);
    CHECK(resumed.report["run"]["resumed_from"]["scanned"] == saved);
    // Across both runs every key was scanned once. The keys the killed run copied after its last checkpoint
    // that its record lists are recognised as its own (copied); only those it wrote after its last save,
    // which no record shows, are counted skipped: never more than what it copied past the checkpoint.
    CHECK(resumed.counter("scanned") == 300000);
    CHECK(resumed.counter("copied") + resumed.counter("skipped") == 300000);
    CHECK(resumed.counter("skipped") <= static_cast<uint64_t>(on_dst) - saved);
    MESSAGE("resumed: copied " << resumed.counter("copied") << ", skipped " << resumed.counter("skipped"));
    CHECK(resumed.counter("failed") == 0);
    const nlohmann::json done = latest_record(dst);
    CHECK(done["status"] == "finished");
    CHECK(done["attempts"] == 2);
    CHECK(done["totals"]["copied"] == resumed.counter("copied"));

    auto verified = run_copy({"verify", src_server.url(), dst_server.url()});
    INFO(verified.result.describe());
    CHECK(verified.exit_code() == 0);
    CHECK(verified.counter("equal") == 300000);
    CHECK(user_dbsize(dst) == 300000);
    require_same(compare_keyspaces(src, dst, tenth()), 30000);
  }

  TEST_CASE("SIGTERM (a drained node) saves the checkpoint; the same command resumes from it") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_mixed(src, {.count = 40000, .ttl_fraction = 0.2, .large_every = 0});
    const std::vector<std::string> args = {
        src_server.url(), dst_server.url(), "--window-keys", "32", "--progress-interval", "0.1"};
    TempDir dir("report");
    std::vector<std::string> first = args;
    first.insert(first.end(), {"--report-json", dir.file("first.json")});
    auto tool = start_tool(first);
    REQUIRE(tool.wait_for_output("progress", 30s, Stream::kErr));
    tool.send_signal(SIGTERM);
    auto stopped = tool.finish(60s);
    INFO(stopped.describe());
    REQUIRE(stopped.exit_code == 143);
    const auto first_report = nlohmann::json::parse(read_file(dir.file("first.json")));
    const uint64_t first_copied = first_report["copied"];
    CHECK(first_copied > 0);
    CHECK(first_copied < 40000);
    const nlohmann::json record = latest_record(dst);
    CHECK(record["status"] == "interrupted");
    CHECK(record["exit_code"] == 143);
    CHECK(dst.command({"EXISTS", "redis-migrate:lock"}).integer == 0);  // released on the way out

    auto resumed = run_copy(args);
    INFO(resumed.result.describe());
    REQUIRE(resumed.exit_code() == 0);
    CHECK(resumed.report["run"]["resumed"] == true);
    CHECK(resumed.counter("copied") == 40000);
    CHECK(resumed.counter("skipped") == 0);
    CHECK(resumed.counter("scanned") == 40000);
    require_same(compare_keyspaces(src, dst), 40000);
  }

  TEST_CASE("--state-file keeps the destination pristine; a killed run resumes from the file") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_strings(src, 100000, "k:", 20);
    TempDir dir("state");
    const std::string state = dir.file("run.json");
    const std::vector<std::string> args = {src_server.url(),      dst_server.url(),
                                           "--state-file",        state,
                                           "--lock-ttl",          "1",
                                           "--progress-interval", "0"};
    auto tool = start_tool(args);
    REQUIRE(eventually([&] { return dst.dbsize() >= 20000; }, 60s));
    tool.kill9();
    const long long on_dst = user_dbsize(dst);
    const auto record = nlohmann::json::parse(read_file(state));
    CHECK(record["status"] == "running");
    const uint64_t saved = record_scanned(record);
    CHECK(saved > 0);
    CHECK(static_cast<uint64_t>(on_dst) - saved <= kResumeSlack);
    CHECK(dst.scan_all("redis-migrate:run:*").empty());  // the record is in the file only
    REQUIRE(eventually([&] { return dst.command({"EXISTS", "redis-migrate:lock"}).integer == 0; }, 5s));

    auto resumed = run_copy(args);
    INFO(resumed.result.describe());
    REQUIRE(resumed.exit_code() == 0);
    CHECK(resumed.report["run"]["resumed"] == true);
    // Only the keys written after the last save are in no record (counted skipped, not copied).
    CHECK(resumed.counter("copied") + resumed.counter("skipped") == 100000);
    CHECK(resumed.counter("skipped") <= static_cast<uint64_t>(on_dst) - saved);
    // Nothing of the tool's is left on the destination: no record, no index, no lock.
    CHECK(dst.scan_all("redis-migrate:*").empty());
    CHECK(dst.dbsize() == 100000);
    const auto finished = nlohmann::json::parse(read_file(state));
    CHECK(finished["status"] == "finished");
    CHECK(finished["attempts"] == 2);
    CHECK(finished["totals"]["copied"] == resumed.counter("copied"));
    require_same(compare_keyspaces(src, dst, tenth()), 10000);
  }

  TEST_CASE("--restart ignores the checkpoint; a finished run runs again from the beginning") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_strings(src, 30000, "k:", 20);
    auto tool =
        start_tool({src_server.url(), dst_server.url(), "--window-keys", "16", "--progress-interval", "0.1"});
    REQUIRE(tool.wait_for_output("progress", 30s, Stream::kErr));
    tool.send_signal(SIGTERM);
    REQUIRE(tool.finish(60s).exit_code == 143);
    const uint64_t before = static_cast<uint64_t>(user_dbsize(dst));
    REQUIRE(before < 30000);

    auto restarted = run_copy({src_server.url(), dst_server.url(), "--restart"});
    INFO(restarted.result.describe());
    REQUIRE(restarted.exit_code() == 0);
    CHECK(restarted.result.err.find("--restart") != std::string::npos);
    CHECK(restarted.report["run"]["resumed"] == false);
    CHECK(restarted.counter("scanned") == 30000);
    CHECK(restarted.counter("skipped") == before);
    CHECK(restarted.counter("copied") == 30000 - before);

    auto again = run_copy({src_server.url(), dst_server.url()});
    CHECK(again.exit_code() == 0);
    CHECK(again.result.err.find("running it again from the beginning") != std::string::npos);
    CHECK(again.report["run"]["resumed"] == false);
    CHECK(again.counter("scanned") == 30000);
    CHECK(again.counter("skipped") == 30000);
    require_same(compare_keyspaces(src, dst), 30000);
  }

  TEST_CASE("status prints runs in progress, finished and failed, with their counters") {
    RedisServer src_server, dst_server, doomed_server;
    Client src = src_server.client();
    Client doomed = doomed_server.client();
    seed_strings(src, 20000, "a:", 20);
    seed_strings(src, 20000, "c:", 20);
    seed_strings(doomed, 50000, "b:", 20);
    const std::string dst_url = dst_server.url();

    auto finished = run_copy({src_server.url(), dst_url, "--match", "a:*"});
    REQUIRE(finished.exit_code() == 0);
    // A run that fails: its source dies and stays away beyond --retry-timeout.
    auto failing = start_tool({doomed_server.url(), dst_url, "--window-keys", "8", "--retry-timeout", "1",
                               "--progress-interval", "0.1"});
    REQUIRE(failing.wait_for_output("progress", 30s, Stream::kErr));
    doomed_server.kill9();
    REQUIRE(failing.finish(60s).exit_code == 3);
    // A run in progress, paced so that it lasts.
    auto running = start_tool(
        {src_server.url(), dst_url, "--match", "c:*", "--rate-limit", "2000", "--progress-interval", "0"});
    Client dst = dst_server.client();
    // Its record is saved as it goes: wait for one with progress in it.
    REQUIRE(eventually(
        [&] {
          const nlohmann::json r = latest_record(dst);
          return r.is_object() && r["pid"] == running.pid() && r["totals"]["copied"].get<uint64_t>() > 0;
        },
        10s));

    auto status = run_copy({"status", dst_url});
    INFO(status.result.describe());
    REQUIRE(status.exit_code() == 0);
    const std::string& text = status.result.out;
    CHECK(text.find("lock redis-migrate:lock: held by host " + host_name() + " pid " +
                    std::to_string(running.pid())) != std::string::npos);
    CHECK(text.find("3 runs") != std::string::npos);
    CHECK(text.find("copy  running") != std::string::npos);
    CHECK(text.find("copy  finished  exit code 0") != std::string::npos);
    CHECK(text.find("copy  failed  exit code 3") != std::string::npos);
    CHECK(text.find("copied 20,000") != std::string::npos);
    CHECK(text.find("unreachable") != std::string::npos);
    // The same as JSON.
    REQUIRE(status.report["runs"].size() == 3);
    std::map<std::string, nlohmann::json> by_status;
    for (const auto& r : status.report["runs"])
      by_status[r["status"].get<std::string>()] = r;
    REQUIRE(by_status.count("running") == 1);
    REQUIRE(by_status.count("finished") == 1);
    REQUIRE(by_status.count("failed") == 1);
    CHECK(by_status["finished"]["totals"]["copied"] == 20000);
    CHECK(by_status["running"]["pid"] == running.pid());
    CHECK(by_status["running"]["totals"]["copied"].get<uint64_t>() > 0);
    CHECK(by_status["failed"]["totals"]["copied"].get<uint64_t>() > 0);
    CHECK(by_status["failed"]["error"].get<std::string>().find("unreachable") != std::string::npos);
    CHECK(status.report["lock"]["pid"] == running.pid());

    running.send_signal(SIGTERM);
    REQUIRE(running.finish(60s).exit_code == 143);
    auto after = run_copy({"status", dst_url});
    CHECK(after.result.out.find("lock redis-migrate:lock: free") != std::string::npos);
    CHECK(after.result.out.find("copy  interrupted  exit code 143") != std::string::npos);
  }

  TEST_CASE("two runs over the same destination: the second is refused with exit 4 naming the holder") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_strings(src, 20000, "k:", 20);
    auto first =
        start_tool({src_server.url(), dst_server.url(), "--rate-limit", "2000", "--progress-interval", "0"});
    REQUIRE(eventually([&] { return dst.command({"EXISTS", "redis-migrate:lock"}).integer == 1; }, 10s));
    // The lease names who holds it, and expires unless renewed.
    const auto value = nlohmann::json::parse(dst.command({"GET", "redis-migrate:lock"}).str);
    CHECK(value["host"] == host_name());
    CHECK(value["pid"] == first.pid());
    CHECK(value["started_at"].get<std::string>().size() == 20);  // 2024-05-01T12:00:00Z
    CHECK(value["command"].get<std::string>().find("redis-migrate " + src_server.url()) != std::string::npos);
    const long long pttl = dst.command({"PTTL", "redis-migrate:lock"}).integer;
    CHECK(pttl > 0);
    CHECK(pttl <= 30000);

    auto second = run_copy({src_server.url(), dst_server.url()});
    CHECK(second.exit_code() == 4);
    const std::string& err = second.result.err;
    CHECK(err.find("locked by another run") != std::string::npos);
    CHECK(err.find("host " + host_name() + " pid " + std::to_string(first.pid())) != std::string::npos);
    CHECK(err.find("until 20") != std::string::npos);
    CHECK(second.report["exit_code"] == 4);
    // cleanup writes too: refused as well. Reading runs are not.
    CHECK(run_copy({"cleanup", src_server.url(), dst_server.url()}).exit_code() == 4);
    CHECK(run_copy({"plan", src_server.url(), dst_server.url()}).exit_code() == 0);
    CHECK(run_copy({src_server.url(), dst_server.url(), "--dry-run"}).exit_code() == 0);
    // --no-lock opts out.
    auto unlocked = run_copy({src_server.url(), dst_server.url(), "--no-lock", "--progress-interval", "0"});
    CHECK(unlocked.exit_code() == 0);
    // The lease is renewed while the first run lives, and deleted when it ends.
    std::this_thread::sleep_for(200ms);
    CHECK(dst.command({"GET", "redis-migrate:lock"}).str == value.dump());
    first.send_signal(SIGTERM);
    CHECK(first.finish(60s).exit_code == 143);
    CHECK(dst.command({"EXISTS", "redis-migrate:lock"}).integer == 0);
    require_same(compare_keyspaces(src, dst), 20000);
  }

  TEST_CASE("a run whose lease another run took stops with exit 4") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_strings(src, 20000, "k:", 20);
    auto tool = start_tool({src_server.url(), dst_server.url(), "--lock-ttl", "1", "--rate-limit", "5000",
                            "--progress-interval", "0", "--report-json", "-"});
    REQUIRE(eventually([&] { return dst.command({"EXISTS", "redis-migrate:lock"}).integer == 1; }, 10s));
    // As if its lease had expired while it could not reach the destination, and another run took it.
    dst.checked({"SET", "redis-migrate:lock", R"({"host":"other","pid":9})", "PX", "60000"});
    auto result = tool.finish(60s);
    INFO(result.describe());
    CHECK(result.exit_code == 4);
    CHECK(result.err.find("lost the lock") != std::string::npos);
    CHECK(nlohmann::json::parse(result.out)["copied"].get<uint64_t>() < 20000);
    // The other run's lock is left alone.
    CHECK(dst.command({"GET", "redis-migrate:lock"}).str == R"({"host":"other","pid":9})");
    CHECK(latest_record(dst)["status"] == "failed");
  }

  TEST_CASE("a destination user that may not write the tool's keys: one clear line, and the ways out") {
    RedisServer src_server;
    RedisServer dst_server({.acl_users = {"user app on >pw ~app:* +@all"}});
    Client src = src_server.client();
    seed_strings(src, 500, "app:", 20);
    const std::string dst_url = dst_server.url_as("app", "pw");
    auto refused = run_copy({src_server.url(), dst_url});
    CHECK(refused.exit_code() == 3);
    CHECK(refused.result.err.find("redis-migrate:lock") != std::string::npos);
    CHECK(refused.result.err.find("--no-lock") != std::string::npos);
    auto no_lock = run_copy({src_server.url(), dst_url, "--no-lock"});
    CHECK(no_lock.exit_code() == 3);
    CHECK(no_lock.result.err.find("--state-file") != std::string::npos);
    TempDir dir("state");
    auto ok = run_copy({src_server.url(), dst_url, "--no-lock", "--state-file", dir.file("run.json")});
    INFO(ok.result.describe());
    CHECK(ok.exit_code() == 0);
    CHECK(ok.counter("copied") == 500);
  }

  TEST_CASE("a killed run's lease expires on its own; unlock clears one at once") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_strings(src, 50000, "k:", 20);
    auto tool = start_tool({src_server.url(), dst_server.url(), "--lock-ttl", "1", "--rate-limit", "10000",
                            "--progress-interval", "0"});
    REQUIRE(eventually([&] { return dst.command({"EXISTS", "redis-migrate:lock"}).integer == 1; }, 10s));
    std::this_thread::sleep_for(1500ms);  // longer than the TTL: renewals keep it
    CHECK(dst.command({"EXISTS", "redis-migrate:lock"}).integer == 1);
    tool.kill9();
    CHECK(dst.command({"PTTL", "redis-migrate:lock"}).integer <= 1000);
    CHECK(eventually([&] { return dst.command({"EXISTS", "redis-migrate:lock"}).integer == 0; }, 3s));

    // A lease left behind with a long TTL: unlock deletes it (no terminal: no question asked).
    dst.checked({"SET", "redis-migrate:lock",
                 R"({"host":"gone-pod","pid":7,"started_at":"2024-05-01T12:00:00Z","command":"copy"})", "PX",
                 "600000"});
    auto refused = run_copy({src_server.url(), dst_server.url()});
    CHECK(refused.exit_code() == 4);
    CHECK(refused.result.err.find("host gone-pod pid 7") != std::string::npos);
    auto unlock = run_copy({"unlock", dst_server.url()});
    INFO(unlock.result.describe());
    CHECK(unlock.exit_code() == 0);
    CHECK(unlock.result.err.find("host gone-pod pid 7") != std::string::npos);
    CHECK(unlock.result.err.find("lock deleted") != std::string::npos);
    CHECK(unlock.report["deleted"] == true);
    CHECK(dst.command({"EXISTS", "redis-migrate:lock"}).integer == 0);
    auto nothing = run_copy({"unlock", dst_server.url(), "--yes"});
    CHECK(nothing.exit_code() == 0);
    CHECK(nothing.result.err.find("no lock") != std::string::npos);
    auto copy = run_copy({src_server.url(), dst_server.url()});
    CHECK(copy.exit_code() == 0);
    CHECK(copy.counter("copied") + copy.counter("skipped") == 50000);
  }

  TEST_CASE("the tool's own keys are never copied or verified; --state-prefix moves them") {
    RedisServer a_server, b_server, c_server;
    Client a = a_server.client();
    Client b = b_server.client();
    Client c = c_server.client();
    seed_mixed(a, {.count = 500, .ttl_fraction = 0.2});
    REQUIRE(run_copy({a_server.url(), b_server.url()}).exit_code() == 0);
    const nlohmann::json b_record = latest_record(b);
    REQUIRE(b_record.is_object());
    // b now holds a record and an index; copied on, they must not travel.
    auto onward = run_copy({b_server.url(), c_server.url()});
    REQUIRE(onward.exit_code() == 0);
    CHECK(onward.counter("scanned") == 500);
    CHECK(c.command({"EXISTS", "redis-migrate:run:" + b_record["id"].get<std::string>()}).integer == 0);
    CHECK(c.command({"ZCARD", "redis-migrate:run:index"}).integer == 1);
    auto verified = run_copy({"verify", b_server.url(), c_server.url()});
    CHECK(verified.exit_code() == 0);
    CHECK(verified.counter("checked") == 500);

    // Another prefix: the tool's keys move there, and source keys under it are left out.
    a.checked({"SET", "mig:foreign", "x"});
    c.flushall();
    auto moved = run_copy({a_server.url(), c_server.url(), "--state-prefix", "mig:"});
    REQUIRE(moved.exit_code() == 0);
    CHECK(moved.counter("copied") == 500 + 1 - 1);
    CHECK(c.command({"EXISTS", "mig:foreign"}).integer == 0);
    CHECK(latest_record(c, "mig:").is_object());
    CHECK(c.scan_all("redis-migrate:*").empty());
    CHECK(run_copy({"verify", a_server.url(), c_server.url(), "--state-prefix", "mig:"}).exit_code() == 0);
  }

  TEST_CASE("the destination restarts (persistence on) mid-copy: the run reconnects and completes") {
    RedisServer src_server;
    RedisServer dst_server({.persistence = true});
    Client src = src_server.client();
    seed_strings(src, 60000, "k:", 100);
    auto tool = start_tool({src_server.url(), dst_server.url(), "--rate-limit", "20000",
                            "--progress-interval", "0.2", "--report-json", "-"});
    {
      Client dst = dst_server.client();
      REQUIRE(eventually([&] { return dst.dbsize() >= 15000; }, 30s));
    }
    dst_server.restart();
    auto result = tool.finish(120s);
    INFO(result.describe());
    REQUIRE(result.exit_code == 0);
    CHECK(result.err.find("reconnect") != std::string::npos);
    auto report = nlohmann::json::parse(result.out);
    // Re-sent RESTOREs of keys written before the restart count as copied: every key once.
    CHECK(report["copied"] == 60000);
    CHECK(report["skipped"] == 0);
    Client dst = dst_server.client();
    require_same(compare_keyspaces(src, dst), 60000);
    CHECK(dst.command({"EXISTS", "redis-migrate:lock"}).integer == 0);
    CHECK(latest_record(dst)["status"] == "finished");
  }

  TEST_CASE("the source stops answering for a while (SIGSTOP) mid-copy: the run waits and completes") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_strings(src, 30000, "k:", 20);
    auto tool = start_tool({src_server.url(), dst_server.url(), "--rate-limit", "15000",
                            "--progress-interval", "0.2", "--report-json", "-"});
    REQUIRE(eventually([&] { return dst.dbsize() >= 5000; }, 30s));
    src_server.pause();
    std::this_thread::sleep_for(500ms);
    const long long paused_at = user_dbsize(dst);
    std::this_thread::sleep_for(1500ms);
    CHECK(user_dbsize(dst) == paused_at);  // nothing moves while the source is stopped
    src_server.resume();
    auto result = tool.finish(120s);
    INFO(result.describe());
    REQUIRE(result.exit_code == 0);
    auto report = nlohmann::json::parse(result.out);
    CHECK(report["copied"] == 30000);
    require_same(compare_keyspaces(src, dst), 30000);
  }

  TEST_CASE("--rate-limit and --max-bytes-per-sec hold within 10%, and the progress line shows the pacing") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    seed_strings(src, 6000, "k:", 20);
    {
      // Random bytes: DUMP compresses repetitive values, and the byte limit counts payload bytes.
      std::mt19937_64 rng(3);
      std::vector<Command> cmds;
      for (int i = 0; i < 1500; ++i) {
        std::string v(2000, '\0');
        for (auto& ch : v)
          ch = static_cast<char>(rng());
        cmds.push_back({"SET", "big:" + std::to_string(i), std::move(v)});
      }
      src.pipeline_checked(cmds);
    }
    auto keys = run_copy({src_server.url(), dst_server.url(), "--match", "k:*", "--rate-limit", "2000",
                          "--progress-interval", "0.5"});
    INFO(keys.result.describe());
    REQUIRE(keys.exit_code() == 0);
    REQUIRE(keys.counter("copied") == 6000);
    const double key_rate = 6000.0 / keys.report["duration_s"].get<double>();
    MESSAGE("keys/s with --rate-limit 2000: " << key_rate);
    CHECK(key_rate >= 1800);
    CHECK(key_rate <= 2200);
    CHECK(keys.result.err.find("paced to 2,000 keys/s") != std::string::npos);

    auto bytes = run_copy({src_server.url(), dst_server.url(), "--match", "big:*", "--max-bytes-per-sec",
                           "1MB", "--progress-interval", "0.5"});
    INFO(bytes.result.describe());
    REQUIRE(bytes.exit_code() == 0);
    REQUIRE(bytes.counter("copied") == 1500);
    const double byte_rate =
        static_cast<double>(bytes.counter("bytes")) / bytes.report["duration_s"].get<double>();
    MESSAGE("bytes/s with --max-bytes-per-sec 1MB: " << byte_rate);
    CHECK(byte_rate >= 900'000);
    CHECK(byte_rate <= 1'100'000);
    CHECK(bytes.result.err.find("paced to 1.0 MB/s") != std::string::npos);
  }
}
