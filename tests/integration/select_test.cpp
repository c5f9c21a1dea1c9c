// Choosing and reshaping what moves: selection, renames (also in place), all DBs, conflict policies, plans
// and confirmations, and three real migrations end to end.

#include <doctest/doctest.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <thread>

#include "helpers.hpp"
#include "support/cluster.hpp"
#include "support/compare.hpp"
#include "support/redis_server.hpp"
#include "support/seed.hpp"

using namespace rmig::test;

namespace {

const std::vector<std::string> kTownKinds = {"agent", "inbox", "urgent", "task", "activity", "stop"};

std::vector<std::string> town_rules() {
  return {"--rename",
          "^tt:(agent|inbox|urgent|task|activity|stop):(.*)$",
          "tt:my-project:\\1:\\2",
          "--rename-prefix",
          "tt:backlog",
          "tt:my-project:backlog",
          "--match",
          "tt:*",
          "--exclude",
          "tt:my-project:*"};
}

std::string town_new_name(const std::string& old) {
  if (old == "tt:backlog") return "tt:my-project:backlog";
  return "tt:my-project:" + old.substr(3);
}

void seed_town(Client& c, int per_kind) {
  std::vector<Command> cmds;
  for (const auto& kind : kTownKinds) {
    for (int i = 0; i < per_kind; ++i) {
      const std::string k = "tt:" + kind + ":" + std::to_string(i);
      if (kind == "inbox") {
        cmds.push_back({"RPUSH", k, "msg-1", "msg-2"});
      } else if (kind == "activity") {
        cmds.push_back({"ZADD", k, "1", "login", "2", "logout"});
      } else if (kind == "task") {
        cmds.push_back({"HSET", k, "title", "t" + std::to_string(i), "state", "open"});
      } else {
        cmds.push_back({"SET", k, kind + "-" + std::to_string(i), "PX", std::to_string(3'600'000 + i)});
      }
    }
  }
  cmds.push_back({"SADD", "tt:backlog", "a", "b", "c"});
  cmds.push_back({"SET", "unrelated:key", "stays"});
  c.pipeline_checked(cmds);
}

// Runs the tool on a pseudo-terminal (stdin is a terminal), answering `answer` to any question.
struct PtyRun {
  int exit_code = -1;
  std::string output;
};
PtyRun run_on_pty(const std::vector<std::string>& args, const std::string& answer) {
  int master = -1;
  pid_t pid = forkpty(&master, nullptr, nullptr, nullptr);
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::vector<char*> argv;
    std::string bin = tool_path();
    argv.push_back(bin.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto name : kToolEnvVars)
      unsetenv(std::string(name).c_str());
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  PtyRun out;
  bool answered = false;
  char buf[4096];
  for (;;) {
    ssize_t n = read(master, buf, sizeof buf);
    if (n <= 0) break;
    out.output.append(buf, static_cast<std::size_t>(n));
    if (!answered && out.output.find("Proceed? [y/N]") != std::string::npos) {
      const std::string line = answer + "\n";
      REQUIRE(write(master, line.data(), line.size()) == static_cast<ssize_t>(line.size()));
      answered = true;
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  close(master);
  out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

}  // namespace

TEST_SUITE("select") {
  TEST_CASE(
      "town isolation: tt:<kind>:<id> becomes tt:my-project:<kind>:<id> in place; a second run finds "
      "nothing") {
    RedisServer server;
    Client c = server.client();
    seed_town(c, 200);
    auto before = c.scan_all("tt:*");
    std::map<std::string, KeySnapshot> snapshots;
    for (const auto& k : before)
      snapshots[k] = snapshot_key(c, k);

    // The plan shows the mapping and writes nothing.
    std::vector<std::string> plan_args = {"plan", server.url(), server.url()};
    for (const auto& a : town_rules())
      plan_args.push_back(a);
    auto plan = run_copy(plan_args);
    INFO(plan.result.describe());
    REQUIRE(plan.exit_code() == 0);
    CHECK(plan.counter("would_copy") == before.size());
    CHECK(plan.result.err.find("-> \"tt:my-project:") != std::string::npos);
    CHECK(plan.report["plan"]["by_rule"].size() == 2);
    CHECK(c.scan_all("tt:my-project:*").empty());

    // The move, while a writer keeps updating one old name: that write must not be lost.
    std::atomic<bool> stop{false};
    std::string last;
    std::thread writer([&] {
      Client w = server.client();
      for (int n = 0; !stop; ++n) {
        last = "updated-" + std::to_string(n);
        w.checked({"SET", "tt:agent:7", last});
        std::this_thread::sleep_for(1ms);
      }
    });
    std::vector<std::string> move_args = {server.url(), server.url(),    "--cleanup",
                                          "--yes",      "--window-keys", "8"};
    for (const auto& a : town_rules())
      move_args.push_back(a);
    auto move = run_copy(move_args);
    stop = true;
    writer.join();
    INFO(move.result.describe());
    REQUIRE(move.exit_code() == 0);
    CHECK(move.counter("copied") == before.size());
    // Every old key now lives under its new name, equal to what it was (the writer's key aside).
    for (const auto& [old, snap] : snapshots) {
      if (old == "tt:agent:7") continue;
      CHECK(c.command({"EXISTS", old}).integer == 0);
      KeySnapshot now = snapshot_key(c, town_new_name(old));
      CHECK(now.type == snap.type);
      CHECK(now.items == snap.items);
      CHECK((now.pttl == -1) == (snap.pttl == -1));
    }
    // The last write to the old name is on the source (not deleted), or was copied to the new name.
    const std::string at_old = c.command({"GET", "tt:agent:7"}).str;
    const std::string at_new = c.command({"GET", "tt:my-project:agent:7"}).str;
    const bool kept = at_old == last || at_new == last;
    CHECK(kept);
    CHECK(c.command({"GET", "unrelated:key"}).str == "stays");

    // Nothing left to do (the old key the writer recreated aside).
    c.command({"DEL", "tt:agent:7"});
    std::vector<std::string> again = {server.url(), server.url(), "--cleanup", "--yes"};
    for (const auto& a : town_rules())
      again.push_back(a);
    auto second = run_copy(again);
    CHECK(second.exit_code() == 0);
    CHECK(second.counter("scanned") == 0);
    CHECK(second.result.err.find("no keys to migrate") != std::string::npos);
  }

  TEST_CASE("sessions DB 1 -> DB 0: TTLs kept, existing sessions skipped, the index merged, DB 1 untouched") {
    RedisServer server;
    Client db1 = server.client(1);
    Client db0 = server.client(0);
    std::vector<Command> cmds;
    for (int i = 0; i < 300; ++i) {
      cmds.push_back({"SET", "storyart:session:" + std::to_string(i), "s" + std::to_string(i), "PX",
                      std::to_string(1'800'000 + i * 1000)});
      cmds.push_back({"ZADD", "storyart:sessions:index", std::to_string(i), "sess-" + std::to_string(i)});
    }
    cmds.push_back({"SET", "storyart:other", "not selected"});
    db1.pipeline_checked(cmds);
    db0.checked({"SET", "storyart:session:5", "already-in-db0"});
    db0.checked({"ZADD", "storyart:sessions:index", "9999", "sess-5", "7", "sess-db0-only"});
    db0.checked({"PEXPIRE", "storyart:sessions:index", "86400000"});
    std::map<std::string, KeySnapshot> db1_before;
    for (const auto& k : db1.scan_all())
      db1_before[k] = snapshot_key(db1, k);

    auto sessions = run_copy({server.url(1), server.url(0), "--match", "storyart:session:*"});
    INFO(sessions.result.describe());
    REQUIRE(sessions.exit_code() == 0);
    CHECK(sessions.counter("copied") == 299);
    CHECK(sessions.counter("skipped") == 1);
    CHECK(db0.command({"GET", "storyart:session:5"}).str == "already-in-db0");
    for (int i = 0; i < 300; i += 37) {
      if (i == 5) continue;
      const std::string k = "storyart:session:" + std::to_string(i);
      CHECK(db0.command({"GET", k}).str == "s" + std::to_string(i));
      const long long s = db1.command({"PTTL", k}).integer;
      const long long d = db0.command({"PTTL", k}).integer;
      CHECK(d > 0);
      CHECK(d <= s + 1);
      CHECK(d > s - 2000);
    }

    auto index = run_copy({server.url(1), server.url(0), "--match", "storyart:sessions:index",
                           "--on-conflict", "merge", "--yes"});
    INFO(index.result.describe());
    REQUIRE(index.exit_code() == 0);
    CHECK(index.counter("merged") == 1);
    CHECK(db0.command({"ZCARD", "storyart:sessions:index"}).integer == 301);            // union
    CHECK(db0.command({"ZSCORE", "storyart:sessions:index", "sess-5"}).str == "9999");  // existing score kept
    CHECK(db0.command({"ZSCORE", "storyart:sessions:index", "sess-6"}).str == "6");
    CHECK(db0.command({"PTTL", "storyart:sessions:index"}).integer > 80'000'000);  // the destination's TTL
    CHECK(db0.scan_all("*redis-migrate:tmp:*").empty());                           // no temporary key left
    CHECK(db0.command({"EXISTS", "storyart:other"}).integer == 0);

    // The source database is untouched.
    for (const auto& [k, snap] : db1_before) {
      KeySnapshot now = snapshot_key(db1, k);
      CHECK(now.items == snap.items);
    }
    CHECK(static_cast<std::size_t>(db1.dbsize()) == db1_before.size());

    // --merge-prefer source: the source's score wins for members on both sides.
    auto prefer = run_copy({server.url(1), server.url(0), "--match", "storyart:sessions:index",
                            "--on-conflict", "merge", "--merge-prefer", "source", "--yes"});
    REQUIRE(prefer.exit_code() == 0);
    CHECK(db0.command({"ZSCORE", "storyart:sessions:index", "sess-5"}).str == "5");
  }

  TEST_CASE("hash-tag rename into a 3-primary cluster: each tenant's keys end in one slot") {
    RedisServer src_server;
    LocalCluster dst_cluster;
    Client src = src_server.client();
    std::vector<Command> cmds;
    for (int t = 0; t < 50; ++t) {
      const std::string tenant = "tenant:" + std::to_string(t);
      cmds.push_back({"SADD", tenant + ":dests", "a", "b"});
      cmds.push_back({"HSET", tenant + ":profile", "name", "n" + std::to_string(t)});
      cmds.push_back({"SET", tenant + ":counter", std::to_string(t)});
    }
    src.pipeline_checked(cmds);
    auto run = run_copy(
        {src_server.url(), dst_cluster.url(), "--rename", "tenant:([^:]+):(.*)", "{tenant:\\1}:\\2"});
    INFO(run.result.describe());
    REQUIRE(run.exit_code() == 0);
    CHECK(run.counter("copied") == 150);
    ClusterClient dst = dst_cluster.client();
    auto rename = [](const std::string& k) {
      const auto second = k.find(':', 7);
      return "{" + k.substr(0, second) + "}" + k.substr(second);
    };
    require_same(compare_keyspaces(src, dst, {.rename = rename}), 150);
    for (int t = 0; t < 50; ++t) {
      const std::string tag = "{tenant:" + std::to_string(t) + "}";
      const int slot = key_slot(tag + ":dests");
      CHECK(key_slot(tag + ":profile") == slot);
      CHECK(key_slot(tag + ":counter") == slot);
      CHECK(dst.command({"EXISTS", tag + ":counter"}).integer == 1);
    }
  }

  TEST_CASE(
      "selection: several --match, --exclude, --type (server-side and checked), and their env variables") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    src.pipeline_checked({{"SET", "a:1", "x"},
                          {"SET", "a:2", "x"},
                          {"RPUSH", "a:list", "x"},
                          {"SET", "b:1", "x"},
                          {"HSET", "b:hash", "f", "v"},
                          {"SET", "c:1", "x"},
                          {"SET", "a:skip:1", "x"}});
    auto run = run_copy({src_server.url(), dst_server.url(), "--match", "a:*", "--match", "b:*", "--exclude",
                         "a:skip:*", "--type", "string", "--type", "hash"});
    REQUIRE(run.exit_code() == 0);
    CHECK(run.counter("copied") == 4);
    for (const char* k : {"a:1", "a:2", "b:1", "b:hash"})
      CHECK(dst.command({"EXISTS", k}).integer == 1);
    for (const char* k : {"a:list", "c:1", "a:skip:1"})
      CHECK(dst.command({"EXISTS", k}).integer == 0);
    dst.flushall();
    src_server.client().checked({"CONFIG", "RESETSTAT"});
    // One pattern and one type go to the server: SCAN MATCH ... TYPE, so no other key is even dumped.
    auto single = run_copy({src_server.url(), dst_server.url()},
                           {{"MATCH", "a:*"}, {"TYPE", "string"}, {"EXCLUDE", "a:skip:*"}});
    REQUIRE(single.exit_code() == 0);
    CHECK(single.counter("copied") == 2);
    const std::string stats = src.command({"INFO", "commandstats"}).str;
    CHECK(stats.find("cmdstat_dump:calls=2,") != std::string::npos);
    CHECK(stats.find("cmdstat_type:") == std::string::npos);
  }

  TEST_CASE("a selection that filters out whole SCAN batches still scans to the end") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    std::vector<Command> cmds;
    for (int i = 0; i < 5000; ++i)
      cmds.push_back({"SET", "noise:" + std::to_string(i), "v"});
    cmds.push_back({"SET", "wanted", "v"});
    src.pipeline_checked(cmds);
    auto run = run_copy({src_server.url(), dst_server.url(), "--exclude", "noise:*", "--scan-count", "100"},
                        {}, 30s);
    REQUIRE(run.exit_code() == 0);
    CHECK(run.counter("copied") == 1);
    CHECK(dst_server.client().command({"GET", "wanted"}).str == "v");
  }

  TEST_CASE("a rename that sends two keys to one name is refused with exit 2 before anything is written") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    src.pipeline_checked(
        {{"SET", "old:1", "a"}, {"SET", "legacy:1", "b"}, {"SET", "new:2", "c"}, {"SET", "x", "y"}});
    const std::vector<std::string> rules = {
        "--rename-prefix", "old:", "new:", "--rename-prefix", "legacy:", "new:"};
    std::vector<std::string> args = {src_server.url(), dst_server.url()};
    args.insert(args.end(), rules.begin(), rules.end());
    auto run = run_copy(args);
    CHECK(run.exit_code() == 2);
    CHECK(run.result.err.find("new:1") != std::string::npos);
    CHECK(dst.dbsize() == 0);
    std::vector<std::string> plan_args = {"plan", src_server.url(), dst_server.url()};
    plan_args.insert(plan_args.end(), rules.begin(), rules.end());
    auto plan = run_copy(plan_args);
    CHECK(plan.exit_code() == 2);
    CHECK(plan.report["plan"]["collision_count"].get<int>() >= 1);
    // Onto a key that keeps its name.
    auto onto = run_copy({src_server.url(), dst_server.url(), "--rename-prefix", "old:", "new:", "--rename",
                          "^new:2$", "new:1"});
    CHECK(onto.exit_code() == 2);
    CHECK(dst.dbsize() == 0);
    // Bad rules are usage errors.
    CHECK(run_copy({src_server.url(), dst_server.url(), "--rename", "tenant:(", "x"}).exit_code() == 2);
    CHECK(run_copy({src_server.url(), dst_server.url(), "--rename", "a(b)", "\\2"}).exit_code() == 2);
  }

