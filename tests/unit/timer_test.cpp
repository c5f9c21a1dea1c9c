// net::Timer: a callable or a member function, no void* owner.

#include <doctest/doctest.h>

#include "net/loop.hpp"

using namespace rmig;

namespace {

class Counter {
 public:
  explicit Counter(net::Loop& loop) : timer_(loop, this, &Counter::on_timer) {}
  void start(uint64_t every_ms, int stop_after) {
    stop_after_ = stop_after;
    timer_.start(every_ms, every_ms);
  }
  int ticks() const { return ticks_; }
  bool active() const { return timer_.active(); }

 private:
  void on_timer() {
    if (++ticks_ == stop_after_) timer_.stop();
  }

  net::Timer timer_;
  int ticks_ = 0;
  int stop_after_ = 0;
};

}  // namespace

TEST_CASE("a timer calls a member function until it is stopped from inside its callback") {
  net::Loop loop;
  {
    Counter c(loop);
    CHECK_FALSE(c.active());
    c.start(1, 3);
    CHECK(c.active());
    loop.run();  // returns once the timer stopped: nothing else keeps the loop alive
    CHECK(c.ticks() == 3);
    CHECK_FALSE(c.active());
  }
  loop.run();
  CHECK(loop.close() == 0);
}

TEST_CASE("a timer calls a lambda once; a stopped or destroyed one never calls") {
  net::Loop loop;
  int once = 0, stopped = 0, destroyed = 0;
  {
    net::Timer one(loop, [&] { ++once; });
    net::Timer never(loop, [&] { ++stopped; });
    one.start(1);
    never.start(1);
    never.stop();
    {
      net::Timer gone(loop, [&] { ++destroyed; });
      gone.start(0);
    }
    loop.run();
    CHECK_FALSE(one.active());
  }
  loop.run();
  CHECK(once == 1);
  CHECK(stopped == 0);
  CHECK(destroyed == 0);
  CHECK(loop.close() == 0);
}

TEST_CASE("an unreferenced timer does not keep the loop running") {
  net::Loop loop;
  int calls = 0;
  {
    net::Timer t(loop, [&] { ++calls; });
    t.unref();
    t.start(60'000);
    loop.run();  // returns at once
    CHECK(t.active());
  }
  loop.run();
  CHECK(calls == 0);
  CHECK(loop.close() == 0);
}
