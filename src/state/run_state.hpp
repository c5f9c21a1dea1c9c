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

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "copy/copy_command.hpp"
#include "engine/engine.hpp"
#include "net/loop.hpp"
#include "report/run_report.hpp"
#include "state/checkpoint.hpp"
#include "state/lock.hpp"
#include "state/state_store.hpp"

namespace rmig::state {

class RunState {
 public:
  // `command`: "copy" or "cleanup" (part of the fingerprint).
  RunState(net::Loop& loop, const copy::CopyCommand& cmd, std::string command);
  ~RunState();
  RunState(const RunState&) = delete;
  RunState& operator=(const RunState&) = delete;

  // Before the engine exists. Fails with ExitCode::kLocked when another run holds the lease.
  Status begin(const std::vector<engine::SourceNode>& sources);
  // Before engine.start().
  void attach(engine::Engine& engine);
  // After the engine finished.
  void end(const report::RunReport& report, ExitCode exit_code, std::vector<engine::NodeProgress> progress);

  bool active() const noexcept { return active_; }
  bool resumed() const noexcept { return resumed_; }
  // The report's "run" section: id, where the record is, whether and from where it resumed.
  nlohmann::json report_section() const;

 private:
  static void on_heartbeat(void* self);
  void request_save();
  RunRecord snapshot() const;
  void decide_resume(const RunRecord& old, const std::vector<engine::SourceNode>& sources);

  net::Loop& loop_;
  const copy::CopyCommand& cmd_;
  std::string command_;
  bool active_ = false;
  std::unique_ptr<StateClient> client_;
  std::unique_ptr<Lease> lease_;
  std::unique_ptr<RecordStore> store_;
  RunRecord record_;
  std::vector<engine::NodeProgress> resume_;  // in the sources' order
  bool resumed_ = false;
  report::Counters resumed_from_;
  engine::Engine* engine_ = nullptr;
  net::Timer heartbeat_;
  bool saving_ = false;
  bool dirty_ = false;
  bool ended_ = false;
};

}  // namespace rmig::state
