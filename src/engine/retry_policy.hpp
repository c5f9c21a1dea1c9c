#pragma once
// What the engine does with an error reply, decided from the error alone: redirect the job, retry it later,
// fail the key, stop the run, or leave it to the task. No sockets, no jobs: the engine applies the decision.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "resp/server_error.hpp"
#include "util/result.hpp"

namespace rmig::resp {
struct ConnectOptions;
}

namespace rmig::engine {

enum class ErrorAction {
  kRedirect,  // -MOVED / -ASK: send the job's stage to the node named in the message
  kRetry,     // LOADING, BUSY, TRYAGAIN, CLUSTERDOWN, MASTERDOWN: send it again after a backoff
  kFailKey,   // only this key cannot be handled (an ACL key pattern excludes it): the run goes on
  kStopRun,   // every key would fail the same way (permissions, OOM, read-only, MISCONF, ...)
  kTask,      // the task's own business (BUSYKEY, a bad payload, ...)
};

// The decision for an error of `kind` in reply to a command sent to the destination (`destination`) or to the
// source. OOM stops the run only on the destination; on the source it is the task's.
ErrorAction error_action(resp::ServerError kind, bool destination) noexcept;

// Conditions that pass by themselves: the same command is sent again later.
bool retryable(resp::ServerError kind) noexcept;

// Where the failing command went, for the messages of error_message().
struct ErrorContext {
  bool destination = false;
  std::string_view who;                           // the node's label
  std::string_view command;                       // the command as the task names it ("RESTORE")
  const resp::ConnectOptions* options = nullptr;  // the node's connection options (ACL hints)
};

// The per-key message (kFailKey) or the run's error (kStopRun) for a server error `message`; the exit code
// only matters for kStopRun.
Error error_message(resp::ServerError kind, std::string_view message, const ErrorContext& where);

// A redirected job follows at most this many redirects before the key fails (a slot map that never settles).
inline constexpr uint32_t kMaxRedirects = 16;

// One job's retries of its current error.
struct RetryState {
  uint32_t attempts = 0;
  uint32_t redirects = 0;
  std::chrono::steady_clock::time_point first_at{};
};

// The time to send a retried command again, or time_point{} when the error has lasted longer than
// `timeout` (the key fails).
std::chrono::steady_clock::time_point next_retry(RetryState& state, std::chrono::steady_clock::time_point now,
                                                 std::chrono::milliseconds timeout) noexcept;

}  // namespace rmig::engine
