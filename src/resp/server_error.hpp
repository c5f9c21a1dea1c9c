#pragma once
// Server error replies are data: the copy layer decides what each means for the run. This only names them.

#include <optional>
#include <string>
#include <string_view>

namespace rmig::resp {

enum class ServerError {
  kOther,
  kBusyKey,         // RESTORE onto an existing key
  kWrongType,       // the key holds another type than the command works on
  kOom,             // maxmemory reached
  kReadOnly,        // write sent to a replica
  kNoAuth,          // a password is required
  kWrongPass,       // AUTH refused
  kNoPerm,          // the ACL user may not run the command (dooms every key: fatal for the run)
  kNoPermKey,       // the ACL user may not touch this key (its key patterns exclude it: one key fails)
  kLoading,         // the server is loading its dataset: wait
  kMoved,           // cluster: the slot lives elsewhere
  kAsk,             // cluster: the slot is being migrated, ask the target once
  kTryAgain,        // cluster: multi-key operation during migration
  kClusterDown,     // cluster: not serving
  kCrossSlot,       // cluster: keys in different slots
  kMisconf,         // the server cannot persist and refuses writes
  kBusy,            // a script is running
  kMasterDown,      // replica lost its primary
  kBadPayload,      // DUMP payload version or checksum wrong / bad data format
  kNoScript,        // EVALSHA of an unknown script
  kUnknownCommand,  // the command does not exist or was renamed/disabled
  kMaxClients,      // connection limit reached
};

ServerError classify_error(std::string_view message) noexcept;

// For -MOVED / -ASK: "<slot> <host>:<port>".
struct Redirect {
  int slot = -1;
  std::string host;
  int port = 0;
};
std::optional<Redirect> parse_redirect(std::string_view message);

// The command named in a NOPERM, script ACL failure or unknown-command message ("... run the 'dump'
// command"), lower case; empty when the message names none (Redis 7.0's script errors do not).
std::string denied_command(std::string_view message);

}  // namespace rmig::resp
