#pragma once
// Deterministic data for the datasets: the same seed gives the same keys and values on every run, and each
// key draws from its own generator so that a subset (one cluster node's slots) gets the very same content.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace rmbench {

// splitmix64: small, fast and good enough to vary sizes and contents.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  static Rng for_key(std::uint64_t dataset_seed, std::uint64_t index) {
    Rng mixer(dataset_seed ^ (index * 0x9e3779b97f4a7c15ULL));
    return Rng(mixer.next());
  }

  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n); n > 0.
  std::uint64_t below(std::uint64_t n) { return next() % n; }
  // Uniform in [lo, hi].
  std::uint64_t between(std::uint64_t lo, std::uint64_t hi) { return lo + below(hi - lo + 1); }
  // Uniform in [0, 1).
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // Exponentially distributed with the given mean: many small values, a few large ones.
  double exponential(double mean) { return -std::log(1.0 - unit()) * mean; }

 private:
  std::uint64_t state_;
};

// Printable pseudo-random bytes; values are slices at random offsets. DUMP compresses values with LZF, whose
// window is 8 KB, so a pool this size behaves like incompressible real data.
class TextPool {
 public:
  static constexpr std::size_t kPoolSize = 8u << 20;
  static constexpr std::size_t kMaxSlice = 1u << 20;

  explicit TextPool(std::uint64_t seed) {
    static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    Rng rng(seed);
    text_.resize(kPoolSize + kMaxSlice);
    for (std::size_t i = 0; i < text_.size(); i += 10) {
      std::uint64_t bits = rng.next();
      for (std::size_t k = i; k < i + 10 && k < text_.size(); ++k, bits >>= 6)
        text_[k] = kAlphabet[bits & 63];
    }
  }

  // `len` <= kMaxSlice.
  std::string_view slice(Rng& rng, std::size_t len) const {
    return std::string_view(text_).substr(static_cast<std::size_t>(rng.below(kPoolSize)), len);
  }

 private:
  std::string text_;
};

}  // namespace rmbench
