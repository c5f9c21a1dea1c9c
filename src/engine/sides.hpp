#pragma once
// Both sides of a run connected, probed and checked before the engine starts: what copy, plan, verify and
// cleanup share. The URLs' servers are asked what they are (INFO), whether they are clusters, and whether
// they are the same data (check_identity); a cluster is opened node by node (the source's primaries or
// in-sync replicas, the destination's primaries with the slot map); the commands the run needs are probed
// on every node. Nothing here writes a key, except the identity probe (safety.hpp) when INFO is refused.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cluster/topology.hpp"
#include "engine/engine.hpp"
#include "engine/run_spec.hpp"
#include "engine/safety.hpp"
#include "net/loop.hpp"
#include "resp/connection.hpp"
#include "resp/probe.hpp"
#include "util/result.hpp"

namespace rmig::engine {

using ConnectionPtr = std::unique_ptr<resp::Connection>;

// A connection to `o`, set up (AUTH, SELECT, ...). A refused SELECT N on a cluster node says which server
// and which setting (exit code 2).
Result<ConnectionPtr> open_connection(net::Loop& loop, const resp::ConnectOptions& o);

// What the run does, for the checks of check_sides.
struct SideChecks {
  bool deletes = false;             // deletes source keys (--cleanup, cleanup): identity must be proven
  bool read_only = false;           // writes nothing anywhere (verify): no identity probe key
  bool writes_destination = false;  // a read-only replica as destination is refused (exit code 5)
  std::string command_name;         // names the run in refusals: "--cleanup", "cleanup", "--replace", ...
};

// Both URLs connected and checked: their servers' facts, cluster or not (ClusterMode against the server's
// answer), and what the identity check found.
struct CheckedSides {
  ConnectionPtr source;
  ConnectionPtr destination;
  resp::ServerFacts source_facts;
  resp::ServerFacts destination_facts;
  bool source_cluster = false;
  bool destination_cluster = false;
  Identity identity;
};

// Opens both URLs, probes both servers, decides cluster mode, runs check_identity (in place, it sets
// spec.options.selection.renamed_only: only renamed keys are selected) and refuses a replica destination of
// a writing run. Logs one line naming both sides.
Result<CheckedSides> check_sides(net::Loop& loop, RunSpec& spec, const SideChecks& checks);

// The source's nodes from its URL's connection `seed`: one per shard of a cluster (its primary, or an in-sync
// replica with read_from_replicas, plus a writer connection to the primary when options.cleanup and not
// dry_run), or the server itself. Each with its DBSIZE and dataset size.
Result<std::vector<SourceNode>> open_sources(net::Loop& loop, const RunSpec& spec, ConnectionPtr seed,
                                             bool cluster);
// The destination: the primaries of a cluster covering every slot, with the slot map, or the server itself.
// Each node's clock is sampled (TIME) unless options.dry_run.
Result<Destination> open_destination(net::Loop& loop, const RunSpec& spec, ConnectionPtr seed,
                                     const resp::ServerFacts& facts, bool cluster);
// A cluster side's slot map, read with a connection of its own to the URL's node or, when that one does not
// answer, to each node of `known` (a map read before) in turn.
Result<cluster::Topology> read_slot_map(net::Loop& loop, const resp::ConnectOptions& base,
                                        const cluster::Topology* known = nullptr);
// INFO keyspace of every primary of a cluster, added up per database (--all-dbs).
Result<std::map<int, uint64_t>> cluster_db_keys(net::Loop& loop, const resp::ConnectOptions& base,
                                                resp::Connection& seed);

// Before a run with rename rules writes (or deletes) anything: every selected source name through the
// collision detector (names only, from SCAN, at most `detector_bytes` of them). Two keys landing on one name,
// or a renamed key landing on a key that keeps its name, stop the run with exit code 2; so does, in place, a
// renamed key landing on the old name of another selected renamed key (a swap, chain or cycle).
// `cleanup`: the cleanup command in place (writes nothing; a key under a target name is the copy it looks
// for, not a collision; a check stopped by its memory bound refuses).
Status prescan_collisions(net::Loop& loop, const RunSpec& spec, const std::vector<SourceNode>& nodes,
                          std::size_t detector_bytes, bool cleanup);

// The commands a run sends that a server may refuse (an ACL) or not know (renamed or disabled with
// rename-command), beyond SCAN, which every run needs on every source node.
struct CommandNeeds {
  bool dump = false;                 // source: DUMP (the dump path, a plan)
  bool restore = false;              // destination: RESTORE
  bool string_writes = false;        // destination: SET (CopyOptions::string_writes; refused: switched off)
  bool source_scripts = false;       // source primaries: EVAL, and UNLINK or DEL: cleanup
  bool destination_scripts = false;  // destination: EVAL, and UNLINK or DEL: merge
  bool destination_delete = false;   // destination: UNLINK or DEL of temporary keys (the rewrite path)
  // A live run (--live): source EXISTS (orphan checks); destination DUMP, EVAL (the resync's compare) and
  // UNLINK or DEL (keys whose source key is gone).
  bool live = false;
};
// Probes each of them once on every node before the first write (resp::command_refusal, on a key under the
// tool's prefix that cannot exist): a refused SCAN, DUMP, RESTORE, EXISTS or EVAL stops the run with exit
// code 3 naming the command; a refused UNLINK is replaced by DEL (recorded in options' ScriptCommands), and
// only when DEL is refused too is UNLINK the command named. EVALSHA needs no probe: its first refusal
// switches the side to EVAL (Script::fall_back).
Status check_commands(net::Loop& loop, std::vector<SourceNode>& sources, Destination& destination,
                      const CommandNeeds& needs, CopyOptions& options);

// Both sides of a run ready for an Engine.
struct Sides {
  std::vector<SourceNode> sources;
  Destination destination;
  resp::ServerFacts source_facts;
  resp::ServerFacts destination_facts;
  uint64_t source_keys = 0;  // DBSIZE of every source node at start
};
// check_sides, then the nodes of both sides, then check_commands: SCAN, and the source's scripts when
// options.cleanup and not dry_run. In place and deleting, the rename rules are checked first
// (prescan_collisions). spec is adjusted as check_sides says.
Result<Sides> open_sides(net::Loop& loop, RunSpec& spec, const SideChecks& checks);

}  // namespace rmig::engine
