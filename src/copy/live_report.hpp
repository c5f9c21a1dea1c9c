#pragma once
// What a live run (--live) adds to its report, and --verify-at-cutover.
//
// The report's `live` object (README "Live sync"): changes, recopied, deleted, unchanged, resyncs {count,
// list: [{node, cause}]}, lag_ms_max, pending_max, cutover ("command", "signal", "idle", or null when the
// run ended without one) and cutover_ms (from the request to the end of the live phase).
//
// --verify-at-cutover: after a live run that ended with exit code 0 (its cut-over done), the selection is
// verified as `redis-migrate verify` does (same URLs, selection and renames, its TTL tolerance); the report
// gains `verify` (the verify command's counters, `differences`, `exit_code`, `duration_s`, `stopped`) and
// the run's exit code becomes the verify's (1 on any difference). The cut-over requests the run answered
// "verifying" get the final exit code.

#include <nlohmann/json.hpp>

#include "engine/engine.hpp"
#include "report/run_report.hpp"
#include "verify/verify_command.hpp"

namespace rmig::copy {

nlohmann::json live_json(const engine::LiveStats& s);
// Sets rep.extra["live"].
void add_live_report(report::RunReport& rep, const engine::LiveStats& s);

// Returns `rep` unchanged unless `verify`'s run is a live run with --verify-at-cutover that ended with exit
// code 0; then runs the verify (its live options off) and returns `rep` with `verify` and the exit code.
report::RunReport verify_at_cutover(report::RunReport rep, verify::VerifyCommand verify);

}  // namespace rmig::copy
