#pragma once
// A slot of the window: a key on its way. `Job` is what a task sees and uses; `JobSlot` adds the engine's own
// bookkeeping (which batch the key came from, where its commands go, its window and pacing charges, its
// retries), and reset() starts both afresh for a new key.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "engine/pacing.hpp"
#include "engine/retry_policy.hpp"
#include "resp/reply.hpp"
#include "select/selector.hpp"

namespace rmig::engine {

// What a job does with its key in a live run (--live). kNone: the bulk copy's usual work.
//   kApply:  a change was notified: read the source key again and copy it (replacing the destination's
//            copy); when the source key no longer exists, delete its destination name.
//   kResync: as kApply, but the destination copy is compared first and written only when it differs
//            (counted `unchanged` when equal).
//   kOrphan: the key name comes from the destination (renamed back): when the source key does not exist,
//            delete the destination name; when it exists, nothing (the source side's resync covers it).
enum class LiveMode : uint8_t { kNone, kApply, kResync, kOrphan };

struct Job {
  std::string key;    // the source key
  std::string type;   // the key's type when the selection had to ask (TYPE), else empty
  uint32_t node = 0;  // source node index (counters, SCAN)
  uint8_t stage = 0;  // the task's own state
  uint16_t generation = 0;
  bool active = false;
  bool maybe_duplicate = false;  // the seen-filter says SCAN may have returned this key before
  // The command of the current stage may have run before its connection dropped (set by the engine when it
  // parks the job; a task clears it when it starts a new stage).
  bool resent = false;
  // A resumed run: the previous run may have written this key already (one of the first keys after the
  // checkpoint's cursor). Unlike `resent`, it holds for the whole job.
  bool recheck = false;
  LiveMode live = LiveMode::kNone;  // set by the engine from the key source (QueuedKey::mode)
  // Fetched from the source (most tasks read PTTL and DUMP).
  int64_t pttl = 0;
  std::chrono::steady_clock::time_point sent_at{};  // when PTTL was sent
  resp::Reply payload;                              // the DUMP reply
  bool built = false;  // the payload was built from a string's value (copy/fetch_stage.hpp), not DUMPed
  // Built, and still the string's value itself (GETRANGE's reply), written with SET; RestoreStage builds the
  // RDB payload from it where one is needed (a merge, a RESTORE with IDLETIME).
  bool raw_string = false;
  std::shared_ptr<redisReply> shared;  // the same, once a write references it
  std::size_t held = 0;                // payload bytes counted in the window
  // The destination name the selection gave the key (set by the engine; tasks read target() and rule()).
  select::Naming naming;

  std::string_view payload_view() const noexcept {
    const redisReply* r = shared ? shared.get() : payload.get();
    if (r == nullptr) return {};
    return {r->str, r->len};
  }
  // The destination key: the source key renamed by the selection's rules (the same key without rules).
  const std::string& target() const noexcept { return naming.renamed ? naming.renamed_to : key; }
  // The rename rule that applied, or -1.
  int rule() const noexcept { return naming.rule; }
};

inline constexpr uint32_t kNoLink = ~0u;

// The engine's part of a slot.
struct JobSlot {
  Job job;
  uint64_t batch = 0;             // the key source's batch the key came from
  uint32_t extra = kNoLink;       // the key's live key source (engine/live.hpp); kNoLink: its node's SCAN
  bool typing = false;            // waiting for TYPE (selection by type), before the task starts
  uint32_t read_link = kNoLink;   // where source reads go (a redirect may change it)
  uint32_t write_link = kNoLink;  // where source writes (cleanup) go
  uint32_t dst_link = kNoLink;    // the destination node of the last destination command
  uint32_t ask_link = kNoLink;    // -ASK target of the job's destination commands (each after ASKING)
  bool read_ask = false;          // source-side -ASK: ASKING before each of the job's reads
  bool write_ask = false;         // source-side -ASK: ASKING before each of the job's writes
  std::size_t estimate = 0;       // window bytes charged at dispatch until the payload's size is known
  Pacing::Charge pacing;          // --max-bytes-per-sec charge
  RetryState retry;

  // A new key in the slot: every field of both parts but the key, its naming (the selector's, set just
  // before) and the generation, which moves on (replies still on their way for the slot are stale), goes back
  // to its initial value.
  void reset(uint32_t node, uint64_t from_batch, uint32_t read, uint32_t write) noexcept {
    job.type.clear();
    job.node = node;
    job.stage = 0;
    ++job.generation;
    job.active = true;
    job.maybe_duplicate = false;
    job.resent = false;
    job.recheck = false;
    job.live = LiveMode::kNone;
    job.pttl = 0;
    job.sent_at = {};
    job.payload.reset();
    job.built = false;
    job.raw_string = false;
    job.shared.reset();
    job.held = 0;
    batch = from_batch;
    extra = kNoLink;
    typing = false;
    read_link = read;
    write_link = write;
    dst_link = kNoLink;
    ask_link = kNoLink;
    read_ask = false;
    write_ask = false;
    estimate = 0;
    pacing = {};
    retry = {};
  }
};

}  // namespace rmig::engine
