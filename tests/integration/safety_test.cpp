// Runs that delete or overwrite prove they are safe first, against real servers: two URLs of one cluster, a
// primary and its replica, one server reached by a user without INFO or with INFO renamed, and destinations
// that evict. After every case, every key that existed before the run exists somewhere after it with its
// value.

#include <doctest/doctest.h>

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

namespace {

std::string unix_url(const RedisServer& s, int db, const std::string& user = "", const std::string& pw = "") {
  const std::string auth = user.empty() ? "" : url_encode(user) + ":" + url_encode(pw) + "@";
  return "unix://" + auth + s.unix_socket() + "?db=" + std::to_string(db);
}

}  // namespace

TEST_SUITE("safety") {
  TEST_CASE("two nodes of one 3-primary cluster: cleanup, --cleanup, --replace --cleanup refused (exit 2)") {
    LocalCluster cluster;
    ClusterClient c = cluster.client();
    seed_mixed(c, {.count = 300});
    const KeysBefore before = keys_before({&c});
    REQUIRE(before.size() == 300);
    const std::string a = cluster.primary(0).url();
    const std::string b = cluster.primary(1).url();
    for (const auto& args : std::vector<std::vector<std::string>>{{"cleanup", a, b, "--yes"},
                                                                  {a, b, "--cleanup"},
                                                                  {a, b, "--replace", "--cleanup"},
                                                                  {"cleanup", b, a, "--yes"}}) {
      CAPTURE(args.at(1));
      const std::string line = refused(args, 2);
      CAPTURE(line);
      CHECK(contains(line, "both URLs reach cluster "));
      CHECK(contains(line, "are nodes of one cluster"));
      CHECK(contains(line, cluster.node_id(cluster.primary(0))));
      require_preserved(check_preserved(before, {&c}), 300);
      CHECK(c.dbsize() == 300);
    }
    // The same keyspace with renaming: an in-place move stays allowed.
    auto move = run_copy({a, b, "--rename-prefix", "seed:", "moved:", "--cleanup"});
    INFO(move.result.describe());
    REQUIRE(move.exit_code() == 0);
    CHECK(move.counter("deleted") == 300);
    CHECK(c.scan_all("seed:*").empty());
    CHECK(c.scan_all("moved:*").size() == 300);
    require_preserved(
        check_preserved(before, {&c}, [](const std::string& k) { return "moved:" + k.substr(5); }), 300);
  }

  TEST_CASE("a replica as destination and as source: refused (exit 2), nothing deleted") {
    RedisServer primary;
    RedisServer replica({.extra_args = {"--replicaof", "127.0.0.1", std::to_string(primary.port())}});
    Client p = primary.client();
    Client r = replica.client();
    seed_strings(p, 200, "k:");
    for (int i = 0; i < 200 && r.dbsize() < 200; ++i)
      std::this_thread::sleep_for(50ms);
    REQUIRE(r.dbsize() == 200);
    const KeysBefore before = keys_before({&p});
    const std::string pu = primary.url(), ru = replica.url();
    for (const auto& args : std::vector<std::vector<std::string>>{{"cleanup", pu, ru, "--yes"},
                                                                  {pu, ru, "--cleanup"},
                                                                  {pu, ru},
                                                                  {"cleanup", ru, pu, "--yes"},
                                                                  {ru, pu, "--cleanup"},
                                                                  {ru, pu, "--replace", "--cleanup"}}) {
      CAPTURE(args.at(1));
      CAPTURE(args.at(2));
      const std::string line = refused(args, 2);
      CAPTURE(line);
      CHECK(contains(line, "replica of the"));
      CHECK(contains(line, "both URLs reach the same data"));
      require_preserved(check_preserved(before, {&p, &r}), 200);
      CHECK(p.dbsize() == 200);
    }
    // verify only reads: it may compare a replica with its primary.
    CHECK(run_copy({"verify", pu, ru}).exit_code() == 0);
  }

  TEST_CASE("a user without +info: deletion refused with the hint; --assume-distinct only across DBs") {
    RedisServer server({.acl_users = {"user noinfo on >pw ~app:* +@all -info"}});
    Client db0 = server.client(0);
    Client db1 = server.client(1);
    seed_strings(db0, 100, "app:");
    TempDir dir;
    const std::string state = dir.file("state.json");
    auto with = [&](std::vector<std::string> args) {
      for (const char* a : {"--no-lock", "--state-file"})
        args.emplace_back(a);
      args.push_back(state);
      return args;
    };
    // The same server under two names (TCP, unix socket) and two DBs: nothing tells whether they differ.
    const std::string u0 = server.url_as("noinfo", "pw", 0), u1 = server.url_as("noinfo", "pw", 1);
    const std::string x1 = unix_url(server, 1, "noinfo", "pw");
    // A plain copy deletes nothing: it goes ahead.
    REQUIRE(run_copy(with({u0, x1})).exit_code() == 0);
    const KeysBefore before = keys_before({&db0, &db1});
    REQUIRE(before.size() == 100);
    for (const auto& args : {with({"cleanup", u0, x1, "--yes"}), with({u0, x1, "--cleanup", "--replace"})}) {
      const std::string line = refused(args, 2);
      CAPTURE(line);
      CHECK(contains(line, "cannot tell whether source and destination are the same data"));
      CHECK(contains(line, "+info"));
      CHECK(contains(line, "redis-migrate:"));
      CHECK(contains(line, "--assume-distinct"));
      CHECK(contains(line, "ASSUME_DISTINCT=1"));
      require_preserved(check_preserved(before, {&db0, &db1}), 100);
      CHECK(db0.dbsize() == 100);
    }
    // The same database stays refused with --assume-distinct: the URLs name one server and one DB.
    for (const auto& args : {with({"cleanup", u1, u1, "--yes", "--assume-distinct"}),
                             with({u1, "redis://noinfo:pw@localhost:" + std::to_string(server.port()) + "/1",
                                   "--cleanup", "--replace", "--assume-distinct"})}) {
      const std::string line = refused(args, 2);
      CAPTURE(line);
      CHECK(contains(line, "same database"));
      require_preserved(check_preserved(before, {&db0, &db1}), 100);
    }
    // Without INFO the eviction policy is unknown too: that needs its own override.
    std::string line = refused(with({"cleanup", u0, x1, "--yes", "--assume-distinct"}), 5);
    CHECK(contains(line, "cannot read maxmemory_policy"));
    CHECK(contains(line, "--allow-evicting-destination"));
    // The DBs really differ: --assume-distinct (here ASSUME_DISTINCT=1) lets cleanup delete what verifies.
    auto cleanup = run_copy(with({"cleanup", u0, x1, "--yes", "--allow-evicting-destination"}),
                            {{"ASSUME_DISTINCT", "1"}});
    INFO(cleanup.result.describe());
    CHECK(cleanup.exit_code() == 0);
    CHECK(cleanup.counter("deleted") == 100);
    CHECK(db0.dbsize() == 0);
    require_preserved(check_preserved(before, {&db0, &db1}), 100);
  }

  TEST_CASE("no INFO, but the state prefix: the probe key proves the same or different data") {
    RedisServer server({.acl_users = {"user probe on >pw ~app:* ~redis-migrate:* +@all -info"}});
    Client db0 = server.client(0);
    Client db1 = server.client(1);
    seed_strings(db0, 100, "app:");
    const KeysBefore before = keys_before({&db0});
    // Two URLs of one server and DB that name it differently (unix socket, TCP).
    const std::string via_unix = unix_url(server, 0, "probe", "pw");
    const std::string via_tcp = server.url_as("probe", "pw", 0);
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"cleanup", via_unix, via_tcp, "--yes"},
             {via_unix, via_tcp, "--cleanup", "--replace"},
             {via_tcp, via_unix, "--cleanup", "--replace", "--assume-distinct"}}) {
      const std::string line = refused(args, 2);
      CAPTURE(line);
      CHECK(contains(line, "the probe key redis-migrate:identity-probe:"));
      CHECK(contains(line, "is visible on the source"));
      require_preserved(check_preserved(before, {&db0}), 100);
      CHECK(db0.dbsize() == 100);
    }
    // Another DB: the probe is not there, so the move goes ahead without --assume-distinct (the eviction
    // policy is not readable without INFO: that override is needed).
    auto move =
        run_copy({via_unix, server.url_as("probe", "pw", 1), "--cleanup", "--allow-evicting-destination"});
    INFO(move.result.describe());
    CHECK(move.exit_code() == 0);
    CHECK(move.counter("deleted") == 100);
    CHECK(db0.scan_all("app:*").empty());
    require_preserved(check_preserved(before, {&db0, &db1}), 100);
    CHECK(db0.scan_all("redis-migrate:identity-probe:*").empty());
    CHECK(db1.scan_all("redis-migrate:identity-probe:*").empty());
  }

  TEST_CASE("INFO renamed in the server's config: the probe key decides") {
    RedisServer server({.extra_args = {"--rename-command", "INFO", "INFO-7f3a"}});
    Client db0 = server.client(0);
    Client db2 = server.client(2);
    seed_strings(db0, 100, "k:");
    const KeysBefore before = keys_before({&db0});
    const std::string line = refused({"cleanup", unix_url(server, 0), server.url(0), "--yes"}, 2);
    CHECK(contains(line, "INFO refused"));
    CHECK(contains(line, "is visible on the source"));
    refused({unix_url(server, 0), server.url(0), "--cleanup", "--replace"}, 2);
    require_preserved(check_preserved(before, {&db0}), 100);
    auto move = run_copy({unix_url(server, 0), server.url(2), "--cleanup", "--allow-evicting-destination"});
    INFO(move.result.describe());
    CHECK(move.exit_code() == 0);
    CHECK(move.counter("deleted") == 100);
    require_preserved(check_preserved(before, {&db0, &db2}), 100);
  }

  TEST_CASE("allkeys-lru and volatile-lru destinations: --cleanup and cleanup refused (exit 5)") {
    for (const char* policy : {"allkeys-lru", "volatile-lru"}) {
      CAPTURE(policy);
      RedisServer src;
      RedisServer dst({.extra_args = {"--maxmemory-policy", policy}});
      Client s = src.client();
      Client d = dst.client();
      seed_strings(s, 200, "k:", 10, 3'600'000);
      const KeysBefore before = keys_before({&s});
      std::string line = refused({src.url(), dst.url(), "--cleanup"}, 5);
      CAPTURE(line);
      CHECK(contains(line, std::string("maxmemory-policy ") + policy));
      CHECK(contains(line, "noeviction"));
      CHECK(contains(line, "copy without --cleanup, verify"));
      CHECK(d.dbsize() == 0);  // refused before the lock or any key was written
      // Copying without --cleanup is allowed; cleanup after it is refused the same way.
      REQUIRE(run_copy({src.url(), dst.url()}).exit_code() == 0);
      line = refused({"cleanup", src.url(), dst.url(), "--yes"}, 5);
      CHECK(contains(line, std::string("maxmemory-policy ") + policy));
      require_preserved(check_preserved(before, {&s, &d}), 200);
      CHECK(s.dbsize() == 200);
    }
  }

  TEST_CASE("--allow-evicting-destination: deletion stops before or at an eviction, exit 5, nothing lost") {
    for (const char* policy : {"allkeys-lru", "volatile-lru"}) {
      CAPTURE(policy);
      RedisServer src;
      RedisServer dst({.extra_args = {"--maxmemory-policy", policy}});
      Client s = src.client();
      Client d = dst.client();
      // About 4 MB with TTLs (volatile-lru evicts only keys with one) into a destination with 3 MB to
      // spare.
      seed_strings(s, 4000, "k:", 1000, 3'600'000);
      const long long used = std::stoll(info_field(d, "used_memory", "memory"));
      d.checked({"CONFIG", "SET", "maxmemory", std::to_string(used + 3'000'000)});
      const KeysBefore before = keys_before({&s});
      auto run = run_copy({src.url(), dst.url(), "--cleanup", "--allow-evicting-destination"});
      INFO(run.result.describe());
      CHECK(run.exit_code() == 5);
      CHECK(run.report.contains("evicted"));
      CHECK(run.counter("deleted") > 0);
      CHECK(run.counter("deleted") < 4000);
      const std::string line = error_line(run);
      CAPTURE(line);
      CHECK((contains(line, "is about to evict keys") || contains(line, "evicted")));
      CHECK(contains(line, std::string("maxmemory-policy ") + policy));
      // Reading every key of a full destination could evict some: no limit while the test looks.
      d.checked({"CONFIG", "SET", "maxmemory", "0"});
      // Every key is still somewhere with its value: no source key whose copy was evicted was deleted.
      require_preserved(check_preserved(before, {&s, &d}), 4000);
      CHECK(static_cast<uint64_t>(s.dbsize()) == 4000 - run.counter("deleted"));

      // A copy without --cleanup goes on through evictions, reports them and ends with exit code 5.
      d.checked({"FLUSHALL"});
      s.checked({"FLUSHALL"});
      d.checked({"CONFIG", "SET", "maxmemory", std::to_string(used + 3'000'000)});
      seed_strings(s, 4000, "c:", 1000, 3'600'000);
      auto copy = run_copy({src.url(), dst.url()});
      INFO(copy.result.describe());
      CHECK(copy.exit_code() == 5);
      CHECK(copy.counter("evicted") > 0);
      CHECK(copy.counter("deleted") == 0);
      CHECK(contains(error_line(copy), "evicted"));
      CHECK(contains(copy.result.err, "redis-migrate verify"));
      CHECK(s.dbsize() == 4000);
    }
  }

  TEST_CASE("the lock found missing during a --cleanup run: deletions stop, exit 5, nothing lost") {
    RedisServer src;
    RedisServer dst;
    Client s = src.client();
    Client d = dst.client();
    seed_strings(s, 2000, "k:");
    const KeysBefore before = keys_before({&s});
    auto tool = start_tool({src.url(), dst.url(), "--cleanup", "--rate-limit", "500", "--lock-ttl", "1",
                            "--progress-interval", "0", "--report-json", "-"});
    REQUIRE(eventually([&] { return user_dbsize(d) >= 200; }, 30s));
    // Only an eviction, a flush or a restart without its data takes a live lease away.
    d.checked({"DEL", "redis-migrate:lock"});
    auto result = tool.finish(60s);
    INFO(result.describe());
    CHECK(result.exit_code == 5);
    CHECK(contains(result.err, "vanished while this run held it"));
    auto report = nlohmann::json::parse(result.out);
    CHECK(report["deleted"].get<uint64_t>() < 2000);
    CHECK(report["deleted"].get<uint64_t>() > 0);
    require_preserved(check_preserved(before, {&s, &d}), 2000);
  }
}
