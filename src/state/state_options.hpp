#pragma once
// What a writing run keeps on the destination besides the keys it copies: a lease that keeps a second run
// out, and a record of its progress to resume from.

#include <cstdint>
#include <string>

namespace rmig::state {

struct StateOptions {
  std::string prefix = "redis-migrate:";  // <prefix>lock, <prefix>run:<id>, <prefix>run:index
  bool lock = true;                       // take the lease (--no-lock: false)
  uint32_t lock_ttl_ms = 30'000;          // a lease not renewed for this long expires (a killed run's)
  std::string state_file;                 // keep the run record in this file instead of on the destination
  bool restart = false;                   // ignore an earlier run's checkpoint
  std::string command_line;               // redacted, for the lease value and the record
  uint32_t heartbeat_ms = 5'000;          // the record is saved at least this often while the run lives
};

}  // namespace rmig::state
