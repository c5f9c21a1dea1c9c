#pragma once
// What every command that runs the engine (copy, plan, verify, cleanup) is given: both endpoints, how to read
// them, the selection and the engine's options, and the overrides of the safety checks. Each command's own
// configuration contains one (copy::CopyCommand is one; verify::VerifyCommand holds one).

#include <array>
#include <cstdint>
#include <string>

#include "engine/options.hpp"
#include "resp/connection.hpp"
#include "state/state_options.hpp"
#include "util/enum_names.hpp"

namespace rmig::engine {

// Whether a URL reaches a cluster: asked of the server (auto), or said by the operator.
enum class ClusterMode { kAuto, kOn, kOff };
inline constexpr std::array<NamedValue<ClusterMode>, 3> kClusterModeNames = {{
    {ClusterMode::kAuto, "auto"},
    {ClusterMode::kOn, "on"},
    {ClusterMode::kOff, "off"},
}};

struct RunSpec {
  resp::ConnectOptions source;
  resp::ConnectOptions destination;
  std::string source_url;       // redacted, for the report
  std::string destination_url;  // redacted
  CopyOptions options;
  ClusterMode source_cluster = ClusterMode::kAuto;
  ClusterMode destination_cluster = ClusterMode::kAuto;
  bool read_from_replicas = false;  // source cluster: SCAN and DUMP on replicas (READONLY)
  bool all_dbs = false;             // every non-empty logical DB N to DB N (standalone)
  uint32_t progress_interval_ms = 5'000;
  // --metrics-port: Prometheus metrics on 0.0.0.0:PORT/metrics for the whole process (report/metrics.hpp);
  // 0: none.
  uint16_t metrics_port = 0;
  state::StateOptions state;  // the destination's lock and the run record (writing runs only)
  // A deleting run whose identity check cannot tell whether both URLs reach the same data (no INFO, no
  // probe key) goes ahead instead of refusing.
  bool assume_distinct = false;
  // A deleting run onto a destination whose maxmemory-policy evicts goes ahead (evictions are still watched).
  bool allow_evicting_destination = false;
};

}  // namespace rmig::engine
