#pragma once
// RESP2 wire text for unit tests that feed the tool's own reader replies as servers send them.

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "resp/reply.hpp"

namespace rmig::test::wire {

std::string bulk(std::string_view s);
std::string integer(long long v);
inline const std::string kNil = "$-1\r\n";
// An array of already encoded elements.
std::string array(std::initializer_list<std::string> items);
std::string array(const std::vector<std::string>& items);
// An array of bulk strings, or of integers.
std::string bulks(std::initializer_list<std::string_view> items);
std::string integers(std::initializer_list<long long> items);
// Exactly one reply parsed from `wire` by resp::Reader (a doctest failure otherwise).
resp::Reply parse(const std::string& wire);

}  // namespace rmig::test::wire
