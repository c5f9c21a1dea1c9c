#include "resp/server_facts.hpp"

#include <doctest/doctest.h>

#include "resp/info.hpp"

using namespace rmig;
using resp::ServerKind;
using resp::ServerVersion;

TEST_CASE("a server's version is parsed once into major, minor and patch") {
  auto v = ServerVersion::parse(ServerKind::kRedis, "7.0.15");
  CHECK(v.known());
  CHECK(v.major == 7);
  CHECK(v.minor == 0);
  CHECK(v.patch == 15);
  CHECK(v.text == "7.0.15");
  CHECK_FALSE(v.valkey());
  CHECK(std::string(v.server()) == "redis");
  CHECK(v.name() == "Redis 7.0");

  auto k = ServerVersion::parse(ServerKind::kValkey, "9.1.2");
  CHECK(k.valkey());
  CHECK(std::string(k.server()) == "valkey");
  CHECK(k.name() == "Valkey 9.1");

  // Missing parts are 0; a suffix after the numbers is ignored.
  auto two = ServerVersion::parse(ServerKind::kRedis, "6.2");
  CHECK((two.major == 6 && two.minor == 2 && two.patch == 0));
  auto one = ServerVersion::parse(ServerKind::kRedis, "8");
  CHECK((one.major == 8 && one.minor == 0 && one.patch == 0));
  auto rc = ServerVersion::parse(ServerKind::kRedis, "8.2.0-rc1");
  CHECK((rc.major == 8 && rc.minor == 2 && rc.patch == 0));

  // Unknown: no INFO, garbage, a zero or negative major.
  for (const char* text : {"", "garbage", "0.0.0", "-1.2", ".7", "v7.0"}) {
    CAPTURE(text);
    auto u = ServerVersion::parse(ServerKind::kRedis, text);
    CHECK_FALSE(u.known());
    CHECK(u.major == 0);
    CHECK_FALSE(u.at_least(0));
    CHECK(u.rdb_version() == 0);
    CHECK(u.has_field_ttls());  // assumed, the server's answer decides
  }
  CHECK(ServerVersion::parse(ServerKind::kRedis, "").name() == "Redis");
  CHECK(ServerVersion::parse(ServerKind::kRedis, "garbage").name() == "Redis garbage");
}

TEST_CASE("at_least compares major, minor and patch in order") {
  auto v = ServerVersion::parse(ServerKind::kRedis, "6.2.14");
  CHECK(v.at_least(6));
  CHECK(v.at_least(6, 2));
  CHECK(v.at_least(6, 2, 14));
  CHECK_FALSE(v.at_least(6, 2, 15));
  CHECK_FALSE(v.at_least(6, 3));
  CHECK_FALSE(v.at_least(7));
  CHECK(v.at_least(5, 9, 99));
  CHECK(ServerVersion::parse(ServerKind::kRedis, "10.0.0").at_least(9, 99));
}

TEST_CASE("INFO fields become ServerFacts, Valkey's version before redis_version") {
  const auto info = resp::parse_info(
      "# Server\r\nredis_version:7.2.4\r\nvalkey_version:8.1.1\r\nrun_id:abc\r\ntcp_port:7001\r\n"
      "# Replication\r\nrole:slave\r\nmaster_host:10.0.0.1\r\nmaster_port:6380\r\n"
      "master_replid:1111\r\nmaster_replid2:0000000000000000000000000000000000000000\r\n"
      "slave0:ip=127.0.0.1,port=7002,state=online,offset=1,lag=0\r\n"
      "# Memory\r\nmaxmemory_policy:allkeys-lfu\r\n# Stats\r\nevicted_keys:12\r\n"
      "# Cluster\r\ncluster_enabled:1\r\n# Keyspace\r\ndb0:keys=5,expires=0,avg_ttl=0\r\n"
      "db3:keys=70,expires=1,avg_ttl=9\r\n");
  const auto f = resp::facts_from_info(info);
  CHECK(f.known);
  CHECK(f.version.valkey());
  CHECK(f.version.text == "8.1.1");
  CHECK(f.version.rdb_version() == 11);
  CHECK(resp::server_name(f) == "Valkey 8.1");
  CHECK(f.run_id == "abc");
  CHECK(f.port == 7001);
  CHECK(f.role == "slave");
  CHECK(f.primary == "10.0.0.1:6380");
  CHECK(f.primary_port == 6380);
  CHECK(f.replid == "1111");
  CHECK(f.replid2.empty());
  REQUIRE(f.replicas.size() == 1);
  CHECK(f.replicas[0] == "127.0.0.1:7002");
  CHECK(f.maxmemory_policy == "allkeys-lfu");
  CHECK(f.evicted_keys == 12);
  CHECK(f.cluster);
  CHECK(f.db_keys.size() == 2);
  CHECK(f.db_keys.at(3) == 70);

  const auto redis = resp::facts_from_info(resp::parse_info("# Server\r\nredis_version:7.4.1\r\n"));
  CHECK_FALSE(redis.version.valkey());
  CHECK(redis.version.rdb_version() == 12);
  CHECK(redis.version.has_field_ttls());
  CHECK(redis.evicted_keys == -1);
  CHECK_FALSE(redis.cluster);

  const resp::ServerFacts none;  // INFO refused
  CHECK_FALSE(none.known);
  CHECK_FALSE(none.version.known());
  CHECK(std::string(none.version.server()) == "redis");
}
