#pragma once
// Copying one key: PTTL + DUMP on the source, RESTORE on the destination (with its TTL as an absolute time on
// the destination's clock), then with --cleanup a compare-and-delete on the source.

#include <string>
#include <vector>

#include "copy/dump_task.hpp"

namespace rmig::copy {

class CopyTask final : public DumpTask {
 public:
  void attach(Engine& engine) override;
  void on_reply(uint32_t j, uint8_t op, resp::Reply reply) override;
  void resend(uint32_t j) override;
  void give_up(uint32_t j) override;

  // The compare-and-delete script run on the source by --cleanup, and its SHA1 for EVALSHA.
  static const char* cleanup_script() noexcept;
  static const std::string& cleanup_sha() noexcept;

 private:
  static constexpr uint8_t kRestore = kFirstOwnOp;
  static constexpr uint8_t kCheckBusy = kFirstOwnOp + 1;
  static constexpr uint8_t kCleanup = kFirstOwnOp + 2;
  static constexpr uint8_t kRestoreTemp = kFirstOwnOp + 3;
  static constexpr uint8_t kMerge = kFirstOwnOp + 4;
  static constexpr uint8_t kCheckRestored = kFirstOwnOp + 5;
  static constexpr uint8_t kStageApply = 2;
  static constexpr uint8_t kStageCheck = 3;
  static constexpr uint8_t kStageCleanup = 4;
  static constexpr uint8_t kStageRestoreTemp = 5;
  static constexpr uint8_t kStageMerge = 6;

  struct State {
    bool probing = false;              // replace mode, maybe duplicate: first RESTORE without REPLACE
    bool duplicate_confirmed = false;  // the probe hit BUSYKEY: the next OK is the duplicate's
    bool use_eval = false;             // the source's script cache does not have the cleanup script
    bool merge_eval = false;           // the destination's script cache does not have the merge script
  };

  void fetched(uint32_t j) override;
  void apply(uint32_t j);
  void on_restore(uint32_t j, resp::Reply reply);
  void on_check_busy(uint32_t j, resp::Reply reply);
  void on_check_restored(uint32_t j, resp::Reply reply);
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

  std::vector<State> state_;
};

}  // namespace rmig::copy
