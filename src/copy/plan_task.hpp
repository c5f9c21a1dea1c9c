#pragma once
// A dry run: what a copy would do with each key, without writing anything. PTTL + DUMP on the source (exact
// sizes, same ACL rules as a copy) and EXISTS on the destination node owning the key.

#include "copy/dump_task.hpp"

namespace rmig::copy {

class PlanTask final : public DumpTask {
 public:
  void attach(Engine& engine) override;
  void on_reply(uint32_t j, uint8_t op, resp::Reply reply) override;
  void resend(uint32_t j) override;

 private:
  static constexpr uint8_t kExists = kFirstOwnOp;
  static constexpr uint8_t kStageExists = 2;

  void fetched(uint32_t j) override;
  // Not DUMPed: its size (MEMORY USAGE) stands for the payload's in would_copy_bytes.
  void big_key(uint32_t j, uint64_t size) override;
  void exists(uint32_t j);

  std::vector<uint64_t> big_size_;  // per job slot
};

}  // namespace rmig::copy
