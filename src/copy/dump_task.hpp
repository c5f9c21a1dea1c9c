#pragma once
// The first stage most tasks share: PTTL and DUMP of the source key, pipelined back to back, with the time
// the PTTL was sent. Vanished keys (PTTL -2 or DUMP nil) are counted here; a fetched key goes to fetched().

#include "copy/engine.hpp"

namespace rmig::copy {

class DumpTask : public KeyTask {
 public:
  static constexpr uint8_t kPttl = Engine::kFirstTaskOp;
  static constexpr uint8_t kDump = Engine::kFirstTaskOp + 1;
  static constexpr uint8_t kFirstOwnOp = Engine::kFirstTaskOp + 2;  // for subclasses
  static constexpr uint8_t kStageFetch = 1;

  void attach(Engine& engine) override;
  void start(uint32_t j) override { fetch(j); }
  void give_up(uint32_t j) override { engine_->abandon(j); }

 protected:
  void fetch(uint32_t j);
  // Handles kPttl and kDump replies; returns false for other ops.
  bool on_fetch_reply(uint32_t j, uint8_t op, resp::Reply& reply);
  // The key's payload is held by the job (Job::payload_view) and its PTTL known.
  virtual void fetched(uint32_t j) = 0;

  Engine* engine_ = nullptr;

 private:
  std::vector<std::string> fetch_error_;  // per job slot: the PTTL error, reported with the DUMP reply
};

}  // namespace rmig::copy
