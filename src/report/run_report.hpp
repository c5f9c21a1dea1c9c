#pragma once
// The outcome of a run, printed as a human summary on stderr and written as one JSON object by
// --report-json. The JSON top level always holds the integer counters scanned, copied, skipped, expired,
// vanished, failed, bytes, plus duration_s, errors [{message, count, example_key}] and exit_code.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "report/counters.hpp"
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
  ErrorGroups errors;
  std::vector<Example> examples;
  // Which path the keys take and why, decided from both servers' versions before the run (copy and plan).
  std::string path;
  nlohmann::json path_detail = nlohmann::json::object();
  BigKeys big_keys;          // the first ones found; Counters::big_keys counts them all
  uint64_t source_keys = 0;  // DBSIZE at start
  std::optional<Error> fatal;
  int signal = 0;
  double duration_s = 0;
  ExitCode exit_code = ExitCode::kOk;
  nlohmann::json extra = nlohmann::json::object();  // command-specific sections
};

// The exit code a copy ends with, from its outcome.
ExitCode copy_exit_code(const Counters& totals, const std::optional<Error>& fatal, int signal) noexcept;

nlohmann::json to_json(const RunReport& r);
// Multi-line summary for people (text log format) or one "summary" event (JSON log format), on stderr.
void print_summary(const RunReport& r);
// Writes the JSON report to `path` ("-" = stdout). Returns an error when the file cannot be written.
Status write_json_report(const RunReport& r, const std::string& path);

}  // namespace rmig::report
