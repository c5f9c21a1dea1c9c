#include "util/backoff.hpp"

#include <doctest/doctest.h>

#include <limits>

using namespace rmig;
using std::chrono::milliseconds;

TEST_CASE("the backoff doubles from its first delay up to its cap, then stays there") {
  constexpr Backoff b{milliseconds(100), 5};
  CHECK(b.delay(0) == milliseconds(100));
  CHECK(b.delay(1) == milliseconds(200));
  CHECK(b.delay(2) == milliseconds(400));
  CHECK(b.delay(4) == milliseconds(1'600));
  CHECK(b.delay(5) == milliseconds(3'200));
  CHECK(b.delay(6) == milliseconds(3'200));
  CHECK(b.delay(std::numeric_limits<uint32_t>::max()) == milliseconds(3'200));
  CHECK(b.cap() == milliseconds(3'200));
  static_assert(Backoff{milliseconds(10), 0}.delay(7) == milliseconds(10));  // a fixed pause
}

TEST_CASE("the tool's backoffs keep the delays they had") {
  // Links: 100 ms doubling to 6.4 s; per-key retries and the state link: to 3.2 s.
  CHECK(kLinkBackoff.delay(0) == milliseconds(100));
  CHECK(kLinkBackoff.delay(3) == milliseconds(800));
  CHECK(kLinkBackoff.cap() == milliseconds(6'400));
  CHECK(kLinkBackoff.delay(40) == milliseconds(6'400));
  CHECK(kRetryBackoff.delay(1) == milliseconds(200));
  CHECK(kRetryBackoff.cap() == milliseconds(3'200));
  for (uint32_t n = 0; n < 12; ++n) {
    CAPTURE(n);
    CHECK(kLinkBackoff.delay(n).count() == (100u << std::min<uint32_t>(n, 6)));
    CHECK(kRetryBackoff.delay(n).count() == (100u << std::min<uint32_t>(n, 5)));
  }
}
