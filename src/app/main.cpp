#include "app/main.hpp"

#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>
#include <variant>

#include "app/cli.hpp"
#include "app/commands.hpp"
#include "copy/copy_command.hpp"
#include "copy/live_report.hpp"
#include "net/signals.hpp"
#include "report/format.hpp"
#include "report/log.hpp"
#include "report/metrics.hpp"
#include "report/run_report.hpp"
#include "verify/verify_command.hpp"

namespace rmig::app {

namespace {

// Exit code for an unexpected internal failure (a bug), as sysexits' EX_SOFTWARE.
constexpr int kInternalError = 70;

// The answer to "Proceed? [y/N]" on stdin.
bool answered_yes() {
  std::fflush(stderr);
  std::string answer;
  if (!std::getline(std::cin, answer)) return false;
  return answer == "y" || answer == "Y" || answer == "yes" || answer == "YES";
}

// What asking for confirmation decided: go on, or stop with this exit code.
struct Consent {
  bool go = true;
  int exit_code = 0;
};

Consent declined() {
  std::fprintf(stderr, "redis-migrate: aborted: nothing was written\n");
  return Consent{false, to_int(ExitCode::kKeysFailed)};
}

// A copy that can overwrite, merge or delete asks first when a person is at the terminal, showing the plan's
// totals; --yes skips the question, and without a terminal (a Job) the flags themselves are the consent. A
// plan that fails (a rename collision: 2, an unreachable server: 3, ...) stops the run with the plan's own
// exit code, without a question. (A plan takes no lock: a lock held by another run is found by the run.)
Consent confirm_copy(const Config& cfg) {
  const engine::CopyOptions& o = cfg.copy.options;
  const bool destructive = o.cleanup || o.conflict == engine::ConflictPolicy::kReplace ||
                           o.conflict == engine::ConflictPolicy::kMerge;
  if (!destructive || cfg.yes || o.dry_run || isatty(STDIN_FILENO) == 0) return {};
  copy::CopyCommand plan = cfg.copy;
  plan.options.dry_run = true;
  plan.options.live = engine::LiveOptions{};  // the plan of a live run's bulk copy
  plan.options.cleanup = false;
  plan.progress_interval_ms = 0;
  report::RunReport rep = copy::run_copy(plan);
  report::print_summary(rep);
  if (rep.exit_code != ExitCode::kOk) {
    std::fprintf(stderr, "redis-migrate: the plan failed: nothing was written\n");
    return Consent{false, to_int(rep.exit_code)};
  }
  const report::Counters& c = rep.totals;
  std::string what;
  if (o.conflict == engine::ConflictPolicy::kReplace) {
    what += report::thousands(c.existing) + " existing destination keys will be overwritten";
  } else if (o.conflict == engine::ConflictPolicy::kMerge) {
    what += report::thousands(c.would_merge) + " existing destination keys will be merged into";
  }
  if (o.cleanup) {
    if (!what.empty()) what += "; ";
    what += "up to " + report::thousands(c.would_copy + c.would_merge) +
            " source keys will be deleted after their copy";
  }
  std::fprintf(stderr, "\n%s.\nProceed? [y/N] ", what.c_str());
  return answered_yes() ? Consent{} : declined();
}

// cleanup deletes from the source: on a terminal it first runs as --dry-run, shows what it would delete and
// asks, unless --yes. Without a terminal it proceeds.
Consent confirm_cleanup(const Config& cfg) {
  if (cfg.yes || cfg.copy.options.dry_run || isatty(STDIN_FILENO) == 0) return {};
  verify::VerifyCommand dry = verify_command(cfg);
  dry.dry_run = true;
  dry.run.progress_interval_ms = 0;
  report::RunReport rep = verify::run_cleanup(dry);
  report::print_summary(rep);
  if (rep.fatal || rep.signal != 0) {
    std::fprintf(stderr, "redis-migrate: the dry run failed: nothing was deleted\n");
    return Consent{false, to_int(rep.exit_code)};
  }
  std::fprintf(stderr,
               "\n%s source keys verify equal on the destination and will be deleted from the source.\n"
               "Proceed? [y/N] ",
               report::thousands(rep.totals.would_delete).c_str());
  if (answered_yes()) return {};
  std::fprintf(stderr, "redis-migrate: aborted: nothing was deleted\n");
  return Consent{false, to_int(ExitCode::kKeysFailed)};
}

int run(int argc, char** argv) {
  // A closed stdout or stderr (`| head`, a terminal gone) must not end a run half-way: writes to it fail
  // with EPIPE instead, what cannot be printed is dropped, and the run finishes, checkpoints and unlocks.
  std::signal(SIGPIPE, SIG_IGN);
  // SIGUSR1 cuts a live run over; until a run's loop watches it (and in any other command) it must not end
  // the process.
  net::install_usr1_fallback();
  auto parsed = parse_command_line(argc, argv);
  if (auto* rc = std::get_if<int>(&parsed)) return *rc;
  Config& cfg = std::get<Config>(parsed);
  report::setup_logging(cfg.log_level, cfg.log_format);

  cfg.copy.state = state_options(cfg, redacted_command_line(argc, argv));
  // What can be checked before the first write is: a report or a state file that cannot be written would
  // otherwise be found only at the end, after every key moved.
  if (!cfg.report_json.empty() && cfg.report_json != "-") {
    if (auto st = report::check_writable("--report-json", cfg.report_json); !st) {
      std::fprintf(stderr, "redis-migrate: %s\n", st.error().message.c_str());
      return to_int(st.error().code);
    }
  }
  if (!cfg.state.state_file.empty()) {
    if (auto st = report::check_writable("--state-file", cfg.state.state_file, ".tmp"); !st) {
      std::fprintf(stderr, "redis-migrate: %s\n", st.error().message.c_str());
      return to_int(st.error().code);
    }
  }
  // --metrics-port: listening now, so that a port in use refuses the run before anything is written.
  if (auto st = report::Metrics::process().start(cfg.copy.metrics_port, command_name(cfg.command),
                                                 cfg.copy.source_url, cfg.copy.destination_url);
      !st) {
    std::fprintf(stderr, "redis-migrate: %s\n", st.error().message.c_str());
    return to_int(st.error().code);
  }
  switch (cfg.command) {
    case Command::kCopy: {
      const Consent consent = confirm_copy(cfg);
      if (!consent.go) return consent.exit_code;
      return emit(copy::verify_at_cutover(copy::run_copy(cfg.copy), verify_command(cfg)), cfg);
    }
    case Command::kPlan: return emit(copy::run_copy(cfg.copy), cfg);
    case Command::kCleanup: {
      const Consent consent = confirm_cleanup(cfg);
      if (!consent.go) return consent.exit_code;
      return run_subcommand(cfg);
    }
    default: return run_subcommand(cfg);
  }
}

}  // namespace

int main(int argc, char** argv) noexcept {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "redis-migrate: internal error: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "redis-migrate: internal error\n");
  }
  return kInternalError;
}

}  // namespace rmig::app
