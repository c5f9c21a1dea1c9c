#pragma once
// Op codes of a task's commands. Every stage a task composes (fetch, restore, cleanup, the rewriter) answers
// the replies of its own contiguous range of codes; the task lays the ranges out one after the other from
// engine::Engine::kFirstTaskOp and checks the layout at compile time with ops_fit(). Codes are 8 bits wide
// (they travel in the command's tag), so a layout must end at or below 256.

#include <cstdint>
#include <initializer_list>

#include "engine/engine.hpp"

namespace rmig::copy {

struct OpRange {
  uint8_t first = 0;
  uint8_t count = 0;

  // One past the last code (may be 256).
  constexpr unsigned end() const noexcept { return unsigned{first} + count; }
  constexpr bool owns(uint8_t op) const noexcept { return op >= first && op < end(); }
  // The i-th code of the range.
  constexpr uint8_t at(unsigned i) const noexcept { return static_cast<uint8_t>(first + i); }
  // The index of `op` in the range (owns(op) must hold).
  constexpr unsigned index(uint8_t op) const noexcept { return unsigned{op} - first; }
  // The `n` codes right after this range.
  constexpr OpRange next(uint8_t n) const noexcept { return {static_cast<uint8_t>(end()), n}; }
};

// A task's first range: `n` codes from engine::Engine::kFirstTaskOp.
constexpr OpRange first_ops(uint8_t n) noexcept { return {engine::Engine::kFirstTaskOp, n}; }

// Whether the ranges are a valid layout: each starts at or after kFirstTaskOp and ends at or below 256, and
// no two share a code.
constexpr bool ops_fit(std::initializer_list<OpRange> ranges) noexcept {
  for (const OpRange* a = ranges.begin(); a != ranges.end(); ++a) {
    if (a->first < engine::Engine::kFirstTaskOp || a->end() > 256) return false;
    for (const OpRange* b = a + 1; b != ranges.end(); ++b) {
      if (a->first < b->end() && b->first < a->end()) return false;
    }
  }
  return true;
}

}  // namespace rmig::copy
