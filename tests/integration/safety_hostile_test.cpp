// Runs that delete, tried as a hostile operator would: a destination that really evicts while --cleanup
// deletes, a replica reached under another name, --all-dbs onto the same server, a standalone replica of one
// node of a cluster source, an ACL user without CLUSTER, a SIGTERM in the middle of a move, renamed cleanups
// on one database. After every case, every key that existed before the run exists somewhere after it with
// its value.

#include <doctest/doctest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <thread>

#include "helpers.hpp"
#include "support/cluster.hpp"
#include "support/preserved.hpp"
#include "support/redis_server.hpp"
#include "support/seed.hpp"

using namespace rmig::test;

TEST_SUITE("safety_hostile") {
  // What the override accepts: another client's writes evict whatever the destination holds, the copies of
  // source keys the run already deleted included. The run sees the eviction, stops deleting (exit 5) and
  // says that such keys may now exist nowhere; every key it had not deleted is still on the source.
  TEST_CASE("--allow-evicting-destination: another client makes the destination evict during --cleanup") {
    for (const char* policy : {"allkeys-lru", "volatile-lru"}) {
      CAPTURE(policy);
      RedisServer src;
      RedisServer dst({.extra_args = {"--maxmemory-policy", policy}});
      Client s = src.client();
      Client d = dst.client();
      // About 3 MB of keys with a TTL (volatile-lru evicts only those) into a destination with 12 MB to
      // spare: the copies alone never come near the limit.
      seed_strings(s, 3000, "k:", 1000, 3'600'000);
      const long long used = std::stoll(info_field(d, "used_memory", "memory"));
      const long long limit = used + 12'000'000;
      d.checked({"CONFIG", "SET", "maxmemory", std::to_string(limit)});
      const KeysBefore before = keys_before({&s});
      REQUIRE(before.size() == 3000);
      auto tool = start_tool({src.url(), dst.url(), "--cleanup", "--allow-evicting-destination",
                              "--rate-limit", "600", "--progress-interval", "0", "--report-json", "-"});
      // Once deletions are under way, another client fills the destination to 2 MB below its maxmemory
      // (the run goes on: more than 1 MB is left), then with one short command (SETRANGE far past the end)
      // allocates a value that takes it 300 KB past it: the next command the destination processes evicts,
      // the oldest copies first.
      REQUIRE(eventually([&] { return s.dbsize() <= 2400; }, 30s));
      auto used_now = [&] { return std::stoll(info_field(d, "used_memory", "memory")); };
      std::vector<Command> filler;
      for (long long i = 0; i < (limit - used_now() - 2'000'000) / 500'000; ++i)
        filler.push_back({"SET", "filler:" + std::to_string(i), std::string(500'000, 'f'), "PX", "3600000"});
      d.pipeline_checked(filler);
      d.checked({"SETRANGE", "filler:last", std::to_string(limit - used_now() + 300'000), "f"});
      auto result = tool.finish(60s);
      INFO(result.describe());
      CHECK(result.exit_code == 5);
      auto report = nlohmann::json::parse(result.out);
      const auto deleted = report["deleted"].get<uint64_t>();
      CHECK(report["evicted"].get<uint64_t>() > 0);
      CHECK(deleted >= 600);
      CHECK(deleted < 3000);
      const std::string line = error_line(result);
      CAPTURE(line);
      CHECK(contains(line, std::string("maxmemory-policy ") + policy));
      CHECK(contains(line, "already deleted from the source may be gone"));
      // Deletions stopped: the source holds every key the report does not count deleted, with its value.
      CHECK(static_cast<uint64_t>(s.dbsize()) == 3000 - deleted);
      d.checked({"CONFIG", "SET", "maxmemory", "0"});
      // Only keys the run deleted can have lost their copy since.
      const PreservedResult after = check_preserved(before, {&s, &d});
      INFO(after.summary());
      MESSAGE(std::string(policy) << ": " << after.summary() << "; deleted " << deleted);
      CHECK(after.changed == 0);
      CHECK(after.lost <= deleted);
      CHECK(after.checked == 3000);
    }
  }

  TEST_CASE("one 3-primary cluster: reruns refused, a standalone replica of a node, a user without CLUSTER") {
    LocalCluster cluster;
    ClusterClient c = cluster.client();
    seed_mixed(c, {.count = 300});
    const KeysBefore before = keys_before({&c});
    REQUIRE(before.size() == 300);
    const std::string a = cluster.primary(0).url();
    const std::string b = cluster.primary(1).url();
    auto tool_keys = [&] {
      std::size_t n = 0;
      for (auto* p : cluster.primaries()) {
        Client node = p->client();
        n += node.scan_all("redis-migrate:*").size();
      }
      return n;
    };
    // A Job that retries (after a kill -9 or not): every attempt is refused before it writes anything.
    for (int attempt = 0; attempt < 2; ++attempt) {
      CAPTURE(attempt);
      const std::string line = refused({a, b, "--cleanup"}, 2);
      CHECK(contains(line, "are nodes of one cluster"));
      refused({"cleanup", a, b, "--yes"}, 2);
      refused({a, b, "--replace", "--cleanup"}, 2);
      CHECK(tool_keys() == 0);
      require_preserved(check_preserved(before, {&c}), 300);
    }

    // Either side forced standalone (--source-cluster off / --destination-cluster off): still one cluster.
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"cleanup", a, b, "--yes", "--source-cluster", "off"},
             {"cleanup", a, b, "--yes", "--destination-cluster", "off"},
             {a, b, "--cleanup", "--source-cluster", "off"},
             {a, b, "--replace", "--cleanup", "--destination-cluster", "off"}}) {
      CAPTURE(args.back());
      CAPTURE(args.at(args.size() - 2));
      const std::string line = refused(args, 2);
      CHECK(contains(line, "are nodes of one cluster"));
      require_preserved(check_preserved(before, {&c}), 300);
      CHECK(c.dbsize() == 300);
    }

    // A standalone server replicating the second primary, given as the destination of a move whose source
    // URL names the first: its keys are that node's own.
    {
      RedisServer& node = cluster.primary(1);
      Client n = node.client();
      RedisServer replica({.extra_args = {"--replicaof", "127.0.0.1", std::to_string(node.port())}});
      Client r = replica.client();
      REQUIRE(eventually([&] { return r.dbsize() == n.dbsize() && r.dbsize() > 0; }, 30s));
      for (const auto& args :
           std::vector<std::vector<std::string>>{{"cleanup", a, replica.url(), "--yes"},
                                                 {"cleanup", a, replica.url(), "--yes", "--no-lock"},
                                                 {a, replica.url(), "--cleanup"}}) {
        CAPTURE(args.back());
        auto run = run_copy(args);
        INFO(run.result.describe());
        CHECK(run.exit_code() == 2);
        CHECK(run.counter("deleted") == 0);
        CHECK(contains(error_line(run.result), "replica of"));
        require_preserved(check_preserved(before, {&c}), 300);
      }
    }

    // A user that may not run CLUSTER: identity cannot be read from the node ids.
    for (auto* p : cluster.primaries()) {
      Client node = p->client();
      node.checked({"ACL", "SETUSER", "nocluster", "on", ">pw", "~*", "+@all", "-cluster"});
    }
    const std::string ua = cluster.primary(0).url_as("nocluster", "pw");
    const std::string ub = cluster.primary(1).url_as("nocluster", "pw");
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"cleanup", ua, ub, "--yes"}, {ua, ub, "--cleanup"}, {ua, ub, "--replace", "--cleanup"}}) {
      CAPTURE(args.at(1));
      auto run = run_copy(args);
      INFO(run.result.describe());
      // The probe key written through one URL is visible through the other: one keyspace.
      CHECK(run.exit_code() == 2);
      CHECK(run.counter("deleted") == 0);
      CHECK(contains(error_line(run.result), "CLUSTER NODES and CLUSTER SHARDS refused"));
      CHECK(contains(error_line(run.result), "is visible on the source"));
      require_preserved(check_preserved(before, {&c}), 300);
      CHECK(c.dbsize() == 300);
    }
  }

  TEST_CASE("a replica reached under another name (localhost vs 127.0.0.1): refused in both directions") {
    RedisServer primary;
    RedisServer replica({.extra_args = {"--replicaof", "localhost", std::to_string(primary.port())}});
    Client p = primary.client();
    Client r = replica.client();
    seed_strings(p, 200, "k:");
    REQUIRE(eventually([&] { return r.dbsize() == 200; }, 30s));
    const KeysBefore before = keys_before({&p});
    const std::string pu = "redis://127.0.0.1:" + std::to_string(primary.port());
    const std::string pl = "redis://localhost:" + std::to_string(primary.port());
    const std::string ru = "redis://localhost:" + std::to_string(replica.port());
    const std::string ri = "redis://127.0.0.1:" + std::to_string(replica.port());
    for (const auto& args : std::vector<std::vector<std::string>>{{"cleanup", pu, ru, "--yes"},
                                                                  {"cleanup", pl, ri, "--yes"},
                                                                  {pu, ru, "--cleanup"},
                                                                  {"cleanup", ri, pl, "--yes"},
                                                                  {ru, pu, "--replace", "--cleanup"}}) {
      CAPTURE(args.at(1));
      CAPTURE(args.at(2));
      const std::string line = refused(args, 2);
      CHECK(contains(line, "replica of the"));
      require_preserved(check_preserved(before, {&p, &r}), 200);
      CHECK(p.dbsize() == 200);
    }
  }

  TEST_CASE("--all-dbs --cleanup from a server onto itself: refused, every database intact") {
    RedisServer server;
    Client db0 = server.client(0);
    Client db1 = server.client(1);
    Client db2 = server.client(2);
    seed_strings(db0, 100, "zero:");
    seed_strings(db1, 100, "one:");
    seed_strings(db2, 100, "two:");
    const KeysBefore before = keys_before({&db0, &db1, &db2});
    REQUIRE(before.size() == 300);
    const std::string tcp = "redis://127.0.0.1:" + std::to_string(server.port());
    const std::string local = "redis://localhost:" + std::to_string(server.port());
    const std::string sock = "unix://" + server.unix_socket();
    for (const auto& args :
         std::vector<std::vector<std::string>>{{tcp, tcp, "--all-dbs", "--cleanup"},
                                               {"--all-dbs", sock, local, "--cleanup"},
                                               {local, tcp, "--all-dbs", "--cleanup", "--replace"},
                                               {tcp, sock, "--all-dbs", "--replace"}}) {
      CAPTURE(args.at(0));
      CAPTURE(args.at(1));
      refused(args, 2);
      require_preserved(check_preserved(before, {&db0, &db1, &db2}), 300);
      CHECK(db0.dbsize() + db1.dbsize() + db2.dbsize() == 300);
    }
  }

  TEST_CASE("SIGTERM or kill -9 in the middle of a --cleanup run, then a rerun: every key moved, none lost") {
    for (const int sig : {SIGTERM, SIGKILL}) {
      CAPTURE(sig);
      RedisServer src;
      RedisServer dst;
      Client s = src.client();
      Client d = dst.client();
      seed_mixed(s, {.count = 2000});
      const KeysBefore before = keys_before({&s});
      REQUIRE(before.size() == 2000);
      auto tool = start_tool({src.url(), dst.url(), "--cleanup", "--rate-limit", "800", "--lock-ttl", "2"});
      REQUIRE(eventually([&] { return s.dbsize() <= 1500; }, 30s));
      if (sig == SIGKILL) {
        tool.kill9();
      } else {
        tool.send_signal(sig);
      }
      auto first = tool.finish(60s);
      INFO(first.describe());
      CHECK(first.exit_code != 0);
      CHECK(s.dbsize() > 0);
      require_preserved(check_preserved(before, {&s, &d}), 2000);
      // The lease of a killed run expires by itself (--lock-ttl); the Job's retry comes after that.
      REQUIRE(eventually([&] { return d.command({"EXISTS", "redis-migrate:lock"}).integer == 0; }, 10s));
      auto rerun = run_copy({src.url(), dst.url(), "--cleanup", "--lock-ttl", "2"});
      INFO(rerun.result.describe());
      CHECK(rerun.exit_code() == 0);
      // Keys a killed run copied but did not record are skipped (already on the destination) and, like every
      // skipped key, not deleted: cleanup finishes the move.
      CHECK(static_cast<uint64_t>(user_dbsize(s)) == rerun.counter("skipped"));
      CHECK(user_dbsize(d) == 2000);
      require_preserved(check_preserved(before, {&s, &d}), 2000);
      auto cleanup = run_copy({"cleanup", src.url(), dst.url(), "--yes"});
      INFO(cleanup.result.describe());
      CHECK(cleanup.exit_code() == 0);
      CHECK(user_dbsize(s) == 0);
      require_preserved(check_preserved(before, {&s, &d}), 2000);
    }
  }

  TEST_CASE("cleanup with renames on one database: a swap is refused, a one-way rename keeps the target") {
    RedisServer server;
    Client c = server.client();
    // The same values under a: and b:, so each side "verifies" against the other.
    seed_strings(c, 200, "a:");
    for (int i = 0; i < 200; ++i)
      c.checked({"COPY", "a:" + std::to_string(i), "b:" + std::to_string(i)});
    const KeysBefore before = keys_before({&c});
    REQUIRE(before.size() == 400);
    for (const auto& args :
         std::vector<std::vector<std::string>>{{"cleanup", server.url(), server.url(), "--rename-prefix",
                                                "a:", "b:", "--rename-prefix", "b:", "a:", "--yes"},
                                               {"cleanup", server.url(), server.url(), "--rename-prefix",
                                                "a:", "b:", "--rename-prefix", "b:", "c:", "--yes"}}) {
      CAPTURE(args.at(6));
      auto run = run_copy(args);
      INFO(run.result.describe());
      CHECK(run.exit_code() == 2);
      CHECK(run.counter("deleted") == 0);
      CHECK(contains(error_line(run.result), "a:"));
      require_preserved(check_preserved(before, {&c}), 400);
      CHECK(c.dbsize() == 400);
    }
    // One rule: each a: key is deleted only where its b: twin holds its value, which stays.
    auto run = run_copy({"cleanup", server.url(), server.url(), "--rename-prefix", "a:", "b:", "--yes"});
    INFO(run.result.describe());
    CHECK(run.exit_code() == 0);
    CHECK(run.counter("deleted") == 200);
    CHECK(c.scan_all("a:*").empty());
    CHECK(c.scan_all("b:*").size() == 200);
    require_preserved(check_preserved(before, {&c},
                                      [](const std::string& k) {
                                        return k.rfind("a:", 0) == 0 ? "b:" + k.substr(2) : std::string();
                                      }),
                      400);
  }

  TEST_CASE("SIGTERM in the middle of the cleanup command, then a rerun: nothing lost") {
    RedisServer src;
    RedisServer dst;
    Client s = src.client();
    Client d = dst.client();
    seed_mixed(s, {.count = 2000});
    REQUIRE(run_copy({src.url(), dst.url()}).exit_code() == 0);
    const KeysBefore before = keys_before({&s, &d});
    auto tool = start_tool({"cleanup", src.url(), dst.url(), "--yes", "--rate-limit", "800"});
    REQUIRE(eventually([&] { return s.dbsize() <= 1500; }, 30s));
    tool.send_signal(SIGTERM);
    auto first = tool.finish(60s);
    INFO(first.describe());
    CHECK(first.exit_code != 0);
    CHECK(s.dbsize() > 0);
    require_preserved(check_preserved(before, {&s, &d}), 2000);
    auto rerun = run_copy({"cleanup", src.url(), dst.url(), "--yes"});
    INFO(rerun.result.describe());
    CHECK(rerun.exit_code() == 0);
    CHECK(user_dbsize(s) == 0);
    require_preserved(check_preserved(before, {&s, &d}), 2000);
  }

  TEST_CASE("cleanup in place on a 3-primary cluster: a swap of two prefixes is refused, nothing deleted") {
    LocalCluster cluster;
    ClusterClient c = cluster.client();
    seed_strings(c, 300, "a:");
    seed_strings(c, 300, "b:");
    const KeysBefore before = keys_before({&c});
    REQUIRE(before.size() == 600);
    auto run = run_copy({"cleanup", cluster.primary(0).url(), cluster.primary(2).url(), "--rename-prefix",
                         "a:", "b:", "--rename-prefix", "b:", "a:", "--yes"});
    INFO(run.result.describe());
    CHECK(run.exit_code() == 2);
    CHECK(run.counter("deleted") == 0);
    require_preserved(check_preserved(before, {&c}), 600);
    CHECK(c.dbsize() == 600);
  }
}
