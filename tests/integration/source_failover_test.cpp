// Source failovers survived: a source cluster node that fails over (CLUSTER FAILOVER, kill -9) during a copy,
// a standalone source that comes back as a new server, and one that only drops its connections. Each run ends
// exact, its counters add up, and its report's `source_failovers` names what happened.

#include <doctest/doctest.h>

#include <csignal>
#include <functional>
#include <thread>

#include "helpers.hpp"
#include "support/cluster.hpp"
#include "support/compare.hpp"
#include "support/preserved.hpp"
#include "support/redis_server.hpp"
#include "support/seed.hpp"

using namespace rmig::test;

namespace {

// A replica is promoted about a second after its primary stops answering.
ServerOptions fast_failover(ServerOptions o = {}) {
  o.extra_args.insert(o.extra_args.end(), {"--cluster-node-timeout", "1000"});
  return o;
}

std::vector<std::string> join(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Small SCAN batches and a paced copy: the failover lands while every node is still being scanned.
const std::vector<std::string> kPaced = {"--scan-count",        "50",  "--rate-limit",  "1000",
                                         "--progress-interval", "0.2", "--report-json", "-"};

// Keys of their own values, a third with a TTL (an hour). Strings: a promoted replica's streams differ from
// its old primary's in consumer-group metadata (entries-read), which is the servers' doing, not the copy's.
void seed(KeyWriter& c, std::size_t keys) {
  const int third = static_cast<int>(keys / 3);
  seed_strings(c, third, "ttl:", 24, 3'600'000);
  seed_strings(c, static_cast<int>(keys) - third, "k:", 24);
}

RedisServer& replica_of(LocalCluster& cluster, RedisServer& primary) {
  for (auto* r : cluster.replicas()) {
    Client rc = r->client();
    if (contains(rc.command({"INFO", "replication"}).str, "master_port:" + std::to_string(primary.port())))
      return *r;
  }
  FAIL("no replica of " << primary.endpoint());
  throw std::logic_error("unreachable");
}

bool is_primary(RedisServer& node) {
  Client c = node.client();
  return info_field(c, "role") == "master";
}

// Every primary's keys are on its replica, linked and not syncing (a fresh client's WAIT proves nothing: it
// wrote nothing), so a promoted replica holds what the copy read from its primary.
void wait_replicated(LocalCluster& cluster) {
  for (auto* p : cluster.primaries()) {
    RedisServer& r = replica_of(cluster, *p);
    const bool synced = eventually(
        [&] {
          Client pc = p->client();
          Client rc = r.client();
          return info_field(rc, "master_link_status") == "up" &&
                 info_field(rc, "master_sync_in_progress") == "0" && rc.dbsize() == pc.dbsize();
        },
        30s);
    REQUIRE_MESSAGE(synced, "replica " << r.endpoint() << " of " << p->endpoint() << " did not catch up");
  }
}

uint64_t field(const nlohmann::json& report, const char* name) { return report.value(name, uint64_t{0}); }

// Every key of the source counted once: scanned = the source's keys, and scanned = copied + skipped +
// expired + vanished + failed; keys met twice only in `duplicates`.
void check_counters(const nlohmann::json& report, uint64_t keys) {
  INFO(report.dump());
  CHECK(field(report, "scanned") == keys);
  CHECK(field(report, "copied") + field(report, "skipped") + field(report, "expired") +
            field(report, "vanished") + field(report, "failed") ==
        keys);
  CHECK(field(report, "failed") == 0);
}

// The report's source_failovers: exactly one entry, for `node`, with `cause`.
void check_failover(const nlohmann::json& report, const std::string& node, const std::string& cause,
                    const std::string& primary = "") {
  INFO(report.dump());
  REQUIRE(report.contains("source_failovers"));
  const auto& f = report["source_failovers"];
  REQUIRE(f.is_array());
  REQUIRE(f.size() == 1);
  CHECK(f[0].value("node", "") == node);
  CHECK(f[0].value("cause", "") == cause);
  if (!primary.empty()) CHECK(f[0].value("primary", "") == primary);
  CHECK(f[0].value("rescanned", false));
}

// A standalone source of 2,000 keys (saved, so a restart brings the same data back as a new server) and a
// paced copy of it that is killed with -9 part-way: what the resume cases start from.
struct KilledCopy {
  RedisServer src_server;
  RedisServer dst_server;
  Client src = src_server.client();
  Client dst = dst_server.client();
  std::vector<std::string> args;

  KilledCopy() {
    seed(src, 2000);
    src.checked({"SAVE"});
    args = {src_server.url(), dst_server.url(), "--lock-ttl",          "2",  "--scan-count", "50",
            "--rate-limit",   "1000",           "--progress-interval", "0.2"};
  }
  // Runs the copy; `meanwhile` acts on it once it shows progress; then some of the scan is saved, the copy is
  // killed and its lease expires.
  void run_and_kill(const std::function<void(ToolProcess&)>& meanwhile) {
    auto tool = start_tool(args);
    REQUIRE(tool.wait_for_output("progress", 60s, Stream::kErr));
    meanwhile(tool);
    std::this_thread::sleep_for(700ms);  // part of the scan done and saved
    tool.kill9();
    REQUIRE(eventually([&] { return dst.command({"EXISTS", "redis-migrate:lock"}).integer == 0; }, 10s));
  }
};

nlohmann::json parse_report(const RunResult& result) {
  auto j = nlohmann::json::parse(result.out, nullptr, false);
  REQUIRE_MESSAGE(!j.is_discarded(), result.describe());
  return j;
}

// A copy from a 3-primary + 3-replica cluster during which primary(1) fails over (`kill`: killed with -9;
// otherwise its replica takes over with CLUSTER FAILOVER): exact destination, counters add up.
void copy_through_failover(bool kill, std::size_t keys, const std::vector<std::string>& paced = kPaced) {
  LocalCluster src_cluster({.primaries = 3, .replicas_per_primary = 1, .node = fast_failover()});
  RedisServer dst_server;
  ClusterClient src = src_cluster.client();
  seed(src, keys);
  wait_replicated(src_cluster);
  Client dst = dst_server.client();
  RedisServer& victim = src_cluster.primary(1);
  RedisServer& heir = replica_of(src_cluster, victim);
  const std::string victim_name = victim.endpoint();
  auto tool = start_tool(join({src_cluster.url(), dst_server.url()}, paced));
  REQUIRE(tool.wait_for_output("progress", 60s, Stream::kErr));
  if (kill) {
    victim.kill9();
  } else {
    heir.client().checked({"CLUSTER", "FAILOVER"});
  }
  REQUIRE(eventually([&] { return is_primary(heir); }, 30s));
  const RunResult result = tool.finish(180s);
  INFO(result.describe());
  REQUIRE(result.exit_code == 0);
  CHECK(contains(result.err, "source node " + victim_name));
  const nlohmann::json report = parse_report(result);
  check_failover(report, victim_name, kill ? "node unreachable" : "node demoted to replica", heir.endpoint());
  check_counters(report, keys);
  CHECK(field(report, "copied") == keys);  // the destination was empty
  CHECK(field(report, "duplicates") > 0);  // the node's keys before the failover, met again
  // The progress and the report keep the node's name from the start.
  bool named = false;
  for (const auto& n : report["nodes"])
    named |= n.value("node", "") == victim_name;
  CHECK(named);
  ClusterClient after = src_cluster.client();
  require_same(compare_keyspaces(after, dst, {.ttl_tolerance_ms = 5000}), keys);
}

}  // namespace

TEST_SUITE("source_failover") {
  TEST_CASE("a replica promoted with CLUSTER FAILOVER during a copy: exact, counters add up, reported") {
    copy_through_failover(false, 3000);
  }

  TEST_CASE("a source primary killed during a copy: its replica takes over and the copy completes exact") {
    copy_through_failover(true, 3000);
  }

  TEST_CASE("a standalone source killed and started again from its data: a new server, scanned again") {
    RedisServer src_server;
    RedisServer dst_server;
    Client src = src_server.client();
    seed(src, 2000);
    src.checked({"SAVE"});
    const std::string run_id = info_field(src, "run_id");
    auto tool = start_tool(join({src_server.url(), dst_server.url(), "--retry-timeout", "30"}, kPaced));
    REQUIRE(tool.wait_for_output("progress", 60s, Stream::kErr));
    src_server.kill9();
    std::this_thread::sleep_for(300ms);
    src_server.restart();  // same port and directory: dump.rdb is loaded
    Client again = src_server.client();
    REQUIRE(info_field(again, "run_id") != run_id);
    const RunResult result = tool.finish(120s);
    INFO(result.describe());
    REQUIRE(result.exit_code == 0);
    const nlohmann::json report = parse_report(result);
    check_failover(report, src_server.endpoint(), "new server", src_server.endpoint());
    check_counters(report, 2000);
    CHECK(field(report, "copied") == 2000);
    Client dst = dst_server.client();
    require_same(compare_keyspaces(again, dst, {.ttl_tolerance_ms = 5000}), 2000);
  }

  TEST_CASE("the same server dropping the tool's connections (same run_id): the scan goes on, no rescan") {
    RedisServer src_server;
    RedisServer dst_server;
    Client src = src_server.client();
    seed(src, 2000);
    const long long scans_before = command_calls(src, "scan");
    auto tool = start_tool(join({src_server.url(), dst_server.url()}, kPaced));
    REQUIRE(tool.wait_for_output("progress", 60s, Stream::kErr));
    std::this_thread::sleep_for(200ms);
    CHECK(src.command({"CLIENT", "KILL", "TYPE", "normal"}).integer >= 1);
    const RunResult result = tool.finish(120s);
    INFO(result.describe());
    REQUIRE(result.exit_code == 0);
    CHECK(contains(result.err, "reconnected"));
    const nlohmann::json report = parse_report(result);
    INFO(report.dump());
    CHECK(report["source_failovers"].empty());
    check_counters(report, 2000);
    CHECK(field(report, "copied") == 2000);
    CHECK(field(report, "duplicates") == 0);
    // One pass of SCAN: at most 2000 / 50 batches and a few more (a reply lost with the connection is asked
    // again), far from the two passes a rescan would take.
    CHECK(command_calls(src, "scan") - scans_before <= 2000 / 50 + 10);
    Client dst = dst_server.client();
    require_same(compare_keyspaces(src, dst, {.ttl_tolerance_ms = 5000}), 2000);
  }

  TEST_CASE(
      "killed during the rescan on a new server, then run again: it resumes the new scan, counts add up") {
    KilledCopy k;
    k.run_and_kill([&](ToolProcess& tool) {
      k.src_server.kill9();
      std::this_thread::sleep_for(300ms);
      k.src_server.restart();
      REQUIRE(tool.wait_for_output("continuing on", 30s, Stream::kErr));
    });
    Client again_src = k.src_server.client();
    auto again = run_copy(k.args);
    INFO(again.result.describe());
    REQUIRE(again.exit_code() == 0);
    CHECK(again.report["run"]["resumed"] == true);
    check_counters(again.report, 2000);
    require_same(compare_keyspaces(again_src, k.dst, {.ttl_tolerance_ms = 5000}), 2000);
  }

  TEST_CASE(
      "a source restarted while no run watched: the resumed run scans it again, each key counted once") {
    KilledCopy k;
    k.run_and_kill([](ToolProcess&) {});
    RedisServer& src_server = k.src_server;
    Client& src = k.src;
    Client& dst = k.dst;
    const std::vector<std::string>& args = k.args;
    const nlohmann::json saved = latest_record(dst);
    REQUIRE(saved.is_object());
    const std::string old_run_id = info_field(src, "run_id");
    CHECK(saved["nodes"][0].value("server", "") == old_run_id);
    CHECK(saved["nodes"][0].value("cursor", "0") != "0");
    CHECK(record_scanned(saved) > 0);
    // A new server behind the same address, from the same data: its SCAN order is another.
    src_server.kill9();
    src_server.restart();
    Client again_src = src_server.client();
    REQUIRE(info_field(again_src, "run_id") != old_run_id);
    auto again = run_copy(args);
    INFO(again.result.describe());
    REQUIRE(again.exit_code() == 0);
    CHECK(again.report["run"]["resumed"] == true);
    CHECK(contains(again.result.err, "belongs to another server"));
    check_failover(again.report, src_server.endpoint(), "new server", src_server.endpoint());
    check_counters(again.report, 2000);  // the keys before the old cursor are not counted twice
    require_same(compare_keyspaces(again_src, dst, {.ttl_tolerance_ms = 5000}), 2000);
  }

  TEST_CASE("a source user without +info: a reconnection cannot be told from a new server, so it rescans") {
    RedisServer src_server;
    RedisServer dst_server;
    Client src = src_server.client();
    seed(src, 2000);
    src.checked({"ACL", "SETUSER", "noinfo", "reset", "on", ">pw", "~*", "+scan", "+dump", "+pttl"});
    auto tool = start_tool(join({src_server.url_as("noinfo", "pw"), dst_server.url()}, kPaced));
    REQUIRE(tool.wait_for_output("progress", 60s, Stream::kErr));
    std::this_thread::sleep_for(200ms);
    CHECK(src.command({"CLIENT", "KILL", "TYPE", "normal"}).integer >= 1);
    const RunResult result = tool.finish(120s);
    INFO(result.describe());
    REQUIRE(result.exit_code == 0);
    CHECK(contains(result.err, "refuses INFO"));
    const nlohmann::json report = parse_report(result);
    check_failover(report, src_server.endpoint(), "new server", src_server.endpoint());
    check_counters(report, 2000);
    CHECK(field(report, "duplicates") > 0);
    Client dst = dst_server.client();
    require_same(compare_keyspaces(src, dst, {.ttl_tolerance_ms = 5000}), 2000);
  }

  TEST_CASE("a live run whose source primary is killed: it continues on the new primary; cut-over exact") {
    ServerOptions node = fast_failover();
    node.extra_args.insert(node.extra_args.end(), {"--notify-keyspace-events", "KEA"});
    LocalCluster src_cluster({.primaries = 3, .replicas_per_primary = 1, .node = node});
    RedisServer dst_server;
    {
      ClusterClient seeding = src_cluster.client();
      seed(seeding, 1500);
    }
    wait_replicated(src_cluster);
    RedisServer& victim = src_cluster.primary(1);
    RedisServer& heir = replica_of(src_cluster, victim);
    const std::string victim_name = victim.endpoint();
    auto tool = start_tool({src_cluster.url(), dst_server.url(), "--live", "--scan-count", "50",
                            "--rate-limit", "1000", "--progress-interval", "0.2", "--report-json", "-"});
    REQUIRE(tool.wait_for_output("progress", 60s, Stream::kErr));
    victim.kill9();
    REQUIRE(eventually([&] { return is_primary(heir); }, 30s));
    REQUIRE(eventually(
        [&] {
          Client c = src_cluster.primary(0).client();
          return contains(c.command({"CLUSTER", "INFO"}).str, "cluster_state:ok");
        },
        30s));
    // Changes after the failover, on every shard: new keys and overwrites.
    ClusterClient src = src_cluster.client();
    std::vector<Command> changes;
    for (int i = 0; i < 200; ++i) {
      changes.push_back({"SET", "after:" + std::to_string(i), "new"});
      changes.push_back({"SET", "k:" + std::to_string(i), "changed after the failover"});
    }
    src.pipeline_checked(changes);
    REQUIRE(tool.wait_for_output("live | pending", 60s, Stream::kErr));
    std::this_thread::sleep_for(1500ms);
    tool.send_signal(SIGUSR1);
    const RunResult result = tool.finish(90s);
    INFO(result.describe());
    REQUIRE(result.exit_code == 0);
    const nlohmann::json report = parse_report(result);
    INFO(report.dump());
    bool named = false;
    for (const auto& f : report["source_failovers"])
      named |= f.value("node", "") == victim_name && f.value("primary", "") == heir.endpoint();
    CHECK(named);
    CHECK(contains(result.err, "source node " + victim_name));
    Client dst = dst_server.client();
    require_same(compare_keyspaces(src, dst, {.ttl_tolerance_ms = 5000}), 1700);
  }

  TEST_CASE("--cleanup through a source primary killed mid-run: every key is kept somewhere") {
    LocalCluster src_cluster({.primaries = 3, .replicas_per_primary = 1, .node = fast_failover()});
    RedisServer dst_server;
    ClusterClient src = src_cluster.client();
    seed_strings(src, 3000, "c:", 20);
    wait_replicated(src_cluster);
    Client dst = dst_server.client();
    const KeysBefore before = keys_before({&src, &dst});
    RedisServer& victim = src_cluster.primary(2);
    RedisServer& heir = replica_of(src_cluster, victim);
    auto tool = start_tool(join({src_cluster.url(), dst_server.url(), "--cleanup"}, kPaced));
    REQUIRE(tool.wait_for_output("progress", 60s, Stream::kErr));
    // Deletions the victim made but had not replicated come back on its successor: such a key is then on both
    // sides, never on neither.
    victim.kill9();
    REQUIRE(eventually([&] { return is_primary(heir); }, 30s));
    const RunResult result = tool.finish(180s);
    INFO(result.describe());
    REQUIRE(result.exit_code == 0);
    const nlohmann::json report = parse_report(result);
    check_failover(report, victim.endpoint(), "node unreachable", heir.endpoint());
    ClusterClient after = src_cluster.client();
    require_preserved(check_preserved(before, {&after, &dst}), 3000);
    CHECK(user_dbsize(dst) == 3000);
  }
}

// The size: 300,000 keys, paced to last several seconds, a primary killed (or a replica promoted) on
// the way.
TEST_SUITE("source_failover_heavy") {
  const std::vector<std::string> kHeavyPaced = {"--scan-count",        "500", "--rate-limit",  "50000",
                                                "--progress-interval", "0.2", "--report-json", "-"};
  TEST_CASE("300k keys: a source primary killed during the copy, exact, counters add up") {
    copy_through_failover(true, 300'000, kHeavyPaced);
  }

  TEST_CASE("300k keys: a replica promoted with CLUSTER FAILOVER during the copy, exact, counters add up") {
    copy_through_failover(false, 300'000, kHeavyPaced);
  }
}
