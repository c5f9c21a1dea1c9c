#pragma once
// What drive(), state::RunState and MetricsFeed use of a running engine: one Engine on the caller's loop
// (engine/engine.hpp), or an engine::Crew of one Engine per thread (engine/crew.hpp). Every method is called
// on the caller's loop thread; the callbacks (on_done, on_progress) run there too.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/key_source.hpp"
#include "engine/options.hpp"
#include "report/counters.hpp"
#include "util/result.hpp"

namespace rmig::engine {

struct EngineResult;
struct LiveStats;
enum class CutoverCause : uint8_t;

class Runner {
 public:
  virtual ~Runner() = default;

  // Starts the run; `on_done` runs once, when every key is handled or the run stopped.
  virtual void start(std::function<void()> on_done) = 0;
  // SIGINT/SIGTERM: the first stops scanning and lets keys in flight finish; the second abandons them.
  virtual void stop(int signal) = 0;
  // A live run: ends the live phase (Engine::cutover).
  virtual void cutover(CutoverCause cause) = 0;
  // Stops the run with this error (e.g. the destination's lock was lost).
  virtual void stop_run(Error error) = 0;
  // Evidence that the destination lost keys: every deletion stops (Engine::destination_lost_keys).
  virtual void destination_lost_keys(std::string why, bool eviction) = 0;
  // Called whenever a checkpoint cursor moves, so the caller can save it.
  virtual void on_progress(std::function<void()> callback) = 0;
  // Continues a previous run from its checkpoint (one entry per source node, in the sources' order); call
  // before start().
  virtual void resume(const std::vector<NodeProgress>& progress) = 0;
  // Each source node's progress, in the sources' order.
  virtual std::vector<NodeProgress> checkpoint() const = 0;

  virtual report::Counters totals() const = 0;
  virtual std::vector<report::NodeCounters> node_totals() const = 0;
  virtual std::size_t in_flight() const = 0;
  virtual bool paused_by_destination() const = 0;
  virtual bool rate_limited() const = 0;
  virtual std::size_t bytes_held() const = 0;
  virtual std::size_t links_down() const = 0;
  virtual uint64_t evicted() const = 0;
  virtual LiveStats live_stats() const = 0;
  virtual const CopyOptions& options() const = 0;
  // After on_done: the counters, errors and how the run ended.
  virtual EngineResult take_result() = 0;

 protected:
  Runner() = default;
  Runner(const Runner&) = default;
  Runner& operator=(const Runner&) = default;
};

}  // namespace rmig::engine
