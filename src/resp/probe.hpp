#pragma once
// What a run needs to know about a server before it starts, from one INFO call: identity (to detect that
// source and destination are the same server, or a primary and its replica), version, role, cluster mode,
// eviction policy and counter, and per-DB key counts.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "net/loop.hpp"
#include "resp/connection.hpp"
#include "util/result.hpp"

namespace rmig::resp {

struct ServerFacts {
  bool known = false;  // false when INFO is not allowed (ACL) or failed: the fields below are empty
  std::string run_id;
  std::string server = "redis";  // "valkey" when INFO has valkey_version
  std::string version;           // redis_version (valkey_version when present)
  std::string role;              // "master" / "slave"
  std::string primary;           // host:port of the primary, for replicas
  std::string primary_host;      // master_host and master_port, for replicas
  int primary_port = 0;
  int port = 0;  // tcp_port
  // master_replid: the replication history a primary and its replicas share (every replica reports its
  // primary's), and master_replid2, the previous one after a failover.
  std::string replid;
  std::string replid2;
  std::vector<std::string> replicas;  // host:port of each connected replica (slaveN: ip=...,port=...)
  bool cluster = false;               // cluster_enabled:1
  std::string maxmemory_policy;       // INFO memory; empty when absent
  int64_t evicted_keys = -1;          // INFO stats; -1 when absent
  std::map<int, uint64_t> db_keys;    // db number -> keys (INFO keyspace)
};

// The RDB format version of the DUMP payloads a server writes, which is also the newest it can RESTORE: Redis
// 6.0-6.2 write 9, 7.0 10, 7.2 11, 7.4 and 8.0 12; Valkey 7.2-8.x 11. 0 when the version is unknown (no INFO,
// a newer release than this table): then only a RESTORE can tell.
int rdb_version(const ServerFacts& facts) noexcept;
// "Valkey 8.0" / "Redis 7.0", for messages.
std::string server_name(const ServerFacts& facts);

// Never fails the run by itself: a refused INFO gives known == false. Connection failures are errors.
Result<ServerFacts> probe_server(net::Loop& loop, Connection& conn);

}  // namespace rmig::resp
