#pragma once
// The one backoff of the tool: how long to wait before trying again after `failures` consecutive failures.
// Exponential with a cap and no jitter (each link and each key backs off on its own, so there is no herd to
// spread): first * 2^min(failures, max_doublings). With first 100 ms and 5 doublings: 100, 200, 400, 800 ms,
// 1.6 s, then 3.2 s for every later failure. The caller counts failures and resets the count on success.

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace rmig {

struct Backoff {
  std::chrono::milliseconds first{100};
  uint32_t max_doublings = 5;

  constexpr std::chrono::milliseconds delay(uint32_t failures) const noexcept {
    return first * (int64_t{1} << std::min(failures, max_doublings));
  }
  // The longest wait: the delay after max_doublings failures and every later one.
  constexpr std::chrono::milliseconds cap() const noexcept { return delay(max_doublings); }
};

// A link to a server that dropped (the engine's links): 100 ms doubling to 6.4 s.
inline constexpr Backoff kLinkBackoff{std::chrono::milliseconds(100), 6};
// A key answered with a retryable error (LOADING, BUSY, TRYAGAIN, CLUSTERDOWN, MASTERDOWN), and the
// connection of the tool's own state keys: 100 ms doubling to 3.2 s.
inline constexpr Backoff kRetryBackoff{std::chrono::milliseconds(100), 5};

}  // namespace rmig
