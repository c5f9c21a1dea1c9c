#include "unit/wire.hpp"

#include <doctest/doctest.h>

#include "resp/reader.hpp"

namespace rmig::test::wire {

std::string bulk(std::string_view s) {
  return "$" + std::to_string(s.size()) + "\r\n" + std::string(s) + "\r\n";
}

std::string integer(long long v) { return ":" + std::to_string(v) + "\r\n"; }

std::string array(std::initializer_list<std::string> items) {
  std::string out = "*" + std::to_string(items.size()) + "\r\n";
  for (const auto& i : items)
    out += i;
  return out;
}

std::string array(const std::vector<std::string>& items) {
  std::string out = "*" + std::to_string(items.size()) + "\r\n";
  for (const auto& i : items)
    out += i;
  return out;
}

std::string bulks(std::initializer_list<std::string_view> items) {
  std::string out = "*" + std::to_string(items.size()) + "\r\n";
  for (auto i : items)
    out += bulk(i);
  return out;
}

std::string integers(std::initializer_list<long long> items) {
  std::string out = "*" + std::to_string(items.size()) + "\r\n";
  for (auto i : items)
    out += integer(i);
  return out;
}

resp::Reply parse(const std::string& wire) {
  resp::Reader reader;
  REQUIRE(reader.feed(wire.data(), wire.size()));
  auto r = reader.next();
  REQUIRE(r);
  REQUIRE(*r);
  CHECK(reader.buffered() == 0);  // exactly one reply
  return std::move(*r);
}

}  // namespace rmig::test::wire