  TEST_CASE("--all-dbs copies every non-empty DB to the same number and reports per DB") {
    RedisServer src_server, dst_server;
    src_server.client(0).checked({"SET", "a", "1"});
    src_server.client(3).pipeline_checked({{"SET", "b", "2"}, {"SET", "c", "3"}});
    src_server.client(9).checked({"HSET", "h", "f", "v"});
    auto run = run_copy({src_server.url(), dst_server.url(), "--all-dbs"});
    REQUIRE(run.exit_code() == 0);
    CHECK(run.counter("copied") == 4);
    REQUIRE(run.report["dbs"].size() == 3);
    CHECK(run.report["dbs"][1]["db"] == 3);
    CHECK(run.report["dbs"][1]["copied"] == 2);
    for (int db : {0, 3, 9}) {
      Client s = src_server.client(db);
      Client d = dst_server.client(db);
      require_same(compare_keyspaces(s, d));
    }
    CHECK(run_copy({src_server.url(1), dst_server.url(), "--all-dbs"}).exit_code() == 2);
  }

  TEST_CASE("the same server, another DB, no rename: the server copies (COPY, or MOVE with --cleanup)") {
    RedisServer server;
    Client db1 = server.client(1);
    seed_mixed(db1, {.count = 300, .ttl_fraction = 0.5});
    db1.checked({"CONFIG", "RESETSTAT"});
    auto run = run_copy({server.url(1), server.url(2)});
    REQUIRE(run.exit_code() == 0);
    CHECK(run.counter("copied") == 300);
    Client db2 = server.client(2);
    require_same(compare_keyspaces(db1, db2, {.ttl_tolerance_ms = 50}), 300);
    const std::string stats = db1.command({"INFO", "commandstats"}).str;
    CHECK(stats.find("cmdstat_copy:calls=300,") != std::string::npos);
    CHECK(stats.find("cmdstat_dump") == std::string::npos);
    auto move = run_copy({server.url(1), server.url(3), "--cleanup", "--yes"});
    REQUIRE(move.exit_code() == 0);
    CHECK(move.counter("copied") == 300);
    CHECK(db1.dbsize() == 0);
    CHECK(server.client(3).scan_all("seed:*").size() == 300);
  }

