// What the source is asked per key before its DUMP. In auto mode every key is sized (MEMORY USAGE) unless the
// node proves at start that no key can be over --big-key-threshold: its whole dataset is under it
// (used_memory_dataset, suite rewrite), or, on Redis >= 8, INFO keysizes shows only strings, all shorter
// (engine/key_size_bound.hpp). These tests count the MEMORY USAGE calls the source served and check that the
// copy stays exact either way: values, TTLs, big keys on the rewrite path; on a cluster source, node by node.

#include <doctest/doctest.h>

#include <cstdlib>
#include <map>
#include <string>

#include "helpers.hpp"
#include "support/cluster.hpp"
#include "support/compare.hpp"
#include "support/redis_server.hpp"
#include "support/versions.hpp"

using namespace rmig::test;

namespace {

long long memory_usage_calls(Client& c) {
  const std::string stats = c.checked({"INFO", "commandstats"}).str;
  const std::size_t at = stats.find("cmdstat_memory|usage:calls=");
  return at == std::string::npos ? 0ll : std::atoll(stats.c_str() + at + 27);
}

long long dataset_bytes(Client& c) {
  const std::string info = c.checked({"INFO", "memory"}).str;
  const std::size_t at = info.find("used_memory_dataset:");
  return at == std::string::npos ? 0ll : std::atoll(info.c_str() + at + 20);
}

// `count` strings of 1,500 bytes, every third with a TTL of its own (1 to 2 hours, distinct per key).
void seed_ttl_strings(KeyWriter& c, int count) {
  std::vector<Command> cmds;
  for (int i = 0; i < count; ++i) {
    const std::string key = "s:" + std::to_string(i);
    cmds.push_back(
        {"SET", key, std::string(1490, static_cast<char>('a' + i % 26)) + std::to_string(100000 + i)});
    if (i % 3 == 0) cmds.push_back({"PEXPIRE", key, std::to_string(3'600'000 + i * 977)});
  }
  c.pipeline_checked(cmds);
}

// Copies with a 100 KB threshold into an emptied destination; returns the run after checking it copied every
// key and left the keyspaces the same.
ToolRun copy_checked(RedisServer& src_server, RedisServer& dst_server, const std::string& src_url = "") {
  Client src = src_server.client();
  Client dst = dst_server.client();
  dst.flushall();
  src.checked({"CONFIG", "RESETSTAT"});
  auto run = run_copy(
      {src_url.empty() ? src_server.url() : src_url, dst_server.url(), "--big-key-threshold", "100KB"});
  INFO(run.result.describe());
  REQUIRE(run.exit_code() == 0);
  const auto n = static_cast<uint64_t>(src.dbsize());
  CHECK(run.counter("copied") == n);
  require_same(compare_keyspaces(src, dst), n);
  return run;
}

}  // namespace

