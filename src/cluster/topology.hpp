#pragma once
// The shape of a cluster: its shards, each with a slot range list, a primary and replicas. Read with
// CLUSTER SHARDS (Redis >= 7), falling back to CLUSTER SLOTS for older servers. Any node is enough to start
// (an ElastiCache configuration endpoint, say).

#include <hiredis/hiredis.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "net/loop.hpp"
#include "resp/connection.hpp"
#include "util/result.hpp"

namespace rmig::cluster {

struct NodeInfo {
  std::string id;
  std::string host;  // the node's preferred endpoint (host name or address)
  uint16_t port = 0;
  bool failed = false;  // CLUSTER SHARDS "health" is "fail" (a replica may also say "loading" while its
                        // offset is not yet gossiped: the caller checks such a node itself)
  std::string address() const;  // "host:port", "[v6]:port"
};

struct Shard {
  std::vector<std::pair<uint16_t, uint16_t>> ranges;  // inclusive slot ranges
  NodeInfo primary;
  std::vector<NodeInfo> replicas;
};

struct Topology {
  std::vector<Shard> shards;
  // Every slot owned by some shard.
  bool complete() const;
};

// Parses a CLUSTER SHARDS reply. `tls`: address nodes by their "tls-port" when the reply has one.
Result<Topology> parse_cluster_shards(const redisReply* reply, bool tls);
// Parses a CLUSTER SLOTS reply (shards are grouped by primary).
Result<Topology> parse_cluster_slots(const redisReply* reply);

// The slots in [first, end) whose primary in `after` is no node of the shard that served them in `before`:
// a resharding moved them (a failover keeps a slot within its shard). A slot served by no shard in `after`
// counts as moved; one served by none in `before` does not. Nodes are told apart by id, else by address.
std::vector<uint16_t> slots_moved(const Topology& before, const Topology& after, uint16_t first = 0,
                                  uint32_t end = 16384);

// Asks `conn` for the topology: CLUSTER SHARDS, else CLUSTER SLOTS. For start-up code (runs the loop).
Result<Topology> discover(net::Loop& loop, resp::Connection& conn);

}  // namespace rmig::cluster
