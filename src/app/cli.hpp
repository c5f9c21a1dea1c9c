#pragma once
// The command line and the environment. Every option has an environment variable (the option name in upper
// case with '-' as '_', e.g. --report-json = REPORT_JSON), plus the names operators already use:
// SOURCE_REDIS_URL, DESTINATION_REDIS_URL, DRY_RUN, DEBUG, REPLACE_DST_KEYS, CLEAN_UP. The rename rules,
// which take two values each, come from RENAME_PREFIX and RENAME (see parse_rule_list); MATCH, EXCLUDE and
// TYPE are lists split the same way (split_env_list). A command-line value wins over the environment.
//
// Options may come before, between or after the URLs and the command: each takes exactly its own values per
// occurrence, the command's name is moved first before parsing, and "--" ends the options. Numeric values are
// checked against numeric_options() before conversion.
//
//   redis-migrate [OPTIONS] SOURCE_URL DESTINATION_URL          copy (the default command)
//   redis-migrate plan [OPTIONS] SOURCE_URL DESTINATION_URL     what a copy would do, writing nothing
//   redis-migrate verify [OPTIONS] SOURCE_URL DESTINATION_URL   compare the destination with the source
//   redis-migrate cleanup [OPTIONS] SOURCE_URL DESTINATION_URL  delete source keys whose copy verifies equal
//   redis-migrate status DESTINATION_URL                        runs recorded on the destination
//   redis-migrate unlock DESTINATION_URL                        clear a lock left by a killed run
//   redis-migrate cutover DESTINATION_URL                       end the live run (--live) holding the lock

#include <spdlog/common.h>

#include <string>
#include <variant>
#include <vector>

#include "copy/copy_command.hpp"
#include "report/log.hpp"
#include "select/rename.hpp"

namespace rmig::app {

enum class Command { kCopy, kPlan, kVerify, kCleanup, kStatus, kUnlock, kCutover };
inline constexpr std::array<NamedValue<Command>, 7> kCommandNames = {{
    {Command::kCopy, "copy"},
    {Command::kPlan, "plan"},
    {Command::kVerify, "verify"},
    {Command::kCleanup, "cleanup"},
    {Command::kStatus, "status"},
    {Command::kUnlock, "unlock"},
    {Command::kCutover, "cutover"},
}};

const char* command_name(Command c) noexcept;

struct VerifySettings {
  uint32_t ttl_tolerance_ms = 5'000;  // both TTLs within this of each other (or both persistent)
  uint64_t sample = 0;                // check a random sample of this many keys; 0: every key
  std::size_t max_differences = 20;   // differences listed in the summary and the report
};

struct StateSettings {
  std::string prefix = "redis-migrate:";  // the tool's own keys on the destination
  bool no_lock = false;                   // do not take the destination's lock
  double lock_ttl_s = 30;                 // the lease's TTL: a killed run's lock expires after this
  std::string state_file;                 // keep the checkpoint in this file instead of on the destination
  bool restart = false;                   // ignore an old checkpoint
  // cutover: seconds to wait for the run to end after the request (0: as long as the run lives).
  double cutover_timeout_s = 0;
};

struct Config {
  Command command = Command::kCopy;
  // Connections, cluster modes, the selection and the copy options: shared by copy, plan, verify and cleanup.
  // status, unlock and cutover use the destination only. The live options (--live...) are in
  // copy.options.live.
  copy::CopyCommand copy;
  VerifySettings verify;
  StateSettings state;
  bool yes = false;         // do not ask for confirmation before a run that can overwrite, merge or delete
  std::string report_json;  // path, "-" for stdout, empty for none
  spdlog::level::level_enum log_level = spdlog::level::info;
  report::LogFormat log_format = report::LogFormat::kText;
};

// Returns the configuration, or the exit code to end with right away (--help, --version, or an error that
// was already printed as one line on stderr).
std::variant<Config, int> parse_command_line(int argc, char** argv);

// The rename rules of an environment variable (RENAME_PREFIX, RENAME): one rule per line, or separated by ';'
// when the value is one line; each rule is FROM and TO split at the first space (TO may hold spaces, FROM may
// not: a regex writes \x20 or \s). Empty rules are ignored; a rule without TO is a usage error naming the
// variable.
Result<std::vector<select::RuleSpec>> parse_rule_list(std::string_view value, select::RuleSpec::Kind kind,
                                                      std::string_view variable);

// Parses "16MB", "512KiB", "1g" or a plain number of bytes. Negative, fractional and overflowing sizes are
// errors.
Result<uint64_t> parse_size(std::string_view text);

// The items of an environment list (MATCH, EXCLUDE, TYPE, and the rules of RENAME_PREFIX and RENAME): one
// item per line, or, when the value is one line, items separated by ';'. A separator inside a glob's [...]
// set (one with its closing ']') or escaped with '\' belongs to the item. Items are trimmed of spaces, tabs
// and '\r'; empty items are dropped.
std::vector<std::string> split_env_list(std::string_view value);

// --shard I/N: "I/N" with 0 <= I < N <= 16384 (whole numbers). `what` names the origin in messages
// ("--shard", "SHARD"). Errors name the problem and the valid form.
Result<select::Shard> parse_shard(std::string_view text, std::string_view what);
// The shard from --shard (SHARD) and/or JOB_COMPLETION_INDEX with SHARD_COUNT (a Kubernetes Indexed Job):
// `flag` is the value of --shard or SHARD (empty: none), the environment is read here. Both given must agree;
// JOB_COMPLETION_INDEX needs SHARD_COUNT and SHARD_COUNT needs an index. Not sharded: count 0.
Result<select::Shard> resolve_shard(std::string_view flag, std::string_view flag_name);

// The valid values of a numeric option, in one table that both the parser's checks and --help use. The text
// is checked before it is converted, so "-5" or "99999999999999999999" can never wrap around to "no limit".
struct NumericOption {
  enum class Kind { kCount, kSeconds, kSize };
  const char* name;  // "--rate-limit"
  Kind kind;
  double min, max;  // inclusive; sizes in bytes
  // What 0 means when 0 is valid outside [min, max] ("no limit"); nullptr when it is not.
  const char* zero;
};
const std::vector<NumericOption>& numeric_options();
// Checks `text` against `o`: empty when valid, otherwise what is wrong and the valid range in plain words
// ("-5 is negative: give 0 (no limit) or a whole number from 1 to 100000000").
std::string check_numeric(const NumericOption& o, std::string_view text);

}  // namespace rmig::app
