#pragma once
// The cleanup stage (--cleanup): once a key's copy is on the destination, a Lua compare-and-delete on the
// source deletes the key only if it still holds the value that was copied, with the copy's expiry. It waits
// at the engine's deletion gate first (Engine::deletion_gate), so no key is deleted after an eviction on the
// destination was seen, nor before a reading of evicted_keys taken after its copy.
//
// Every outcome is counted here and ends the job: deleted, cleanup_kept (changed, gone, or deletions
// stopped), cleanup_failed (an error, or no answer before the run stopped: give_up).

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "copy/op_range.hpp"
#include "engine/engine.hpp"
#include "scripts/script.hpp"

namespace rmig::copy {

class CleanupStage {
 public:
  static constexpr uint8_t kOpCount = 1;

  // What the copy holds, to compare the source key with.
  struct Copy {
    std::string sha;    // SHA1 of the DUMP payload copied
    int64_t pttl = -1;  // the remaining TTL the copy was given (< 0: persistent) ...
    std::chrono::steady_clock::time_point read_at{};  // ... read at this instant
  };

  explicit CleanupStage(OpRange ops) noexcept : ops_(ops) {}
  void attach(engine::Engine& engine);
  bool owns(uint8_t op) const noexcept { return ops_.owns(op); }
  // A new job in slot j: its state from the previous one goes (once per job, before start).
  void reset(uint32_t j) { state_[j] = State{}; }
  // Deletes job j's source key if it still holds `copy`.
  void start(uint32_t j, Copy copy);
  // The gate again (a job parked there comes back here), or the script again.
  void resend(uint32_t j) { send(j); }
  void on_reply(uint32_t j, resp::Reply reply);
  // The run stops before the script answered: the key is copied, its deletion's outcome unknown.
  void give_up(uint32_t j);

 private:
  struct State {
    Copy copy;
    bool use_eval = false;  // the source's script cache does not have the script
  };
  void send(uint32_t j);

  OpRange ops_;
  engine::Engine* engine_ = nullptr;
  scripts::ScriptCommands scripts_;  // EVALSHA / UNLINK on the source, as probed at start
  std::vector<State> state_;         // per job slot
};

}  // namespace rmig::copy
