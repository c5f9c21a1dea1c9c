#include "resp/probe.hpp"

#include <doctest/doctest.h>

using namespace rmig;

namespace {

resp::ServerFacts facts(const char* server, const char* version) {
  resp::ServerFacts f;
  f.known = true;
  f.version = resp::ServerVersion::parse(
      std::string_view(server) == "valkey" ? resp::ServerKind::kValkey : resp::ServerKind::kRedis, version);
  return f;
}

}  // namespace

TEST_CASE("the RDB version of a server's DUMP payloads, from its version") {
  CHECK(resp::rdb_version(facts("redis", "6.0.16")) == 9);
  CHECK(resp::rdb_version(facts("redis", "6.2.14")) == 9);
  CHECK(resp::rdb_version(facts("redis", "7.0.15")) == 10);
  CHECK(resp::rdb_version(facts("redis", "7.2.4")) == 11);
  CHECK(resp::rdb_version(facts("redis", "7.4.1")) == 12);
  CHECK(resp::rdb_version(facts("redis", "8.0.2")) == 12);
  CHECK(resp::rdb_version(facts("redis", "8.2.3")) == 12);
  CHECK(resp::rdb_version(facts("redis", "8.4.0")) == 12);
  CHECK(resp::rdb_version(facts("redis", "8.6.0")) == 13);
  CHECK(resp::rdb_version(facts("valkey", "7.2.5")) == 11);
  CHECK(resp::rdb_version(facts("valkey", "8.0.1")) == 11);
  CHECK(resp::rdb_version(facts("valkey", "8.1.1")) == 11);
  CHECK(resp::rdb_version(facts("valkey", "9.0.0")) == 80);
  CHECK(resp::rdb_version(facts("valkey", "9.1.2")) == 80);
  // Unknown: only a RESTORE can tell.
  CHECK(resp::rdb_version(facts("redis", "")) == 0);
  CHECK(resp::rdb_version(facts("redis", "4.0.14")) == 0);
  CHECK(resp::rdb_version(facts("redis", "5.0.14")) == 9);
  CHECK(resp::rdb_version(facts("redis", "8.8.0")) == 0);
  CHECK(resp::rdb_version(facts("redis", "9.1.0")) == 0);
  CHECK(resp::rdb_version(facts("valkey", "10.0.0")) == 0);
  CHECK(resp::rdb_version(facts("valkey", "7.0.0")) == 0);
  CHECK(resp::rdb_version(facts("redis", "garbage")) == 0);
}

TEST_CASE("which destination reads which source's DUMP payloads") {
  auto reads = [](const char* ss, const char* sv, const char* ds, const char* dv) {
    return resp::reads_payloads(facts(ss, sv), facts(ds, dv));
  };
  // Older into newer, same fork.
  CHECK(reads("redis", "7.0.15", "redis", "8.0.2") == true);
  CHECK(reads("redis", "8.0.2", "redis", "8.6.0") == true);
  CHECK(reads("valkey", "8.1.1", "valkey", "9.1.2") == true);
  // Newer into older.
  CHECK(reads("redis", "8.0.2", "redis", "7.0.15") == false);
  CHECK(reads("redis", "8.6.0", "redis", "8.4.0") == false);
  CHECK(reads("valkey", "9.1.2", "valkey", "8.1.1") == false);
  // Across the forks: RDB 11 is common ground; Redis 7.4+ (12, 13) and Valkey 9 (80) are not.
  CHECK(reads("redis", "7.2.4", "valkey", "9.1.2") == true);
  CHECK(reads("valkey", "8.1.1", "redis", "7.2.4") == true);
  CHECK(reads("valkey", "8.0.1", "redis", "8.0.2") == true);
  CHECK(reads("redis", "8.0.2", "valkey", "9.1.2") == false);
  CHECK(reads("redis", "7.4.1", "valkey", "8.1.1") == false);
  CHECK(reads("valkey", "9.1.2", "redis", "8.0.2") == false);
  CHECK(reads("valkey", "9.1.2", "redis", "8.6.0") == false);
  std::string why;
  CHECK(resp::reads_payloads(facts("redis", "8.0.2"), facts("valkey", "9.1.2"), &why) == false);
  CHECK(why.find("Valkey 9.1 (RDB 80) refuses Redis's RDB 12") != std::string::npos);
  // Unknown versions: the destination's RESTORE answer decides during the run.
  CHECK_FALSE(reads("redis", "", "valkey", "9.1.2").has_value());
  CHECK_FALSE(reads("redis", "8.0.2", "valkey", "10.0.0").has_value());
}

TEST_CASE("which servers have hash field expiration") {
  CHECK(resp::has_field_ttls(facts("redis", "7.4.1")));
  CHECK(resp::has_field_ttls(facts("redis", "8.0.2")));
  CHECK(resp::has_field_ttls(facts("valkey", "9.0.0")));
  CHECK_FALSE(resp::has_field_ttls(facts("redis", "7.2.4")));
  CHECK_FALSE(resp::has_field_ttls(facts("redis", "7.0.15")));
  CHECK_FALSE(resp::has_field_ttls(facts("valkey", "8.1.1")));
  CHECK(resp::has_field_ttls(facts("redis", "")));  // unknown: tried, "unknown command" says no
}

TEST_CASE("server names for messages") {
  CHECK(resp::server_name(facts("valkey", "8.0.1")) == "Valkey 8.0");
  CHECK(resp::server_name(facts("redis", "7.0.15")) == "Redis 7.0");
  CHECK(resp::server_name(facts("valkey", "9.1.2")) == "Valkey 9.1");
  CHECK(resp::server_name(facts("redis", "")) == "Redis");
}
