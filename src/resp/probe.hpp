#pragma once
// What a run needs to know about a server before it starts, from one INFO call: identity (to detect that
// source and destination are the same server), version, role, cluster mode and per-DB key counts.

#include <cstdint>
#include <map>
#include <string>

#include "net/loop.hpp"
#include "resp/connection.hpp"
#include "util/result.hpp"

namespace rmig::resp {

struct ServerFacts {
  bool known = false;  // false when INFO is not allowed (ACL) or failed: the fields below are empty
  std::string run_id;
  std::string version;              // redis_version (valkey_version when present)
  std::string role;                 // "master" / "slave"
  std::string primary;              // host:port of the primary, for replicas
  bool cluster = false;             // cluster_enabled:1
  std::map<int, uint64_t> db_keys;  // db number -> keys (INFO keyspace)
};

// Never fails the run by itself: a refused INFO gives known == false. Connection failures are errors.
Result<ServerFacts> probe_server(net::Loop& loop, Connection& conn);

}  // namespace rmig::resp
