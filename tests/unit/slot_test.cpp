#include "cluster/slot.hpp"

#include <doctest/doctest.h>

#include <string>
#include <string_view>

using rmig::cluster::crc16;
using rmig::cluster::hash_tag;
using rmig::cluster::key_hash_slot;
using namespace std::string_view_literals;

TEST_CASE("crc16 matches the published XMODEM check values") {
  CHECK(crc16("123456789") == 0x31C3);
  CHECK(crc16("") == 0);
  CHECK(crc16("A") == 0x58E5);
  CHECK(crc16("\x00"sv) == 0);
  CHECK(crc16("\xff"sv) == 0x1EF0);
}

TEST_CASE("hash_tag picks the content of the first non-empty {...}") {
  struct Case {
    std::string_view key;
    std::string_view tag;
  };
  const Case cases[] = {
      {"foo", "foo"},
      {"", ""},
      {"{user1000}.following", "user1000"},
      {"{user1000}.followers", "user1000"},
      {"{}", "{}"},  // empty tag: the whole key
      {"{}foo", "{}foo"},
      {"{{a}}", "{a"},  // the first '{' opens, the first '}' after it closes
      {"foo{{bar}}zap", "{bar"},
      {"foo{bar}{zap}", "bar"},  // only the first tag counts
      {"a{b}{c}", "b"},
      {"{}{a}", "{}{a}"},  // first tag empty: no second chance
      {"foo{", "foo{"},    // unterminated
      {"foo}", "foo}"},    // no opening brace
      {"}{", "}{"},        // '}' before '{' does not close
      {"{a", "{a"},
      {"x{a\0b}y"sv, "a\0b"sv},  // binary-safe
      {"\xff{\x80}\xfe"sv, "\x80"sv},
  };
  for (const auto& c : cases) {
    CAPTURE(c.key);
    CHECK(hash_tag(c.key) == c.tag);
  }
}

TEST_CASE("hash_tag returns a view into the key") {
  const std::string key = "prefix{tag}suffix";
  const std::string_view tag = hash_tag(key);
  CHECK(tag.data() == key.data() + 7);
  CHECK(tag.size() == 3);
}

// Expected slots were obtained from a redis-server 7.0.15 in cluster mode with CLUSTER KEYSLOT.
TEST_CASE("key_hash_slot agrees with CLUSTER KEYSLOT") {
  struct Case {
    std::string_view key;
    uint16_t slot;
  };
  const Case cases[] = {
      {"foo", 12182},
      {"bar", 5061},
      {"{user1000}.following", 3443},
      {"{user1000}.followers", 3443},
      {"", 0},
      {"{}", 15257},
      {"{}foo", 9500},
      {"{{a}}", 10276},  // same as "{a"
      {"{a", 10276},
      {"foo{{bar}}zap", 4015},
      {"foo{bar}{zap}", 5061},  // same as "bar"
      {"a{b}{c}", 3300},        // same as "b"
      {"b", 3300},
      {"{}{a}", 13650},
      {"foo{", 7673},
      {"foo}", 15679},
      {"{", 4092},
      {"}", 12090},
      {"}{", 12793},
      {"123456789", 12739},  // 0x31C3
      {"tt:agent:42", 15363},
      {"{tenant:17}:orders", 1436},
      {"tenant:17:orders", 2982},
      {"\0"sv, 0},
      {"\0\0\0\0"sv, 0},
      {"a\0b"sv, 8383},
      {"x{a\0b}y"sv, 8383},
      {"{\0}x"sv, 0},
      {"\xff\xfe\x80"sv, 11813},
      {"{\xff}zz"sv, 7920},
  };
  for (const auto& c : cases) {
    CAPTURE(c.key);
    CHECK(key_hash_slot(c.key) == c.slot);
  }
}

TEST_CASE("key_hash_slot stays in range") {
  std::string key;
  for (int i = 0; i < 2000; ++i) {
    key = "key:" + std::to_string(i);
    const uint16_t slot = key_hash_slot(key);
    CHECK(slot < rmig::cluster::kSlotCount);
    CHECK(slot == (crc16(key) & 0x3FFF));
  }
}
