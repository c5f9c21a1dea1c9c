#include "app/main.hpp"

#include <cstdio>
#include <exception>
#include <variant>

#include "app/cli.hpp"
#include "app/commands.hpp"
#include "copy/copy_command.hpp"
#include "report/log.hpp"
#include "report/run_report.hpp"

namespace rmig::app {

namespace {

// Exit code for an unexpected internal failure (a bug), as sysexits' EX_SOFTWARE.
constexpr int kInternalError = 70;

int run(int argc, char** argv) {
  auto parsed = parse_command_line(argc, argv);
  if (auto* rc = std::get_if<int>(&parsed)) return *rc;
  Config& cfg = std::get<Config>(parsed);
  report::setup_logging(cfg.log_level, cfg.log_format);

  cfg.copy.state = state_options(cfg, redacted_command_line(argc, argv));
  if (cfg.command != Command::kCopy && cfg.command != Command::kPlan) return run_subcommand(cfg);
  report::RunReport rep = copy::run_copy(cfg.copy);
  report::print_summary(rep);
  if (!cfg.report_json.empty()) {
    if (auto st = report::write_json_report(rep, cfg.report_json); !st) {
      std::fprintf(stderr, "redis-migrate: %s\n", st.error().message.c_str());
      if (rep.exit_code == ExitCode::kOk) return to_int(ExitCode::kUsage);
    }
  }
  return to_int(rep.exit_code);
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
