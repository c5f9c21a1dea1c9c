// parse_cluster_shards / parse_cluster_slots fed canned replies, as the servers send them, through the same
// hiredis reader the connections use.

#include "cluster/topology.hpp"

#include <doctest/doctest.h>

#include <initializer_list>
#include <string>

#include "resp/reader.hpp"
#include "unit/wire.hpp"

using namespace rmig;
using namespace rmig::test::wire;

namespace {

// One node of a CLUSTER SHARDS reply (Redis 7.0's fields).
std::string shard_node(const std::string& id, long long port, const std::string& role,
                       const std::string& health = "online", const std::string& endpoint = "127.0.0.1",
                       long long tls_port = 0) {
  std::string fields = bulk("id") + bulk(id) + bulk("port") + integer(port);
  std::size_t n = 2;
  if (tls_port > 0) {
    fields += bulk("tls-port") + integer(tls_port);
    ++n;
  }
  fields += bulk("ip") + bulk("127.0.0.1") + bulk("endpoint") + bulk(endpoint) + bulk("hostname") + bulk("") +
            bulk("role") + bulk(role) + bulk("replication-offset") + integer(42) + bulk("health") +
            bulk(health);
  n += 6;
  return "*" + std::to_string(2 * n) + "\r\n" + fields;
}

}  // namespace

TEST_CASE("CLUSTER SHARDS: ranges, primary and replicas per shard, empty shards left out") {
  const std::string wire = array({
      array({bulk("slots"), array({integer(0), integer(5460), integer(10923), integer(10999)}), bulk("nodes"),
             array({shard_node("a1", 30001, "master"), shard_node("a2", 30004, "replica")})}),
      array({bulk("slots"), array({integer(5461), integer(10922)}), bulk("nodes"),
             array({shard_node("b2", 30005, "replica", "loading"), shard_node("b1", 30002, "master")})}),
      array({bulk("slots"), array({integer(11000), integer(16383)}), bulk("nodes"),
             array({shard_node("c1", 30003, "master", "online", "?")})}),
      // A primary being added: no slots, no keys.
      array({bulk("slots"), array({}), bulk("nodes"), array({shard_node("d1", 30009, "master")})}),
  });
  const resp::Reply reply = parse(wire);
  auto t = cluster::parse_cluster_shards(reply.get(), false);
  REQUIRE(t);
  REQUIRE(t->shards.size() == 3);
  CHECK(t->complete());
  const auto& a = t->shards[0];
  CHECK(a.primary.id == "a1");
  CHECK(a.primary.address() == "127.0.0.1:30001");
  REQUIRE(a.ranges.size() == 2);
  CHECK(a.ranges[0] == std::pair<uint16_t, uint16_t>{0, 5460});
  CHECK(a.ranges[1] == std::pair<uint16_t, uint16_t>{10923, 10999});
  REQUIRE(a.replicas.size() == 1);
  CHECK(a.replicas[0].port == 30004);
  // The primary need not come first.
  CHECK(t->shards[1].primary.id == "b1");
  REQUIRE(t->shards[1].replicas.size() == 1);
  CHECK(t->shards[1].replicas[0].id == "b2");
  CHECK_FALSE(t->shards[1].replicas[0].failed);
  // An unknown endpoint ("?") falls back to the ip.
  CHECK(t->shards[2].primary.host == "127.0.0.1");
}

TEST_CASE("CLUSTER SHARDS: tls-port with tls, failed nodes marked, slots missing make it incomplete") {
  const std::string wire = array({
      array({bulk("slots"), array({integer(0), integer(8000)}), bulk("nodes"),
             array({shard_node("a1", 30001, "master", "online", "node-a.example", 31001),
                    shard_node("a2", 30004, "replica", "fail", "node-b.example", 31004)})}),
  });
  const resp::Reply reply = parse(wire);
  auto plain = cluster::parse_cluster_shards(reply.get(), false);
  REQUIRE(plain);
  REQUIRE(plain->shards.size() == 1);
  CHECK(plain->shards[0].primary.address() == "node-a.example:30001");
  auto tls = cluster::parse_cluster_shards(reply.get(), true);
  REQUIRE(tls);
  CHECK(tls->shards[0].primary.address() == "node-a.example:31001");
  REQUIRE(tls->shards[0].replicas.size() == 1);
  CHECK(tls->shards[0].replicas[0].failed);
  CHECK_FALSE(tls->complete());  // slots 8001-16383 have no owner
}

TEST_CASE("CLUSTER SHARDS: malformed replies are errors") {
  CHECK_FALSE(cluster::parse_cluster_shards(parse(bulk("no")).get(), false));
  CHECK_FALSE(cluster::parse_cluster_shards(parse(array({array({bulk("slots"), integer(1)})})).get(), false));
  // A range past the last slot.
  CHECK_FALSE(cluster::parse_cluster_shards(
      parse(array({array({bulk("slots"), array({integer(0), integer(16384)}), bulk("nodes"),
                          array({shard_node("a1", 30001, "master")})})}))
          .get(),
      false));
}

