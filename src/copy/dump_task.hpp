#pragma once
// The first stage most tasks share: PTTL and DUMP of the source key, pipelined back to back, with the time
// the PTTL was sent. Vanished keys (PTTL -2 or DUMP nil) are counted here; a fetched key goes to fetched().
//
// In auto mode with a --big-key-threshold, the key's size is asked first (MEMORY USAGE, a few samples of a
// collection: O(1) for small keys), so a big key is never DUMPed whole: it goes to big_key() instead. A
// source node that refuses MEMORY (an ACL without it, a managed service) is sized with TYPE and the type's
// length command (STRLEN exactly; a collection at kElementEstimate bytes per element); one that refuses those
// too is not sized (its keys are DUMPed whole, as before the size check existed).

#include <string>
#include <vector>

#include "engine/engine.hpp"
#include "report/counters.hpp"

namespace rmig::copy {

class DumpTask : public engine::KeyTask {
 public:
  static constexpr uint8_t kPttl = engine::Engine::kFirstTaskOp;
  static constexpr uint8_t kDump = engine::Engine::kFirstTaskOp + 1;
  static constexpr uint8_t kSize = engine::Engine::kFirstTaskOp + 2;
  static constexpr uint8_t kSizeType = engine::Engine::kFirstTaskOp + 3;
  static constexpr uint8_t kLength = engine::Engine::kFirstTaskOp + 4;
  static constexpr uint8_t kObject = engine::Engine::kFirstTaskOp + 5;  // --keep-idle: OBJECT IDLETIME / FREQ
  static constexpr uint8_t kFirstOwnOp = engine::Engine::kFirstTaskOp + 6;  // for subclasses
  static constexpr uint8_t kStageFetch = 1;
  static constexpr uint8_t kStageSize = 2;
  static constexpr uint8_t kFirstOwnStage = 3;  // for subclasses
  // Bytes per element assumed for a collection when MEMORY USAGE is refused: about what a small element costs
  // in a hash table.
  static constexpr uint64_t kElementEstimate = 64;

  void attach(engine::Engine& engine) override;
  void start(uint32_t j) override;
  void give_up(uint32_t j) override { engine_->abandon(j); }

  // The big keys found (the first BigKeys::kMaxListed; Counters::big_keys counts them all).
  const report::BigKeys& big_keys() const noexcept { return big_keys_; }

 protected:
  void fetch(uint32_t j);
  // Sends the size check (or the fetch when there is none).
  void check_size(uint32_t j);
  // Handles the replies of the fetch and the size check; returns false for other ops.
  bool on_fetch_reply(uint32_t j, uint8_t op, resp::Reply& reply);
  // resend() for the stages of this class; false for others.
  bool resend_fetch(uint32_t j);
  // The key's payload is held by the job (Job::payload_view) and its PTTL known.
  virtual void fetched(uint32_t j) = 0;
  // A key above the threshold (job.type is set), recorded already; it was not DUMPed.
  virtual void big_key(uint32_t j, uint64_t size) = 0;
  // --keep-idle: the key's OBJECT IDLETIME (seconds) or OBJECT FREQ as read before its DUMP; -1 when not
  // read or refused.
  int64_t idle(uint32_t j) const noexcept { return idle_[j]; }

  engine::Engine* engine_ = nullptr;

 private:
  void on_size(uint32_t j, const redisReply* r);
  void on_size_type(uint32_t j, const redisReply* r);
  void on_length(uint32_t j, const redisReply* r);
  void found_big(uint32_t j, uint64_t size);
  // How a source node's keys are sized: MEMORY USAGE, TYPE + length, or not at all (both refused).
  static constexpr uint8_t kByMemory = 0, kByLength = 1, kUnsized = 2;
  uint8_t size_mode(uint32_t node) const noexcept;
  // `command` was refused as a command on job j's node: size its keys the next way (said once), and go on.
  void refused(uint32_t j, uint8_t mode, std::string_view command, std::string_view message);

  std::vector<std::string> fetch_error_;  // per job slot: the PTTL error, reported with the DUMP reply
  std::vector<uint64_t> size_;            // per job slot: MEMORY USAGE of a big key, while its TYPE is asked
  std::vector<uint8_t> size_mode_;        // per source node
  std::vector<int64_t> idle_;             // per job slot: see idle()
  bool idle_refused_ = false;             // OBJECT was refused once: said once, not sent again
  report::BigKeys big_keys_;
};

}  // namespace rmig::copy
