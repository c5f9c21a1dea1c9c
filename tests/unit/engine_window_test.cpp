// The engine's window: job slots, bytes held, and the estimate charged to a key whose payload has not
// arrived.

#include <doctest/doctest.h>

#include <cstddef>
#include <vector>

#include "engine/window.hpp"

using rmig::engine::Window;

namespace {

struct Job {
  uint32_t slot = 0;
  std::size_t estimate = 0;
  std::size_t held = 0;
};

Job admit(Window& w) {
  Job j;
  j.slot = w.next_slot();
  w.admit(j.estimate, j.held);
  return j;
}

}  // namespace

TEST_SUITE("engine_window") {
  TEST_CASE("before any size is known, the first key takes the whole byte budget: one key at a time") {
    Window w(8, 1000);
    CHECK(w.slots() == 8);
    REQUIRE(w.has_room());
    Job a = admit(w);
    CHECK(a.estimate == 1000);
    CHECK(w.bytes_held() == 1000);
    CHECK(w.active() == 1);
    CHECK(w.estimated_keys() == 1);
    CHECK_FALSE(w.has_room());  // slots are free, but the bytes are taken by the estimate
    // Its payload arrives: the estimate becomes the real size, and the size becomes the estimate.
    w.hold(a.estimate, a.held, 100, true);
    CHECK(a.estimate == 0);
    CHECK(a.held == 100);
    CHECK(w.bytes_held() == 100);
    CHECK(w.estimated_keys() == 0);
    CHECK(w.mean_payload() == doctest::Approx(100));
    CHECK(w.estimate() == 100);
    REQUIRE(w.has_room());
    Job b = admit(w);
    CHECK(b.estimate == 100);
    CHECK(w.bytes_held() == 200);
  }

  TEST_CASE("keys are admitted until the estimates and payloads fill the bytes, then none until one leaves") {
    Window w(100, 1000);
    Job first = admit(w);
    w.hold(first.estimate, first.held, 250, true);
    std::vector<Job> jobs{first};
    while (w.has_room())
      jobs.push_back(admit(w));
    // 250 held + 3 estimates of 250: the window is full at 1000 bytes with four keys, not at 100 keys.
    CHECK(jobs.size() == 4);
    CHECK(w.bytes_held() == 1000);
    CHECK(w.estimated_keys() == 3);
    w.release(jobs[0].slot, jobs[0].estimate, jobs[0].held);
    CHECK(w.bytes_held() == 750);
    CHECK(w.active() == 3);
    CHECK(w.has_room());
    // The slot that was freed is the one taken next.
    CHECK(w.next_slot() == jobs[0].slot);
  }

  TEST_CASE(
      "the estimate follows the payload sizes as a running mean, and only a key's first payload teaches it") {
    Window w(16, 1 << 20);
    Job a = admit(w);
    w.hold(a.estimate, a.held, 1000, true);
    Job b = admit(w);
    w.hold(b.estimate, b.held, 2000, true);
    CHECK(w.mean_payload() == doctest::Approx(0.9 * 1000 + 0.1 * 2000));
    // b holds again (a re-read): it was no longer charged an estimate, so the mean does not move.
    w.hold(b.estimate, b.held, 50'000, true);
    CHECK(w.mean_payload() == doctest::Approx(1100));
    CHECK(b.held == 50'000);
    CHECK(w.bytes_held() == 51'000);
    // Chunks in flight (not a payload) do not teach it either.
    Job c = admit(w);
    CHECK(c.estimate == 1100);
    w.hold(c.estimate, c.held, 9'000, false);
    CHECK(w.mean_payload() == doctest::Approx(1100));
    CHECK(w.bytes_held() == 60'000);
    w.release(c.slot, c.estimate, c.held);
    w.release(b.slot, b.estimate, b.held);
    w.release(a.slot, a.estimate, a.held);
    CHECK(w.bytes_held() == 0);
    CHECK(w.active() == 0);
  }

  TEST_CASE("a task that holds no payloads: after a key finished without one, keys are charged nothing") {
    Window w(4, 1000);
    Job a = admit(w);
    CHECK(a.estimate == 1000);
    w.release(a.slot, a.estimate, a.held);
    CHECK(w.bytes_held() == 0);
    CHECK(w.estimate() == 0);
    std::vector<Job> jobs;
    while (w.has_room())
      jobs.push_back(admit(w));
    CHECK(jobs.size() == 4);  // now only the slots bound it
    CHECK(w.bytes_held() == 0);
    CHECK(w.estimated_keys() == 0);
  }

  TEST_CASE("the window waits for the destination when most of its keys hold their payload") {
    Window w(4, 1 << 20);
    Job a = admit(w);
    w.hold(a.estimate, a.held, 10, true);
    Job b = admit(w);
    Job c = admit(w);
    // a holds its payload, b and c wait for the source: 1 of 3.
    CHECK_FALSE(w.waiting_for_destination());
    w.hold(b.estimate, b.held, 10, true);
    // 2 of 3 hold their payload.
    CHECK(w.waiting_for_destination());
    w.release(a.slot, a.estimate, a.held);
    w.release(b.slot, b.estimate, b.held);
    w.release(c.slot, c.estimate, c.held);
    CHECK_FALSE(w.waiting_for_destination());
  }

  TEST_CASE("a window of zero keys still has one slot") {
    Window w(0, 100);
    CHECK(w.slots() == 1);
    CHECK(w.has_room());
  }
}
