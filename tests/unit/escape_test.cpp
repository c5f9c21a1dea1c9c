#include "util/escape.hpp"

#include <doctest/doctest.h>

#include <string>

using rmig::printable;

TEST_CASE("printable escapes binary key names like redis-cli") {
  CHECK(printable("plain:key-1") == "plain:key-1");
  CHECK(printable(std::string("a\0b", 3)) == "a\\x00b");
  CHECK(printable("line\r\nbreak") == "line\\r\\nbreak");
  CHECK(printable("tab\there") == "tab\\there");
  CHECK(printable("quote\"back\\") == "quote\\\"back\\\\");
  CHECK(printable("\xff\xfe") == "\\xff\\xfe");
  CHECK(printable("") == "");
  CHECK(rmig::printable_short(std::string(200, 'x'), 10) == std::string(10, 'x') + "...");
}
