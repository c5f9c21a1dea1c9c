// --threads N: one event loop per thread over the nodes of a source cluster. The same destination whatever N
// (every key, value and TTL; one read per key, DUMP or GETRANGE), bad values refused before anything is
// written, a killed or interrupted threaded run resumed exactly, a rename collision between keys of two loops
// caught, plans, and cleanup keeping every key somewhere.

#include <doctest/doctest.h>

#include <csignal>

#include "engine/crew.hpp"
#include "helpers.hpp"
#include "support/certs.hpp"
#include "support/cluster.hpp"
#include "support/compare.hpp"
#include "support/preserved.hpp"
#include "support/redis_server.hpp"
#include "support/seed.hpp"

using namespace rmig::test;

namespace {

// The source cluster's primaries, each with a client of its own (INFO commandstats per node).
struct Nodes {
  std::vector<Client> clients;
  explicit Nodes(const LocalCluster& cluster) {
    for (auto* p : cluster.primaries())
      clients.push_back(p->client());
  }
  long long calls(const std::string& command) {
    long long n = 0;
    for (Client& c : clients)
      n += command_calls(c, command);
    return n;
  }
  long long reads() {
    long long n = 0;
    for (Client& c : clients)
      n += value_reads(c);
    return n;
  }
};

// The counters every run reports, for comparing runs.
nlohmann::json counters(const nlohmann::json& report) {
  nlohmann::json j;
  for (const char* name : {"scanned", "copied", "skipped", "failed", "duplicates", "expired", "vanished"})
    j[name] = report.value(name, uint64_t{0});
  return j;
}

std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

}  // namespace

