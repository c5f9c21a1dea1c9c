#pragma once
// Shared helpers of the integration tests: run the tool with a JSON report, and small checks.

#include <doctest/doctest.h>

#include <chrono>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/client.hpp"
#include "support/files.hpp"
#include "support/process.hpp"

namespace rmig::test {

struct ToolRun {
  RunResult result;
  nlohmann::json report;  // empty object when no report was written
  int exit_code() const { return result.exit_code; }
  uint64_t counter(const char* name) const { return report.value(name, uint64_t{0}); }
};

// Runs redis-migrate with `args` plus --report-json to a temporary file, and parses the report.
ToolRun run_copy(std::vector<std::string> args, const EnvOverrides& env = {},
                 std::chrono::milliseconds timeout = 180s);

// DUMP of every key on both sides is byte-identical (same server version), except hashtable-encoded sets and
// hashes, whose serialisation order depends on the server's hash seed.
void require_same_dumps(KeyReader& src, KeyReader& dst, const std::vector<std::string>& keys);

// Keys on a server other than the tool's own (its lock and run records under "redis-migrate:").
long long user_dbsize(KeyReader& client);

// Polls `condition` every 5 ms until it holds (true) or `timeout` passed (its last answer).
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 5s);

// The lines of `text` that mention `needle`.
std::vector<std::string> lines_with(const std::string& text, const std::string& needle);
// The lines of `text` that are not empty.
std::vector<std::string> nonempty_lines(const std::string& text);

// Checks that nothing the tool printed or wrote contains `secret`.
void require_secret_hidden(const ToolRun& run, const std::string& secret);

// Commands a managed service forbids and the tool must never send: KEYS, MIGRATE, CONFIG, DEBUG, SYNC, PSYNC,
// RANDOMKEY.
extern const std::vector<std::string> kForbiddenCommands;

// Calls of each forbidden command a server has counted so far (INFO commandstats; subcommands such as
// "config|get" are added to their command). Compare a snapshot taken before a run with one taken after: the
// test's own client may have used some of them.
std::map<std::string, long long> forbidden_calls(KeyReader& client);
// Checks that no forbidden command was called between the two snapshots; `side` names the server.
void check_no_forbidden_calls(const std::map<std::string, long long>& before,
                              const std::map<std::string, long long>& after, const std::string& side);

}  // namespace rmig::test
