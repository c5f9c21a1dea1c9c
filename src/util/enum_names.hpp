#pragma once
// One name table per option enum: the names the command line accepts are the names the report, the run record
// and the log print, so a policy given as `merge` is never reported as `skip`. Each table lists every value
// of its enum once (a unit test checks the round trip name -> value -> name for every table).

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rmig {

template <class E>
struct NamedValue {
  E value;
  const char* name;
};

// The name of `v`, or "?" for a value the table lacks (a bug the unit test catches).
template <class E, std::size_t N>
constexpr const char* name_of(const std::array<NamedValue<E>, N>& table, E v) noexcept {
  for (const auto& e : table) {
    if (e.value == v) return e.name;
  }
  return "?";
}

template <class E, std::size_t N>
constexpr std::optional<E> value_of(const std::array<NamedValue<E>, N>& table,
                                    std::string_view name) noexcept {
  for (const auto& e : table) {
    if (name == e.name) return e.value;
  }
  return std::nullopt;
}

// Every name, in table order (for the command line's list of accepted values).
template <class E, std::size_t N>
std::vector<std::string> names_of(const std::array<NamedValue<E>, N>& table) {
  std::vector<std::string> out;
  out.reserve(N);
  for (const auto& e : table)
    out.emplace_back(e.name);
  return out;
}

}  // namespace rmig
