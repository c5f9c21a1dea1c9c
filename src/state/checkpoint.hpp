#pragma once
// A run's record: what it is (an options fingerprint), how far it got (per source node: the SCAN cursor
// before which every key is done, and the counters of those keys) and how it ended. Kept on the destination
// under <prefix>run:<id>, listed in the sorted set <prefix>run:index, or in a JSON file (--state-file).
//
// The id is a hash of the fingerprint, so running the same command again finds the record of the run it
// continues without listing anything.

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine.hpp"
#include "engine/run_spec.hpp"
#include "report/counters.hpp"
#include "state/state_store.hpp"
#include "util/result.hpp"

namespace rmig::state {

struct RunRecord {  // NOLINT(bugprone-exception-escape): implicit moves of std containers and json
  std::string id;
  std::string command;  // "copy" or "cleanup"
  std::string status;   // "running", "finished", "failed", "interrupted"
  std::string source;   // redacted URLs
  std::string destination;
  nlohmann::json fingerprint;  // what must match for a run to continue this one
  std::string command_line;    // redacted
  std::string host;
  int64_t pid = 0;
  int64_t started_ms = 0;   // Unix time in ms, of the first attempt
  int64_t updated_ms = 0;   // the last save
  int64_t finished_ms = 0;  // 0 while not ended
  uint32_t attempts = 1;    // runs that worked on it (1 + resumes)
  std::vector<engine::NodeProgress> nodes;
  report::Counters totals;  // every key handled so far, in-flight batches included (for people)
  // The source keys the run expects at start (its nodes' DBSIZE, a --shard run's share of it): what `status`
  // measures its progress against; 0 when unknown (DBSIZE refused, a record written before this existed).
  uint64_t source_keys = 0;
  std::optional<int> exit_code;  // once ended
  std::string error;             // the condition that stopped it, if any
  // A live run (--live): where its live phase stands, saved about every second (live_record_json); null
  // for other runs.
  nlohmann::json live;

  nlohmann::json to_json() const;
  // nullopt when `j` is not a record this version understands.
  static std::optional<RunRecord> from_json(const nlohmann::json& j);
};

// A live run's state for its record: phase, lag_ms, pending, changes, changes_per_s, recopied, deleted,
// resyncs (a count), cutover (the cause, null before a cut-over).
nlohmann::json live_record_json(const engine::LiveStats& s);

// What identifies "the same command": both endpoints (host, port, db, user; never passwords), the selection,
// the rename rules, the conflict policy, the cleanup flag and --live. Tuning (window, rate limits, timeouts,
// output) may change between attempts.
nlohmann::json fingerprint(const engine::RunSpec& cmd, std::string_view command);
// 16 hex digits of the fingerprint's SHA-1.
std::string run_id(const nlohmann::json& fingerprint);

std::string run_key(const std::string& prefix, const std::string& id);
std::string run_index_key(const std::string& prefix);

// Where records are kept.
class RecordStore {
 public:
  virtual ~RecordStore() = default;
  // Synchronous: at the start and the end of a run.
  virtual Result<std::optional<RunRecord>> load(const std::string& id) = 0;
  virtual Status save_now(const RunRecord& record) = 0;
  // During the run, on the loop. Returns false when it cannot start right now (e.g. the connection is down);
  // `done` runs with the outcome otherwise (possibly before save() returns).
  virtual bool save(const RunRecord& record, std::function<void(bool ok)> done) = 0;
  virtual void close() noexcept {}
  virtual std::string where(const std::string& id) const = 0;  // for messages
};

// On the destination: <prefix>run:<id> (a JSON string, expiring 30 days after its last save) and the index.
// `link_seed`: the destination's options for the run's own connection.
std::unique_ptr<RecordStore> destination_records(net::Loop& loop, StateClient& client, std::string prefix,
                                                 std::string destination, resp::ConnectOptions link_seed);
// In a JSON file, replaced atomically (write + rename) at each save.
std::unique_ptr<RecordStore> file_records(std::string path);

// Every record the index lists, newest first (records that expired are left out). For `status`.
Result<std::vector<RunRecord>> list_runs(StateClient& client, const std::string& prefix);

int64_t unix_ms_now();
std::string iso_utc_ms(int64_t unix_ms);

}  // namespace rmig::state
