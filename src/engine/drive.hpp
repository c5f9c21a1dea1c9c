#pragma once
// The loop every command runs its engine in: start it, print progress while it works, stop it on SIGINT or
// SIGTERM, and return its result when it ends.

#include <cstdint>

#include "engine/engine.hpp"
#include "net/loop.hpp"

namespace rmig::engine {

enum class ProgressStyle : uint8_t {
  kCopy,   // copied, skipped, ... and the destination's back-pressure
  kCheck,  // verify and cleanup: checked, equal, different, ...
};

// Runs `engine` to its end. `keys`: the expected number of keys, for the ETA. `progress_interval_ms`: on a
// terminal a bar redrawn about twice a second, elsewhere one line per interval (0: none). A loop that runs
// dry before the engine ends (a bug) stops it, with the result's fatal error saying so.
EngineResult drive(net::Loop& loop, Engine& engine, uint64_t keys, uint32_t progress_interval_ms,
                   ProgressStyle style);

}  // namespace rmig::engine
