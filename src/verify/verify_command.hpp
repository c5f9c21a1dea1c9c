#pragma once
// The verify and cleanup commands from start to end: connect both sides (engine::open_sides), run the engine
// with a VerifyTask, and return the report. verify never writes anything. cleanup deletes from the source
// the keys that check equal; it takes the destination's lock and keeps a run record like a copy (not in a
// dry run).

#include <cstdint>

#include "engine/run_spec.hpp"
#include "report/run_report.hpp"
#include "verify/verify_task.hpp"

namespace rmig::verify {

struct VerifyCommand {
  // Both endpoints, the selection, the engine's tuning, the safety overrides and (cleanup) the lock and run
  // record. Its options' dry_run and cleanup are the command's to set: verify reads only; cleanup deletes,
  // or reads only with `dry_run`.
  engine::RunSpec run;
  VerifyOptions checks;  // TTL tolerance and the differences listed (the rest is set per command)
  uint64_t sample = 0;   // verify: check a uniform random sample of that many keys of the selection; 0: all
  bool dry_run = false;  // cleanup: list what would be deleted, delete nothing
};

report::RunReport run_verify(const VerifyCommand& cmd);
report::RunReport run_cleanup(const VerifyCommand& cmd);

}  // namespace rmig::verify
