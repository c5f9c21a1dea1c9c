#pragma once
// The copy command from start to end: connect both sides, check them, run the pipeline with progress and
// signal handling, and return the report.

#include <string>

#include "engine/engine.hpp"
#include "engine/options.hpp"
#include "engine/run_spec.hpp"
#include "report/run_report.hpp"
#include "resp/connection.hpp"
#include "resp/probe.hpp"
#include "state/state_options.hpp"
#include "util/enum_names.hpp"

namespace rmig::copy {

// The cluster modes are the engine's (the names stay here for the command line).
using ClusterMode = engine::ClusterMode;
inline constexpr const auto& kClusterModeNames = engine::kClusterModeNames;

// A copy (or its plan, options.dry_run) is a run of the engine and nothing more.
struct CopyCommand : engine::RunSpec {};

report::RunReport run_copy(const CopyCommand& cmd);

}  // namespace rmig::copy
