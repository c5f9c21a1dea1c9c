#pragma once
// The parts of the command-line parser (app/cli.cpp): the raw flags each command binds, the option groups
// that declare them (app/cli_options.cpp), and the checks and conversions of their values
// (app/cli_values.cpp). Internal to app/; the contract of the command line is app/cli.hpp.

#include <CLI/CLI.hpp>
#include <array>
#include <string>
#include <utility>
#include <vector>

#include "app/cli.hpp"
#include "net/endpoint.hpp"
#include "resp/connection.hpp"
#include "util/result.hpp"

namespace rmig::app::cli_parts {

struct SideFlags {
  std::string url;
  std::string password_file;
  net::TlsConfig tls;
};

// Every raw value the command line and the environment can give, before validation.
struct Flags {
  SideFlags src, dst;
  // copy
  bool dry_run = false, replace = false, cleanup = false;
  bool assume_distinct = false, allow_evicting_destination = false;
  std::string on_conflict = "skip", merge_prefer = "destination";
  // selection
  std::vector<std::string> match, exclude, types;
  std::vector<std::pair<std::string, std::string>> rename_prefix, rename_regex;
  bool all_dbs = false;
  std::string shard;  // --shard I/N (SHARD)
  // tuning
  std::string window_bytes = "16MB", max_bytes_per_sec;
  // paths
  std::string mode = "auto", big_key_threshold = "64MB";
  bool drop_field_ttls = false, keep_idle = false;
  double connect_timeout_s = 10, timeout_s = 60, retry_timeout_s = 60, progress_s = 5;
  uint64_t rate_limit = 0;
  // cluster
  std::string source_cluster = "auto", destination_cluster = "auto", read_from = "primaries";
  // output
  std::string log_level = "info", log_format = "text";
  // verify
  double ttl_tolerance_s = 5;
  // live (--live); whether each was given is read from its option (the environment counts)
  bool live = false, assume_notifications = false, verify_at_cutover = false;
  uint64_t live_pending_max = 1'000'000;
  uint32_t until_idle_s = 0;
  std::string regex_rule;  // set by the selection: the first regex rename rule, as given (for --live)
};

// Each command binds its own copy of the flags: options of commands that were not chosen must not touch the
// values of the one that was (their environment variables are read too).
struct Bound {
  Config cfg;
  Flags f;
};
// copy (the default command, on `app` itself), plan, verify, cleanup, status, unlock, cutover.
using BoundCommands = std::array<Bound, 7>;
// The subcommands and what each one runs, in the order of BoundCommands after copy.
using Subcommands = std::array<std::pair<CLI::App*, Command>, 6>;

// app/cli_options.cpp
// What `redis-migrate --help` says first.
extern const char* const kDescription;
// Declares every command and its options on `app`, each command bound to its entry of `bound`, plus the
// checks of numeric values, the version flag and the help's footer.
Subcommands define_commands(CLI::App& app, BoundCommands& bound);

// app/cli_values.cpp
// Builds one side's connection options from its URL and flags; `redacted` gets the URL without password.
Result<resp::ConnectOptions> build_side(const std::string& side, SideFlags& f, std::string& redacted);
// CLI11 error texts may echo arguments; URLs among them lose their passwords here.
std::string redact_urls(std::string text);
// A boolean environment variable (1/0, true/false, yes/no, on/off): 0, or 2 after printing why not.
int env_flag(const char* name, bool& out);
Result<uint32_t> seconds_to_ms(double s, const char* option);
// Every numeric option of `app` and its subcommands gets the check of its numeric_options() entry.
void add_numeric_checks(CLI::App& app);
// The rename rules in command-line order (first match wins across --rename-prefix and --rename).
std::vector<select::RuleSpec> rule_specs(const CLI::App& app, const Flags& f);
// The rules of RENAME_PREFIX and RENAME (used when the command line has no rename rule): RENAME_PREFIX's
// first, each in its own order.
Result<std::vector<select::RuleSpec>> env_rule_specs();

}  // namespace rmig::app::cli_parts
