// Runs that could destroy data prove they are safe first: in-place renames whose targets are other selected
// keys (a swap, a chain, a cycle) are refused before anything is written; the compare-and-delete keeps a
// source key whose expiry changed during the copy; and a resumed run counts copied only what it wrote.
// After every case: every key that existed anywhere before the run exists somewhere after it, with its value.

#include <doctest/doctest.h>

#include <csignal>
#include <cstdlib>
#include <functional>
#include <thread>

#include "helpers.hpp"
#include "support/cluster.hpp"
#include "support/preserved.hpp"
#include "support/redis_server.hpp"

using namespace rmig::test;

namespace {

// n strings under each prefix, each with a value of its own ("a:7" holds "value of a:7").
void seed_prefixes(KeyWriter& c, const std::vector<std::string>& prefixes, int n) {
  std::vector<Command> cmds;
  for (const auto& p : prefixes) {
    for (int i = 0; i < n; ++i)
      cmds.push_back({"SET", p + std::to_string(i), "value of " + p + std::to_string(i)});
  }
  c.pipeline_checked(cmds);
}

// An in-place run over one server that must be refused with exit 2 before anything is written: the server
// is byte-identical afterwards and holds none of the tool's keys.
void check_refused_in_place(KeyWriter& server, const std::string& url, std::vector<std::string> rules,
                            const std::vector<std::string>& expected) {
  const ServerImage before_image = server_image(server);
  const KeysBefore before = keys_before({&server});
  std::vector<std::string> args = {url, url, "--yes", "--progress-interval", "0"};
  args.insert(args.end(), rules.begin(), rules.end());
  auto run = run_copy(args);
  INFO(run.result.describe());
  CHECK(run.exit_code() == 2);
  for (const auto& text : expected)
    CHECK_MESSAGE(run.result.err.find(text) != std::string::npos, "missing: " << text);
  // One line says why, and nothing else went wrong.
  CHECK(lines_with(run.result.err, "redis-migrate: ").size() == 1);
  CHECK(run.counter("copied") == 0);
  check_unchanged(before_image, server_image(server), 5000);
  CHECK(server.scan_all("redis-migrate:*").empty());
  require_preserved(check_preserved(before, {&server}));
}

}  // namespace

