#include "engine/retry_policy.hpp"

#include <algorithm>
#include <cctype>

#include "resp/connection.hpp"
#include "util/backoff.hpp"

namespace rmig::engine {

using resp::ServerError;

bool retryable(ServerError e) noexcept {
  return e == ServerError::kLoading || e == ServerError::kBusy || e == ServerError::kTryAgain ||
         e == ServerError::kClusterDown || e == ServerError::kMasterDown;
}

ErrorAction error_action(ServerError kind, bool destination) noexcept {
  switch (kind) {
    case ServerError::kMoved:
    case ServerError::kAsk: return ErrorAction::kRedirect;
    case ServerError::kOom: return destination ? ErrorAction::kStopRun : ErrorAction::kTask;
    case ServerError::kMisconf:
    case ServerError::kReadOnly:
    case ServerError::kNoPerm:
    case ServerError::kNoAuth:
    case ServerError::kUnknownCommand: return ErrorAction::kStopRun;
    case ServerError::kNoPermKey: return ErrorAction::kFailKey;
    default: break;
  }
  return retryable(kind) ? ErrorAction::kRetry : ErrorAction::kTask;
}

Error error_message(ServerError kind, std::string_view message, const ErrorContext& where) {
  const std::string who(where.who);
  const std::string msg(message);
  const bool dst = where.destination;
  switch (kind) {
    case ServerError::kOom:
      return make_error(ExitCode::kDestinationRefused,
                        who + ": out of memory (" + msg +
                            "): free memory or raise maxmemory on the destination, then run again (keys "
                            "already copied are skipped)");
    case ServerError::kReadOnly:
      return make_error(dst ? ExitCode::kDestinationRefused : ExitCode::kConnect,
                        who + " is a read-only replica (" + msg + "): point the " +
                            (dst ? "destination" : "source") + " URL at the primary");
    case ServerError::kMisconf:
      return make_error(ExitCode::kDestinationRefused, who + " refuses writes because it cannot persist (" +
                                                           msg + "): fix its disk or RDB settings");
    case ServerError::kNoPermKey:
      return make_error(ExitCode::kKeysFailed, std::string(where.command) + ": " + msg + ": " +
                                                   (dst ? "the destination user" : "the source user") +
                                                   "'s key patterns (~...) exclude the key");
    case ServerError::kNoPerm: {
      std::string cmd = resp::denied_command(message);
      if (cmd.empty()) {
        cmd = std::string(where.command);
        std::transform(cmd.begin(), cmd.end(), cmd.begin(), [](unsigned char c) { return std::tolower(c); });
      }
      return resp::permission_error(*where.options, cmd, message);
    }
    case ServerError::kNoAuth:
      return make_error(ExitCode::kConnect, who + ": " + std::string(where.command) + " refused (" + msg +
                                                "): the server now requires a password; put it in the URL or "
                                                "use --" +
                                                (dst ? "destination" : "source") + "-password-file");
    case ServerError::kUnknownCommand: {
      // Renamed or disabled (rename-command): the same answer as a refusal found by the probes at start.
      std::string cmd = resp::denied_command(message);
      if (cmd.empty()) cmd = std::string(where.command);
      return resp::refused_command_error(*where.options, cmd, message);
    }
    default: break;
  }
  return make_error(ExitCode::kKeysFailed, std::string(where.command) + ": " + msg);
}

std::chrono::steady_clock::time_point next_retry(RetryState& state, std::chrono::steady_clock::time_point now,
                                                 std::chrono::milliseconds timeout) noexcept {
  if (state.attempts == 0) state.first_at = now;
  if (now - state.first_at > timeout) return {};
  return now + kRetryBackoff.delay(state.attempts++);
}

}  // namespace rmig::engine
