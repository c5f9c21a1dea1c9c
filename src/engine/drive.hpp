#pragma once
// The loop every command runs its engine in: start it, print progress while it works, stop it on SIGINT or
// SIGTERM, cut a live run over on SIGUSR1 (other runs log it and go on), and return its result when it ends.
// A live run's progress line in its live phase shows pending keys, lag, changes/s, keys re-copied and
// deleted, and resyncs (Engine::live_stats).

#include <cstdint>
#include <functional>
#include <optional>

#include "engine/engine.hpp"
#include "net/loop.hpp"

namespace rmig::engine {

enum class ProgressStyle : uint8_t {
  kCopy,   // copied, skipped, ... and the destination's back-pressure
  kCheck,  // verify and cleanup: checked, equal, different, ...
};

// Runs `engine` (one Engine, or an engine::Crew of one per thread) to its end. `keys`: the expected number of
// keys, for the ETA. `progress_interval_ms`: on a terminal a bar redrawn about twice a second, elsewhere one
// line per interval (0: none). A loop that runs dry before the engine ends (a bug) stops it, with the
// result's fatal error saying so.
EngineResult drive(net::Loop& loop, Runner& engine, uint64_t keys, uint32_t progress_interval_ms,
                   ProgressStyle style);

// Runs `loop` until `done` is set. A loop that runs dry first (nothing left that could set it: a bug) calls
// `stop` and returns the error that says so, instead of spinning.
std::optional<Error> run_until_done(net::Loop& loop, const bool& done, const std::function<void()>& stop);

}  // namespace rmig::engine
