#include "select/seen_filter.hpp"

#include <algorithm>
#include <bit>
#include <functional>

namespace rmig::select {

namespace {
// 64-bit mix (splitmix64 finaliser): derives the in-block bit positions from the key's hash.
constexpr uint64_t mix(uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}
}  // namespace

SeenFilter::SeenFilter(uint64_t expected_keys, std::size_t max_bytes, bool concurrent) {
  const uint64_t min_bytes = uint64_t{1} << 20;
  const uint64_t max = std::max<uint64_t>(min_bytes, max_bytes);
  const uint64_t want =
      std::clamp<uint64_t>(std::max<uint64_t>(expected_keys, 1) * kBitsPerKey / 8, min_bytes, max);
  blocks_ = std::max<uint64_t>(1, want / sizeof(Block));
  // Zeroed lazily by the kernel: pages count towards RSS only once a key lands in them.
  data_ = std::shared_ptr<Block[]>(new Block[blocks_]());
  if (concurrent) stripes_ = std::make_shared<Stripes>();
}

void SeenFilter::prefetch(std::string_view key) const noexcept {
  __builtin_prefetch(&data_[std::hash<std::string_view>{}(key) % blocks_], 1);
}

bool SeenFilter::test_and_add(std::string_view key) noexcept {
  const uint64_t h = std::hash<std::string_view>{}(key);
  const uint64_t index = h % blocks_;
  Block& b = data_[index];
  if (!stripes_) return add_bits(b, h);
  const std::lock_guard<std::mutex> lock((*stripes_)[index % kStripes]);
  return add_bits(b, h);
}

bool SeenFilter::add_bits(Block& b, uint64_t h) noexcept {
  uint64_t bits = mix(h);
  bool seen = true;
  for (int i = 0; i < kBitsSet; ++i) {
    // 9 bits pick one of the block's 512 bits; a fresh mix supplies more when these run out.
    if (i == 7) bits = mix(bits);
    const unsigned pos = static_cast<unsigned>(bits & 511);
    bits >>= 9;
    uint64_t& word = b.words[pos >> 6];
    const uint64_t m = uint64_t{1} << (pos & 63);
    if ((word & m) == 0) {
      seen = false;
      word |= m;
    }
  }
  return seen;
}

}  // namespace rmig::select
