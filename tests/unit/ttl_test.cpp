#include "copy/ttl.hpp"

#include <doctest/doctest.h>

using rmig::copy::plan_ttl;
using Kind = rmig::copy::TtlPlan::Kind;

TEST_CASE("PTTL -2 is a vanished key, -1 a persistent one restored with ttl 0") {
  CHECK(plan_ttl(-2, 0).kind == Kind::kVanished);
  auto p = plan_ttl(-1, 5'000'000'000);
  CHECK(p.kind == Kind::kPersistent);
  CHECK(p.restore_ttl_ms == 0);
}

TEST_CASE("PTTL 0 is expired: RESTORE with ttl 0 would make the key immortal") {
  CHECK(plan_ttl(0, 0).kind == Kind::kExpired);
}

TEST_CASE("the time in flight is subtracted, rounded up to the millisecond") {
  auto p = plan_ttl(10'000, 0);
  CHECK(p.kind == Kind::kExpiring);
  CHECK(p.restore_ttl_ms == 10'000);
  CHECK(plan_ttl(10'000, 1).restore_ttl_ms == 9'999);          // 1 ns in flight counts as 1 ms
  CHECK(plan_ttl(10'000, 1'000'000).restore_ttl_ms == 9'999);  // exactly 1 ms
  CHECK(plan_ttl(10'000, 1'000'001).restore_ttl_ms == 9'998);
  CHECK(plan_ttl(10'000, 2'500'000'000).restore_ttl_ms == 7'500);
  CHECK(plan_ttl(1, 0).restore_ttl_ms == 1);
}

TEST_CASE("a TTL that runs out in flight is expired, never restored") {
  CHECK(plan_ttl(5, 5'000'000).kind == Kind::kExpired);
  CHECK(plan_ttl(5, 4'000'001).kind == Kind::kExpired);  // 4.000001 ms rounds up to 5
  CHECK(plan_ttl(5, 4'000'000).kind == Kind::kExpiring);
  CHECK(plan_ttl(5, 4'000'000).restore_ttl_ms == 1);
  CHECK(plan_ttl(1000, 60'000'000'000).kind == Kind::kExpired);
}