TEST_SUITE("fetch") {
  TEST_CASE(
      "Redis 8.0, strings only: INFO keysizes proves every key small, no MEMORY USAGE; a big one brings "
      "the check back") {
    RedisServer src_server(redis_8_0().options());
    RedisServer dst_server(redis_8_0().options());
    Client src = src_server.client();
    seed_ttl_strings(src, 400);
    // The dataset alone proves nothing: it is over the threshold.
    REQUIRE(dataset_bytes(src) > 100'000);

    copy_checked(src_server, dst_server);
    CHECK(memory_usage_calls(src) == 0);

    // One string over the threshold: its bucket (256K) is over it, so every key is sized again, and the big
    // one takes the rewrite path (never DUMPed whole).
    src.checked({"SET", "big:string", std::string(300'000, 'x')});
    src.checked({"PEXPIRE", "big:string", "7200000"});
    auto run = copy_checked(src_server, dst_server);
    CHECK(memory_usage_calls(src) == 401);
    CHECK(run.counter("big_keys_total") == 1);
    CHECK(run.counter("rewritten") == 1);
  }

  TEST_CASE("Redis 8.0: a hash or a stream among the strings proves nothing, every key is sized") {
    RedisServer src_server(redis_8_0().options());
    RedisServer dst_server(redis_8_0().options());
    Client src = src_server.client();
    seed_ttl_strings(src, 300);
    // A hash's element count (in INFO keysizes) says nothing of its bytes.
    src.checked({"HSET", "h", "f", std::string(2000, 'h')});
    copy_checked(src_server, dst_server);
    CHECK(memory_usage_calls(src) == 301);

    // A stream is not in INFO keysizes at all: the counts no longer add up to the keyspace's.
    src.checked({"DEL", "h"});
    src.checked({"XADD", "st", "*", "f", std::string(2000, 's')});
    copy_checked(src_server, dst_server);
    CHECK(memory_usage_calls(src) == 301);
  }

  TEST_CASE("Redis 8.0, a source user without INFO: nothing is proved, every key is sized") {
    ServerOptions options = redis_8_0().options();
    options.acl_users = {"copier on >pw ~* +@all -info"};
    RedisServer src_server(options);
    RedisServer dst_server(redis_8_0().options());
    Client src = src_server.client();
    seed_ttl_strings(src, 200);
    copy_checked(src_server, dst_server, src_server.url_as("copier", "pw"));
    CHECK(memory_usage_calls(src) == 200);
  }

  TEST_CASE("Redis 8.0 cluster source: each primary proves its own keys small, or sizes them all") {
    LocalCluster src_cluster({.node = redis_8_0().options()});
    RedisServer dst_server(redis_8_0().options());
    ClusterClient src = src_cluster.client();
    Client dst = dst_server.client();
    seed_ttl_strings(src, 600);
    const auto primaries = src_cluster.primaries();
    REQUIRE(primaries.size() == 3);
    for (RedisServer* p : primaries) {
      Client c = p->client();
      REQUIRE(dataset_bytes(c) > 100'000);
      c.checked({"CONFIG", "RESETSTAT"});
    }
    auto run = run_copy({src_cluster.url(), dst_server.url(), "--big-key-threshold", "100KB"});
    INFO(run.result.describe());
    REQUIRE(run.exit_code() == 0);
    CHECK(run.counter("copied") == 600);
    require_same(compare_keyspaces(src, dst), 600);
    for (RedisServer* p : primaries) {
      Client c = p->client();
      CHECK(memory_usage_calls(c) == 0);
    }

    // A big string on one primary: that node sizes every key it holds, the others still none.
    src.checked({"SET", "big:string", std::string(300'000, 'y')});
    RedisServer& owner = src_cluster.owner_of_slot(
        static_cast<int>(src.checked({"CLUSTER", "KEYSLOT", "big:string"}).integer));
    for (RedisServer* p : primaries) {
      Client c = p->client();
      c.checked({"CONFIG", "RESETSTAT"});
    }
    dst.flushall();
    auto again = run_copy({src_cluster.url(), dst_server.url(), "--big-key-threshold", "100KB"});
    INFO(again.result.describe());
    REQUIRE(again.exit_code() == 0);
    CHECK(again.counter("copied") == 601);
    CHECK(again.counter("big_keys_total") == 1);
    require_same(compare_keyspaces(src, dst), 601);
    for (RedisServer* p : primaries) {
      Client c = p->client();
      CHECK(memory_usage_calls(c) == (p == &owner ? c.dbsize() : 0));
    }
  }

  TEST_CASE(
      "Redis 8.0, strings only, no size check: keys expiring or deleted between SCAN and their fetch are "
      "counted, never restored without their expiry") {
    RedisServer src_server(redis_8_0().options());
    RedisServer dst_server(redis_8_0().options());
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_ttl_strings(src, 300);
    // 600 keys expiring 100 ms to 1.3 s from now at absolute times of their own, copied at 1,000 keys/s: many
    // expire after SCAN returned them and before (or while) they are fetched.
    const long long now =
        src.checked(
               {"EVAL", "local t = redis.call('TIME') return t[1] * 1000 + math.floor(t[2] / 1000)", "0"})
            .integer;
    std::vector<Command> cmds;
    std::map<std::string, long long> expiry;
    for (int i = 0; i < 600; ++i) {
      const std::string key = "x:" + std::to_string(i);
      expiry[key] = now + 100 + i * 2;
      cmds.push_back({"SET", key, std::string(1500, 'x')});
      cmds.push_back({"PEXPIREAT", key, std::to_string(expiry[key])});
    }
    src.pipeline_checked(cmds);
    src.checked({"CONFIG", "RESETSTAT"});
    auto tool = start_tool({src_server.url(), dst_server.url(), "--big-key-threshold", "100KB",
                            "--rate-limit", "1000", "--progress-interval", "0"});
    // Some deleted outright while the copy runs, most before it reaches them.
    for (int i = 0; i < 300; i += 3)
      src.checked({"DEL", "s:" + std::to_string(i)});
    const ExitStatus status = tool.wait();
    INFO(status.describe() << "\n" << tool.err());
    REQUIRE(status.exit_code == 0);
    CHECK(memory_usage_calls(src) == 0);
    // No key the copy wrote outlives its source: every x: key on the destination has the source's absolute
    // expiry (never none, never later).
    std::size_t seen = 0;
    for (const std::string& key : dst.scan_all("x:*")) {
      const long long at = dst.checked({"PEXPIRETIME", key}).integer;
      if (at == -2) continue;  // expired on the destination since the SCAN above: its expiry held
      ++seen;
      CHECK_MESSAGE(at > 0, key);
      CHECK_MESSAGE(at <= expiry[key], key);
      CHECK_MESSAGE(at >= expiry[key] - 1000, key);
    }
    CHECK(seen < 600);  // some expired before their fetch
    // Every s: key still on the source is on the destination, the same.
    require_same(compare_keyspaces(src, dst,
                                   {.include = [](const std::string& k) { return k.rfind("s:", 0) == 0; },
                                    .check_extra_keys_on_dst = false}),
                 150);
  }
}
