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

// The value seed_strings writes to <prefix><i>: the key's name and ":", padded to `size` bytes with a letter,
// so no two keys share a value and a by-value check cannot take one key's value for another's.
std::string seeded_value(const std::string& prefix, int i, std::size_t size = 10);
// SET <prefix><i> seeded_value(prefix, i, size) for i in [0, n), with PX px when px > 0; pipelined.
void seed_strings(KeyWriter& c, int n, const std::string& prefix = "k:", std::size_t size = 10,
                  long long px = 0);
// A set of `members` members "member-<i><suffix>", pipelined SADDs of 5,000. Above 128 members it is
// hashtable-encoded: its DUMP depends on each server's hash seed (two servers holding the same members dump
// different bytes), and it takes the server a while to DUMP.
void seed_big_set(KeyWriter& c, const std::string& key, int members, const std::string& suffix = "");

// redis-migrate verify / cleanup SRC DST with `extra` options after the URLs (run_copy otherwise).
ToolRun run_verify(const std::string& src, const std::string& dst, std::vector<std::string> extra = {});
ToolRun run_cleanup(const std::string& src, const std::string& dst, std::vector<std::string> extra = {});

// The error line of a run: stderr's "redis-migrate: ..." line, or else the summary's "stopped: ..." line;
// empty when there is neither.
std::string error_line(const RunResult& result);
std::string error_line(const ToolRun& run);
// Runs the tool expecting a refusal with exit `code` before anything is deleted; returns the error line.
std::string refused(std::vector<std::string> args, int code, const EnvOverrides& env = {});
// Runs the tool expecting bad input refused: exit 2 and exactly one line on stderr, which it returns.
std::string usage_refusal(const std::vector<std::string>& args, const EnvOverrides& env = {});
bool contains(const std::string& text, const std::string& what);

// The newest run record the tool keeps on a destination (under its state prefix), or null.
nlohmann::json latest_record(KeyReader& dst, const std::string& prefix = "redis-migrate:");
// The keys a run record's checkpoint counts as done (scanned, summed over its nodes); 0 for a null record.
uint64_t record_scanned(const nlohmann::json& record);

// Calls of `command` (lower case, e.g. "dump") the server counted in INFO commandstats; 0 when never.
long long command_calls(KeyReader& c, const std::string& command);
// The values a server served: DUMP calls and GETRANGE calls but those that failed (a copy reads a small
// string with GETRANGE, every other key with DUMP; a key read as a string without its TYPE that is not one
// answers GETRANGE with WRONGTYPE, then is DUMPed).
long long value_reads(KeyReader& c);

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
