#pragma once
// An integer as decimal text in a buffer of its own, for a command argument without an allocation.

#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace rmig {

struct IntText {
  std::array<char, 24> buf{};
  std::size_t len = 0;
  explicit IntText(int64_t v) {
    auto r = std::to_chars(buf.data(), buf.data() + buf.size(), v);
    len = static_cast<std::size_t>(r.ptr - buf.data());
  }
  std::string_view view() const noexcept { return {buf.data(), len}; }
};

}  // namespace rmig