TEST_SUITE("safety_rename") {
  TEST_CASE("in place, a swap of two prefixes with --replace is refused before anything is written") {
    RedisServer server;
    Client c = server.client();
    seed_prefixes(c, {"a:", "b:", "other:"}, 200);
    check_refused_in_place(c, server.url(),
                           {"--rename-prefix", "a:", "b:", "--rename-prefix", "b:", "a:", "--replace"},
                           {"would be overwritten before it is copied", "rule 1 (prefix \"a:\" -> \"b:\")",
                            "rule 2 (prefix \"b:\" -> \"a:\")",
                            "first --rename-prefix 'a:' 'tmp:b:' --rename-prefix 'b:' 'tmp:a:', then --match "
                            "'tmp:*' --rename 'tmp:(.*)' '\\1'"});
  }

  TEST_CASE(
      "in place, a chain of rules (a: -> b:, b: -> c:) with --replace --cleanup is refused, naming two "
      "keys") {
    RedisServer server;
    Client c = server.client();
    seed_prefixes(c, {"a:", "b:"}, 200);
    const ServerImage before_image = server_image(c);
    const KeysBefore before = keys_before({&c});
    auto run = run_copy({server.url(), server.url(), "--rename-prefix", "a:", "b:", "--rename-prefix",
                         "b:", "c:", "--replace", "--cleanup", "--yes"});
    INFO(run.result.describe());
    CHECK(run.exit_code() == 2);
    // The two keys named are real: one a: key, and the b: key its new name is.
    const std::string& err = run.result.err;
    const auto at = err.find("key \"a:");
    REQUIRE(at != std::string::npos);
    const auto end = err.find('"', at + 5);
    const std::string number = err.substr(at + 7, end - at - 7);
    CHECK(err.find("renamed to \"b:" + number + "\"") != std::string::npos);
    CHECK(err.find("but \"b:" + number +
                   "\" is also a selected key, which rule 2 (prefix \"b:\" -> \"c:\") renames to \"c:" +
                   number + "\"") != std::string::npos);
    check_unchanged(before_image, server_image(c));
    CHECK(c.scan_all("c:*").empty());
    require_preserved(check_preserved(before, {&c}));
  }

  TEST_CASE("in place, a cycle of three rules with --replace is refused") {
    RedisServer server;
    Client c = server.client();
    seed_prefixes(c, {"a:", "b:", "c:"}, 100);
    check_refused_in_place(c, server.url(),
                           {"--rename-prefix", "a:", "b:", "--rename-prefix", "b:", "c:", "--rename-prefix",
                            "c:", "a:", "--replace"},
                           {"would be overwritten before it is copied", "a swap, chain or cycle"});
  }

  TEST_CASE("in place, a swap with --on-conflict merge is refused") {
    RedisServer server;
    Client c = server.client();
    std::vector<Command> cmds;
    for (int i = 0; i < 100; ++i) {
      cmds.push_back({"HSET", "a:" + std::to_string(i), "from", "a", "n", std::to_string(i)});
      cmds.push_back({"HSET", "b:" + std::to_string(i), "from", "b", "m", std::to_string(i)});
    }
    c.pipeline_checked(cmds);
    check_refused_in_place(
        c, server.url(),
        {"--rename-prefix", "a:", "b:", "--rename-prefix", "b:", "a:", "--on-conflict", "merge"},
        {"would be overwritten before it is copied"});
  }

  TEST_CASE("in place on a 3-primary cluster, a swap with --replace is refused before anything is written") {
    LocalCluster cluster;
    ClusterClient c = cluster.client();
    seed_prefixes(c, {"a:", "b:"}, 300);
    check_refused_in_place(c, cluster.url(),
                           {"--rename-prefix", "a:", "b:", "--rename-prefix", "b:", "a:", "--replace"},
                           {"would be overwritten before it is copied", "rule 1 (prefix \"a:\" -> \"b:\")"});
  }

  TEST_CASE("the two-pass recipe the refusal gives swaps the prefixes in place and loses nothing") {
    RedisServer server;
    Client c = server.client();
    seed_prefixes(c, {"a:", "b:"}, 200);
    const KeysBefore before = keys_before({&c});
    auto first = run_copy({server.url(), server.url(), "--rename-prefix", "a:", "tmp:b:", "--rename-prefix",
                           "b:", "tmp:a:", "--cleanup", "--yes"});
    INFO(first.result.describe());
    REQUIRE(first.exit_code() == 0);
    CHECK(first.counter("copied") == 400);
    CHECK(first.counter("deleted") == 400);
    auto second = run_copy({server.url(), server.url(), "--match", "tmp:*", "--rename", "tmp:(.*)", "\\1",
                            "--cleanup", "--yes"});
    INFO(second.result.describe());
    REQUIRE(second.exit_code() == 0);
    CHECK(second.counter("copied") == 400);
    CHECK(second.counter("deleted") == 400);
    CHECK(c.command({"GET", "a:7"}).str == "value of b:7");
    CHECK(c.command({"GET", "b:7"}).str == "value of a:7");
    CHECK(user_dbsize(c) == 400);
    require_preserved(check_preserved(before, {&c}));
  }

  TEST_CASE("between two servers a chain of rules is a re-layout: allowed, every key under its new name") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_prefixes(src, {"a:", "b:"}, 200);
    const KeysBefore before = keys_before({&src, &dst});
    auto run = run_copy({src_server.url(), dst_server.url(), "--rename-prefix", "a:", "b:", "--rename-prefix",
                         "b:", "c:", "--cleanup", "--yes"});
    INFO(run.result.describe());
    REQUIRE(run.exit_code() == 0);
    CHECK(run.counter("copied") == 400);
    CHECK(dst.command({"GET", "b:3"}).str == "value of a:3");
    CHECK(dst.command({"GET", "c:3"}).str == "value of b:3");
    CHECK(user_dbsize(src) == 0);
    require_preserved(check_preserved(before, {&src, &dst}));
  }
}

