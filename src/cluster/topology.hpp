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

// The slots in [first, end) whose shard in `after` holds no node (primary or replica) of the shard that
// served them in `before`, and whose primary is none of `continued_on` (addresses a source node continued on
// after a failover, its scan started again there): a resharding moved them. A failover keeps a slot within
// its shard. A slot served by no shard in `after` counts as moved; one served by none in `before` does not.
// Nodes are told apart by id, else by address.
std::vector<uint16_t> slots_moved(const Topology& before, const Topology& after, uint16_t first = 0,
                                  uint32_t end = 16384, const std::vector<std::string>& continued_on = {});
// Slots as compact ranges, "5-67, 100, 200-300", the first `max` ranges, then "and N more".
std::string slot_ranges_text(const std::vector<uint16_t>& slots, std::size_t max = 5);

// Asks `conn` for the topology: CLUSTER SHARDS, else CLUSTER SLOTS. For start-up code (runs the loop).
Result<Topology> discover(net::Loop& loop, resp::Connection& conn);

}  // namespace rmig::cluster
