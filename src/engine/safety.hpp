#pragma once
// Safety checks before a run that can destroy data.
//
// Before a run that may delete source keys (--cleanup, cleanup) or overwrite destination keys (--replace,
// merge), proof that source and destination are different data, or a refusal with the evidence.
//
// Evidence, in order: the same endpoint in both URLs; the same server (run_id of INFO server); the same
// cluster (node ids of CLUSTER MYID and CLUSTER NODES / SHARDS overlap); a primary and its replica, or two
// replicas of one primary (master_replid, master_host:master_port against the other side's address); and,
// when INFO or CLUSTER is refused or renamed, a probe: a uniquely named key under the state prefix written on
// the destination with a short TTL and looked up on the source (then deleted).

#include <string>

#include "copy/copy_command.hpp"
#include "net/loop.hpp"
#include "resp/connection.hpp"
#include "resp/probe.hpp"
#include "util/result.hpp"

namespace rmig::engine {

struct IdentityCheck {
  const copy::CopyCommand& cmd;
  resp::Connection& source;       // the source URL's connection
  resp::Connection& destination;  // the destination URL's connection
  const resp::ServerFacts& source_facts;
  const resp::ServerFacts& destination_facts;
  bool source_cluster = false;
  bool destination_cluster = false;
  bool deletes = false;      // the run deletes source keys (--cleanup, the cleanup command)
  bool read_only = false;    // verify: writes nothing anywhere
  std::string command_name;  // "--cleanup", "cleanup", "--replace", for messages
};

struct Identity {
  bool same_server = false;  // one server (another DB, or the same one with renaming)
  bool in_place = false;     // one keyspace, keys renamed in place: only renamed keys are selected
};

// Exit code 2 when the run would write onto the data it reads (the same database or cluster without renaming,
// a replica in either direction) or when a deleting run cannot tell (no INFO, no probe) and
// --assume-distinct was not given. Exit code 5 when the probe finds the destination read-only.
Result<Identity> check_identity(net::Loop& loop, const IdentityCheck& check);

// Whether a server with this maxmemory-policy may evict keys: anything but "noeviction".
bool evicting_policy(const std::string& policy) noexcept;

// Before a run that deletes source keys: every destination node's maxmemory_policy (INFO memory; CONFIG is
// never used) must be noeviction. Exit code 5 naming the policy and the fix otherwise, and when INFO is
// refused, unless --allow-evicting-destination. Returns the policy of the first evicting node ("" when none).
Result<std::string> check_eviction_policy(net::Loop& loop, Destination& destination,
                                          const copy::CopyCommand& cmd, const std::string& command_name);

}  // namespace rmig::engine
