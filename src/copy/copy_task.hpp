#pragma once
// Copying one key: PTTL + DUMP on the source, RESTORE on the destination (with its TTL as an absolute time on
// the destination's clock), then with --cleanup a compare-and-delete on the source.
//
// The rewrite path (copy/rewrite.hpp) takes over a key when RESTORE refuses its payload (a destination older
// than the source), when the key is above --big-key-threshold, and for every key with --mode rewrite. After
// the first refused payload of a source node, that node's later keys go straight to the rewrite path.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "copy/dump_task.hpp"
#include "copy/rewrite.hpp"

namespace rmig::copy {

class CopyTask final : public DumpTask, private Rewriter::Owner {
 public:
  void attach(engine::Engine& engine) override;
  void start(uint32_t j) override;
  void on_reply(uint32_t j, uint8_t op, resp::Reply reply) override;
  void resend(uint32_t j) override;
  void give_up(uint32_t j) override;
  void room() override { rewriter_.wake(); }

  // The compare-and-delete script run on the source by --cleanup and the cleanup command, sent through
  // Script. Arguments: 1 key (the source key); the SHA1 of the DUMP payload that was copied, the remaining
  // TTL in ms the copy was given (-1: persistent) and cleanup_elapsed_ms() of the moment that TTL was read.
  // It deletes the key (1) only if its value still hashes to that SHA1 and its expiry is the copy's (both
  // persistent, or absolute expiries within kExpiryToleranceMs); 0: kept, it changed; -1: gone.
  static const scripts::Script& cleanup_script();
  static int64_t cleanup_elapsed_ms(std::chrono::steady_clock::time_point read_at) noexcept;
  static constexpr int64_t kExpiryToleranceMs = 1000;

 private:
  static constexpr uint8_t kRestore = kFirstOwnOp;
  static constexpr uint8_t kCheckBusy = kFirstOwnOp + 1;
  static constexpr uint8_t kCleanup = kFirstOwnOp + 2;
  static constexpr uint8_t kRestoreTemp = kFirstOwnOp + 3;
  static constexpr uint8_t kMerge = kFirstOwnOp + 4;
  static constexpr uint8_t kCheckRestored = kFirstOwnOp + 5;
  static constexpr uint8_t kCheckBusyTtl = kFirstOwnOp + 6;
  static constexpr uint8_t kStageApply = kFirstOwnStage;
  static constexpr uint8_t kStageCheck = kFirstOwnStage + 1;
  static constexpr uint8_t kStageCleanup = kFirstOwnStage + 2;
  static constexpr uint8_t kStageRestoreTemp = kFirstOwnStage + 3;
  static constexpr uint8_t kStageMerge = kFirstOwnStage + 4;
  static constexpr uint8_t kStageRewrite = kFirstOwnStage + 5;
  static constexpr uint8_t kRewriteFirstOp = kFirstOwnOp + 7;  // Rewriter::kOpCount codes from here

  struct State {
    bool probing = false;              // replace mode, maybe duplicate: first RESTORE without REPLACE
    bool duplicate_confirmed = false;  // the probe hit BUSYKEY: the next OK is the duplicate's
    bool use_eval = false;             // the source's script cache does not have the cleanup script
    bool merge_eval = false;           // the destination's script cache does not have the merge script
    std::string payload_sha;           // SHA1 of the DUMP payload of a key that fell back to the rewrite path
    bool rewrote = false;              // the key took the rewrite path
    std::string merge_temp;            // the rewrite path's complete temporary key, merged into the target
    // A key found already on the destination and recognised as this run's copy: the expiry that copy has
    // (its PTTL, read at copy_read_at), which --cleanup compares the source key with instead of the TTL
    // this attempt read (an earlier attempt gave the copy its expiry).
    bool copy_ttl_known = false;
    int64_t copy_pttl = 0;
    std::chrono::steady_clock::time_point copy_read_at{};
  };

  void fetched(uint32_t j) override;
  void apply(uint32_t j);
  void on_restore(uint32_t j, resp::Reply reply);
  void on_check_busy(uint32_t j, resp::Reply reply);
  void on_check_restored(uint32_t j, resp::Reply reply);
  // --on-conflict merge meets an existing key for a hash with field TTLs: a conflict.
  void field_ttl_conflict(uint32_t j);
  void restored(uint32_t j);
  // The key exists on the destination: the conflict policy decides (skip, merge, fail).
  void existing(uint32_t j);
  void restore_temp(uint32_t j);
  void on_restore_temp(uint32_t j, resp::Reply reply);
  void merge(uint32_t j);
  void on_merge(uint32_t j, resp::Reply reply);
  std::string temp_name(uint32_t j) const;
  void cleanup(uint32_t j);
  void on_cleanup(uint32_t j, resp::Reply reply);
  void big_key(uint32_t j, uint64_t size) override;
  // `size_hint`: the key's size when known (a big key's, a refused payload's length), else 0.
  void rewrite(uint32_t j, uint64_t size_hint = 0);
  // Rewriter::Owner
  void rewritten(uint32_t j, uint64_t bytes, bool duplicate) override;
  bool take_existing(uint32_t j, const std::string& temp) override;
  void target_exists(uint32_t j) override;
  bool may_replace(uint32_t j) override { return !chain_target(j); }
  // The key is on the destination (copied, rewritten or merged): --cleanup's stage follows, or the end.
  void written(uint32_t j);

  std::vector<State> state_;
  Rewriter rewriter_{*this, kRewriteFirstOp};
  scripts::ScriptCommands source_scripts_;       // EVALSHA / UNLINK on the source, as probed at start
  scripts::ScriptCommands destination_scripts_;  // and on the destination
  std::vector<uint8_t>
      rewrite_node_;  // per source node: its payloads are refused, keys go straight to rewrite
  bool warned_cleanup_ = false;
  // In place, with rules whose outputs other rules may rename (RenameRules::may_chain()).
  bool chains_ = false;
  // Job j's new name is the old name of a key the rules rename, in place: it must not be overwritten.
  bool chain_target(uint32_t j) const;
};

}  // namespace rmig::copy
