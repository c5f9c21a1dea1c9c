#pragma once
// --max-keys-per-sec and --max-bytes-per-sec: two token buckets the dispatcher asks before it starts a key.
// Each key is charged the mean payload size at dispatch and corrected when its payload arrives; until a first
// size is known, one key at a time; a bucket holds at most a tenth of a second's worth (why:
// docs/internals.md, "Window estimates"). No timers: the caller passes the time and asks again later.

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace rmig::engine {

class Pacing {
 public:
  using Clock = std::chrono::steady_clock;

  // One job's charge in the byte bucket.
  struct Charge {
    double reserved = 0;     // charged at dispatch: the mean payload size then
    bool measuring = false;  // the real size is still to come (measured())
  };

  // 0: unlimited.
  Pacing(uint64_t keys_per_sec, uint64_t bytes_per_sec) noexcept
      : keys_per_sec_(keys_per_sec), bytes_per_sec_(bytes_per_sec) {}

  bool limited() const noexcept { return keys_per_sec_ != 0 || bytes_per_sec_ != 0; }
  // Whether a key may be dispatched at `now`; true takes its key token. The caller then calls dispatched().
  bool allows(Clock::time_point now) noexcept;
  // A key was dispatched: charges the mean payload size to the byte bucket.
  void dispatched(Charge& charge) noexcept;
  // The key's payload of `bytes` arrived: the charge is corrected to the real size (or, for a payload held
  // again, the new one is charged in full).
  void measured(Charge& charge, std::size_t bytes) noexcept;
  // The key finished; one never measured (vanished, failed) keeps its charge.
  void finished(Charge& charge) noexcept;

  double mean_payload() const noexcept { return avg_payload_; }

 private:
  uint64_t keys_per_sec_;
  uint64_t bytes_per_sec_;
  double key_tokens_ = 0;
  double byte_tokens_ = 0;
  double avg_payload_ = 0;   // running mean of payload sizes
  uint32_t unmeasured_ = 0;  // keys dispatched before any size was known, still without one
  Clock::time_point tokens_at_{};
};

}  // namespace rmig::engine