namespace {

// A --cleanup copy of the one key `key` whose RESTORE waits (the destination's writes are paused) until the
// key was read from the source; then `change` alters it on the source, 1.5 s pass (more than the 1 s
// tolerance, so an expiry compared without the elapsed time would differ), and the destination resumes.
// Returns the run's report.
nlohmann::json paused_cleanup(RedisServer& src_server, RedisServer& dst_server, const std::string& key,
                              const std::function<void(Client&)>& change) {
  Client src = src_server.client();
  Client dst = dst_server.client();
  TempDir dir;
  const long long dumps_before = command_calls(src, "dump");
  const long long probes_before = command_calls(dst, "discard");
  // Paused writes hold the RESTORE; the run keeps its record in a file so nothing else waits. The pause
  // starts once the run's command checks (queued in a discarded transaction, which a write pause would hold
  // too) are done; --rate-limit 1 keeps the first key back for a second after that.
  auto tool =
      start_tool({src_server.url(), dst_server.url(), "--cleanup", "--yes", "--no-lock", "--state-file",
                  dir.file("state.json"), "--report-json", dir.file("report.json"), "--progress-interval",
                  "0", "--big-key-threshold", "0", "--match", key, "--rate-limit", "1"});
  REQUIRE(eventually([&] { return command_calls(dst, "discard") > probes_before; }, 15s));
  REQUIRE(dst.command({"CLIENT", "PAUSE", "20000", "WRITE"}).is_status("OK"));
  REQUIRE(command_calls(src, "dump") == dumps_before);
  const bool read = eventually([&] { return command_calls(src, "dump") > dumps_before; }, 15s);
  change(src);
  std::this_thread::sleep_for(1500ms);
  REQUIRE(dst.command({"CLIENT", "UNPAUSE"}).is_status("OK"));
  const RunResult result = tool.finish(60s);
  INFO(result.describe());
  REQUIRE(read);
  REQUIRE(result.exit_code == 0);
  auto report = nlohmann::json::parse(read_file(dir.file("report.json")));
  report["stderr"] = result.err;
  return report;
}

// The key "changed" (seeded by `seed`) is altered by `change` while its copy is in flight: it is copied, then
// kept on the source (counted kept). The key "same", copied the same way with nothing changed, is deleted.
void ttl_changed_mid_run(const std::function<void(Client&)>& seed,
                         const std::function<void(Client&)>& change) {
  RedisServer src_server, dst_server;
  Client src = src_server.client();
  Client dst = dst_server.client();
  seed(src);
  src.checked({"SET", "same", "unchanged value", "EX", "3600"});
  src.checked({"SET", "same-persistent", "unchanged persistent value"});
  const KeysBefore before = keys_before({&src, &dst});

  const nlohmann::json changed = paused_cleanup(src_server, dst_server, "changed", change);
  INFO(changed.dump());
  CHECK(changed["copied"] == 1);
  CHECK(changed["deleted"] == 0);
  CHECK(changed["cleanup_kept"] == 1);
  CHECK(changed["kept"] == 1);
  CHECK(changed["stderr"].get<std::string>().find("changed on the source during the copy") !=
        std::string::npos);
  // Still on the source, with the expiry it was given meanwhile; its copy on the destination.
  CHECK(src.command({"EXISTS", "changed"}).integer == 1);
  CHECK(dst.command({"EXISTS", "changed"}).integer == 1);

  for (const char* key : {"same", "same-persistent"}) {
    const nlohmann::json same = paused_cleanup(src_server, dst_server, key, [](Client&) {});
    INFO(same.dump());
    CHECK(same["copied"] == 1);
    CHECK(same["deleted"] == 1);
    CHECK(same["cleanup_kept"] == 0);
    CHECK(src.command({"EXISTS", key}).integer == 0);
  }
  // On Redis >= 7.0 the script compared absolute expiries (PEXPIRETIME).
  if (redis_version(src).rfind("6.", 0) != 0) CHECK(command_calls(src, "pexpiretime") >= 3);
  require_preserved(check_preserved(before, {&src, &dst}));
}

}  // namespace

