// --max-keys-per-sec and --max-bytes-per-sec: the token buckets, on a simulated clock.

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <deque>

#include "engine/pacing.hpp"

using rmig::engine::Pacing;
using namespace std::chrono_literals;

namespace {

const Pacing::Clock::time_point kT0 = Pacing::Clock::time_point{} + 1h;

// Asks every millisecond for `duration`; returns the keys allowed. Each key's payload of `payload` bytes
// arrives `latency` after its dispatch (0: at once).
uint64_t run(Pacing& p, std::chrono::milliseconds duration, std::size_t payload,
             std::chrono::milliseconds latency = 0ms, Pacing::Clock::time_point start = kT0) {
  uint64_t allowed = 0;
  struct InFlight {
    Pacing::Charge charge;
    Pacing::Clock::time_point arrives;
  };
  std::deque<InFlight> in_flight;
  for (auto t = start; t < start + duration; t += 1ms) {
    while (!in_flight.empty() && in_flight.front().arrives <= t) {
      p.measured(in_flight.front().charge, payload);
      p.finished(in_flight.front().charge);
      in_flight.pop_front();
    }
    while (p.allows(t)) {
      ++allowed;
      InFlight f;
      p.dispatched(f.charge);
      f.arrives = t + latency;
      if (latency == 0ms) {
        p.measured(f.charge, payload);
        p.finished(f.charge);
      } else {
        in_flight.push_back(f);
      }
    }
  }
  return allowed;
}

}  // namespace

TEST_SUITE("engine_pacing") {
  TEST_CASE("unlimited: every key is allowed at once") {
    Pacing p(0, 0);
    CHECK_FALSE(p.limited());
    for (int i = 0; i < 1000; ++i)
      CHECK(p.allows(kT0));
  }

  TEST_CASE("keys per second: the rate is kept over a second of asking") {
    Pacing p(200, 0);
    const uint64_t n = run(p, 1000ms, 100);
    CHECK(n >= 195);
    CHECK(n <= 201);
  }

  TEST_CASE("keys per second: a pause is not followed by a burst bigger than a tenth of a second's worth") {
    Pacing p(1000, 0);
    CHECK_FALSE(p.allows(kT0));  // the bucket starts empty
    int burst = 0;
    while (p.allows(kT0 + 10s))
      ++burst;
    CHECK(burst == 100);
  }

  TEST_CASE("a rate under ten keys per second still lets a key through") {
    Pacing p(2, 0);
    const uint64_t n = run(p, 3000ms, 1);
    CHECK(n >= 5);
    CHECK(n <= 7);
  }

  TEST_CASE("bytes per second: the rate in bytes is kept whatever the payload size") {
    SUBCASE("1 KB payloads") {
      Pacing p(0, 100'000);
      const uint64_t n = run(p, 2000ms, 1000);
      CHECK(n * 1000 >= 190'000);
      CHECK(n * 1000 <= 215'000);
    }
    SUBCASE("10 KB payloads") {
      Pacing p(0, 100'000);
      const uint64_t n = run(p, 2000ms, 10'000);
      CHECK(n >= 18);
      CHECK(n <= 22);
    }
  }

  TEST_CASE("bytes per second: until a first size is known, one key at a time") {
    Pacing p(0, 1'000'000);
    CHECK_FALSE(p.allows(kT0));  // the bucket starts empty
    REQUIRE(p.allows(kT0 + 10ms));
    Pacing::Charge first;
    p.dispatched(first);
    CHECK(first.measuring);
    CHECK(first.reserved == 0);
    // Tokens are left, but nothing says how big the next key is: wait for the first payload.
    CHECK_FALSE(p.allows(kT0 + 20ms));
    p.measured(first, 500);
    CHECK(p.mean_payload() == doctest::Approx(500));
    CHECK(p.allows(kT0 + 21ms));
    Pacing::Charge second;
    p.dispatched(second);
    CHECK(second.reserved == doctest::Approx(500));
  }

  TEST_CASE("bytes per second: a first key that never got a payload frees the one-at-a-time hold") {
    Pacing p(0, 1'000'000);
    CHECK_FALSE(p.allows(kT0));  // the bucket starts empty
    REQUIRE(p.allows(kT0 + 10ms));
    Pacing::Charge c;
    p.dispatched(c);
    CHECK_FALSE(p.allows(kT0 + 20ms));
    p.finished(c);  // vanished before its DUMP
    CHECK(p.allows(kT0 + 21ms));
  }

  TEST_CASE("bytes per second: slow payloads cannot be overdrawn by a burst of dispatches") {
    // Payloads arrive 200 ms after their dispatch: each dispatch is charged the mean in advance.
    Pacing p(0, 100'000);
    const uint64_t n = run(p, 3000ms, 1000, 200ms);
    CHECK(n * 1000 <= 3 * 100'000 + 10'000);
    CHECK(n * 1000 >= 250'000);
  }

  TEST_CASE("both limits: the stricter one wins") {
    Pacing p(50, 1'000'000);
    const uint64_t n = run(p, 1000ms, 100);
    CHECK(n >= 45);
    CHECK(n <= 51);
  }
}
