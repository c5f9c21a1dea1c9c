#include "app/url.hpp"

#include <doctest/doctest.h>

using rmig::ExitCode;
using rmig::app::parse_redis_url;
using rmig::app::redact_raw_url;
using rmig::net::Endpoint;

TEST_CASE("redis:// URLs: defaults, port, db, credentials") {
  auto u = parse_redis_url("redis://cache.example.com", "source URL");
  REQUIRE(u);
  CHECK(u->endpoint.kind == Endpoint::Kind::kTcp);
  CHECK(u->endpoint.host == "cache.example.com");
  CHECK(u->endpoint.port == 6379);
  CHECK(u->db == 0);
  CHECK_FALSE(u->db_given);
  CHECK_FALSE(u->endpoint.tls.enabled);
  CHECK(u->user.empty());
  CHECK(u->password.empty());

  u = parse_redis_url("redis://h:7000/3", "x");
  REQUIRE(u);
  CHECK(u->endpoint.port == 7000);
  CHECK(u->db == 3);
  CHECK(u->db_given);

  u = parse_redis_url("redis://:s3cret@h/1", "x");
  REQUIRE(u);
  CHECK(u->user.empty());
  CHECK(u->password == "s3cret");

  u = parse_redis_url("redis://alice:p%40ss%2Fw%3Ard@h:6380/0", "x");
  REQUIRE(u);
  CHECK(u->user == "alice");
  CHECK(u->password == "p@ss/w:rd");

  u = parse_redis_url("redis://bob@h", "x");
  REQUIRE(u);
  CHECK(u->user == "bob");
  CHECK(u->password.empty());

  u = parse_redis_url("redis://h/", "x");
  REQUIRE(u);
  CHECK(u->db == 0);
}

TEST_CASE("IPv6, rediss:// and unix:// URLs") {
  auto u = parse_redis_url("redis://[::1]:6390/2", "x");
  REQUIRE(u);
  CHECK(u->endpoint.host == "::1");
  CHECK(u->endpoint.port == 6390);
  CHECK(u->endpoint.to_string() == "[::1]:6390");
  CHECK(u->db == 2);

  u = parse_redis_url("rediss://default:pw@master.x.cache.amazonaws.com:6379", "x");
  REQUIRE(u);
  CHECK(u->endpoint.tls.enabled);

  u = parse_redis_url("unix:///var/run/redis/redis.sock?db=4", "x");
  REQUIRE(u);
  CHECK(u->endpoint.kind == Endpoint::Kind::kUnix);
  CHECK(u->endpoint.path == "/var/run/redis/redis.sock");
  CHECK(u->db == 4);

  u = parse_redis_url("unix://:pw@/tmp/r.sock", "x");
  REQUIRE(u);
  CHECK(u->password == "pw");
  CHECK(u->endpoint.path == "/tmp/r.sock");
}

TEST_CASE("bad URLs are usage errors that name the problem and never show the password") {
  const char* bad[] = {
      "localhost:6379",                // no scheme
      "http://h:6379",                 // wrong scheme
      "redis://h:0",                   // port out of range
      "redis://h:70000",               // port out of range
      "redis://h:abc",                 // port not a number
      "redis://h/notadb",              // db not a number
      "redis://h/1/2",                 // db not a number
      "redis://",                      // no host
      "redis://u:topsecret@h/x",       // bad db, with a password to hide
      "redis://h?ssl_cert_reqs=none",  // unknown parameter
      "unix://host/tmp/r.sock",        // unix with a host
      "",
  };
  for (const char* text : bad) {
    CAPTURE(text);
    auto u = parse_redis_url(text, "source URL");
    REQUIRE_FALSE(u);
    CHECK(u.error().code == ExitCode::kUsage);
    CHECK(u.error().message.find("source URL") != std::string::npos);
    CHECK(u.error().message.find("topsecret") == std::string::npos);
  }
}

TEST_CASE("redacted URLs hide the password") {
  auto u = parse_redis_url("redis://alice:hunter2@h:6380/5", "x");
  REQUIRE(u);
  CHECK(u->redacted() == "redis://alice:***@h:6380/5");
  u = parse_redis_url("rediss://:hunter2@h", "x");
  REQUIRE(u);
  CHECK(u->redacted() == "rediss://:***@h:6379/0");
  u = parse_redis_url("redis://h", "x");
  REQUIRE(u);
  CHECK(u->redacted() == "redis://h:6379/0");
  CHECK(redact_raw_url("redis://u:hunter2@h:1/x") == "redis://u:***@h:1/x");
  CHECK(redact_raw_url("redis://h:1") == "redis://h:1");
  CHECK(redact_raw_url("redis://u:p@ss@h") == "redis://u:***@h");
}