TEST_SUITE("safety_rename") {
  TEST_CASE("--cleanup: a TTL lowered on the source during the copy keeps the key (kept)") {
    ttl_changed_mid_run(
        [](Client& c) {
          c.checked({"SET", "changed", "x", "EX", "3600"});
        },
        [](Client& c) {
          c.checked({"EXPIRE", "changed", "60"});
        });
  }

  TEST_CASE("--cleanup: a TTL raised by 3 s on the source during the copy keeps the key (kept)") {
    ttl_changed_mid_run(
        [](Client& c) {
          c.checked({"SET", "changed", "x", "EX", "3600"});
        },
        [](Client& c) {
          const long long pttl = c.command({"PTTL", "changed"}).integer;
          c.checked({"PEXPIRE", "changed", std::to_string(pttl + 3000)});
        });
  }

  TEST_CASE("--cleanup: a TTL removed on the source during the copy keeps the key (kept)") {
    ttl_changed_mid_run(
        [](Client& c) {
          c.checked({"SET", "changed", "x", "EX", "3600"});
        },
        [](Client& c) {
          CHECK(c.command({"PERSIST", "changed"}).integer == 1);
        });
  }

  TEST_CASE("--cleanup: a TTL added on the source during the copy keeps the key (kept)") {
    ttl_changed_mid_run(
        [](Client& c) {
          c.checked({"SET", "changed", "x"});
        },
        [](Client& c) {
          CHECK(c.command({"EXPIRE", "changed", "3600"}).integer == 1);
        });
  }

  TEST_CASE("cleanup: a source TTL raised by 3 s since the copy (within --ttl-tolerance) keeps the key") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    std::vector<Command> cmds;
    for (int i = 0; i < 20; ++i)
      cmds.push_back({"SET", "k:" + std::to_string(i), "v" + std::to_string(i), "EX", "3600"});
    src.pipeline_checked(cmds);
    auto copy = run_copy({src_server.url(), dst_server.url()});
    REQUIRE(copy.exit_code() == 0);
    const long long pttl = src.command({"PTTL", "k:5"}).integer;
    src.checked({"PEXPIRE", "k:5", std::to_string(pttl + 3000)});
    const KeysBefore before = keys_before({&src, &dst});
    auto cleanup = run_copy({"cleanup", src_server.url(), dst_server.url(), "--yes"});
    INFO(cleanup.result.describe());
    CHECK(cleanup.exit_code() == 1);        // a key was kept
    CHECK(cleanup.counter("equal") == 20);  // verify's tolerance (5 s) accepts the TTLs ...
    CHECK(cleanup.counter("deleted") == 19);
    CHECK(cleanup.counter("cleanup_kept") == 1);  // ... the deletion does not: the copy would die first
    CHECK(src.command({"EXISTS", "k:5"}).integer == 1);
    CHECK(user_dbsize(src) == 1);
    require_preserved(check_preserved(before, {&src, &dst}));
  }

  TEST_CASE("resume after a finished run: nothing is counted copied, every key skipped, nothing deleted") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_prefixes(src, {"k:"}, 3000);
    auto first = run_copy({src_server.url(), dst_server.url()});
    REQUIRE(first.exit_code() == 0);
    REQUIRE(first.counter("copied") == 3000);
    const KeysBefore before = keys_before({&src, &dst});
    // The same command again (a second pass), with --cleanup, killed half-way, then resumed.
    const std::vector<std::string> args = {src_server.url(),      dst_server.url(),
                                           "--cleanup",           "--yes",
                                           "--lock-ttl",          "1",
                                           "--progress-interval", "0"};
    std::vector<std::string> slow = args;
    slow.insert(slow.end(), {"--rate-limit", "500"});
    auto tool = start_tool(slow);
    REQUIRE(eventually(
        [&] {
          const auto r = latest_record(dst);
          return r.is_object() && r["status"] == "running" && record_scanned(r) >= 1000;
        },
        30s));
    tool.kill9();
    REQUIRE(eventually([&] { return dst.command({"EXISTS", "redis-migrate:lock"}).integer == 0; }, 5s));
    auto resumed = run_copy(args);
    INFO(resumed.result.describe());
    REQUIRE(resumed.exit_code() == 0);
    CHECK(resumed.report["run"]["resumed"] == true);
    CHECK(resumed.counter("scanned") == 3000);
    CHECK(resumed.counter("copied") == 0);
    CHECK(resumed.counter("skipped") == 3000);
    CHECK(resumed.counter("deleted") == 0);
    CHECK(user_dbsize(src) == 3000);
    require_preserved(check_preserved(before, {&src, &dst}));
  }

  TEST_CASE("resume after SIGTERM: every key the first attempt wrote is counted copied, none skipped") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_prefixes(src, {"k:"}, 3000);
    const KeysBefore before = keys_before({&src, &dst});
    const std::vector<std::string> args = {src_server.url(), dst_server.url(), "--progress-interval", "0"};
    std::vector<std::string> slow = args;
    slow.insert(slow.end(), {"--rate-limit", "1000"});
    auto tool = start_tool(slow);
    REQUIRE(eventually([&] { return record_scanned(latest_record(dst)) >= 1000; }, 30s));
    std::this_thread::sleep_for(300ms);  // into the next batch: keys are copied past the checkpoint's cursor
    tool.send_signal(SIGTERM);
    const RunResult stopped = tool.finish(30s);
    REQUIRE(stopped.exit_code == 143);
    const auto on_dst = static_cast<uint64_t>(user_dbsize(dst));
    CHECK(on_dst < 3000);
    // Keys the first attempt copied that its checkpoint's cursor does not cover: only its list of written
    // keys says they are its own.
    const uint64_t covered = record_scanned(latest_record(dst));
    MESSAGE("copied before SIGTERM " << on_dst << ", covered by the cursor " << covered);
    CHECK(on_dst > covered);
    auto resumed = run_copy(args);
    INFO(resumed.result.describe());
    REQUIRE(resumed.exit_code() == 0);
    CHECK(resumed.report["run"]["resumed"] == true);
    CHECK(resumed.counter("copied") == 3000);
    CHECK(resumed.counter("skipped") == 0);
    require_preserved(check_preserved(before, {&src, &dst}));
  }
}

