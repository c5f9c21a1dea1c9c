#pragma once
// The verify and cleanup commands from start to end: connect both sides (as a copy does), run the engine
// with a VerifyTask, and return the report. cleanup takes the destination's lock and keeps a run record
// like a copy (not in a dry run); verify never writes anything.

#include <cstdint>

#include "copy/copy_command.hpp"
#include "report/run_report.hpp"
#include "verify/verify_task.hpp"

namespace rmig::verify {

// `sample` > 0: check a uniform random sample of that many keys of the selection instead of every key.
report::RunReport run_verify(const copy::CopyCommand& cmd, const VerifyOptions& options, uint64_t sample);
// cmd.options.dry_run: list what would be deleted, delete nothing.
report::RunReport run_cleanup(const copy::CopyCommand& cmd, const VerifyOptions& options);

}  // namespace rmig::verify
