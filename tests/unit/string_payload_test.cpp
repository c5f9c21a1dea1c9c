// A string's DUMP payload built from its value: byte for byte what redis-server 7.0 DUMPs (with
// rdbcompression off, as DUMP writes a value it cannot compress), for each encoding DUMP chooses.

#include "value/string_payload.hpp"

#include <doctest/doctest.h>

#include <string>

#include "resp/reply.hpp"
#include "util/crc64.hpp"
#include "value/kind.hpp"

namespace value = rmig::value;

namespace {

std::string hex(std::string_view s) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (const unsigned char c : s) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string payload(std::string_view v, int rdb) {
  std::string out(value::string_payload_size(v), '\0');
  value::write_string_payload(v, rdb, out.data());
  return out;
}

}  // namespace

TEST_SUITE("string payload") {
  TEST_CASE("CRC-64/Jones: the check value, and the 8-byte steps agree with the byte steps") {
    CHECK(rmig::crc64(0, "123456789") == 0xe9c6d914c4b8d9caULL);
    CHECK(rmig::crc64(0, "") == 0);
    std::string data;
    for (int i = 0; i < 1000; ++i)
      data += static_cast<char>((i * 7919) & 0xff);
    for (std::size_t cut : {0UL, 1UL, 7UL, 8UL, 9UL, 500UL, 999UL}) {
      const std::string_view all(data);
      CHECK(rmig::crc64(rmig::crc64(0, all.substr(0, cut)), all.substr(cut)) == rmig::crc64(0, all));
    }
  }

  TEST_CASE("payloads are byte for byte what redis-server 7.0 (RDB 10) DUMPs") {
    // Captured from redis-server 7.0.15: SET t VALUE, DUMP t.
    CHECK(hex(payload("abc", 10)) == "00036162630a00d9ac303d4172a2e2");
    CHECK(hex(payload("1", 10)) == "00c0010a002678e7b6d10111fc");
    CHECK(hex(payload("-128", 10)) == "00c0800a009966326d2f0c5bd9");
    CHECK(hex(payload("300", 10)) == "00c12c010a00954261f265825c10");
    CHECK(hex(payload("70000", 10)) == "00c2701101000a0001a408fe953095a5");
    CHECK(hex(payload("-2147483648", 10)) == "00c2000000800a00c74f873e33558187");
    CHECK(hex(payload("2147483648", 10)) == "000a323134373438333634380a00e7b129a34c1d76ee");
    CHECK(hex(payload("007", 10)) == "00033030370a007258e27b4c69bad9");
    CHECK(hex(payload("", 10)) == "00000a005d9b5c400f7fa2da");
    CHECK(hex(payload(std::string(20, 'y'), 10)) ==
          "0014" + hex(std::string(20, 'y')) + "0a001229e85407b710d8");
    CHECK(hex(payload(std::string(64, 'x'), 10)) ==
          "004040" + hex(std::string(64, 'x')) + "0a00376c9d023dc52973");
  }

  TEST_CASE("length encodings at their bounds, and the sizes written") {
    for (std::size_t n : {63UL, 64UL, 16383UL, 16384UL, 70000UL}) {
      const std::string v(n, 'z');
      const std::string p = payload(v, 11);
      CHECK(p.size() == value::string_payload_size(v));
      CHECK(value::payload_kind(p) == value::Kind::kString);
      const std::size_t header = n < 64 ? 1 : n < 16384 ? 2 : 5;
      CHECK(p.size() == 1 + header + n + 10);
      CHECK(p.substr(1 + header, n) == v);
      CHECK(static_cast<unsigned char>(p[1 + header + n]) == 11);  // the RDB version, little-endian
      CHECK(p[2 + header + n] == 0);
    }
    // Not canonical integers: verbatim.
    for (const char* v : {"-0", "+1", " 1", "1 ", "1.5", "0x10", "12345678901"})
      CHECK(payload(v, 10)[1] == static_cast<char>(std::string_view(v).size()));
  }

  TEST_CASE("a built payload reads back as its value; other payloads do not") {
    for (const std::string& v :
         {std::string(), std::string("0"), std::string("-128"), std::string("300"),
          std::string("-2147483648"), std::string("2147483648"), std::string("007"), std::string(63, 'a'),
          std::string(64, 'b'), std::string(16384, 'c'), std::string(70000, 'd')}) {
      CAPTURE(v.size());
      const auto back = value::string_payload_value(payload(v, 10));
      REQUIRE(back.has_value());
      CHECK(*back == v);
    }
    // An LZF-compressed string (encoding byte 0xc3), as DUMP writes a compressible one: not read back.
    std::string lzf;
    for (const unsigned char c : {0x00, 0xc3, 0x09, 0x40, 0x64, 0x01, 0x61, 0x61, 0xe0, 0x50, 0x00, 0x01,
                                  0x61, 0x61, 0x0a, 0x00, 0,    0,    0,    0,    0,    0,    0,    0})
      lzf += static_cast<char>(c);
    CHECK_FALSE(value::string_payload_value(lzf).has_value());
    CHECK_FALSE(
        value::string_payload_value(std::string("\x04\x01\x01"
                                                "f\x01"
                                                "v\x0a\x00"
                                                "abcdefgh",
                                                16)));  // a hash
    CHECK_FALSE(value::string_payload_value(""));
    std::string cut = payload("abcdef", 10);
    cut.erase(3, 1);  // a length that does not match what follows
    CHECK_FALSE(value::string_payload_value(cut));
  }

  TEST_CASE("a built payload is a string reply like a server's") {
    const std::string v = "value";
    rmig::resp::Reply r = rmig::resp::make_string_reply(value::string_payload_size(v));
    REQUIRE(r);
    value::write_string_payload(v, 12, r->str);
    CHECK(r->type == REDIS_REPLY_STRING);
    CHECK(rmig::resp::text(r.get()) == payload(v, 12));
    CHECK(r->str[r->len] == '\0');
  }
}
