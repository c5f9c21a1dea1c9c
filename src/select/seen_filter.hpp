#pragma once
// Remembers which keys this run already took from SCAN, in fixed memory, so a key SCAN returns twice (it may,
// when the source's hash table shrinks during the scan) is counted once. A cache-line-blocked Bloom filter:
// "not seen" is exact, "seen" is wrong with a probability of about 1e-6 while the filter holds at most
// kBitsPerKey bits per key, and degrades gracefully past that. It only decides how a key is counted
// (duplicate vs copied/skipped), never whether it is written, so a false positive cannot lose data.

#include <cstdint>
#include <memory>
#include <string_view>

namespace rmig::select {

class SeenFilter {
 public:
  static constexpr uint64_t kBitsPerKey = 48;
  // Sized for `expected_keys`, between 1 MiB and `max_bytes`.
  SeenFilter(uint64_t expected_keys, std::size_t max_bytes);
  // Records `key` and says whether it may have been recorded before.
  bool test_and_add(std::string_view key) noexcept;
  std::size_t memory_bytes() const noexcept { return blocks_ * sizeof(Block); }

 private:
  struct alignas(64) Block {
    uint64_t words[8];
  };
  static constexpr int kBitsSet = 8;
  std::unique_ptr<Block[]> data_;
  uint64_t blocks_;
};

}  // namespace rmig::select
