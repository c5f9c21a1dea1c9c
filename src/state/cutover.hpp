#pragma once
// The cut-over of a live run (--live) from another process: `redis-migrate cutover DESTINATION_URL`.
//
// The keys (all under the state prefix, on the destination, as the lock):
//   <prefix>live:cutover              the request: JSON {id, lock, requested_at, host, pid}, where `lock` is
//                                     the lease value of the run it is meant for (a run never takes a request
//                                     meant for another: a stale request cannot end a later run). 1 day TTL.
//   <prefix>live:cutover:<id>         the answer: the run's exit code as a decimal number once it ended, or
//                                     "verifying" while --verify-at-cutover runs after the cut-over. 1 day
//                                     TTL.
//
// The run polls the request key every 500 ms (RunState), takes a request meant for its lease, cuts over,
// and writes the answer when it ends (before it releases its lock). The cutover command writes the request,
// then polls the answer and the lock: an answer ends the wait; the lock released (or taken by another run)
// without an answer means the run ended without taking the request (killed, or it ended by itself first).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "state/state_command.hpp"
#include "state/state_store.hpp"
#include "util/result.hpp"

namespace rmig::state {

// The exit code of `cutover` when the run did not confirm the cut-over: --timeout ran out while it still
// ran (the request stands), or it ended without answering.
inline constexpr int kCutoverUnconfirmed = 7;
// The answer's TTL, and the request's.
inline constexpr int64_t kCutoverKeyTtlMs = 24LL * 3600 * 1000;
// How often a live run reads the request key.
inline constexpr uint32_t kCutoverPollMs = 500;
// The answer written while --verify-at-cutover runs.
inline constexpr std::string_view kCutoverVerifying = "verifying";

std::string cutover_request_key(const std::string& prefix);
std::string cutover_result_key(const std::string& prefix, const std::string& request_id);

struct CutoverRequest {
  std::string id;    // 16 hex digits
  std::string lock;  // the lease value of the run it is meant for
  std::string requested_at;
  std::string host;
  int64_t pid = 0;
};
std::string cutover_request_value(const CutoverRequest& r);
// nullopt when `value` is not a request of this tool.
std::optional<CutoverRequest> parse_cutover_request(std::string_view value);

// Writes the answer to request `request_id` (synchronously, through `client`). Failures are logged, not
// returned: the run's own outcome does not depend on its answer.
void write_cutover_result(StateClient& client, const std::string& prefix, const std::string& request_id,
                          std::string_view value);

// `redis-migrate cutover`: the process exit code (see kCutoverUnconfirmed and the README).
int run_cutover(const StateCommand& cmd);

}  // namespace rmig::state
