#include "app/commands.hpp"

#include <cstdio>

#include "app/url.hpp"
#include "report/run_report.hpp"
#include "state/cutover.hpp"
#include "state/state_command.hpp"
#include "verify/verify_command.hpp"

namespace rmig::app {

namespace {}  // namespace

int emit(report::RunReport rep, const Config& cfg) {
  rep.peak_rss_bytes = report::peak_rss_bytes();
  report::print_summary(rep);
  if (!cfg.report_json.empty()) {
    if (auto st = report::write_json_report(rep, cfg.report_json); !st) {
      // The work is done (and checkpointed); only its report is missing or incomplete. A run that already
      // failed keeps its own code, which says more.
      std::fprintf(stderr, "redis-migrate: %s\n", st.error().message.c_str());
      if (rep.exit_code == ExitCode::kOk) {
        std::fprintf(stderr, "exit code %d: the work finished but its report could not be written\n",
                     to_int(ExitCode::kReportNotWritten));
        return to_int(ExitCode::kReportNotWritten);
      }
    }
  }
  return to_int(rep.exit_code);
}

verify::VerifyCommand verify_command(const Config& cfg) {
  verify::VerifyCommand c;
  c.run = cfg.copy;
  c.checks.ttl_tolerance_ms = cfg.verify.ttl_tolerance_ms;
  c.checks.max_differences = cfg.verify.max_differences;
  c.sample = cfg.verify.sample;
  c.dry_run = cfg.copy.options.dry_run;
  return c;
}

namespace {

state::StateCommand state_command(const Config& cfg) {
  state::StateCommand c;
  c.destination = cfg.copy.destination;
  c.destination_url = cfg.copy.destination_url;
  c.shard = cfg.copy.options.selection.shard;
  c.prefix = cfg.state.prefix;
  c.report_json = cfg.report_json;
  c.yes = cfg.yes;
  c.cutover_timeout_ms = static_cast<uint32_t>(cfg.state.cutover_timeout_s * 1000.0);
  return c;
}

}  // namespace

std::string redacted_command_line(int argc, char** argv) {
  std::string line = "redis-migrate";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.find("://") != std::string::npos) {
      // "--flag=URL" keeps its flag; a bare URL is redacted whole.
      const std::size_t eq = arg.find('=');
      if (eq != std::string::npos && eq < arg.find("://")) {
        arg = arg.substr(0, eq + 1) + redact_raw_url(std::string_view(arg).substr(eq + 1));
      } else {
        arg = redact_raw_url(arg);
      }
    }
    line += ' ';
    line += arg;
  }
  return line;
}

state::StateOptions state_options(const Config& cfg, std::string command_line) {
  state::StateOptions s;
  s.prefix = cfg.state.prefix;
  s.lock = !cfg.state.no_lock;
  s.lock_ttl_ms = static_cast<uint32_t>(cfg.state.lock_ttl_s * 1000.0);
  s.state_file = cfg.state.state_file;
  s.restart = cfg.state.restart;
  s.command_line = std::move(command_line);
  return s;
}

int run_subcommand(const Config& cfg) {
  switch (cfg.command) {
    case Command::kVerify: return emit(verify::run_verify(verify_command(cfg)), cfg);
    case Command::kCleanup: return emit(verify::run_cleanup(verify_command(cfg)), cfg);
    case Command::kStatus: return state::run_status(state_command(cfg));
    case Command::kUnlock: return state::run_unlock(state_command(cfg));
    case Command::kCutover: return state::run_cutover(state_command(cfg));
    case Command::kCopy:
    case Command::kPlan: break;
  }
  std::fprintf(stderr, "redis-migrate: internal error: %s is not a subcommand\n", command_name(cfg.command));
  return 70;
}

}  // namespace rmig::app