  TEST_CASE(
      "--on-conflict fail stops at the first existing key; merge counts strings as conflicts, plan says so") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    src.pipeline_checked(
        {{"SET", "s", "src"}, {"SADD", "set", "a", "b"}, {"HSET", "h", "f", "src", "g", "src"}});
    dst.pipeline_checked({{"SET", "s", "dst"}, {"SADD", "set", "c"}, {"HSET", "h", "f", "dst"}});
    auto plan = run_copy({"plan", src_server.url(), dst_server.url(), "--on-conflict", "merge"});
    REQUIRE(plan.exit_code() == 0);
    CHECK(plan.counter("would_merge") == 2);
    CHECK(plan.counter("would_conflict") == 1);
    CHECK(plan.report["plan"]["actions"]["conflict"] == 1);
    auto merge = run_copy({src_server.url(), dst_server.url(), "--on-conflict", "merge", "--yes"});
    CHECK(merge.exit_code() == 1);  // a conflict is reported as a failure to move that key
    CHECK(merge.counter("merged") == 2);
    CHECK(merge.counter("conflicts") == 1);
    CHECK(dst.command({"GET", "s"}).str == "dst");
    CHECK(dst.command({"SCARD", "set"}).integer == 3);
    CHECK(dst.command({"HGET", "h", "f"}).str == "dst");
    CHECK(dst.command({"HGET", "h", "g"}).str == "src");
    auto fail = run_copy({src_server.url(), dst_server.url(), "--on-conflict", "fail"});
    CHECK(fail.exit_code() == 1);
    CHECK(fail.result.err.find("already exists (--on-conflict fail)") != std::string::npos);
    CHECK(run_copy({src_server.url(), dst_server.url(), "--replace", "--on-conflict", "skip"}).exit_code() ==
          2);
  }

  TEST_CASE("a run that can overwrite asks first on a terminal, showing the plan; no asks without one") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    src.pipeline_checked({{"SET", "a", "new"}, {"SET", "b", "new"}});
    dst.checked({"SET", "a", "old"});
    auto declined =
        run_on_pty({src_server.url(), dst_server.url(), "--replace", "--progress-interval", "0"}, "n");
    CHECK(declined.exit_code == 1);
    CHECK(declined.output.find("would copy") != std::string::npos);
    CHECK(declined.output.find("1 existing destination keys will be overwritten") != std::string::npos);
    CHECK(declined.output.find("aborted: nothing was written") != std::string::npos);
    CHECK(dst.command({"GET", "a"}).str == "old");
    CHECK(dst.dbsize() == 1);
    auto accepted =
        run_on_pty({src_server.url(), dst_server.url(), "--replace", "--progress-interval", "0"}, "y");
    CHECK(accepted.exit_code == 0);
    CHECK(dst.command({"GET", "a"}).str == "new");
    auto yes = run_on_pty(
        {src_server.url(), dst_server.url(), "--replace", "--yes", "--progress-interval", "0"}, "");
    CHECK(yes.exit_code == 0);
    CHECK(yes.output.find("Proceed?") == std::string::npos);
    // Without a terminal (a Job) it proceeds.
    dst.checked({"SET", "a", "old"});
    auto job = run_copy({src_server.url(), dst_server.url(), "--replace"});
    CHECK(job.exit_code() == 0);
    CHECK(dst.command({"GET", "a"}).str == "new");
  }
}
