#pragma once
// A plan (dry run): what a copy would do with each key, writing nothing. PTTL + DUMP on the source (exact
// sizes, the same ACL rules as a copy; the payload's first byte gives the type) and EXISTS (TYPE for a merge)
// of the destination name on the destination node owning it (whether it exists, and whether a merge could
// take it). With rename rules, every selected key also goes through the collision detector.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "copy/dump_task.hpp"
#include "select/rename.hpp"

namespace rmig::copy {

struct PlanStats {
  std::map<std::string, uint64_t> by_type;    // source type -> keys
  std::map<int, uint64_t> by_rule;            // rename rule index (-1: name unchanged) -> keys
  std::map<std::string, uint64_t> actions;    // copy, replace, skip, merge, conflict -> keys
  std::vector<select::Collision> collisions;  // the first few
  uint64_t collision_count = 0;
  // Hashes stored with field-expiration metadata (their DUMP payload's type, see payload_has_field_ttls).
  uint64_t field_ttl_hashes = 0;
  bool collisions_partial = false;  // the detector's memory cap was reached: later keys were not checked

  PlanStats& operator+=(const PlanStats& o);
};

class PlanTask final : public DumpTask {
 public:
  // The collision detector is capped at about `detector_bytes` of memory.
  explicit PlanTask(std::size_t detector_bytes = 32u << 20) : detector_bytes_(detector_bytes) {}
  void attach(engine::Engine& engine) override;
  void on_reply(uint32_t j, uint8_t op, resp::Reply reply) override;
  void resend(uint32_t j) override;

  const PlanStats& stats() const noexcept { return stats_; }

 private:
  static constexpr uint8_t kType = kFirstOwnOp;
  static constexpr uint8_t kStageType = kFirstOwnStage;

  void fetched(uint32_t j) override;
  // Not DUMPed: its size (MEMORY USAGE) stands for the payload's in would_copy_bytes.
  void big_key(uint32_t j, uint64_t size) override;
  void destination_type(uint32_t j);
  void check_collision(uint32_t j);

  std::size_t detector_bytes_;
  std::unique_ptr<select::CollisionDetector> detector_;
  PlanStats stats_;
  std::vector<uint64_t> big_size_;  // per job slot
};

}  // namespace rmig::copy
