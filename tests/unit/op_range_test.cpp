// The op-code layouts of the copy tasks: ranges chained from Engine::kFirstTaskOp, checked by ops_fit.

#include "copy/op_range.hpp"

#include <doctest/doctest.h>

using rmig::copy::first_ops;
using rmig::copy::OpRange;
using rmig::copy::ops_fit;
using rmig::engine::Engine;

TEST_CASE("op ranges: chained ranges fit, overlapping or misplaced ones do not") {
  constexpr OpRange a = first_ops(6);
  constexpr OpRange b = a.next(17);
  static_assert(a.first == Engine::kFirstTaskOp && b.first == Engine::kFirstTaskOp + 6);
  static_assert(ops_fit({a, b}));
  CHECK(b.owns(b.at(16)));
  CHECK_FALSE(b.owns(a.at(5)));
  CHECK_FALSE(b.owns(b.at(17)));
  CHECK(b.index(b.at(3)) == 3);

  CHECK_FALSE(ops_fit({a, OpRange{static_cast<uint8_t>(a.first + 5), 2}}));            // shares a's last code
  CHECK_FALSE(ops_fit({OpRange{static_cast<uint8_t>(Engine::kFirstTaskOp - 1), 1}}));  // an engine code
  CHECK(ops_fit({OpRange{240, 16}}));  // ends at 256: the last code is 255
  CHECK_FALSE(ops_fit({OpRange{250, 10}}));
  CHECK_FALSE(ops_fit({OpRange{200, 40}, OpRange{200, 40}.next(20)}));  // the second ends past 255
  CHECK_FALSE(ops_fit({OpRange{250, 6}, OpRange{250, 6}.next(1)}));     // next() after 255 wraps to 0
}
