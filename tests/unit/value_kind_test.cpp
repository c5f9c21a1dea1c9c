// One value-kind table for every layer: TYPE names, DUMP payload type bytes, length commands.

#include <doctest/doctest.h>

#include <string>

#include "value/kind.hpp"

using rmig::value::Kind;
namespace value = rmig::value;

TEST_SUITE("value kind") {
  TEST_CASE("every kind's name reads back as that kind; the built-in ones are TYPE's names") {
    for (const auto& [kind, name] : value::kKindNames) {
      CHECK(std::string(value::kind_name(kind)) == name);
      if (value::builtin(kind)) CHECK(value::type_kind(name) == kind);
    }
    CHECK(value::type_kind("none") == Kind::kUnknown);
    CHECK(value::type_kind("") == Kind::kUnknown);
    CHECK(value::type_kind("ReJSON-RL") == Kind::kModule);  // a module's type name
    CHECK(value::type_kind("unknown") == Kind::kModule);    // not a name TYPE gives to anything built in
    CHECK_FALSE(value::builtin(Kind::kModule));
    CHECK_FALSE(value::builtin(Kind::kUnknown));
  }

  TEST_CASE("length commands by TYPE name, none for a module's type") {
    CHECK(std::string(value::length_command("string")) == "STRLEN");
    CHECK(std::string(value::length_command("list")) == "LLEN");
    CHECK(std::string(value::length_command("set")) == "SCARD");
    CHECK(std::string(value::length_command("zset")) == "ZCARD");
    CHECK(std::string(value::length_command("hash")) == "HLEN");
    CHECK(std::string(value::length_command("stream")) == "XLEN");
    CHECK(value::length_command("ReJSON-RL") == nullptr);
    CHECK(value::length_command("none") == nullptr);
  }

  TEST_CASE("a DUMP payload's kind from its RDB type byte; field TTLs from types 22 to 25") {
    auto payload = [](unsigned char type) { return std::string(1, static_cast<char>(type)) + "rest"; };
    CHECK(value::payload_kind("") == Kind::kUnknown);
    CHECK(value::payload_kind(payload(0)) == Kind::kString);
    CHECK(value::payload_kind(payload(18)) == Kind::kList);
    CHECK(value::payload_kind(payload(20)) == Kind::kSet);
    CHECK(value::payload_kind(payload(17)) == Kind::kZset);
    CHECK(value::payload_kind(payload(16)) == Kind::kHash);
    CHECK(value::payload_kind(payload(21)) == Kind::kStream);
    CHECK(value::payload_kind(payload(7)) == Kind::kModule);
    CHECK(value::payload_kind(payload(200)) == Kind::kUnknown);
    for (unsigned char t = 22; t <= 25; ++t) {
      CHECK(value::payload_kind(payload(t)) == Kind::kHash);
      CHECK(value::payload_has_field_ttls(payload(t)));
    }
    CHECK_FALSE(value::payload_has_field_ttls(payload(16)));
    CHECK_FALSE(value::payload_has_field_ttls(""));
    CHECK(value::mergeable(Kind::kHash));
    CHECK(value::mergeable(Kind::kSet));
    CHECK(value::mergeable(Kind::kZset));
    CHECK_FALSE(value::mergeable(Kind::kString));
    CHECK_FALSE(value::mergeable(Kind::kStream));
  }
}
