#pragma once
// The commands besides copy and plan (verify, cleanup, status, unlock), and the state options every writing
// run gets from the command line.

#include <string>

#include "app/cli.hpp"
#include "report/run_report.hpp"
#include "state/state_options.hpp"
#include "verify/verify_task.hpp"

namespace rmig::app {

// Prints the summary, writes --report-json and returns the exit code of a finished command.
int emit(report::RunReport rep, const Config& cfg);

// The command line with every URL's password hidden: what the lock and the run records show.
std::string redacted_command_line(int argc, char** argv);

// The lock and checkpoint settings of a writing run.
state::StateOptions state_options(const Config& cfg, std::string command_line);

// The comparison settings of verify and cleanup.
verify::VerifyOptions verify_options(const Config& cfg);

// verify, cleanup, status or unlock: runs it, prints its summary (and JSON report) and returns the process
// exit code.
int run_subcommand(const Config& cfg);

}  // namespace rmig::app