TEST_SUITE("threads") {
  TEST_CASE(
      "TLS and an ACL user on both clusters with --threads 3: every loop opens its own sessions, exact") {
    const auto& certs = test_certs();
    ServerOptions node;
    node.tls = true;
    node.tls_cluster = true;
    node.tls_auth_clients = true;
    node.acl_users = {"user copier on >s3cret ~* &* +@all"};
    LocalCluster src_cluster({.primaries = 3, .node = node});
    LocalCluster dst_cluster({.primaries = 3, .node = node});
    ClusterClient src = src_cluster.client();
    seed_mixed(src, {.count = 3000, .ttl_fraction = 0.3});
    const auto url = [](const LocalCluster& c) {
      return "rediss://copier:s3cret@localhost:" + std::to_string(c.primary(0).tls_port());
    };
    std::vector<std::string> args = {url(src_cluster), url(dst_cluster), "--threads", "3"};
    for (const std::string side : {"source", "destination"}) {
      args.insert(args.end(), {"--" + side + "-tls-ca-file", certs.ca_cert, "--" + side + "-tls-cert",
                               certs.client_cert, "--" + side + "-tls-key", certs.client_key});
    }
    auto run = run_copy(args);
    INFO(run.result.describe());
    REQUIRE(run.exit_code() == 0);
    CHECK(run.report["threads"] == 3);
    CHECK(run.counter("copied") == 3000);
    ClusterClient dst = dst_cluster.client();
    require_same(compare_keyspaces(src, dst), 3000);
    require_secret_hidden(run, "s3cret");
  }

  TEST_CASE("--threads 1, 2 and 3 from a 3-primary cluster give the same destination, one read per key") {
    LocalCluster src_cluster;
    RedisServer dst_server;
    ClusterClient src = src_cluster.client();
    seed_mixed(src, {.count = 3000, .ttl_fraction = 0.2});
    Nodes nodes(src_cluster);
    Client dst = dst_server.client();
    nlohmann::json first;
    for (int threads : {1, 2, 3}) {
      CAPTURE(threads);
      dst.flushall();
      const long long reads = nodes.reads();
      auto run = run_copy({"--threads", std::to_string(threads), src_cluster.url(), dst_server.url(),
                           "--progress-interval", "0"});
      INFO(run.result.describe());
      REQUIRE(run.exit_code() == 0);
      CHECK(run.report["threads"] == threads);
      CHECK(run.counter("copied") == 3000);
      CHECK(nodes.reads() - reads == 3000);  // every key read once (DUMP, or GETRANGE for a string)
      REQUIRE(run.report["nodes"].size() == 3);
      if (threads > 1) {
        CHECK(contains(run.result.err, std::to_string(threads) + " event loops (one thread each)"));
      }
      if (threads == 1) {
        first = counters(run.report);
      } else {
        CHECK(counters(run.report) == first);
      }
      require_same(compare_keyspaces(src, dst), 3000);
    }

    // The default: one loop per source node, at most the cores available.
    dst.flushall();
    auto by_default = run_copy({src_cluster.url(), dst_server.url(), "--progress-interval", "0"});
    INFO(by_default.result.describe());
    REQUIRE(by_default.exit_code() == 0);
    const uint32_t cores = rmig::engine::available_cores();
    CHECK(by_default.report["threads"] == std::min(3u, cores));
    CHECK(counters(by_default.report) == first);
    require_same(compare_keyspaces(src, dst), 3000);

    // More threads than source nodes: one loop per node.
    dst.flushall();
    auto many = run_copy({src_cluster.url(), dst_server.url(), "--threads", "8", "--progress-interval", "0"});
    INFO(many.result.describe());
    REQUIRE(many.exit_code() == 0);
    CHECK(many.report["threads"] == 3);
    CHECK(contains(many.result.err, "--threads 8: the source has 3 nodes, so 3 event loops"));
    require_same(compare_keyspaces(src, dst), 3000);

    // Into a cluster: each loop with its own connections to every destination primary.
    LocalCluster dst_cluster;
    ClusterClient dst_c = dst_cluster.client();
    auto into_cluster =
        run_copy({"--threads", "3", src_cluster.url(), dst_cluster.url(), "--progress-interval", "0"});
    INFO(into_cluster.result.describe());
    REQUIRE(into_cluster.exit_code() == 0);
    CHECK(into_cluster.report["threads"] == 3);
    CHECK(counters(into_cluster.report) == first);
    require_same(compare_keyspaces(src, dst_c), 3000);

    // A plan (--dry-run) on 3 loops counts what the plan on one loop counts, and writes nothing.
    dst.flushall();
    auto plan1 = run_copy({"plan", "--threads", "1", src_cluster.url(), dst_server.url()});
    auto plan3 = run_copy({src_cluster.url(), dst_server.url(), "--dry-run", "--threads", "3"});
    INFO(plan3.result.describe());
    REQUIRE(plan1.exit_code() == 0);
    REQUIRE(plan3.exit_code() == 0);
    CHECK(plan3.report["threads"] == 3);
    CHECK(plan1.report["plan"]["by_type"] == plan3.report["plan"]["by_type"]);
    CHECK(plan1.report["plan"]["actions"] == plan3.report["plan"]["actions"]);
    CHECK(plan3.report["plan"]["actions"]["copy"] == 3000);
    CHECK(counters(plan1.report) == counters(plan3.report));
    // A plan with rename rules checks every name for collisions in one detector: one loop.
    auto renamed = run_copy(
        {"plan", "--threads", "3", "--rename-prefix", "seed:", "new:", src_cluster.url(), dst_server.url()});
    INFO(renamed.result.describe());
    REQUIRE(renamed.exit_code() == 0);
    CHECK(renamed.report["threads"] == 1);
    CHECK(contains(renamed.result.err, "a plan with rename rules runs on one event loop"));
    CHECK(renamed.report["plan"]["actions"] == plan1.report["plan"]["actions"]);
    CHECK(dst.dbsize() == 0);
  }

  TEST_CASE("bad --threads values: one line, exit 2, nothing written; --threads 2 with --live is refused") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    seed_strings(src, 10, "k:");
    const std::string s = src_server.url(), d = dst_server.url();
    struct Bad {
      std::vector<std::string> args;
      EnvOverrides env;
      const char* says;
    };
    const std::vector<Bad> cases = {
        {{"--threads", "0", s, d}, {}, "'0' is not allowed: give a whole number from 1 to 256"},
        {{"--threads", "-1", s, d}, {}, "is negative"},
        {{s, "--threads", "two", d}, {}, "is not a whole number"},
        {{s, d, "--threads", "257"}, {}, "is too large"},
        {{"plan", s, d, "--threads=0"}, {}, "is not allowed"},
        {{s, d}, {{"THREADS", "0"}}, "(from the environment variable THREADS)"},
        {{"--threads", "2", "--live", s, d}, {}, "--live with --threads 2: a live run's key map"},
        {{s, d}, {{"THREADS", "3"}, {"LIVE", "1"}}, "LIVE with THREADS 3"},
    };
    for (const auto& c : cases) {
      CAPTURE(quote_command(c.args));
      const std::string line = usage_refusal(c.args, c.env);
      CHECK(contains(line, c.says));
      CHECK((contains(line, "give a whole number") || contains(line, "use --threads 1")));
    }
    Client dst = dst_server.client();
    CHECK(dst.dbsize() == 0);

    // Before, between or after the URLs, or from THREADS: a standalone source is read by one loop.
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"--threads", "2", s, d}, {s, "--threads", "2", d}, {s, d, "--threads=2"}, {s, d}}) {
      CAPTURE(quote_command(args));
      dst.flushall();
      auto r = run_copy(args, args.size() == 2 ? EnvOverrides{{"THREADS", "2"}} : EnvOverrides{});
      INFO(r.result.describe());
      REQUIRE(r.exit_code() == 0);
      CHECK(r.report["threads"] == 1);
      CHECK(contains(r.result.err, "--threads 2: the source is one server, read by one event loop"));
      CHECK(r.counter("copied") == 10);
    }
  }

  TEST_CASE(
      "kill -9 during a --threads 3 run: the rerun resumes every node's checkpoint, no key read twice") {
    LocalCluster src_cluster;
    RedisServer dst_server;
    ClusterClient src = src_cluster.client();
    seed_strings(src, 6000, "k:", 20);
    Nodes nodes(src_cluster);
    Client dst = dst_server.client();
    const std::vector<std::string> args = {
        src_cluster.url(), dst_server.url(), "--lock-ttl", "2", "--progress-interval", "0"};
    // Paced (300 keys/s per loop) so that the kill lands mid-run.
    auto tool = start_tool(with(args, {"--threads", "3", "--rate-limit", "900"}));
    REQUIRE(eventually([&] { return record_scanned(latest_record(dst)) >= 1500; }, 60s));
    tool.kill9();
    const nlohmann::json record = latest_record(dst);
    REQUIRE(record.is_object());
    CHECK(record["status"] == "running");
    REQUIRE(record["nodes"].size() == 3);
    const uint64_t saved = record_scanned(record);
    const long long on_dst = user_dbsize(dst);
    MESSAGE("copied when killed: " << on_dst << ", checkpoint: " << saved);
    CHECK(saved < 6000);
    CHECK(saved <= static_cast<uint64_t>(on_dst));
    REQUIRE(eventually([&] { return dst.command({"EXISTS", "redis-migrate:lock"}).integer == 0; }, 10s));

    // The checkpoint is per source node, not per loop: a rerun on another number of loops resumes it.
    const long long reads = nodes.reads();
    auto resumed = run_copy(with(args, {"--threads", "2"}));
    INFO(resumed.result.describe());
    REQUIRE(resumed.exit_code() == 0);
    CHECK(resumed.report["threads"] == 2);
    CHECK(resumed.report["run"]["resumed"] == true);
    CHECK(resumed.report["run"]["resumed_from"]["scanned"] == saved);
    CHECK(resumed.counter("scanned") == 6000);
    CHECK(resumed.counter("copied") + resumed.counter("skipped") == 6000);
    CHECK(resumed.counter("skipped") <= static_cast<uint64_t>(on_dst) - saved);
    CHECK(resumed.counter("failed") == 0);
    // Only the keys past each node's checkpoint were read again, each once.
    CHECK(nodes.reads() - reads == static_cast<long long>(6000 - saved));
    CHECK(latest_record(dst)["status"] == "finished");
    require_same(compare_keyspaces(src, dst), 6000);
  }

  TEST_CASE("SIGTERM during a --threads 3 run: exit 143 with a consistent checkpoint; the rerun ends exact") {
    LocalCluster src_cluster;
    RedisServer dst_server;
    ClusterClient src = src_cluster.client();
    seed_strings(src, 6000, "k:", 20);
    Client dst = dst_server.client();
    const std::vector<std::string> args = {"--threads",           "3", src_cluster.url(), dst_server.url(),
                                           "--progress-interval", "0"};
    TempDir dir("threads");
    auto tool = start_tool(with(args, {"--rate-limit", "900", "--report-json", dir.file("first.json")}));
    REQUIRE(eventually([&] { return record_scanned(latest_record(dst)) >= 1000; }, 60s));
    tool.send_signal(SIGTERM);
    auto stopped = tool.finish(60s);
    INFO(stopped.describe());
    REQUIRE(stopped.exit_code == 143);
    const auto first = nlohmann::json::parse(read_file(dir.file("first.json")));
    const uint64_t first_copied = first["copied"];
    CHECK(first_copied > 0);
    CHECK(first_copied < 6000);
    CHECK(first["threads"] == 3);
    const nlohmann::json record = latest_record(dst);
    CHECK(record["status"] == "interrupted");
    CHECK(record["exit_code"] == 143);
    CHECK(record["totals"]["copied"] == first_copied);
    CHECK(user_dbsize(dst) == static_cast<long long>(first_copied));    // every key in flight was finished
    CHECK(dst.command({"EXISTS", "redis-migrate:lock"}).integer == 0);  // released on the way out

    auto resumed = run_copy(args);
    INFO(resumed.result.describe());
    REQUIRE(resumed.exit_code() == 0);
    CHECK(resumed.report["run"]["resumed"] == true);
    CHECK(resumed.counter("scanned") == 6000);
    CHECK(resumed.counter("copied") == 6000);
    CHECK(resumed.counter("skipped") == 0);
    require_same(compare_keyspaces(src, dst), 6000);
  }

  TEST_CASE("a rename collision between keys of two loops is caught while copying with --threads 3") {
    LocalCluster src_cluster;
    RedisServer dst_server;
    ClusterClient src = src_cluster.client();
    Client dst = dst_server.client();
    // The pre-scan holds at most 32 MiB of names and scans each node's strings before its hashes: 60 strings
    // with 600 KB names on every node fill it before it reaches any hash, so the two hashes renamed to one
    // name meet only in the copy, on two different nodes (two different loops).
    auto owner = [&](const std::string& key) {
      const auto slot = static_cast<int>(src.command({"CLUSTER", "KEYSLOT", key}).integer);
      return src_cluster.owner_of_slot(slot).port();
    };
    std::map<int, std::string> tag_of;  // node port -> a hash tag it owns
    for (int i = 0; tag_of.size() < 3 && i < 1000; ++i) {
      const std::string tag = "{t" + std::to_string(i) + "}";
      tag_of.emplace(owner(tag), tag);
    }
    REQUIRE(tag_of.size() == 3);
    const std::string pad(600'000, 'p');
    for (const auto& [port, tag] : tag_of) {
      for (int i = 0; i < 60; ++i)
        src.command({"SET", "s:" + tag + std::to_string(i) + ":" + pad, "v"});
    }
    std::string rest;
    for (int i = 0; i < 1000 && rest.empty(); ++i) {
      if (owner("a:" + std::to_string(i)) != owner("b:" + std::to_string(i))) rest = std::to_string(i);
    }
    REQUIRE(!rest.empty());
    src.command({"HSET", "a:" + rest, "from", "a"});
    src.command({"HSET", "b:" + rest, "from", "b"});
    auto run = run_copy({src_cluster.url(),
                         dst_server.url(),
                         "--threads",
                         "3",
                         "--type",
                         "string",
                         "--type",
                         "hash",
                         "--rename-prefix",
                         "s:",
                         "t:",
                         "--rename-prefix",
                         "a:",
                         "x:",
                         "--rename-prefix",
                         "b:",
                         "x:",
                         "--yes",
                         "--progress-interval",
                         "0"});
    INFO(run.result.describe());
    CHECK(run.exit_code() == 1);
    CHECK(run.report["threads"] == 3);
    CHECK(contains(run.result.err, "rename check stopped"));
    CHECK(run.counter("copied") == 181);
    CHECK(run.counter("failed") == 1);
    REQUIRE(run.report["errors"].size() == 1);
    const std::string message = run.report["errors"][0]["message"];
    const std::string loser = run.report["errors"][0]["example_key"];
    CHECK(contains(message, "sends the key to \"x:" + rest + "\""));
    CHECK(contains(message, "a name another selected key already took"));
    // x:REST holds the key that was written first; the other was not written over it.
    CHECK(dst.command({"HGET", "x:" + rest, "from"}).str == (loser == "a:" + rest ? "b" : "a"));
  }

  TEST_CASE("--cleanup with --threads 3 keeps every key somewhere; into an evicting destination, one loop") {
    LocalCluster src_cluster;
    RedisServer dst_server;
    ClusterClient src = src_cluster.client();
    Client dst = dst_server.client();
    seed_mixed(src, {.count = 2000, .ttl_fraction = 0.2});
    const KeysBefore snapshot = keys_before({&src, &dst});
    auto moved = run_copy({"--threads", "3", "--cleanup", "--yes", src_cluster.url(), dst_server.url(),
                           "--progress-interval", "0"});
    INFO(moved.result.describe());
    REQUIRE(moved.exit_code() == 0);
    CHECK(moved.report["threads"] == 3);
    CHECK(moved.counter("copied") == 2000);
    CHECK(moved.counter("deleted") == 2000);
    CHECK(src.dbsize() == 0);
    require_preserved(check_preserved(snapshot, {&src, &dst}), 2000);

    // An evicting destination: deletions go one key at a time, on one loop.
    RedisServer evicting({.extra_args = {"--maxmemory-policy", "allkeys-lru"}});
    Client ev = evicting.client();
    seed_mixed(src, {.count = 500, .prefix = "more:"});
    const KeysBefore again = keys_before({&src, &ev});
    auto one = run_copy({"--threads", "3", "--cleanup", "--allow-evicting-destination", "--yes",
                         src_cluster.url(), evicting.url(), "--progress-interval", "0"});
    INFO(one.result.describe());
    REQUIRE(one.exit_code() == 0);
    CHECK(one.report["threads"] == 1);
    CHECK(contains(one.result.err, "one key at a time, on one event loop (--threads ignored)"));
    CHECK(one.counter("deleted") == 500);
    require_preserved(check_preserved(again, {&src, &ev}), 500);
  }

  TEST_CASE("the lock found missing during a --cleanup --threads 3 run: every loop stops deleting, exit 5") {
    LocalCluster src_cluster;
    RedisServer dst_server;
    ClusterClient src = src_cluster.client();
    Client dst = dst_server.client();
    seed_strings(src, 3000, "k:");
    const KeysBefore before = keys_before({&src});
    auto tool =
        start_tool({"--threads", "3", src_cluster.url(), dst_server.url(), "--cleanup", "--rate-limit", "600",
                    "--lock-ttl", "1", "--progress-interval", "0", "--report-json", "-"});
    REQUIRE(eventually([&] { return user_dbsize(dst) >= 300; }, 30s));
    // Only an eviction, a flush or a restart without its data takes a live lease away.
    dst.checked({"DEL", "redis-migrate:lock"});
    auto result = tool.finish(60s);
    INFO(result.describe());
    CHECK(result.exit_code == 5);
    CHECK(contains(result.err, "vanished while this run held it"));
    auto report = nlohmann::json::parse(result.out);
    CHECK(report["threads"] == 3);
    const auto deleted = report["deleted"].get<uint64_t>();
    CHECK(deleted > 0);
    CHECK(deleted < 3000);
    // No loop deleted after the lock was found missing: the source holds every key not counted deleted.
    CHECK(static_cast<uint64_t>(src.dbsize()) == 3000 - deleted);
    require_preserved(check_preserved(before, {&src, &dst}), 3000);
  }

  TEST_CASE("an eviction during a --threads 3 copy: every loop sees it once, evicted counted once, exit 5") {
    LocalCluster src_cluster;
    RedisServer dst_server({.extra_args = {"--maxmemory-policy", "allkeys-lru"}});
    ClusterClient src = src_cluster.client();
    Client dst = dst_server.client();
    seed_strings(src, 3000, "k:", 1000);
    const long long used = std::stoll(info_field(dst, "used_memory", "memory"));
    const long long limit = used + 12'000'000;
    dst.checked({"CONFIG", "SET", "maxmemory", std::to_string(limit)});
    auto tool = start_tool({"--threads", "3", src_cluster.url(), dst_server.url(), "--rate-limit", "600",
                            "--progress-interval", "0", "--report-json", "-"});
    REQUIRE(eventually([&] { return user_dbsize(dst) >= 600; }, 30s));
    // Another client fills the destination past its maxmemory: it evicts.
    auto used_now = [&] { return std::stoll(info_field(dst, "used_memory", "memory")); };
    std::vector<Command> filler;
    for (long long i = 0; i < (limit - used_now() - 2'000'000) / 500'000; ++i)
      filler.push_back({"SET", "filler:" + std::to_string(i), std::string(500'000, 'f')});
    dst.pipeline_checked(filler);
    dst.checked({"SETRANGE", "filler:last", std::to_string(limit - used_now() + 300'000), "f"});
    REQUIRE(eventually([&] { return std::stoll(info_field(dst, "evicted_keys", "stats")) > 0; }, 10s));
    auto result = tool.finish(60s);
    INFO(result.describe());
    CHECK(result.exit_code == 5);
    auto report = nlohmann::json::parse(result.out);
    CHECK(report["threads"] == 3);
    const long long evicted = std::stoll(info_field(dst, "evicted_keys", "stats"));
    // Each loop watches the same destination: the evictions are counted once, not once per loop.
    CHECK(report["evicted"].get<long long>() > 0);
    CHECK(report["evicted"].get<long long>() <= evicted);
    dst.checked({"CONFIG", "SET", "maxmemory", "0"});
  }
}