TEST_SUITE("safety_rename") {
  TEST_CASE(
      "resume with --cleanup: a copy an earlier attempt made is compared with the source's expiry now") {
    // The first attempt copies the key and records it, but its deletion waits (the source's writes are
    // paused) and it is killed. The source key's TTL is then raised by 3 s: the resumed run recognises the
    // copy as its own (copied), and keeps the source key, whose copy would now die 3 s before it.
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    TempDir dir;
    src.checked({"SET", "k", "the value", "EX", "3600"});
    const KeysBefore before = keys_before({&src, &dst});
    // --rate-limit 1: the first key waits a second after the command checks (which a write pause would hold
    // too), and the source's writes are paused in that second.
    const std::vector<std::string> args = {src_server.url(),
                                           dst_server.url(),
                                           "--cleanup",
                                           "--yes",
                                           "--no-lock",
                                           "--state-file",
                                           dir.file("state.json"),
                                           "--progress-interval",
                                           "0",
                                           "--rate-limit",
                                           "1"};
    const long long probes_before = command_calls(dst, "discard");
    auto tool = start_tool(args);
    REQUIRE(eventually([&] { return command_calls(dst, "discard") > probes_before; }, 15s));
    REQUIRE(src.command({"CLIENT", "PAUSE", "20000", "WRITE"}).is_status("OK"));
    REQUIRE(dst.command({"EXISTS", "k"}).integer == 0);
    const bool recorded = eventually(
        [&] {
          const auto j = nlohmann::json::parse(read_file(dir.file("state.json")), nullptr, false);
          return j.is_object() && !j["nodes"].empty() && j["nodes"][0].contains("written");
        },
        15s);
    tool.kill9();
    REQUIRE(src.command({"CLIENT", "UNPAUSE"}).is_status("OK"));
    REQUIRE(recorded);
    REQUIRE(dst.command({"EXISTS", "k"}).integer == 1);
    REQUIRE(src.command({"EXISTS", "k"}).integer == 1);
    const long long pttl = src.command({"PTTL", "k"}).integer;
    src.checked({"PEXPIRE", "k", std::to_string(pttl + 3000)});

    auto resumed = run_copy(args);
    INFO(resumed.result.describe());
    REQUIRE(resumed.exit_code() == 0);
    CHECK(resumed.report["run"]["resumed"] == true);
    CHECK(resumed.counter("copied") == 1);
    CHECK(resumed.counter("skipped") == 0);
    CHECK(resumed.counter("deleted") == 0);
    CHECK(resumed.counter("kept") == 1);
    CHECK(src.command({"EXISTS", "k"}).integer == 1);
    require_preserved(check_preserved(before, {&src, &dst}));

    // Unchanged since, the same resumed copy deletes it.
    src.checked({"SET", "k2", "another value", "EX", "3600"});
    std::vector<std::string> args2 = args;
    args2.insert(args2.end(), {"--match", "k2"});
    const long long probes_before2 = command_calls(dst, "discard");
    auto tool2 = start_tool(args2);
    REQUIRE(eventually([&] { return command_calls(dst, "discard") > probes_before2; }, 15s));
    REQUIRE(src.command({"CLIENT", "PAUSE", "20000", "WRITE"}).is_status("OK"));
    REQUIRE(dst.command({"EXISTS", "k2"}).integer == 0);
    const bool recorded2 = eventually(
        [&] {
          const auto j = nlohmann::json::parse(read_file(dir.file("state.json")), nullptr, false);
          return j.is_object() && !j["nodes"].empty() && j["nodes"][0].contains("written") &&
                 j["fingerprint"].dump().find("k2") != std::string::npos;
        },
        15s);
    tool2.kill9();
    REQUIRE(src.command({"CLIENT", "UNPAUSE"}).is_status("OK"));
    REQUIRE(recorded2);
    auto resumed2 = run_copy(args2);
    INFO(resumed2.result.describe());
    REQUIRE(resumed2.exit_code() == 0);
    CHECK(resumed2.report["run"]["resumed"] == true);
    CHECK(resumed2.counter("copied") == 1);
    CHECK(resumed2.counter("deleted") == 1);
    CHECK(src.command({"EXISTS", "k2"}).integer == 0);
    CHECK(dst.command({"GET", "k2"}).str == "another value");
    require_preserved(check_preserved(before, {&src, &dst}));
  }
}

