#pragma once
// The command line and the environment: every option has an environment variable (the option name in upper
// case with '-' as '_', e.g. --report-json = REPORT_JSON), plus the names operators already use:
// SOURCE_REDIS_URL, DESTINATION_REDIS_URL, DRY_RUN, DEBUG, REPLACE_DST_KEYS, CLEAN_UP.
// A command-line value wins over the environment.

#include <spdlog/common.h>

#include <string>
#include <variant>

#include "copy/copy_command.hpp"
#include "report/log.hpp"

namespace rmig::app {

enum class Command { kCopy };

struct Config {
  Command command = Command::kCopy;
  copy::CopyCommand copy;
  std::string report_json;  // path, "-" for stdout, empty for none
  spdlog::level::level_enum log_level = spdlog::level::info;
  report::LogFormat log_format = report::LogFormat::kText;
};

// Returns the configuration, or the exit code to end with right away (--help, --version, or an error that
// was already printed as one line on stderr).
std::variant<Config, int> parse_command_line(int argc, char** argv);

// Parses "16MB", "512KiB", "1g" or a plain number of bytes.
Result<uint64_t> parse_size(std::string_view text);

}  // namespace rmig::app
