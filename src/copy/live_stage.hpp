#pragma once
// The live stage (--live): what a live run's job does besides copying (engine::Job::live).
//
//   remove(j): the key is gone from the source (vanished, or expired in flight): its destination name
//     (Job::target) is deleted with the destination's delete command (UNLINK, DEL where UNLINK is refused:
//     scripts::delete_command). Reply 1 counts `removed`; reply 0 (the destination had no copy either) counts
//     `vanished`, except after a re-send (Job::resent), where the first send most likely deleted it: removed.
//   orphan(j): a kOrphan job (a destination name, renamed back to its source key): EXISTS on the source (TYPE
//     with --type: a source key of a type left out is not selected either); gone removes the destination name
//     as above; present leaves it: the source side's resync covers that key, so the job counts nothing (its
//     `scanned` is taken back). A name outside the selection's one --match pattern (the source's SCAN MATCH,
//     which the selector leaves to the server) is not checked at all: it counts nothing and is never deleted.
//
// Every outcome is counted here and ends the job; errors go through the engine's handling, else fail the key.

#include <cstdint>
#include <vector>

#include "copy/op_range.hpp"
#include "engine/engine.hpp"
#include "scripts/script.hpp"

namespace rmig::copy {

class LiveStage {
 public:
  static constexpr uint8_t kOpCount = 2;

  explicit LiveStage(OpRange ops) noexcept : ops_(ops) {}
  void attach(engine::Engine& engine);
  bool owns(uint8_t op) const noexcept { return ops_.owns(op); }
  // A new job in slot j: its state from the previous one goes (once per job, before start).
  void reset(uint32_t j) { state_[j] = Phase::kIdle; }
  // Deletes job j's destination name.
  void remove(uint32_t j);
  // Job j is a kOrphan check: EXISTS on the source, then remove() when it is gone.
  void orphan(uint32_t j);
  // Sends the current step of job j again (after a reconnection, a redirect or a retry).
  void resend(uint32_t j);
  void on_reply(uint32_t j, uint8_t op, resp::Reply reply);

 private:
  enum Op : uint8_t { kExists, kRemove };
  enum class Phase : uint8_t { kIdle, kExists, kRemove };

  uint8_t op(Op o) const noexcept { return ops_.at(o); }
  void send_exists(uint32_t j);
  void send_remove(uint32_t j);
  void on_exists(uint32_t j, const redisReply* r);
  void on_remove(uint32_t j, const redisReply* r);

  OpRange ops_;
  engine::Engine* engine_ = nullptr;
  scripts::ScriptCommands scripts_;  // UNLINK or DEL on the destination, as probed at start
  std::vector<Phase> state_;         // per job slot
};

}  // namespace rmig::copy
