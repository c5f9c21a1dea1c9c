#pragma once
// Copying one key, composed of stages: the fetch (PTTL + DUMP on the source, copy/fetch_stage.hpp), the
// restore (RESTORE on the destination with the conflict policy and merges, copy/restore_stage.hpp), and with
// --cleanup the compare-and-delete on the source (copy/cleanup_stage.hpp).
//
// The rewrite path (copy/rewrite/rewriter.hpp) takes over a key when RESTORE refuses its payload (a
// destination older than the source), when the key is above --big-key-threshold, and for every key with
// --mode rewrite. After the first refused payload of a source node, that node's later keys go straight to the
// rewrite path. A source key copied by the rewrite path without a DUMP is not deleted by --cleanup (nothing
// to compare it with): counted cleanup_kept.
//
// A live run (--live, engine::Job::live; its conflict policy is replace):
// - kApply: copied as above, replacing the destination's copy, counted `recopied` (bytes as a copy); a key
//   gone from the source (vanished, or expired in flight) has its destination name deleted
//   (copy/live_stage.hpp: `removed`).
// - kResync: as kApply, but the dump path compares first (scripts::restore_unless_equal): equal is counted
//   `unchanged` and nothing is written. A key on the rewrite path (big keys, refused payloads, --mode
//   rewrite) is rewritten without comparing: a resync rewrites big keys.
// - kOrphan: EXISTS on the source; gone -> its destination name is deleted, else nothing (live_stage.hpp).

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "copy/cleanup_stage.hpp"
#include "copy/fetch_stage.hpp"
#include "copy/live_stage.hpp"
#include "copy/op_range.hpp"
#include "copy/restore_stage.hpp"
#include "copy/rewrite/rewriter.hpp"

namespace rmig::copy {

class CopyTask final : public engine::KeyTask {
 public:
  void attach(engine::Engine& engine) override;
  void start(uint32_t j) override;
  void on_reply(uint32_t j, uint8_t op, resp::Reply reply) override;
  void resend(uint32_t j) override;
  void give_up(uint32_t j) override;
  void room() override { rewriter_.wake(); }

  // The big keys found (see FetchStage).
  const report::BigKeys& big_keys() const noexcept { return fetch_.big_keys(); }

 private:
  static constexpr OpRange kFetchOps = first_ops(FetchStage::kOpCount);
  static constexpr OpRange kRestoreOps = kFetchOps.next(RestoreStage::kOpCount);
  static constexpr OpRange kCleanupOps = kRestoreOps.next(CleanupStage::kOpCount);
  static constexpr OpRange kRewriteOps = kCleanupOps.next(Rewriter::kOpCount);
  static constexpr OpRange kLiveOps = kRewriteOps.next(LiveStage::kOpCount);
  static_assert(ops_fit({kFetchOps, kRestoreOps, kCleanupOps, kRewriteOps, kLiveOps}));

  // Job::stage: which stage job j is in.
  enum Stage : uint8_t { kStageFetch = 1, kStageRestore, kStageRewrite, kStageCleanup, kStageLive };

  struct State {
    bool rewrote = false;     // the key took the rewrite path
    std::string payload_sha;  // SHA1 of the DUMP payload of a key that then took the rewrite path
  };

  void fetch_step(uint32_t j, FetchStage::Step step);
  void restore_step(uint32_t j, RestoreStage::Step step);
  void rewrite_step(uint32_t j, Rewriter::Step step);
  // `size_hint`: the key's size when known (a big key's, a refused payload's length), else 0.
  void rewrite(uint32_t j, uint64_t size_hint = 0);
  // The key is on the destination (copied, rewritten or merged): --cleanup's stage follows, or the end.
  void written(uint32_t j);
  // A live run's key is gone from the source: its destination name is deleted.
  void gone(uint32_t j);

  engine::Engine* engine_ = nullptr;
  FetchStage fetch_{kFetchOps};
  RestoreStage restore_{kRestoreOps};
  CleanupStage cleanup_{kCleanupOps};
  Rewriter rewriter_{kRewriteOps};
  LiveStage live_{kLiveOps};
  std::vector<State> state_;  // per job slot
  std::vector<uint8_t>
      rewrite_node_;  // per source node: its payloads are refused, keys go straight to rewrite
  bool warned_cleanup_ = false;
};

}  // namespace rmig::copy
