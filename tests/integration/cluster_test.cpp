// Redis Cluster on either side, against real local clusters: every key exactly once, including while the
// destination reshards.

#include "support/cluster.hpp"

#include <doctest/doctest.h>

#include <csignal>
#include <set>
#include <thread>

#include "helpers.hpp"
#include "support/certs.hpp"
#include "support/compare.hpp"
#include "support/redis_server.hpp"
#include "support/seed.hpp"

using namespace rmig::test;

namespace {

long long calls_of(RedisServer& node, const std::string& command) {
  Client c = node.client();
  return command_calls(c, command);
}

// DUMP and GETRANGE: the values the node served.
long long reads_of(RedisServer& node) { return calls_of(node, "dump") + calls_of(node, "getrange"); }

// A primary of `cluster` other than `owner` (a cluster has at least two).
RedisServer* other_primary(const LocalCluster& cluster, const RedisServer& owner) {
  for (RedisServer* p : cluster.primaries()) {
    if (p != &owner) return p;
  }
  FAIL("the cluster has one primary");
  return nullptr;
}

}  // namespace

TEST_SUITE("cluster") {
  TEST_CASE("standalone -> 3-primary cluster: every RESTORE routed to its slot's owner") {
    RedisServer src_server;
    LocalCluster dst_cluster;
    Client src = src_server.client();
    seed_mixed(src, {.count = 3000, .ttl_fraction = 0.3});
    seed_edge_keys(src, {.short_ttl_key = false});
    auto run = run_copy({src_server.url(), dst_cluster.url()});
    INFO(run.result.describe());
    REQUIRE(run.exit_code() == 0);
    const auto n = static_cast<uint64_t>(src.dbsize());
    CHECK(run.counter("copied") == n);
    CHECK(run.counter("redirects_moved") == 0);  // routed right the first time
    ClusterClient dst = dst_cluster.client();
    require_same(compare_keyspaces(src, dst, {.ttl_tolerance_ms = 2000}), n);
    for (auto* p : dst_cluster.primaries())
      CHECK(p->client().dbsize() > 0);  // spread over all shards
  }

  TEST_CASE("3-primary cluster -> standalone, into the DB the URL names, with counters per source node") {
    LocalCluster src_cluster;
    RedisServer dst_server;
    ClusterClient src = src_cluster.client();
    seed_mixed(src, {.count = 3000, .ttl_fraction = 0.3});
    // Paced to last about a second, so progress lines are printed on the way.
    auto run = run_copy(
        {src_cluster.url(), dst_server.url(2), "--rate-limit", "3000", "--progress-interval", "0.2"});
    INFO(run.result.describe());
    REQUIRE(run.exit_code() == 0);
    Client dst = dst_server.client(2);
    require_same(compare_keyspaces(src, dst), 3000);
    CHECK(dst_server.client(0).dbsize() == 0);
    REQUIRE(run.report["nodes"].size() == 3);
    uint64_t sum = 0;
    for (const auto& node : run.report["nodes"]) {
      CHECK(node["scanned"].get<uint64_t>() > 0);
      sum += node["copied"].get<uint64_t>();
    }
    CHECK(sum == 3000);
    CHECK(run.result.err.find("per source node") != std::string::npos);
    // The progress line breaks the counters down per source node.
    const auto lines = lines_with(run.result.err, " | in flight ");
    REQUIRE(!lines.empty());
    for (const auto& line : lines) {
      CAPTURE(line);
      CHECK(line.find("| per node ") != std::string::npos);
      for (auto* p : src_cluster.primaries())
        CHECK(line.find(":" + std::to_string(p->port()) + " scanned ") != std::string::npos);
    }

    // verify's progress line too.
    auto verified = run_copy({"verify", src_cluster.url(), dst_server.url(2), "--rate-limit", "3000",
                              "--progress-interval", "0.2"});
    INFO(verified.result.describe());
    CHECK(verified.exit_code() == 0);
    CHECK(verified.counter("equal") == 3000);
    const auto check_lines = lines_with(verified.result.err, " | in flight ");
    REQUIRE(!check_lines.empty());
    for (const auto& line : check_lines) {
      CAPTURE(line);
      for (auto* p : src_cluster.primaries())
        CHECK(line.find(":" + std::to_string(p->port()) + " scanned ") != std::string::npos);
      CHECK(line.find(" checked ") != std::string::npos);
    }

    // SOURCE_CLUSTER from the environment, started from a primary other than the first: off scans that node
    // alone, on (like auto) finds every primary from it.
    RedisServer& second = src_cluster.primary(1);
    const std::string second_url = "redis://127.0.0.1:" + std::to_string(second.port());
    const auto second_keys = static_cast<uint64_t>(second.client().dbsize());
    REQUIRE(second_keys > 0);
    REQUIRE(second_keys < 3000);
    dst.flushall();
    auto off = run_copy({second_url, dst_server.url(2)}, {{"SOURCE_CLUSTER", "off"}});
    INFO(off.result.describe());
    REQUIRE(off.exit_code() == 0);
    CHECK(off.counter("copied") == second_keys);
    CHECK(static_cast<uint64_t>(user_dbsize(dst)) == second_keys);
    auto on = run_copy({second_url, dst_server.url(2)}, {{"SOURCE_CLUSTER", "on"}});
    INFO(on.result.describe());
    REQUIRE(on.exit_code() == 0);
    CHECK(on.counter("copied") == 3000 - second_keys);
    CHECK(on.counter("skipped") == second_keys);
    require_same(compare_keyspaces(src, dst), 3000);
  }

  TEST_CASE("3-primary cluster -> 2-primary cluster (a different shard count)") {
    LocalCluster src_cluster;
    // redis-cli creates clusters of 3 primaries or more: a 2-shard cluster is one whose third primary gave
    // all its slots away.
    LocalCluster dst_cluster;
    {
      // The cluster is empty: its third primary's slot ranges can be handed over at once.
      auto slots = dst_cluster.slots_of(dst_cluster.primary(2));
      REQUIRE(!slots.empty());
      Command del = {"CLUSTER", "DELSLOTSRANGE"};
      Command add = {"CLUSTER", "ADDSLOTSRANGE"};
      for (std::size_t i = 0; i < slots.size();) {
        std::size_t k = i;
        while (k + 1 < slots.size() && slots[k + 1] == slots[k] + 1)
          ++k;
        for (Command* c : {&del, &add}) {
          c->push_back(std::to_string(slots[i]));
          c->push_back(std::to_string(slots[k]));
        }
        i = k + 1;
      }
      for (auto* p : dst_cluster.primaries())
        p->client().checked(del);  // every node forgets the owner
      dst_cluster.primary(0).client().checked(add);
      dst_cluster.primary(0).client().checked({"CLUSTER", "BUMPEPOCH"});
      dst_cluster.wait_until_stable();
    }
    REQUIRE(dst_cluster.slots_of(dst_cluster.primary(2)).empty());
    ClusterClient src = src_cluster.client();
    seed_mixed(src, {.count = 4000, .ttl_fraction = 0.3});
    auto run = run_copy({src_cluster.url(), dst_cluster.url()});
    INFO(run.result.describe());
    REQUIRE(run.exit_code() == 0);
    CHECK(run.counter("copied") == 4000);
    ClusterClient dst = dst_cluster.client();
    require_same(compare_keyspaces(src, dst), 4000);
    CHECK(dst_cluster.primary(2).client().dbsize() == 0);

    // Both sides named by a primary other than the first, cluster mode from the environment.
    dst.flushall();
    auto env = run_copy({"redis://127.0.0.1:" + std::to_string(src_cluster.primary(2).port()),
                         "redis://127.0.0.1:" + std::to_string(dst_cluster.primary(1).port())},
                        {{"SOURCE_CLUSTER", "on"}, {"DESTINATION_CLUSTER", "on"}});
    INFO(env.result.describe());
    REQUIRE(env.exit_code() == 0);
    CHECK(env.counter("copied") == 4000);
    require_same(compare_keyspaces(src, dst), 4000);
    // An invalid value in the environment is a usage error, like the option's.
    auto bad = run_copy({src_cluster.url(), dst_cluster.url()}, {{"DESTINATION_CLUSTER", "sometimes"}});
    CHECK(bad.exit_code() == 2);
  }

  TEST_CASE("--read-from replicas scans and dumps on the replicas only") {
    LocalCluster src_cluster({.primaries = 3, .replicas_per_primary = 1});
    RedisServer dst_server;
    ClusterClient src = src_cluster.client();
    seed_mixed(src, {.count = 2000});
    // Let the replicas catch up before reading from them: each primary's write acknowledged by its replica,
    // and every node still in the role it was created with, its replicas holding as many keys as it does (a
    // node stalled past cluster-node-timeout on a loaded machine is failed over, and the demoted primary then
    // resyncs from scratch).
    for (auto* p : src_cluster.primaries())
      CHECK(p->client().command({"WAIT", "1", "10000"}).integer == 1);
    std::string roles;
    for (int attempt = 0; attempt < 150; ++attempt) {
      roles.clear();
      bool settled = true;
      for (auto* p : src_cluster.primaries()) {
        Client pc = p->client();
        const Reply role = pc.command({"ROLE"});
        const long long keys = pc.dbsize();
        roles += std::to_string(p->port()) + " " + role.to_string() + " keys " + std::to_string(keys) + "\n";
        if (role.elements.empty() || role.elements[0].str != "master") settled = false;
        for (auto* r : src_cluster.replicas()) {
          Client rc = r->client();
          const Reply rrole = rc.command({"ROLE"});
          if (rrole.elements.size() < 4 || rrole.elements[2].integer != p->port()) continue;
          roles += "  " + std::to_string(r->port()) + " " + rrole.to_string() + " keys " +
                   std::to_string(rc.dbsize()) + "\n";
          if (rrole.elements[3].str != "connected" || rc.dbsize() != keys) settled = false;
        }
      }
      if (settled) break;
      std::this_thread::sleep_for(100ms);
    }
    INFO("nodes before the copy:\n" << roles);
    auto run = run_copy({src_cluster.url(), dst_server.url(), "--read-from", "replicas"});
    INFO(run.result.describe());
    REQUIRE(run.exit_code() == 0);
    // The copy holds exactly what the replicas hold. (On Redis 7.0 a replica does not know a stream consumer
    // group's entries-read counter, so comparing with the primaries would differ on that field alone.)
    Client dst = dst_server.client();
    std::size_t compared = 0;
    for (auto* r : src_cluster.replicas()) {
      Client replica = r->client();
      replica.checked({"READONLY"});
      auto result = compare_keyspaces(replica, dst, {.check_extra_keys_on_dst = false});
      require_same(result);
      compared += result.compared;
    }
    CHECK(compared == 2000);
    CHECK(user_dbsize(dst) == 2000);
    long long replica_dumps = 0;
    for (auto* r : src_cluster.replicas())
      replica_dumps += reads_of(*r);
    for (auto* p : src_cluster.primaries())
      CHECK(reads_of(*p) == 0);
    CHECK(replica_dumps == 2000);
    auto env = run_copy({src_cluster.url(), dst_server.url(), "--replace"}, {{"READ_FROM", "replicas"}});
    CHECK(env.exit_code() == 0);
    for (auto* p : src_cluster.primaries())
      CHECK(reads_of(*p) == 0);
    // Started from a replica's URL: the cluster's primaries are found from it and every key is copied.
    RedisServer& replica = *src_cluster.replicas().at(0);
    dst.flushall();
    auto from_replica = run_copy({"redis://127.0.0.1:" + std::to_string(replica.port()), dst_server.url()},
                                 {{"SOURCE_CLUSTER", "on"}});
    INFO(from_replica.result.describe());
    CHECK(from_replica.exit_code() == 0);
    CHECK(from_replica.counter("copied") == 2000);
    CHECK(from_replica.report["nodes"].size() == 3);
    CHECK(user_dbsize(dst) == 2000);
  }

  TEST_CASE("slots moving between destination nodes during the copy: MOVED and ASK, every key exactly once") {
    RedisServer src_server;
    LocalCluster dst_cluster;
    Client src = src_server.client();
    std::vector<Command> cmds;
    for (int i = 0; i < 60000; ++i)
      cmds.push_back({"SET", "key:" + std::to_string(i), "value-" + std::to_string(i)});
    src.pipeline_checked(cmds);
    auto& from = dst_cluster.primary(0);
    auto& to = dst_cluster.primary(1);
    auto slots = dst_cluster.slots_of(from);
    slots.resize(std::min<std::size_t>(slots.size(), 1200));
    // The copy runs slowly (a small window), while slots move one by one in the background.
    auto tool = start_tool({src_server.url(), dst_cluster.url(), "--window-keys", "16", "--progress-interval",
                            "0", "--report-json", "-"});
    // The slots start moving once the copy writes (its start-up checks take a while on a loaded machine).
    {
      Client first = from.client();
      for (int i = 0; i < 2000 && first.dbsize() < 20; ++i)
        std::this_thread::sleep_for(5ms);
    }
    auto reshard = dst_cluster.reshard_async(from, to, slots, MoveOptions::background());
    auto result = tool.finish(300s);
    reshard.wait();
    INFO(result.describe());
    REQUIRE(result.exit_code == 0);
    auto report = nlohmann::json::parse(result.out);
    CHECK(report["copied"] == 60000);
    CHECK(report["skipped"] == 0);
    CHECK(report["failed"] == 0);
    CHECK(report["redirects_moved"].get<uint64_t>() > 0);
    CHECK(report["redirects_ask"].get<uint64_t>() > 0);
    MESSAGE("slots moved: " << reshard.slots_moved() << ", MOVED " << report["redirects_moved"] << ", ASK "
                            << report["redirects_ask"]);
    ClusterClient dst = dst_cluster.client();
    CHECK(user_dbsize(dst) == 60000);
    require_same(compare_keyspaces(src, dst), 60000);
  }

  TEST_CASE(
      "a source slot half migrated (MIGRATING / IMPORTING): the keys already moved are read on the target "
      "with "
      "ASKING before each command, every key copied once") {
    LocalCluster src_cluster;
    RedisServer dst_server;
    ClusterClient src = src_cluster.client();
    Client dst = dst_server.client();
    const int slot = static_cast<int>(src.checked({"CLUSTER", "KEYSLOT", "{m}"}).integer);
    RedisServer& owner = src_cluster.owner_of_slot(slot);
    RedisServer* target = other_primary(src_cluster, owner);
    // Strings (read with PTTL + GETRANGE) and hashes (PTTL + DUMP): two reads of a key after each redirect.
    std::vector<Command> cmds;
    std::vector<std::string> keys;
    for (int i = 0; i < 200; ++i) {
      keys.push_back("{m}:" + std::to_string(i));
      if (i % 2 == 0) {
        cmds.push_back({"SET", keys.back(), "value-" + std::to_string(i)});
      } else {
        cmds.push_back({"HSET", keys.back(), "f", "value-" + std::to_string(i)});
      }
    }
    src.pipeline_checked(cmds);
    Client from = owner.client();
    Client to = target->client();
    to.checked({"CLUSTER", "SETSLOT", std::to_string(slot), "IMPORTING", src_cluster.node_id(owner)});
    from.checked({"CLUSTER", "SETSLOT", std::to_string(slot), "MIGRATING", src_cluster.node_id(*target)});
    Command migrate = {"MIGRATE", "127.0.0.1", std::to_string(target->port()), "", "0", "5000", "KEYS"};
    for (int i = 0; i < 100; ++i)
      migrate.push_back(keys[i]);
    REQUIRE(from.checked(migrate).is_status("OK"));

    auto run = run_copy({src_cluster.url(), dst_server.url()});
    INFO(run.result.describe());
    REQUIRE(run.exit_code() == 0);
    CHECK(run.counter("copied") == 200);
    CHECK(run.counter("failed") == 0);
    CHECK(run.counter("redirects_ask") > 0);
    // Each key as its node holds it (the moved ones on the target, asked with ASKING).
    for (int i = 0; i < 200; ++i) {
      CAPTURE(keys[i]);
      Client& node = i < 100 ? to : from;
      if (i < 100) node.checked({"ASKING"});
      CHECK(dst.checked({"DUMP", keys[i]}).str == node.checked({"DUMP", keys[i]}).str);
    }
    CHECK(user_dbsize(dst) == 200);
  }

  TEST_CASE(
      "a resharding of the source during the copy: the run ends with exit code 1 naming the moved slot; the "
      "same copy run again afterwards completes it") {
    LocalCluster src_cluster;
    RedisServer dst_server;
    ClusterClient src = src_cluster.client();
    Client dst = dst_server.client();
    seed_strings(src, 3000, "k:");
    const int slot = static_cast<int>(src.checked({"CLUSTER", "KEYSLOT", "{r}"}).integer);
    RedisServer& owner = src_cluster.owner_of_slot(slot);
    RedisServer* target = other_primary(src_cluster, owner);
    std::vector<Command> cmds;
    std::vector<std::string> moving;
    for (int i = 0; i < 300; ++i) {
      moving.push_back("{r}:" + std::to_string(i));
      cmds.push_back({"SET", moving.back(), "value-" + std::to_string(i)});
    }
    src.pipeline_checked(cmds);
    TempDir dir("report");
    // Paced (500 keys/s): the slot moves while the copy runs.
    auto tool = start_tool({src_cluster.url(), dst_server.url(), "--rate-limit", "500", "--progress-interval",
                            "0", "--report-json", dir.file("r.json")});
    REQUIRE(eventually([&] { return user_dbsize(dst) >= 100; }, 60s));
    src_cluster.move_slots(owner, *target, {slot});
    const std::string s = std::to_string(slot);
    const RunResult result = tool.finish(120s);
    INFO(result.describe());
    CHECK(result.exit_code == 1);
    const auto errors = lines_with(result.err, "moved to another shard during the copy");
    REQUIRE(errors.size() == 1);
    CHECK(contains(errors.front(), "slot " + s + " moved"));
    CHECK(contains(errors.front(), "run the same copy again"));
    const auto report = nlohmann::json::parse(read_file(dir.file("r.json")));
    CHECK(report["source_slots_moved"] == 1);
    CHECK(report["failed"] == 0);
    // Once the resharding is over, the same copy completes the destination (the keys there are skipped).
    auto again = run_copy({src_cluster.url(), dst_server.url()});
    INFO(again.result.describe());
    REQUIRE(again.exit_code() == 0);
    CHECK(again.report.count("source_slots_moved") == 0);
    require_same(compare_keyspaces(src, dst), 3300);
  }

  TEST_CASE("TLS and ACL authentication apply to every node of a cluster") {
    const auto& certs = test_certs();
    ServerOptions node;
    node.tls = true;
    node.tls_cluster = true;
    node.tls_auth_clients = true;
    node.acl_users = {"user copier on >s3cret ~* &* +@all"};
    LocalCluster dst_cluster({.primaries = 3, .node = node});
    RedisServer src_server;
    Client src = src_server.client();
    seed_mixed(src, {.count = 1500, .ttl_fraction = 0.3});
    const std::string url =
        "rediss://copier:s3cret@localhost:" + std::to_string(dst_cluster.primary(0).tls_port());
    auto run =
        run_copy({src_server.url(), url, "--destination-tls-ca-file", certs.ca_cert, "--destination-tls-cert",
                  certs.client_cert, "--destination-tls-key", certs.client_key});
    INFO(run.result.describe());
    REQUIRE(run.exit_code() == 0);
    ClusterClient dst = dst_cluster.client();
    require_same(compare_keyspaces(src, dst), 1500);
    require_secret_hidden(run, "s3cret");
    // Every primary received its share over TLS, as the ACL user.
    for (auto* p : dst_cluster.primaries())
      CHECK(p->client().dbsize() > 0);
  }

  TEST_CASE("a cluster URL with a db other than 0 is a configuration error") {
    LocalCluster cluster;
    RedisServer other;
    auto explicit_db =
        run_copy({other.url(), "redis://127.0.0.1:" + std::to_string(cluster.primary(0).port()) + "/3"});
    CHECK(explicit_db.exit_code() == 2);
    CHECK(explicit_db.result.err.find("only db 0") != std::string::npos);
    auto forced =
        run_copy({other.url(), "redis://127.0.0.1:" + std::to_string(cluster.primary(0).port()) + "/3",
                  "--destination-cluster", "on"});
    CHECK(forced.exit_code() == 2);
    CHECK(forced.result.err.find("only db 0") != std::string::npos);
    auto not_cluster = run_copy({other.url(), other.url(1), "--destination-cluster", "on"});
    CHECK(not_cluster.exit_code() == 2);
  }

  TEST_CASE("--destination-cluster off treats a cluster node as a plain server (keys of its slots only)") {
    RedisServer src_server;
    LocalCluster dst_cluster;
    Client src = src_server.client();
    src.checked({"SET", "foo", "1"});  // slot 12182
    auto& owner = dst_cluster.owner_of_slot(12182);
    auto run = run_copy({src_server.url(), "redis://127.0.0.1:" + std::to_string(owner.port()),
                         "--destination-cluster", "off"});
    CHECK(run.exit_code() == 0);
    CHECK(owner.client().command({"GET", "foo"}).str == "1");
  }

  TEST_CASE("a source node that stays unreachable is retried, then reported, never skipped silently") {
    LocalCluster src_cluster;
    RedisServer dst_server;
    ClusterClient src = src_cluster.client();
    std::vector<Command> cmds;
    for (int i = 0; i < 60000; ++i)
      cmds.push_back({"SET", "k:" + std::to_string(i), "v"});
    src.pipeline_checked(cmds);
    auto tool = start_tool({src_cluster.url(), dst_server.url(), "--window-keys", "4", "--retry-timeout", "3",
                            "--progress-interval", "0.2", "--report-json", "-"});
    REQUIRE(tool.wait_for_output("progress", 30s, Stream::kErr));
    src_cluster.primary(2).kill9();
    auto result = tool.finish(120s);
    INFO(result.describe());
    CHECK(result.exit_code == 3);
    CHECK(result.err.find("unreachable for 3s") != std::string::npos);
    CHECK(result.err.find(std::to_string(src_cluster.primary(2).port())) != std::string::npos);
    auto report = nlohmann::json::parse(result.out);
    CHECK(report["copied"].get<uint64_t>() < 60000);
    CHECK(report["exit_code"] == 3);
  }

  TEST_CASE("a destination primary that dies mid-copy: its replica takes over and the copy completes") {
    RedisServer src_server;
    LocalCluster dst_cluster({.primaries = 3, .replicas_per_primary = 1});
    Client src = src_server.client();
    std::vector<Command> cmds;
    for (int i = 0; i < 40000; ++i)
      cmds.push_back({"SET", "k:" + std::to_string(i), "v" + std::to_string(i)});
    src.pipeline_checked(cmds);
    auto tool = start_tool({src_server.url(), dst_cluster.url(), "--window-keys", "8", "--timeout", "3",
                            "--connect-timeout", "2", "--progress-interval", "0.2", "--report-json", "-"});
    REQUIRE(tool.wait_for_output("progress", 30s, Stream::kErr));
    auto& victim = dst_cluster.primary(1);
    // Make sure what it acknowledged so far is on its replica, then kill it.
    victim.client().command({"WAIT", "1", "5000"});
    victim.kill9();
    auto result = tool.finish(180s);
    INFO(result.describe());
    REQUIRE(result.exit_code == 0);
    CHECK(result.err.find("no longer owns slots") != std::string::npos);
    auto report = nlohmann::json::parse(result.out);
    CHECK(report["copied"].get<uint64_t>() + report["skipped"].get<uint64_t>() == 40000);
    // Keys acknowledged by the victim after the WAIT may be lost by Redis's asynchronous replication, which
    // no client can prevent; everything else must be there, exactly.
    ClusterClient dst = dst_cluster.client();
    auto cmp = compare_keyspaces(src, dst);
    CHECK(cmp.type_differs + cmp.value_differs + cmp.extra_on_dst == 0);
    CHECK(cmp.missing < 100);
    MESSAGE("keys lost by the failover itself: " << cmp.missing);
  }

  TEST_CASE("a source node paused for a while is waited for; the copy completes") {
    LocalCluster src_cluster;
    RedisServer dst_server;
    ClusterClient src = src_cluster.client();
    std::vector<Command> cmds;
    for (int i = 0; i < 30000; ++i)
      cmds.push_back({"SET", "k:" + std::to_string(i), "v"});
    src.pipeline_checked(cmds);
    auto tool = start_tool({src_cluster.url(), dst_server.url(), "--window-keys", "4", "--progress-interval",
                            "0.2", "--report-json", "-"});
    REQUIRE(tool.wait_for_output("progress", 30s, Stream::kErr));
    src_cluster.primary(1).pause();
    std::this_thread::sleep_for(1500ms);
    src_cluster.primary(1).resume();
    auto result = tool.finish(120s);
    INFO(result.describe());
    REQUIRE(result.exit_code == 0);
    Client dst = dst_server.client();
    require_same(compare_keyspaces(src, dst), 30000);
  }
}
