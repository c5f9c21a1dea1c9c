#pragma once
// `redis-migrate status DESTINATION`: the destination's lock and the runs recorded on it (running, finished,
// failed, interrupted) with their counters. `redis-migrate unlock DESTINATION`: deletes a lock left behind,
// after confirmation on a terminal.

#include <string>

#include "resp/connection.hpp"
#include "select/selection.hpp"

namespace rmig::state {

struct StateCommand {
  resp::ConnectOptions destination;
  std::string destination_url;  // redacted
  std::string prefix = "redis-migrate:";
  std::string report_json;          // path, "-" for stdout, empty for none
  bool yes = false;                 // unlock: do not ask
  select::Shard shard;              // unlock --shard I/N: that shard's lease (<prefix>lock:shard-I-of-N)
  uint32_t cutover_timeout_ms = 0;  // cutover: how long to wait for the run to end (0: as long as it lives)
};

// Both return the process exit code: 0 on success; status 3 when the destination cannot be read; unlock 1
// when the deletion was declined or the lock changed hands meanwhile.
int run_status(const StateCommand& cmd);
int run_unlock(const StateCommand& cmd);

}  // namespace rmig::state
