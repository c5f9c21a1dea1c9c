#pragma once
// The outcome of a run, printed as a human summary on stderr and written as one JSON object by
// --report-json. The JSON top level always holds the integer counters scanned, copied, skipped, expired,
// vanished, failed, bytes, plus duration_s, errors [{message, count, example_key}] and exit_code.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "report/counters.hpp"
#include "report/source_failover.hpp"
#include "util/result.hpp"

namespace rmig::report {

struct RunReport {
  std::string command = "copy";
  std::string source;       // redacted URL
  std::string destination;  // redacted URL
  bool dry_run = false;
  std::string conflict_policy = "skip";
  bool cleanup = false;
  Counters totals;
  std::vector<NodeCounters> nodes;
  // Source nodes that continued on another server during the run (nodes keep their names from the start).
  std::vector<SourceFailover> source_failovers;
  ErrorGroups errors;
  std::vector<Example> examples;
  // Which path the keys take and why, decided from both servers' versions before the run (copy and plan).
  std::string path;
  nlohmann::json path_detail = nlohmann::json::object();
  BigKeys big_keys;          // the first ones found; Counters::big_keys counts them all
  uint64_t source_keys = 0;  // DBSIZE at start
  // The copy itself began (connections, authentication and start-up checks passed). A run stopped before
  // that has nothing to summarise: its error alone is printed.
  bool started = false;
  std::vector<Difference> differences;  // verify and cleanup: the first --max-differences
  std::optional<Error> fatal;
  int signal = 0;
  double duration_s = 0;
  uint64_t peak_rss_bytes = 0;  // the process's peak resident memory (VmHWM), for sizing Kubernetes requests
  ExitCode exit_code = ExitCode::kOk;
  std::vector<std::string> notes;  // lines for the summary (e.g. "no keys to migrate"), also in the JSON
  std::vector<std::pair<int, Counters>> dbs;        // --all-dbs: counters per database
  nlohmann::json extra = nlohmann::json::object();  // command-specific sections
};

// The exit code a copy ends with, from its outcome.
ExitCode copy_exit_code(const Counters& totals, const std::optional<Error>& fatal, int signal) noexcept;
// verify: 0 only when every key checked is equal and none failed.
ExitCode verify_exit_code(const Counters& totals, const std::optional<Error>& fatal, int signal) noexcept;
// cleanup: 0 only when every key checked was equal and deleted (or, in a dry run, would be).
ExitCode cleanup_exit_code(const Counters& totals, const std::optional<Error>& fatal, int signal) noexcept;

// Every counter as a JSON object, and back (missing fields are 0): checkpoints and run records.
nlohmann::json counters_to_json(const Counters& c);
Counters counters_from_json(const nlohmann::json& j);

nlohmann::json to_json(const RunReport& r);
// The counters as JSON fields (the dry-run fields only for a dry run).
nlohmann::json counters_json(const Counters& c, bool dry_run);
// Multi-line summary for people (text log format) or one "summary" event (JSON log format), on stderr.
void print_summary(const RunReport& r);
// The peak resident memory of this process so far (VmHWM from /proc/self/status), 0 when unknown.
uint64_t peak_rss_bytes() noexcept;

// Writes the JSON report to `path` ("-" = stdout). Returns an error (ExitCode::kReportNotWritten) when it
// could not be written in full.
Status write_json_report(const RunReport& r, const std::string& path);
// The same for any JSON document (the status command's report).
Status write_json_file(const nlohmann::json& j, const std::string& path);

// Proves at start that a file the run writes at its end (or as it goes) can be written, so that a bad path
// stops the run before its first key moves (exit code 2, naming `option` and the path): an existing file is
// opened for writing without truncating it; otherwise the file is created in its directory and removed again.
// With `sibling_suffix` (the state file, replaced through `path + suffix` and rename()), that file is created
// and removed too. Nothing is left behind.
Status check_writable(const std::string& option, const std::string& path,
                      const std::string& sibling_suffix = "");

}  // namespace rmig::report
