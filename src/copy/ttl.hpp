#pragma once
// TTL arithmetic, to the millisecond. PTTL answers -2 (no such key), -1 (no expiry) or the remaining
// milliseconds, which may be 0 for a key about to expire. RESTORE's ttl 0 means "no expiry", so a key whose
// remaining time is 0 or less when it is restored must be counted expired, never restored with 0.

#include <cstdint>

namespace rmig::copy {

struct TtlPlan {
  enum class Kind { kVanished, kExpired, kPersistent, kExpiring };
  Kind kind;
  int64_t restore_ttl_ms = 0;  // the RESTORE ttl argument: 0 for persistent keys, >= 1 for expiring ones
};

// `pttl` is the source's PTTL answer; `in_flight_ns` the time since the PTTL command was sent (the server
// evaluated it at that moment or later, so subtracting the full time never extends a key's life).
// The in-flight time is rounded up to whole milliseconds for the same reason. When the destination's clock is
// known, the expiry is sent as an absolute time instead (see ServerClock), computed from the same instant.
constexpr TtlPlan plan_ttl(int64_t pttl, int64_t in_flight_ns) noexcept {
  if (pttl == -2) return {TtlPlan::Kind::kVanished, 0};
  if (pttl < 0) return {TtlPlan::Kind::kPersistent, 0};
  const int64_t in_flight_ms = in_flight_ns <= 0 ? 0 : (in_flight_ns + 999'999) / 1'000'000;
  const int64_t remaining = pttl - in_flight_ms;
  if (remaining <= 0) return {TtlPlan::Kind::kExpired, 0};
  return {TtlPlan::Kind::kExpiring, remaining};
}

}  // namespace rmig::copy
