#pragma once
// The restore stage: RESTORE of the payload the fetch stage holds, under the key's destination name, with
// its TTL as an absolute time on the destination node's clock (ABSTTL) when that clock is known, and the
// conflict policy for a target that exists (BUSYKEY): skip, replace, fail (stops the run) or merge (the
// payload restored under a temporary name in the target's slot, then folded in by the merge script).
//
// A string the fetch stage read as its value (Job::raw_string, CopyOptions::string_writes) is written with
// `SET k v [PXAT ms | PX ms] [NX]` instead: the same key, value and expiry as RESTORE [ABSTTL] [REPLACE]
// would make, without an RDB payload built and checked on both sides; its nil (NX: the key exists) is
// RESTORE's BUSYKEY. Where a payload is needed (a merge, --keep-idle's IDLETIME / FREQ) it is built first;
// a SET the destination refuses (unknown, or not allowed to the user or on the key) switches the stage to
// RESTORE.
//
// Contracts:
// - A possible duplicate (SCAN returned the key twice) under the replace policy is first restored without
//   REPLACE: BUSYKEY then means this run's own copy, restored again with REPLACE and counted a duplicate.
// - A RESTORE sent again after its connection dropped (Job::resent), or one of a resumed run's keys its
//   checkpoint says an earlier attempt wrote, that meets BUSYKEY compares the destination's value with the
//   payload (DUMP, then the restore check script): equal is this run's copy (counted copied, with the copy's
//   expiry kept for --cleanup: copy_expiry()), otherwise the policy decides.
// - In place with rename rules that may chain (chain_target()), a target that is another selected key's old
//   name is never written over nor merged into: no REPLACE, and an existing one fails the key.
// - What the stage settles it counts (copied, duplicates, merged, skipped, conflicts, failures). What it
//   cannot settle (the payload refused, a merge that must start over on the rewrite path) is returned as a
//   Step for the task.
// - A live run's job (engine::Job::live; the run's policy is replace): the key is counted `recopied` instead
//   of copied and is never probed as a duplicate (its destination copy is an earlier one, not this pass's).
//   A key whose TTL ran out in flight is returned as kGone (its destination name must go, not stay as an
//   older copy). kResync sends scripts::restore_unless_equal instead of RESTORE: a key found equal is counted
//   `unchanged` and nothing is written.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "copy/op_range.hpp"
#include "engine/engine.hpp"
#include "scripts/script.hpp"

namespace rmig::copy {

class RestoreStage {
 public:
  static constexpr uint8_t kOpCount = 7;

  // What a reply leads to. kWait: more replies are due, or the stage ended the job itself.
  enum class Step : uint8_t {
    kWait,
    kWritten,  // the key is on the destination, counted (copied, duplicate or merged)
    kRefused,  // auto mode: the destination cannot read the payload (message(): its answer)
    kTooLong,  // auto mode: the payload is longer than the destination's proto-max-bulk-len
    kRewrite,  // a merge of the rewrite path's temporary key found it or its target gone: rewrite again
    kGone,     // a live run's key expired in flight: its destination name is to be deleted
  };

  // The expiry of a copy an earlier attempt made, read on the destination when it was recognised.
  struct CopyExpiry {
    bool known = false;
    int64_t pttl = 0;
    std::chrono::steady_clock::time_point read_at{};
  };

  explicit RestoreStage(OpRange ops) noexcept : ops_(ops) {}
  void attach(engine::Engine& engine);
  bool owns(uint8_t op) const noexcept { return ops_.owns(op); }

  // A new job in slot j: its state from the previous one goes (once per job, before anything else).
  void reset(uint32_t j) { state_[j] = State{}; }
  // RESTOREs job j's held payload (Job::payload_view, Job::pttl from Job::sent_at; `idle`: --keep-idle's
  // OBJECT value, -1 for none).
  Step start(uint32_t j, int64_t idle);
  // Merges the rewrite path's complete temporary key `temp` into the existing target (it deletes `temp`).
  void merge_temp(uint32_t j, std::string temp);
  // The rewrite path found the target existing and kept it (`field_ttls`: the key is a hash with field
  // TTLs): a duplicate, a conflict, or the policy's skip or fail. Ends the job.
  void exists(uint32_t j, bool field_ttls);
  Step resend(uint32_t j);
  Step on_reply(uint32_t j, uint8_t op, resp::Reply reply);

  const CopyExpiry& copy_expiry(uint32_t j) const noexcept { return state_[j].copy; }
  const std::string& message(uint32_t j) const noexcept { return state_[j].message; }
  // Job j's new name is the old name of a key the rules rename, in place: it must not be overwritten.
  bool chain_target(uint32_t j) const;

 private:
  enum Op : uint8_t { kRestore, kCheckBusy, kCheckBusyTtl, kCheckRestored, kRestoreTemp, kMerge, kResync };
  enum class Phase : uint8_t { kRestore, kRestoreTemp, kMerge };

  struct State {
    Phase phase = Phase::kRestore;
    int64_t idle = -1;
    bool probing = false;              // replace mode, maybe duplicate: first RESTORE without REPLACE
    bool duplicate_confirmed = false;  // the probe hit BUSYKEY: the next OK is the duplicate's
    bool merge_eval = false;           // the destination's script cache does not have the merge script
    bool resync_eval = false;          // ... the resync script (restore_unless_equal)
    std::string merge_temp;            // the rewrite path's temporary key being merged (empty: ours)
    CopyExpiry copy;
    std::string message;  // the destination's answer behind kRefused
  };

  uint8_t op(Op o) const noexcept { return ops_.at(o); }
  Step apply(uint32_t j);
  Step on_restore(uint32_t j, const redisReply* r);
  // A string held as its value (Job::raw_string) gets its RDB payload, for a RESTORE or a merge. False: out
  // of memory (the key failed).
  bool materialize(uint32_t j);
  Step on_resync(uint32_t j, const redisReply* r);
  // Sends a command carrying job j's payload at args[payload_at] (referenced when it is large).
  void send_payload(uint32_t j, const std::string_view* args, std::size_t argc, std::size_t payload_at,
                    uint8_t code);
  Step on_check_busy(uint32_t j, const redisReply* r);
  Step restored(uint32_t j);
  // The key exists on the destination: the conflict policy decides (skip, merge, fail).
  void existing(uint32_t j);
  void field_ttl_conflict(uint32_t j);
  std::string temp_name(uint32_t j) const;
  void restore_temp(uint32_t j);
  void on_restore_temp(uint32_t j, const redisReply* r);
  void merge(uint32_t j);
  Step on_merge(uint32_t j, const redisReply* r);

  OpRange ops_;
  engine::Engine* engine_ = nullptr;
  scripts::ScriptCommands scripts_;  // EVALSHA / UNLINK on the destination, as probed at start
  // SET refused by the destination during the run (an ACL selector allowing it on the tool's own keys only):
  // strings are written with RESTORE from then on.
  bool set_refused_ = false;
  bool chains_ = false;  // in place, with rules whose outputs other rules may rename (RenameRules::may_chain)
  std::vector<State> state_;  // per job slot
};

}  // namespace rmig::copy
