#pragma once
// The progress line printed every few seconds on stderr: counters, rates over the last interval, ETA.

#include <chrono>
#include <cstdint>

#include "report/counters.hpp"

namespace rmig::report {

class Progress {
 public:
  explicit Progress(uint64_t total_estimate);
  void print(const Counters& c, std::size_t in_flight, bool paused_by_destination);
  double elapsed_s() const;

 private:
  using Clock = std::chrono::steady_clock;
  uint64_t total_;
  Clock::time_point start_;
  Clock::time_point last_;
  uint64_t last_done_ = 0;
  uint64_t last_bytes_ = 0;
};

}  // namespace rmig::report