namespace {

void created_under_chained_name(const std::string& mode) {
  // a: -> b: and b: -> c: with only a: keys: the rename check passes. While the copy runs (slowly), the
  // application creates b: keys: each one the copy meets fails instead of being overwritten (--replace).
  RedisServer server;
  Client c = server.client();
  seed_prefixes(c, {"a:"}, 10);
  const KeysBefore before = keys_before({&c});
  auto tool = start_tool({server.url(), server.url(), "--rename-prefix", "a:", "b:", "--rename-prefix",
                          "b:", "c:", "--replace", "--yes", "--rate-limit", "2", "--progress-interval", "0",
                          "--mode", mode});
  REQUIRE(eventually([&] { return !c.scan_all("b:*").empty(); }, 20s));
  int created = 0;
  for (int i = 0; i < 10; ++i) {
    if (c.command({"SET", "b:" + std::to_string(i), "written by the application", "NX"}).is_status("OK"))
      ++created;
  }
  const RunResult result = tool.finish(60s);
  INFO(result.describe());
  MESSAGE("keys created by the application during the run: " << created);
  CHECK(created > 0);
  CHECK(result.exit_code == 1);
  CHECK(result.err.find("that rule 2 (prefix \"b:\" -> \"c:\") renames in turn") != std::string::npos);
  int app = 0;
  for (int i = 0; i < 10; ++i) {
    const std::string v = c.command({"GET", "b:" + std::to_string(i)}).str;
    if (v == "written by the application") {
      ++app;
    } else {
      CHECK(v == "value of a:" + std::to_string(i));
    }
  }
  CHECK(app == created);  // every key the application created is still its own
  require_preserved(check_preserved(before, {&c}));
}

}  // namespace

TEST_SUITE("safety_rename") {
  TEST_CASE("plan: in place, a swap is listed as a collision and the plan exits 2") {
    RedisServer server;
    Client c = server.client();
    seed_prefixes(c, {"a:", "b:"}, 50);
    const ServerImage before = server_image(c);
    auto plan = run_copy({"plan", server.url(), server.url(), "--rename-prefix",
                          "a:", "b:", "--rename-prefix", "b:", "a:", "--replace"});
    INFO(plan.result.describe());
    CHECK(plan.exit_code() == 2);
    CHECK(plan.report["plan"]["collision_count"].get<uint64_t>() > 0);
    CHECK(plan.report["plan"]["collisions"][0].get<std::string>().find(
              "would be overwritten before it is copied") != std::string::npos);
    check_unchanged(before, server_image(c));
  }

  TEST_CASE("in place, a key created during the run under a chained name is never overwritten (dump path)") {
    created_under_chained_name("dump");
  }

  TEST_CASE(
      "in place, a key created during the run under a chained name is never overwritten (rewrite path)") {
    created_under_chained_name("rewrite");
  }
}
