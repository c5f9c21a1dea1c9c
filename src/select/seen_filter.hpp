#pragma once
// Remembers which keys this run already took from SCAN, in fixed memory, so a key SCAN returns twice (it may,
// when the source's hash table shrinks during the scan) is counted once. A cache-line-blocked Bloom filter:
// "not seen" is exact, "seen" is wrong with a probability of about 1e-6 while the filter holds at most
// kBitsPerKey bits per key, and degrades gracefully past that. It only decides how a key is counted
// (duplicate vs copied/skipped), never whether it is written, so a false positive cannot lose data.
//
// Copies share one set of bits. A filter made `concurrent` may be used by several threads at once (the event
// loops of engine::Crew): each key's test-and-add is one step under a lock of its block's stripe, so two
// threads adding two keys that land on the same bits at the same time cannot both be told "not seen".

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>

namespace rmig::select {

class SeenFilter {
 public:
  static constexpr uint64_t kBitsPerKey = 48;
  // Sized for `expected_keys`, between 1 MiB and `max_bytes`.
  SeenFilter(uint64_t expected_keys, std::size_t max_bytes, bool concurrent = false);
  // Records `key` and says whether it may have been recorded before.
  bool test_and_add(std::string_view key) noexcept;
  // Brings `key`'s block towards the cache before its test_and_add (a miss per key in a filter of megabytes).
  void prefetch(std::string_view key) const noexcept;
  std::size_t memory_bytes() const noexcept { return blocks_ * sizeof(Block); }
  bool concurrent() const noexcept { return stripes_ != nullptr; }

 private:
  struct alignas(64) Block {
    uint64_t words[8];
  };
  static constexpr int kBitsSet = 8;
  static constexpr std::size_t kStripes = 256;
  using Stripes = std::array<std::mutex, kStripes>;
  bool add_bits(Block& b, uint64_t h) noexcept;
  std::shared_ptr<Block[]> data_;
  uint64_t blocks_;
  std::shared_ptr<Stripes> stripes_;  // concurrent filters only
};

}  // namespace rmig::select
