#pragma once
// The state a writing run (copy, cleanup) keeps around its engine: the destination's lease, and the run
// record it resumes from and saves its progress to.
//
//   RunState state(loop, cmd, "copy");
//   state.begin(sources)           lease taken, earlier record read, this run's record written
//   Engine engine(...);
//   state.attach(engine)           resumed from the checkpoint; progress saved as it moves; lease renewed
//   ... run ...
//   state.end(report, exit, engine.checkpoint())   final record with the outcome; lease released
//
// A dry run keeps nothing: begin() leaves the state inactive and every other call does nothing.
//
// A live run (options.live.enabled) also: marks its lease as live, saves its record about every second with
// where the live phase stands (RunRecord::live, for `status`), reads the cut-over request key every
// kCutoverPollMs (state/cutover.hpp) and calls Engine::cutover(kCommand) for a request meant for its lease,
// and answers every request it took when it ends (before the lease is released).

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine.hpp"
#include "engine/run_spec.hpp"
#include "net/loop.hpp"
#include "report/run_report.hpp"
#include "state/checkpoint.hpp"
#include "state/lock.hpp"
#include "state/state_store.hpp"

namespace rmig::state {

class RunState {
 public:
  // `command`: "copy" or "cleanup" (part of the fingerprint).
  RunState(net::Loop& loop, const engine::RunSpec& cmd, std::string command);
  ~RunState();
  RunState(const RunState&) = delete;
  RunState& operator=(const RunState&) = delete;

  // Before the engine exists. Fails with ExitCode::kLocked when another run holds the lease.
  Status begin(const std::vector<engine::SourceNode>& sources);
  // Before engine.start().
  void attach(engine::Runner& engine);
  // After the engine finished.
  void end(const report::RunReport& report, ExitCode exit_code, std::vector<engine::NodeProgress> progress);

  bool active() const noexcept { return active_; }
  bool resumed() const noexcept { return resumed_; }
  // The report's "run" section: id, where the record is, whether and from where it resumed; for a live run
  // also `cutover_requests`, the ids of the cut-over requests it took (answered by end(), or "verifying").
  nlohmann::json report_section() const;

 private:
  void on_heartbeat();
  void on_live_poll();
  void take_request(std::string_view value);
  bool live() const noexcept { return cmd_.options.live.enabled; }
  void request_save();
  RunRecord snapshot() const;
  void decide_resume(const RunRecord& old, const std::vector<engine::SourceNode>& sources);

  net::Loop& loop_;
  const engine::RunSpec& cmd_;
  std::string command_;
  bool active_ = false;
  std::unique_ptr<StateClient> client_;
  std::unique_ptr<Lease> lease_;
  std::unique_ptr<RecordStore> store_;
  RunRecord record_;
  std::vector<engine::NodeProgress> resume_;  // in the sources' order
  bool resumed_ = false;
  report::Counters resumed_from_;
  engine::Runner* engine_ = nullptr;
  net::Timer heartbeat_;
  bool saving_ = false;
  bool dirty_ = false;
  bool ended_ = false;
  // live runs
  net::Timer live_poll_;
  std::unique_ptr<StateLink> live_link_;
  bool polling_ = false;
  uint32_t poll_ticks_ = 0;
  std::vector<std::string> cutover_requests_;  // the ids of the requests taken
};

}  // namespace rmig::state
