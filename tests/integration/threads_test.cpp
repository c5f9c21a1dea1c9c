// --threads N: one event loop per thread over the nodes of a source cluster. The same destination whatever N
// (every key, value and TTL; one DUMP per key), bad values refused before anything is written, a killed or
// interrupted threaded run resumed exactly, a rename collision between keys of two loops caught, plans, and
// cleanup keeping every key somewhere.

#include <doctest/doctest.h>

#include <csignal>

#include "helpers.hpp"
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
};

// The counters every run reports, for comparing runs.
nlohmann::json counters(const nlohmann::json& report) {
  nlohmann::json j;
  for (const char* name : {"scanned", "copied", "skipped", "failed", "duplicates", "expired", "vanished"})
    j[name] = report.value(name, uint64_t{0});
  return j;
}

[[maybe_unused]] std::vector<std::string> with(std::vector<std::string> args,
                                               const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

}  // namespace

TEST_SUITE("threads") {
  TEST_CASE("--threads 1, 2 and 3 from a 3-primary cluster give the same destination, one DUMP per key") {
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
      const long long dumps = nodes.calls("dump");
      auto run = run_copy({"--threads", std::to_string(threads), src_cluster.url(), dst_server.url(),
                           "--progress-interval", "0"});
      INFO(run.result.describe());
      REQUIRE(run.exit_code() == 0);
      CHECK(run.report["threads"] == threads);
      CHECK(run.counter("copied") == 3000);
      CHECK(nodes.calls("dump") - dumps == 3000);  // every key read once
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
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
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
    CHECK(dst.dbsize() == 0);
  }
}
