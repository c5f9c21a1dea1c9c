#include "resp/probe.hpp"

#include <doctest/doctest.h>

using namespace rmig;

namespace {

resp::ServerFacts facts(const char* server, const char* version) {
  resp::ServerFacts f;
  f.known = true;
  f.server = server;
  f.version = version;
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
  CHECK(resp::rdb_version(facts("valkey", "7.2.5")) == 11);
  CHECK(resp::rdb_version(facts("valkey", "8.0.1")) == 11);
  // Unknown: only a RESTORE can tell.
  CHECK(resp::rdb_version(facts("redis", "")) == 0);
  CHECK(resp::rdb_version(facts("redis", "4.0.14")) == 0);
  CHECK(resp::rdb_version(facts("redis", "9.1.0")) == 0);
  CHECK(resp::rdb_version(facts("valkey", "9.0.0")) == 0);
  CHECK(resp::rdb_version(facts("redis", "garbage")) == 0);
}

TEST_CASE("server names for messages") {
  CHECK(resp::server_name(facts("valkey", "8.0.1")) == "Valkey 8.0");
  CHECK(resp::server_name(facts("redis", "7.0.15")) == "Redis 7.0");
  CHECK(resp::server_name(facts("redis", "")) == "Redis");
}
