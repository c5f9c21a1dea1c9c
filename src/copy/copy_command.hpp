#pragma once
// The copy command from start to end: connect both sides, check them, run the pipeline with progress and
// signal handling, and return the report.

#include <string>

#include "engine/engine.hpp"
#include "engine/options.hpp"
#include "report/run_report.hpp"
#include "resp/connection.hpp"
#include "resp/probe.hpp"
#include "state/state_options.hpp"
#include "util/enum_names.hpp"

namespace rmig::copy {

enum class ClusterMode { kAuto, kOn, kOff };
inline constexpr std::array<NamedValue<ClusterMode>, 3> kClusterModeNames = {{
    {ClusterMode::kAuto, "auto"},
    {ClusterMode::kOn, "on"},
    {ClusterMode::kOff, "off"},
}};

struct CopyCommand {
  resp::ConnectOptions source;
  resp::ConnectOptions destination;
  std::string source_url;       // redacted, for the report
  std::string destination_url;  // redacted
  engine::CopyOptions options;
  ClusterMode source_cluster = ClusterMode::kAuto;
  ClusterMode destination_cluster = ClusterMode::kAuto;
  bool read_from_replicas = false;  // source cluster: SCAN and DUMP on replicas (READONLY)
  bool all_dbs = false;             // every non-empty logical DB N to DB N (standalone)
  uint32_t progress_interval_ms = 5'000;
  state::StateOptions state;  // the destination's lock and the run record (writing runs only)
  // A deleting run whose identity check cannot tell whether both URLs reach the same data (no INFO, no
  // probe key) goes ahead instead of refusing.
  bool assume_distinct = false;
  // A deleting run onto a destination whose maxmemory-policy evicts goes ahead (evictions are still watched).
  bool allow_evicting_destination = false;
};

report::RunReport run_copy(const CopyCommand& cmd);

// Both sides of a run connected, probed and checked, ready for an Engine: what verify and cleanup share with
// the copy's start-up. `writes_destination`: a read-only replica as destination is an error.
struct Sides {
  std::vector<engine::SourceNode> sources;
  engine::Destination destination;
  resp::ServerFacts source_facts;
  resp::ServerFacts destination_facts;
  uint64_t source_keys = 0;  // DBSIZE of every source node at start
};
// The commands a run sends that a server may refuse (an ACL) or not know (renamed or disabled with
// rename-command), beyond SCAN, which every run needs on every source node.
struct CommandNeeds {
  bool dump = false;                 // source: DUMP (the dump path, a plan)
  bool restore = false;              // destination: RESTORE
  bool source_scripts = false;       // source primaries: EVAL, and UNLINK or DEL: cleanup
  bool destination_scripts = false;  // destination: EVAL, and UNLINK or DEL: merge
  bool destination_delete = false;   // destination: UNLINK or DEL of temporary keys (the rewrite path)
};
// Probes each of them once on every node before the first write (resp::command_refusal, on a key under the
// tool's prefix that cannot exist): a refused SCAN, DUMP, RESTORE or EVAL stops the run with exit code 3
// naming the command; a refused UNLINK is replaced by DEL (recorded in options' ScriptCommands), and only
// when DEL is refused too is UNLINK the command named. EVALSHA needs no probe: its first refusal switches the
// side to EVAL (Script::fall_back).
Status check_commands(net::Loop& loop, std::vector<engine::SourceNode>& sources,
                      engine::Destination& destination, const CommandNeeds& needs,
                      engine::CopyOptions& options);

// Opens and checks both sides like a copy does. Source and destination may be the same database only when
// keys are renamed: the selection then takes renamed keys only (cmd is adjusted).
// The commands are probed too (check_commands): SCAN, and with cleanup (not a dry run) the source's scripts.
Result<Sides> open_sides(net::Loop& loop, CopyCommand& cmd, bool writes_destination);

}  // namespace rmig::copy
