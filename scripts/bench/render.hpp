#pragma once
// Turns the raw measurements that bench.sh records (one line per measurement: a kind, then TAB-separated
// key=value fields) into the results tables: rates, ratios to the physical limit, pass/fail against the
// targets. Markdown for people, JSON for tools; the same numbers in both.

#include <string>

namespace rmbench {

// Tool throughput must reach this fraction of the limit: the source serving DUMP for every key and the
// destination absorbing the RESTOREs, both replays at the same time on the same machine.
inline constexpr double kLimitFraction = 0.90;
// Tool peak RSS bound, MiB, whatever the keyspace size.
inline constexpr double kMaxRssMib = 64;
// The rewrite path's keys/s on the mixed dataset, as a share of the dump path's.
inline constexpr double kMinRewriteRatio = 0.5;
// TLS-to-TLS throughput must reach this fraction of plain on the same data.
inline constexpr double kTlsFraction = 0.70;

// Returns the markdown text (also written to markdown_path); throws std::runtime_error on unreadable input.
std::string render_results(const std::string& results_path, const std::string& markdown_path,
                           const std::string& json_path);

// Reads the tool's --report-json file and returns "key=value ..." for the counters bench.sh needs;
// throws std::runtime_error when the file is missing or not a JSON object.
std::string report_fields(const std::string& report_path);

}  // namespace rmbench