TEST_CASE("CLUSTER SLOTS: ranges grouped by primary, replicas kept, IPv6 addresses bracketed") {
  const std::string wire = array({
      array({integer(0), integer(5460), array({bulk("127.0.0.1"), integer(30001), bulk("a1")}),
             array({bulk("127.0.0.1"), integer(30004), bulk("a2")})}),
      array({integer(5461), integer(10922), array({bulk("::1"), integer(30002), bulk("b1")})}),
      array({integer(10923), integer(16383), array({bulk("127.0.0.1"), integer(30001), bulk("a1")})}),
  });
  const resp::Reply reply = parse(wire);
  auto t = cluster::parse_cluster_slots(reply.get());
  REQUIRE(t);
  REQUIRE(t->shards.size() == 2);
  CHECK(t->complete());
  CHECK(t->shards[0].primary.id == "a1");
  REQUIRE(t->shards[0].ranges.size() == 2);
  CHECK(t->shards[0].ranges[1] == std::pair<uint16_t, uint16_t>{10923, 16383});
  REQUIRE(t->shards[0].replicas.size() == 1);
  CHECK(t->shards[0].replicas[0].address() == "127.0.0.1:30004");
  CHECK(t->shards[1].primary.address() == "[::1]:30002");
  CHECK(t->shards[1].replicas.empty());
}

TEST_CASE("CLUSTER SLOTS: an old server's nodes without ids, and malformed replies") {
  const std::string wire = array({
      array({integer(0), integer(16383), array({bulk("10.0.0.1"), integer(6379)})}),
  });
  auto t = cluster::parse_cluster_slots(parse(wire).get());
  REQUIRE(t);
  REQUIRE(t->shards.size() == 1);
  CHECK(t->shards[0].primary.id.empty());
  CHECK(t->shards[0].primary.address() == "10.0.0.1:6379");
  CHECK_FALSE(cluster::parse_cluster_slots(parse(integer(1)).get()));
  CHECK_FALSE(cluster::parse_cluster_slots(parse(array({array({integer(0), integer(10)})})).get()));
  CHECK_FALSE(cluster::parse_cluster_slots(
      parse(array({array({integer(10), integer(5), array({bulk("h"), integer(1)})})})).get()));
  CHECK_FALSE(cluster::parse_cluster_slots(
      parse(array({array({integer(0), integer(5), array({bulk("h"), integer(0)})})})).get()));
}

namespace {
cluster::NodeInfo node_info(const std::string& id, uint16_t port) {
  cluster::NodeInfo n;
  n.id = id;
  n.host = "127.0.0.1";
  n.port = port;
  return n;
}

cluster::Shard shard_of(std::vector<std::pair<uint16_t, uint16_t>> ranges, const std::string& primary,
                        std::vector<std::string> replicas, uint16_t port) {
  cluster::Shard s;
  s.ranges = std::move(ranges);
  s.primary = node_info(primary, port);
  for (const auto& r : replicas)
    s.replicas.push_back(node_info(r, ++port));
  return s;
}
}  // namespace

TEST_CASE("slots_moved: a resharding moves slots to another shard, a failover keeps them in theirs") {
  cluster::Topology before;
  before.shards = {shard_of({{0, 8191}}, "a1", {"a2"}, 30001),
                   shard_of({{8192, 16383}}, "b1", {"b2"}, 30011)};
  CHECK(cluster::slots_moved(before, before).empty());

  // a2 promoted (a failover): nothing moved.
  cluster::Topology failover;
  failover.shards = {shard_of({{0, 8191}}, "a2", {"a1"}, 30002), before.shards[1]};
  CHECK(cluster::slots_moved(before, failover).empty());

  // Slots 100 to 199 resharded from a to b, slot 16383 served by nobody.
  cluster::Topology resharded;
  resharded.shards = {shard_of({{0, 99}, {200, 8191}}, "a1", {"a2"}, 30001),
                      shard_of({{100, 199}, {8192, 16382}}, "b1", {"b2"}, 30011)};
  const auto moved = cluster::slots_moved(before, resharded);
  REQUIRE(moved.size() == 101);
  CHECK(moved.front() == 100);
  CHECK(moved[99] == 199);
  CHECK(moved.back() == 16383);
  // Within a shard's share of the slots only.
  CHECK(cluster::slots_moved(before, resharded, 150, 160).size() == 10);
  CHECK(cluster::slots_moved(before, resharded, 200, 16383).empty());
  // Without ids (an old server's CLUSTER SLOTS): by address.
  cluster::Topology anonymous = before, anonymous_after = resharded;
  for (auto* t : {&anonymous, &anonymous_after}) {
    for (auto& s : t->shards) {
      s.primary.id.clear();
      for (auto& r : s.replicas)
        r.id.clear();
    }
  }
  CHECK(cluster::slots_moved(anonymous, anonymous_after).size() == 101);
}

TEST_CASE(
    "slots_moved: a node added and promoted in a shard, or a failover the run followed, moves nothing") {
  cluster::Topology before;
  before.shards = {shard_of({{0, 8191}}, "a1", {"a2"}, 30001),
                   shard_of({{8192, 16383}}, "b1", {"b2"}, 30011)};
  // a3 added to shard a, then promoted: a2 still in the shard.
  cluster::Topology replaced;
  replaced.shards = {shard_of({{0, 8191}}, "a3", {"a2"}, 30021), before.shards[1]};
  CHECK(cluster::slots_moved(before, replaced).empty());
  // Every node of shard a replaced: moved, unless the run continued on the new primary (and rescanned).
  cluster::Topology renewed;
  renewed.shards = {shard_of({{0, 8191}}, "a9", {}, 30031), before.shards[1]};
  CHECK(cluster::slots_moved(before, renewed).size() == 8192);
  CHECK(cluster::slots_moved(before, renewed, 0, 16384, {"127.0.0.1:30031"}).empty());
}

TEST_CASE("slot_ranges_text: compact ranges, the first few") {
  CHECK(cluster::slot_ranges_text({7}) == "7");
  CHECK(cluster::slot_ranges_text({5, 6, 7, 100, 200, 201}) == "5-7, 100, 200-201");
  CHECK(cluster::slot_ranges_text({1, 3, 5, 7, 9, 11, 13}, 5) == "1, 3, 5, 7, 9 and 2 more");
}
