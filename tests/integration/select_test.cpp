// Choosing and reshaping what moves: selection, renames (also in place), all DBs, conflict policies, plans
// and confirmations, and three real migrations end to end.

#include <doctest/doctest.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "helpers.hpp"
#include "support/cluster.hpp"
#include "support/compare.hpp"
#include "support/ports.hpp"
#include "support/redis_server.hpp"
#include "support/seed.hpp"
#include "support/versions.hpp"

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

// Runs the tool on a pseudo-terminal (stdin is a terminal), answering `answer` to any question ("n" when
// empty), with the tool's variables unset except those in `env`.
struct PtyRun {
  int exit_code = -1;
  std::string output;
};
PtyRun run_on_pty(const std::vector<std::string>& args, const std::string& answer,
                  const std::map<std::string, std::string>& env = {}) {
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
    for (const char* name : {"YES", "ON_CONFLICT", "RENAME", "RENAME_PREFIX"})
      unsetenv(name);
    for (const auto& [name, value] : env)
      setenv(name.c_str(), value.c_str(), 1);
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
      // No answer expected: say no rather than leave the tool waiting (the test then sees the question).
      const std::string line = (answer.empty() ? std::string("n") : answer) + "\n";
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

    // The move, while a writer updates one old name with unique values until the new name appears: its last
    // write, made during the move (before, between or after that key's DUMP and its compare-and-delete), must
    // be found under the old name or the new one. The writer stops before the tool ends, so a later write
    // cannot hide a lost one; the rate limit keeps the move running long enough for the writer to race it.
    std::atomic<bool> tool_done{false};
    std::string last;
    std::thread writer([&] {
      Client w = server.client();
      for (int n = 0; !tool_done; ++n) {
        last = "during-move-" + std::to_string(n);
        auto replies = w.pipeline({{"SET", "tt:agent:7", last}, {"EXISTS", "tt:my-project:agent:7"}});
        REQUIRE(replies.at(0).is_status("OK"));
        if (replies.at(1).integer == 1) break;
      }
    });
    std::vector<std::string> move_args = {server.url(),    server.url(), "--cleanup",    "--yes",
                                          "--window-keys", "8",          "--rate-limit", "600"};
    for (const auto& a : town_rules())
      move_args.push_back(a);
    auto move = run_copy(move_args);
    tool_done = true;
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
    // Ask the cluster: the node owning each tenant's slot holds all three of its keys in that slot.
    Client any_node = dst_cluster.primary(0).client();
    for (int t = 0; t < 50; ++t) {
      const std::string tag = "{tenant:" + std::to_string(t) + "}";
      const long long slot = any_node.checked({"CLUSTER", "KEYSLOT", tag + ":dests"}).integer;
      Client owner = dst_cluster.owner_of_slot(static_cast<int>(slot)).client();
      Reply in_slot = owner.checked({"CLUSTER", "GETKEYSINSLOT", std::to_string(slot), "100"});
      std::set<std::string> names;
      for (const auto& e : in_slot.elements)
        names.insert(e.str);
      for (const char* rest : {":dests", ":profile", ":counter"}) {
        INFO(tag << rest << " in slot " << slot);
        CHECK(names.count(tag + rest) == 1);
      }
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
    src.checked({"CONFIG", "RESETSTAT"});
    auto run = run_copy({src_server.url(), dst_server.url(), "--match", "a:*", "--match", "b:*", "--exclude",
                         "a:skip:*", "--type", "string", "--type", "hash"});
    REQUIRE(run.exit_code() == 0);
    CHECK(run.counter("copied") == 4);
    // Two types are checked with TYPE before any read: only the four keys of the selected types are read (the
    // strings with GETRANGE, their type known).
    CHECK(value_reads(src) == 4);
    CHECK(command_calls(src, "dump") == 1);
    CHECK(command_calls(src, "type") == 5);  // the selection's, of the five keys --match selects
    for (const char* k : {"a:1", "a:2", "b:1", "b:hash"})
      CHECK(dst.command({"EXISTS", k}).integer == 1);
    for (const char* k : {"a:list", "c:1", "a:skip:1"})
      CHECK(dst.command({"EXISTS", k}).integer == 0);
    dst.flushall();
    src_server.client().checked({"CONFIG", "RESETSTAT"});
    // One pattern and one type go to the server: SCAN MATCH ... TYPE, so no other key is even read.
    auto single = run_copy({src_server.url(), dst_server.url()},
                           {{"MATCH", "a:*"}, {"TYPE", "string"}, {"EXCLUDE", "a:skip:*"}});
    REQUIRE(single.exit_code() == 0);
    CHECK(single.counter("copied") == 2);
    CHECK(value_reads(src) == 2);
    CHECK(command_calls(src, "type") == 0);  // SCAN ... TYPE said what they are
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
    // 300 keys, plus the one COPY tried first on a key that does not exist (is COPY allowed?).
    CHECK(stats.find("cmdstat_copy:calls=301,") != std::string::npos);
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
    // fail: 5,000 new keys and 53 that exist on the destination, in SCAN order: the first existing key stops
    // the run, so most new keys are never written (a conflict beyond the 1,000th key is a chance of 3e-5).
    std::vector<Command> more;
    for (int i = 0; i < 5000; ++i)
      more.push_back({"SET", "new:" + std::to_string(i), "v"});
    for (int i = 0; i < 50; ++i)
      more.push_back({"SET", "both:" + std::to_string(i), "src"});
    src.pipeline_checked(more);
    std::vector<Command> existing;
    for (int i = 0; i < 50; ++i)
      existing.push_back({"SET", "both:" + std::to_string(i), "dst"});
    dst.pipeline_checked(existing);
    auto fail = run_copy({src_server.url(), dst_server.url(), "--on-conflict", "fail", "--window-keys", "16",
                          "--scan-count", "100"});
    INFO(fail.result.describe());
    CHECK(fail.exit_code() == 1);
    CHECK(fail.result.err.find("already exists (--on-conflict fail)") != std::string::npos);
    CHECK(fail.counter("copied") < 1000);
    CHECK(dst.scan_all("new:*").size() < 1000);
    CHECK(dst.command({"GET", "both:0"}).str == "dst");
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
  TEST_CASE("confirmation: --force, YES=1 and a merge; a failing plan keeps its own exit code") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    src.pipeline_checked(
        {{"SET", "a", "new"}, {"SADD", "set", "x"}, {"SET", "old:1", "o"}, {"SET", "legacy:1", "l"}});
    dst.pipeline_checked({{"SET", "a", "old"}, {"SADD", "set", "y"}});
    const std::vector<std::string> base = {src_server.url(), dst_server.url(), "--progress-interval", "0"};
    auto with = [&](std::vector<std::string> extra) {
      std::vector<std::string> args = base;
      args.insert(args.end(), extra.begin(), extra.end());
      return args;
    };

    // A merge asks too, and says how many keys it would merge into.
    auto merge_no = run_on_pty(with({"--on-conflict", "merge", "--match", "set"}), "n");
    CHECK(merge_no.exit_code == 1);
    CHECK(merge_no.output.find("1 existing destination keys will be merged into") != std::string::npos);
    CHECK(merge_no.output.find("aborted: nothing was written") != std::string::npos);
    CHECK(dst.command({"SCARD", "set"}).integer == 1);
    // ON_CONFLICT=merge from the environment is the same run.
    auto merge_env = run_on_pty(with({"--match", "set"}), "n", {{"ON_CONFLICT", "merge"}});
    CHECK(merge_env.output.find("Proceed? [y/N]") != std::string::npos);
    CHECK(merge_env.exit_code == 1);

    // --force and YES=1 skip the question, like --yes.
    auto forced = run_on_pty(with({"--replace", "--force", "--match", "a"}), "");
    INFO(forced.output);
    CHECK(forced.exit_code == 0);
    CHECK(forced.output.find("Proceed?") == std::string::npos);
    CHECK(dst.command({"GET", "a"}).str == "new");
    dst.checked({"SET", "a", "old"});
    auto yes_env = run_on_pty(with({"--replace", "--match", "a"}), "", {{"YES", "1"}});
    CHECK(yes_env.exit_code == 0);
    CHECK(yes_env.output.find("Proceed?") == std::string::npos);
    CHECK(dst.command({"GET", "a"}).str == "new");

    // A plan that fails is not a refusal: its exit code is the run's (2: a rename collision), no question.
    auto collision = run_on_pty(
        with({"--replace", "--rename-prefix", "old:", "new:", "--rename-prefix", "legacy:", "new:"}), "y");
    INFO(collision.output);
    CHECK(collision.exit_code == 2);
    CHECK(collision.output.find("Proceed?") == std::string::npos);
    CHECK(collision.output.find("new:1") != std::string::npos);
    CHECK(dst.command({"EXISTS", "new:1"}).integer == 0);
    // 3: the destination cannot be reached.
    const std::string nowhere = "redis://127.0.0.1:" + std::to_string(free_port()) + "/0";
    auto unreachable = run_on_pty({src_server.url(), nowhere, "--replace", "--progress-interval", "0",
                                   "--connect-timeout", "2", "--retry-timeout", "0"},
                                  "y");
    INFO(unreachable.output);
    CHECK(unreachable.exit_code == 3);
    CHECK(unreachable.output.find("Proceed?") == std::string::npos);
  }

  TEST_CASE("cleanup asks on a terminal before deleting from the source; --yes, YES=1, --dry-run do not") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    std::vector<Command> cmds;
    for (int i = 0; i < 20; ++i)
      cmds.push_back({"SET", "k:" + std::to_string(i), "v"});
    src.pipeline_checked(cmds);
    dst.pipeline_checked(cmds);
    const std::vector<std::string> base = {"cleanup", src_server.url(), dst_server.url(),
                                           "--progress-interval", "0"};
    auto declined = run_on_pty(base, "n");
    INFO(declined.output);
    CHECK(declined.exit_code == 1);
    CHECK(declined.output.find("20 source keys verify equal") != std::string::npos);
    CHECK(declined.output.find("aborted: nothing was deleted") != std::string::npos);
    CHECK(src.dbsize() == 20);

    std::vector<std::string> dry = base;
    dry.push_back("--dry-run");
    auto dry_run = run_on_pty(dry, "y");
    CHECK(dry_run.exit_code == 0);
    CHECK(dry_run.output.find("Proceed?") == std::string::npos);
    CHECK(src.dbsize() == 20);

    auto accepted = run_on_pty(base, "y");
    INFO(accepted.output);
    CHECK(accepted.exit_code == 0);
    CHECK(src.dbsize() == 0);

    src.pipeline_checked(cmds);
    std::vector<std::string> yes = base;
    yes.push_back("--yes");
    auto with_yes = run_on_pty(yes, "");
    CHECK(with_yes.exit_code == 0);
    CHECK(with_yes.output.find("Proceed?") == std::string::npos);
    CHECK(src.dbsize() == 0);

    src.pipeline_checked(cmds);
    auto yes_env = run_on_pty(base, "", {{"YES", "1"}});
    CHECK(yes_env.exit_code == 0);
    CHECK(yes_env.output.find("Proceed?") == std::string::npos);
    CHECK(src.dbsize() == 0);

    // Without a terminal (a Job) it proceeds.
    src.pipeline_checked(cmds);
    auto job = run_copy({"cleanup", src_server.url(), dst_server.url()});
    CHECK(job.exit_code() == 0);
    CHECK(job.counter("deleted") == 20);
    CHECK(src.dbsize() == 0);
  }

  TEST_CASE(
      "a rename collision the pre-scan could not reach fails that key while copying, never overwrites") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    // The pre-scan holds at most 32 MiB of names and scans one type after the other: 40 strings with 600 KB
    // names fill it before it reaches the hashes, so the two hashes renamed to one name meet only in the
    // copy.
    const std::string pad(600'000, 'p');
    std::vector<Command> cmds;
    for (int i = 0; i < 40; ++i)
      cmds.push_back({"SET", "s:" + std::to_string(i) + ":" + pad, "v"});
    cmds.push_back({"HSET", "a:1", "from", "a:1"});
    cmds.push_back({"HSET", "b:1", "from", "b:1"});
    cmds.push_back({"HSET", "a:2", "from", "a:2"});
    src.pipeline_checked(cmds);
    for (const char* policy : {"skip", "replace"}) {
      INFO("--on-conflict " << policy);
      dst.flushall();
      auto run = run_copy({src_server.url(), dst_server.url(), "--type", "string", "--type", "hash",
                           "--rename-prefix", "s:", "t:", "--rename-prefix", "a:", "x:", "--rename-prefix",
                           "b:", "x:", "--on-conflict", policy, "--yes"});
      INFO(run.result.describe());
      CHECK(run.exit_code() == 1);
      CHECK(run.result.err.find("rename check stopped") != std::string::npos);
      CHECK(run.counter("copied") == 42);
      CHECK(run.counter("failed") == 1);
      CHECK(run.counter("skipped") == 0);
      REQUIRE(run.report["errors"].size() == 1);
      const std::string message = run.report["errors"][0]["message"];
      const std::string loser = run.report["errors"][0]["example_key"];
      CHECK(message.find("sends the key to \"x:1\"") != std::string::npos);
      CHECK(message.find(loser == "a:1" ? "rename rule 2 (prefix \"a:\"" : "rename rule 3 (prefix \"b:\"") !=
            std::string::npos);
      // x:1 holds the key that was written first, whatever the policy.
      CHECK(dst.command({"HGET", "x:1", "from"}).str == (loser == "a:1" ? "b:1" : "a:1"));
      CHECK(dst.command({"HGET", "x:2", "from"}).str == "a:2");
    }
  }

  TEST_CASE("a DB-to-DB copy on one server falls back to DUMP/RESTORE when COPY is refused") {
    // An ACL user without COPY (and one without MOVE, for --cleanup).
    RedisServer server(
        {.acl_users = {"user nocopy on >pw ~* &* +@all -copy", "user nomove on >pw ~* &* +@all -move"}});
    Client db1 = server.client(1);
    seed_mixed(db1, {.count = 200, .ttl_fraction = 0.5});
    db1.checked({"CONFIG", "RESETSTAT"});
    auto run = run_copy({server.url_as("nocopy", "pw", 1), server.url_as("nocopy", "pw", 2)});
    INFO(run.result.describe());
    REQUIRE(run.exit_code() == 0);
    CHECK(run.counter("copied") == 200);
    CHECK(run.result.err.find("keys go through DUMP/RESTORE instead") != std::string::npos);
    Client db2 = server.client(2);
    require_same(compare_keyspaces(db1, db2, {.ttl_tolerance_ms = 2000}), 200);
    // Each key through RESTORE, or a string read with GETRANGE through SET (the tool's own keys too).
    long long strings = 0;
    for (const std::string& key : db1.scan_all("*"))
      strings += db1.checked({"TYPE", key}).str == "string" ? 1 : 0;
    CHECK(strings > 0);
    CHECK(command_calls(db1, "restore") == 200 - strings);
    CHECK(command_calls(db1, "set") >= strings);

    auto move =
        run_copy({server.url_as("nomove", "pw", 1), server.url_as("nomove", "pw", 3), "--cleanup", "--yes"});
    INFO(move.result.describe());
    REQUIRE(move.exit_code() == 0);
    CHECK(move.counter("copied") == 200);
    CHECK(move.counter("deleted") == 200);
    CHECK(db1.dbsize() == 0);
    CHECK(server.client(3).scan_all("seed:*").size() == 200);
  }

  TEST_CASE("Redis 6.0 has no COPY: a DB-to-DB copy on one server uses DUMP/RESTORE") {
    RedisServer server(redis_6_0().options());
    Client db1 = server.client(1);
    std::vector<Command> cmds;
    for (int i = 0; i < 50; ++i) {
      cmds.push_back({"SET", "seed:s:" + std::to_string(i), "v" + std::to_string(i), "PX", "3600000"});
      cmds.push_back({"HSET", "seed:h:" + std::to_string(i), "f", "v"});
    }
    db1.pipeline_checked(cmds);
    db1.checked({"CONFIG", "RESETSTAT"});
    auto run = run_copy({server.url(1), server.url(2)});
    INFO(run.result.describe());
    REQUIRE(run.exit_code() == 0);
    CHECK(run.counter("copied") == 100);
    Client db2 = server.client(2);
    require_same(compare_keyspaces(db1, db2, {.ttl_tolerance_ms = 2000}), 100);
    const std::string stats = db1.command({"INFO", "commandstats"}).str;
    CHECK(stats.find("cmdstat_copy:") == std::string::npos);
    CHECK(stats.find("cmdstat_restore:calls=100,") != std::string::npos);
  }

  TEST_CASE("a plan counts per type and per DB (--all-dbs)") {
    RedisServer src_server, dst_server;
    src_server.client(0).pipeline_checked({{"SET", "a", "1"}, {"SET", "b", "2"}});
    src_server.client(3).pipeline_checked({{"HSET", "h", "f", "v"}, {"RPUSH", "l", "x"}, {"SET", "c", "3"}});
    auto plan = run_copy({"plan", src_server.url(), dst_server.url(), "--all-dbs"});
    INFO(plan.result.describe());
    REQUIRE(plan.exit_code() == 0);
    const auto& p = plan.report["plan"];
    CHECK(p["by_db"]["0"] == 2);
    CHECK(p["by_db"]["3"] == 3);
    CHECK(p["by_db"].size() == 2);
    CHECK(p["by_type"]["string"] == 3);
    CHECK(p["by_type"]["hash"] == 1);
    CHECK(p["by_type"]["list"] == 1);
    CHECK(p["actions"]["copy"] == 5);
    CHECK(p["collision_count"] == 0);
    CHECK(dst_server.client(0).dbsize() == 0);
    CHECK(dst_server.client(3).dbsize() == 0);
  }

  TEST_CASE("rename rules from RENAME_PREFIX and RENAME (a Kubernetes Job configures through env)") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    src.pipeline_checked({{"SET", "old:1", "a"},
                          {"SET", "legacy:1", "b"},
                          {"SET", "tenant:7:dests", "c"},
                          {"SET", "other", "d"}});
    auto run = run_copy(
        {src_server.url(), dst_server.url()},
        {{"RENAME_PREFIX", "old: new:;legacy: leg:"}, {"RENAME", "tenant:([^:]+):(.*) {tenant:\\1}:\\2"}});
    INFO(run.result.describe());
    REQUIRE(run.exit_code() == 0);
    CHECK(run.counter("copied") == 4);
    CHECK(dst.command({"GET", "new:1"}).str == "a");
    CHECK(dst.command({"GET", "leg:1"}).str == "b");
    CHECK(dst.command({"GET", "{tenant:7}:dests"}).str == "c");
    CHECK(dst.command({"GET", "other"}).str == "d");
    // The command line wins: its rules replace the environment's.
    dst.flushall();
    auto cli = run_copy({src_server.url(), dst_server.url(), "--rename-prefix", "old:", "cli:"},
                        {{"RENAME_PREFIX", "old: new:"}});
    REQUIRE(cli.exit_code() == 0);
    CHECK(dst.command({"GET", "cli:1"}).str == "a");
    CHECK(dst.command({"EXISTS", "new:1"}).integer == 0);
  }
}
