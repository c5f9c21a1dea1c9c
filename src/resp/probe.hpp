#pragma once
// What a run needs to know about a server before it starts, from one INFO call: identity (to detect that
// source and destination are the same server, or a primary and its replica), version, role, cluster mode,
// eviction policy and counter, and per-DB key counts.

#include <cstdint>
#include <map>
#include <optional>
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
  std::string maxmemory_policy;       // INFO memory, e.g. "allkeys-lfu"; empty when absent
  int64_t evicted_keys = -1;          // INFO stats; -1 when absent
  std::map<int, uint64_t> db_keys;    // db number -> keys (INFO keyspace)
};

// The RDB format version of the DUMP payloads a server writes, which is also the newest it can RESTORE: Redis
// 6.0-6.2 write 9, 7.0 10, 7.2 11, 7.4-8.4 12, 8.6 13; Valkey 7.2-8.x 11, 9.x 80. 0 when the version is
// unknown (no INFO, a newer release than this table): then only a RESTORE can tell.
int rdb_version(const ServerFacts& facts) noexcept;

// Whether `dst` RESTOREs the DUMP payloads `src` writes, from the table above: an older RDB version reads,
// a newer one does not; Valkey 9 numbers its format 80 and refuses Redis's 12-79 (the range it reserves for
// foreign formats) unless rdb-version-check is relaxed, which still does not make Redis's newer encodings
// (hash field TTLs) readable: it counts as not reading them. Unknown (nullopt) when either version is.
// `why` gets the reason in words ("Valkey 9.1 (RDB 80) refuses Redis's RDB 12").
std::optional<bool> reads_payloads(const ServerFacts& src, const ServerFacts& dst,
                                   std::string* why = nullptr);
// Hash field expiration (HPEXPIRE, HPTTL): Redis >= 7.4, Valkey >= 9.0; assumed when the version is unknown
// (an "unknown command" answer then says no).
bool has_field_ttls(const ServerFacts& facts) noexcept;
// "Valkey 8.0" / "Redis 7.0", for messages.
std::string server_name(const ServerFacts& facts);

// Never fails the run by itself: a refused INFO gives known == false. Connection failures are errors.
Result<ServerFacts> probe_server(net::Loop& loop, Connection& conn);

}  // namespace rmig::resp
