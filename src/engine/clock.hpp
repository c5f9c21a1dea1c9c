#pragma once
// Maps the tool's monotonic clock onto a server's wall clock, so an expiry can be sent as an absolute time
// (RESTORE ... ABSTTL): the time a RESTORE waits in the destination's queue then cannot extend a key's life.
//
// From one TIME call sent at local t_send and answered at t_recv with server time S, the server clock at any
// later local instant t is at least S + (t - t_recv) (the server read its clock no later than t_recv), so the
// estimate never runs ahead of the server and an absolute expiry computed with it is never later than the
// source's. The error is at most one round trip; the offset is refreshed during the run to follow drift.

#include <chrono>
#include <cstdint>
#include <optional>

namespace rmig::engine {

class ServerClock {
 public:
  using Steady = std::chrono::steady_clock;

  // Records a TIME answer (seconds, microseconds) received at `recv`. Every sample is a lower bound of the
  // true offset, so the tightest (largest) one is kept; an older one is discounted by 100 ppm of its age so
  // the estimate follows a drift between the two clocks.
  void sample(int64_t seconds, int64_t micros, Steady::time_point recv) noexcept {
    const int64_t server_ns = seconds * 1'000'000'000 + micros * 1'000;
    const int64_t recv_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(recv.time_since_epoch()).count();
    const int64_t fresh = server_ns - recv_ns;
    if (known_) {
      const int64_t aged = offset_ns_ - (recv_ns - sampled_at_ns_) / 10'000;
      if (aged > fresh) {
        offset_ns_ = aged;
        sampled_at_ns_ = recv_ns;
        return;
      }
    }
    offset_ns_ = fresh;
    sampled_at_ns_ = recv_ns;
    known_ = true;
  }
  bool known() const noexcept { return known_; }
  // The server's unix time in ms at local instant `t`, rounded down.
  int64_t unix_ms_at(Steady::time_point t) const noexcept {
    const int64_t ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count() + offset_ns_;
    return ns / 1'000'000;
  }

 private:
  int64_t offset_ns_ = 0;
  int64_t sampled_at_ns_ = 0;
  bool known_ = false;
};

}  // namespace rmig::engine
