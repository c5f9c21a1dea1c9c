// The rewrite path against real servers of different versions: Valkey 8.0 (bookworm-backports) and Redis 6.0
// (bullseye), fetched by the test support, next to the machine's Redis 7.0. Newer-to-older copies fall back
// to the rewrite path key by key; big keys go through it in chunks; --mode forces a path.

#include <doctest/doctest.h>

#include <set>
#include <thread>

#include "helpers.hpp"
#include "support/cluster.hpp"
#include "support/compare.hpp"
#include "support/redis_server.hpp"
#include "support/seed.hpp"
#include "support/versions.hpp"

using namespace rmig::test;

namespace {

// The trimmed edge stream's two pending entries refer to entries XTRIM deleted: XCLAIM cannot recreate them.
constexpr const char* kTrimmedStream = "edge:stream-trimmed";

// Source streams with a consumer that has no pending entries (seed_mixed's "latecomers"/"bob").
std::set<std::string> streams_with_idle_consumers(Client& src) {
  std::set<std::string> out;
  for (const auto& k : src.scan_all("seed:stream:*")) {
    Reply groups = src.checked({"XINFO", "GROUPS", k});
    for (const auto& g : groups.elements) {
      for (std::size_t i = 0; i + 1 < g.elements.size(); i += 2) {
        if (g.elements[i].str == "name" && g.elements[i + 1].str == "latecomers") out.insert(k);
      }
    }
  }
  return out;
}

std::size_t count_lines(const std::string& text, const std::string& needle) {
  return lines_with(text, needle).size();
}

void check_no_temp_keys(Client& dst) {
  auto temps = dst.scan_all("*redis-migrate:tmp:*");
  CHECK_MESSAGE(temps.empty(), "temporary keys left on the destination: " << temps.size());
}

}  // namespace

TEST_SUITE("rewrite") {
  TEST_CASE("Valkey 8.0 -> Redis 7.0: refused payloads fall back to the rewrite path, every type with TTLs") {
    RedisServer src_server(valkey_8_0().options());
    RedisServer dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    REQUIRE(info_field(src, "valkey_version").rfind("8.0.", 0) == 0);
    seed_mixed(src, {.count = 1200, .ttl_fraction = 0.3});
    seed_edge_keys(src, {.short_ttl_key = false});
    const auto n = static_cast<uint64_t>(src.dbsize());
    src.checked({"CONFIG", "RESETSTAT"});

    const auto src_before = forbidden_calls(src);
    const auto dst_before = forbidden_calls(dst);
    // A small window: after the first refused payload, the keys in flight are the only ones DUMPed.
    auto run =
        run_copy({src_server.url(), dst_server.url(), "--progress-interval", "0", "--window-keys", "4"});
    INFO(run.result.describe());
    REQUIRE(run.exit_code() == 0);
    // The rewrite path too sends nothing a managed service forbids.
    check_no_forbidden_calls(src_before, forbidden_calls(src), "the source");
    check_no_forbidden_calls(dst_before, forbidden_calls(dst), "the destination");
    CHECK(run.counter("scanned") == n);
    CHECK(run.counter("copied") == n);
    CHECK(run.counter("rewritten") == n);  // Redis 7.0 reads none of Valkey 8.0's payloads (RDB 11)
    CHECK(run.counter("failed") == 0);
    // Every later key of the source node went straight to the rewrite path: DUMP was sent for the keys in the
    // window when the first payload was refused, and a few dispatched meanwhile, not for every key.
    const long long dumps = command_calls(src, "dump");
    MESSAGE(dumps << " DUMPs for " << n << " keys");
    CHECK(dumps >= 1);
    CHECK(dumps <= 16);
    // The trimmed stream's two pending entries whose messages are gone.
    CHECK(run.counter("stream_not_recreated") == 2);
    // The switch is said once, however many keys were in flight when it happened.
    CHECK(count_lines(run.result.err, "copying its keys with the rewrite path from now on") == 1);
    CHECK(run.report["path"].get<std::string>().find(
              "rewrite path: the destination (Redis 7.0, RDB 10) cannot "
              "read DUMP payloads of the source (Valkey 8.0, RDB 11)") != std::string::npos);
    CHECK(run.report["path_detail"]["expected"] == "rewrite");
    require_same(compare_keyspaces(src, dst,
                                   {.include = [](const std::string& k) { return k != kTrimmedStream; },
                                    .ttl_tolerance_ms = 2000,
                                    .check_extra_keys_on_dst = false}),
                 n - 1);
    // The trimmed stream: entries, IDs, group and its last-delivered ID all there; the lost entries not.
    KeySnapshot t = snapshot_key(dst, kTrimmedStream);
    CHECK(t.type == "stream");
    CHECK(dst.command({"XLEN", kTrimmedStream}).integer == 2);
    CHECK(dst.command({"XPENDING", kTrimmedStream, "g"}).elements.at(0).integer == 0);
    CHECK(static_cast<uint64_t>(user_dbsize(dst)) == n);
    check_no_temp_keys(dst);

    // verify compares the rewritten keys by value, type-aware, across the two versions. The trimmed stream
    // cannot be equal (its lost pending entries); without it on the source, verify does not check it.
    src.checked({"DEL", kTrimmedStream});
    auto verified = run_verify(src_server.url(), dst_server.url());
    INFO(verified.result.describe());
    CHECK(verified.exit_code() == 0);
    CHECK(verified.counter("checked") == n - 1);
    CHECK(verified.counter("equal") == n - 1);
  }

  TEST_CASE("Valkey 8.0 -> a Redis 7.0 cluster: temporary keys in each target's slot, renamed in place") {
    RedisServer src_server(valkey_8_0().options());
    Client src = src_server.client();
    seed_mixed(src, {.count = 600, .ttl_fraction = 0.3});
    src.checked({"SET", "{user:1}:name", "a hash tag"});
    const auto n = static_cast<uint64_t>(src.dbsize());
    LocalCluster dst_cluster;
    ClusterClient dst = dst_cluster.client();
    auto run = run_copy({src_server.url(), dst_cluster.url(), "--progress-interval", "0"});
    INFO(run.result.describe());
    REQUIRE(run.exit_code() == 0);
    CHECK(run.counter("copied") == n);
    CHECK(run.counter("rewritten") == n);
    CHECK(run.counter("failed") == 0);
    require_same(compare_keyspaces(src, dst, {.ttl_tolerance_ms = 2000}), n);
  }

  TEST_CASE("plan: both versions read, the path said in advance, nothing written") {
    RedisServer src_server(valkey_8_0().options());
    RedisServer dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_mixed(src, {.count = 60});
    src.checked({"SET", "bigstr", std::string(300'000, 'x')});
    auto run = run_copy({"plan", src_server.url(), dst_server.url(), "--big-key-threshold", "100KB"});
    INFO(run.result.describe());
    REQUIRE(run.exit_code() == 0);
    const std::string path = run.report["path"];
    CHECK(
        path.find("rewrite path: the destination (Redis 7.0, RDB 10) cannot read DUMP payloads of the source "
                  "(Valkey 8.0, RDB 11)") != std::string::npos);
    CHECK(path.find("big keys over the threshold") != std::string::npos);
    CHECK(run.report["path_detail"]["source"]["server"] == "valkey");
    CHECK(run.report["path_detail"]["source"]["version"].get<std::string>().rfind("8.0.", 0) == 0);
    CHECK(run.report["path_detail"]["destination"]["rdb_version"] == 10);
    CHECK(run.report["big_keys_total"] == 1);
    REQUIRE(run.report["big_keys"].size() == 1);
    CHECK(run.report["big_keys"][0]["key"] == "bigstr");
    CHECK(run.report["big_keys"][0]["name"] == "bigstr");
    CHECK(run.report["big_keys"][0]["type"] == "string");
    CHECK(run.report["big_keys"][0]["size"].get<uint64_t>() >= 300'000);
    CHECK(run.result.err.find("path: rewrite path") != std::string::npos);
    CHECK(user_dbsize(dst) == 0);
  }

  TEST_CASE("Redis 7.0 -> Valkey 8.0: the dump path") {
    RedisServer src_server;
    RedisServer dst_server(valkey_8_0().options());
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_mixed(src, {.count = 600, .ttl_fraction = 0.3});
    seed_edge_keys(src, {.short_ttl_key = false});
    const auto n = static_cast<uint64_t>(src.dbsize());
    auto run = run_copy({src_server.url(), dst_server.url()});
    INFO(run.result.describe());
    REQUIRE(run.exit_code() == 0);
    CHECK(run.counter("copied") == n);
    CHECK(run.counter("rewritten") == 0);
    CHECK(run.report["path_detail"]["expected"] == "dump");
    CHECK(run.report["path"].get<std::string>().find(
              "dump path: the destination (Valkey 8.0, RDB 11) reads") != std::string::npos);
    require_same(compare_keyspaces(src, dst, {.ttl_tolerance_ms = 2000}), n);
  }

  TEST_CASE("Redis 7.0 -> Redis 6.0: the rewrite path without 7.0's stream metadata") {
    RedisServer src_server;
    RedisServer dst_server(redis_6_0().options());
    Client src = src_server.client();
    Client dst = dst_server.client();
    REQUIRE(dst_server.redis_version().rfind("6.0.", 0) == 0);
    seed_mixed(src, {.count = 600, .ttl_fraction = 0.3});
    seed_edge_keys(src, {.short_ttl_key = false});
    const auto n = static_cast<uint64_t>(src.dbsize());
    const std::set<std::string> idle = streams_with_idle_consumers(src);
    REQUIRE(!idle.empty());

    auto run = run_copy({src_server.url(), dst_server.url(), "--progress-interval", "0"});
    INFO(run.result.describe());
    REQUIRE(run.exit_code() == 0);
    CHECK(run.counter("copied") == n);
    CHECK(run.counter("rewritten") == n);
    CHECK(run.counter("failed") == 0);
    // Redis 6.0 has no XGROUP CREATECONSUMER: a consumer without pending entries cannot be made there.
    CHECK(run.counter("stream_not_recreated") == idle.size() + 2);
    CHECK(run.report["path_detail"]["expected"] == "rewrite");
    require_same(
        compare_keyspaces(
            src, dst,
            {.include = [&](const std::string& k) { return k != kTrimmedStream && idle.count(k) == 0; },
             .ttl_tolerance_ms = 2000,
             .check_extra_keys_on_dst = false}),
        n - 1 - idle.size());
    // Those streams still hold every entry, group and pending entry.
    for (const auto& k : idle) {
      CHECK(dst.command({"XLEN", k}).integer == src.command({"XLEN", k}).integer);
      CHECK(dst.command({"XPENDING", k, "readers"}).elements.at(0).integer ==
            src.command({"XPENDING", k, "readers"}).elements.at(0).integer);
    }
    check_no_temp_keys(dst);

    // verify: every key equal but those streams, whose groups count fewer consumers on 6.0 (documented).
    src.checked({"DEL", kTrimmedStream});
    auto verified = run_verify(src_server.url(), dst_server.url());
    INFO(verified.result.describe());
    CHECK(verified.exit_code() == 1);
    CHECK(verified.counter("checked") == n - 1);
    CHECK(verified.counter("equal") == n - 1 - idle.size());
    CHECK(verified.counter("value_differs") == idle.size());
    for (const auto& d : verified.report["differences"]) {
      CAPTURE(d.dump());
      CHECK(idle.count(d["key"].get<std::string>()) == 1);
      CHECK(d["detail"].get<std::string>().find("consumers") != std::string::npos);
    }
  }

  TEST_CASE("--mode rewrite between equal versions: every key rebuilt, the conflict policy kept") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_mixed(src, {.count = 600, .ttl_fraction = 0.3});
    seed_edge_keys(src, {.short_ttl_key = false});
    const auto n = static_cast<uint64_t>(src.dbsize());
    // Keys already on the destination: kept under the skip policy, overwritten with --replace.
    dst.checked({"SET", "seed:string:0", "kept"});
    dst.checked({"SET", "seed:hash:4", "a string where a hash will be"});

    auto run = run_copy({src_server.url(), dst_server.url(), "--mode", "rewrite"});
    INFO(run.result.describe());
    REQUIRE(run.exit_code() == 0);
    CHECK(run.counter("copied") == n - 2);
    CHECK(run.counter("rewritten") == n - 2);
    CHECK(run.counter("skipped") == 2);
    CHECK(run.report["path_detail"]["expected"] == "rewrite");
    CHECK(run.result.err.find("refuses DUMP payloads") == std::string::npos);
    CHECK(dst.command({"GET", "seed:string:0"}).str == "kept");
    CHECK(dst.command({"TYPE", "seed:hash:4"}).str == "string");
    check_no_temp_keys(dst);

    auto again = run_copy({src_server.url(), dst_server.url(), "--mode", "rewrite", "--replace"});
    INFO(again.result.describe());
    REQUIRE(again.exit_code() == 0);
    CHECK(again.counter("copied") == n);
    CHECK(again.counter("rewritten") == n);
    require_same(compare_keyspaces(src, dst,
                                   {.include = [](const std::string& k) { return k != kTrimmedStream; },
                                    .ttl_tolerance_ms = 2000,
                                    .check_extra_keys_on_dst = false}),
                 n - 1);
    CHECK(static_cast<uint64_t>(user_dbsize(dst)) == n);
    check_no_temp_keys(dst);

    // verify passes on the rebuilt keys (the trimmed stream's lost pending entries aside).
    src.checked({"DEL", kTrimmedStream});
    auto verified = run_verify(src_server.url(), dst_server.url());
    INFO(verified.result.describe());
    CHECK(verified.exit_code() == 0);
    CHECK(verified.counter("checked") == n - 1);
    CHECK(verified.counter("equal") == n - 1);
  }

  TEST_CASE("MODE and BIG_KEY_THRESHOLD from the environment") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_mixed(src, {.count = 60});
    const auto n = static_cast<uint64_t>(src.dbsize());
    auto run = run_copy({src_server.url(), dst_server.url()}, {{"MODE", "rewrite"}});
    INFO(run.result.describe());
    REQUIRE(run.exit_code() == 0);
    CHECK(run.counter("copied") == n);
    CHECK(run.counter("rewritten") == n);
    CHECK(run.report["path_detail"]["mode"] == "rewrite");

    dst.flushall();
    src.checked({"SET", "bigstr", std::string(300'000, 'x')});
    auto sized = run_copy({src_server.url(), dst_server.url()}, {{"BIG_KEY_THRESHOLD", "100KB"}});
    INFO(sized.result.describe());
    REQUIRE(sized.exit_code() == 0);
    CHECK(sized.counter("copied") == n + 1);
    CHECK(sized.counter("big_keys_total") == 1);
    CHECK(sized.counter("rewritten") == 1);
    CHECK(dst.command({"STRLEN", "bigstr"}).integer == 300'000);
  }

  TEST_CASE("--mode rewrite with --on-conflict merge and fail") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    src.checked({"SADD", "s", "a", "b"});
    src.checked({"HSET", "h", "f1", "src", "f2", "src"});
    src.checked({"ZADD", "z", "1", "m1", "2", "m2"});
    src.checked({"SET", "str", "src"});
    src.checked({"SET", "new", "v"});
    dst.checked({"SADD", "s", "c"});
    dst.checked({"HSET", "h", "f1", "dst"});
    dst.checked({"ZADD", "z", "5", "m1"});
    dst.checked({"SET", "str", "dst"});

    SUBCASE("merge: hashes, sets and zsets are merged; a string is a conflict") {
      auto run = run_copy(
          {src_server.url(), dst_server.url(), "--mode", "rewrite", "--on-conflict", "merge", "--yes"});
      INFO(run.result.describe());
      CHECK(run.exit_code() == 1);  // the string conflict
      CHECK(run.counter("merged") == 3);
      CHECK(run.counter("conflicts") == 1);
      CHECK(run.counter("copied") == 1);
      CHECK(run.counter("rewritten") == 1);
      CHECK(dst.command({"SCARD", "s"}).integer == 3);
      CHECK(dst.command({"HGET", "h", "f1"}).str == "dst");
      CHECK(dst.command({"HGET", "h", "f2"}).str == "src");
      CHECK(dst.command({"ZSCORE", "z", "m1"}).str == "5");
      CHECK(dst.command({"ZSCORE", "z", "m2"}).str == "2");
      CHECK(dst.command({"GET", "str"}).str == "dst");
      CHECK(dst.command({"GET", "new"}).str == "v");
      check_no_temp_keys(dst);
    }
    SUBCASE("fail: the first existing key stops the run") {
      auto run = run_copy({src_server.url(), dst_server.url(), "--mode", "rewrite", "--on-conflict", "fail"});
      INFO(run.result.describe());
      CHECK(run.exit_code() == 1);
      CHECK(run.counter("conflicts") >= 1);
      CHECK(run.result.err.find("already exists (--on-conflict fail)") != std::string::npos);
      CHECK(dst.command({"GET", "str"}).str == "dst");
      CHECK(dst.command({"SCARD", "s"}).integer == 1);
      check_no_temp_keys(dst);
    }
  }

  TEST_CASE("the rewrite path keeps TTLs exact and never makes an expiring key persistent") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    src.checked({"HSET", "h", "f", "v"});
    src.checked({"PEXPIRE", "h", "60000"});
    src.checked({"RPUSH", "l", "a", "b"});
    src.checked({"SET", "persistent", "p"});
    for (int i = 0; i < 200; ++i) {
      src.checked({"SADD", "tiny:" + std::to_string(i), "m"});
      src.checked({"PEXPIRE", "tiny:" + std::to_string(i), std::to_string(1 + i % 40)});
    }
    auto run = run_copy({src_server.url(), dst_server.url(), "--mode", "rewrite"});
    INFO(run.result.describe());
    REQUIRE(run.exit_code() == 0);
    const long long src_pttl = src.command({"PTTL", "h"}).integer;
    const long long dst_pttl = dst.command({"PTTL", "h"}).integer;
    CHECK(dst_pttl > 0);
    CHECK(dst_pttl <= src_pttl + 5);  // never longer than the source's (a few ms of clock granularity)
    CHECK(src_pttl - dst_pttl < 2000);
    CHECK(dst.command({"PTTL", "persistent"}).integer == -1);
    CHECK(dst.command({"PTTL", "l"}).integer == -1);
    // Every tiny-TTL key is accounted for, and none landed without its expiry.
    CHECK(run.counter("scanned") == run.counter("copied") + run.counter("expired") + run.counter("vanished"));
    for (const auto& k : dst.scan_all("tiny:*"))
      CHECK(dst.command({"PTTL", k}).integer != -1);
    check_no_temp_keys(dst);
  }

  TEST_CASE("big keys over the threshold go through the rewrite path in chunks and are reported") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_mixed(src, {.count = 300});
    std::string big(3'000'000, 'b');
    for (std::size_t i = 0; i < big.size(); i += 1000)
      big[i] = static_cast<char>('a' + (i / 1000) % 26);
    src.checked({"SET", "big:string", big});
    std::vector<Command> cmds;
    for (int b = 0; b < 20; ++b) {
      Command h{"HSET", "big:hash"};
      Command z{"ZADD", "big:zset"};
      Command l{"RPUSH", "big:list"};
      for (int i = 0; i < 1000; ++i) {
        const std::string n = std::to_string(b * 1000 + i);
        h.insert(h.end(), {"field-" + n, "value-" + n + std::string(40, 'v')});
        z.insert(z.end(), {std::to_string((b * 1000 + i) / 7.0), "member-" + n});
        l.push_back("item-" + n + std::string(40, 'i'));
      }
      cmds.push_back(std::move(h));
      cmds.push_back(std::move(z));
      cmds.push_back(std::move(l));
    }
    src.pipeline_checked(cmds);
    const auto n = static_cast<uint64_t>(src.dbsize());

    auto run = run_copy({src_server.url(), dst_server.url(), "--big-key-threshold", "500KB"});
    INFO(run.result.describe());
    REQUIRE(run.exit_code() == 0);
    CHECK(run.counter("copied") == n);
    CHECK(run.counter("rewritten") == 4);
    CHECK(run.counter("big_keys_total") == 4);
    std::set<std::string> listed;
    for (const auto& b : run.report["big_keys"]) {
      listed.insert(b["key"].get<std::string>() + "/" + b["type"].get<std::string>());
      CHECK(b["size"].get<uint64_t>() > 500'000);
    }
    CHECK(listed ==
          std::set<std::string>{"big:hash/hash", "big:list/list", "big:string/string", "big:zset/zset"});
    CHECK(run.result.err.find("big keys: 4 over the threshold") != std::string::npos);
    require_same(compare_keyspaces(src, dst, {.ttl_tolerance_ms = 2000}), n);
    check_no_temp_keys(dst);
  }

  TEST_CASE("a source user without MEMORY is sized with TYPE and the length commands") {
    RedisServer src_server({.acl_users = {"copier on >pw ~* +@all -memory"}});
    RedisServer dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_mixed(src, {.count = 100});
    std::vector<Command> cmds;
    Command s{"SADD", "big:set"};
    for (int i = 0; i < 20000; ++i)
      s.push_back("m" + std::to_string(i));
    src.checked(s);
    const auto n = static_cast<uint64_t>(src.dbsize());
    auto run = run_copy({src_server.url_as("copier", "pw"), dst_server.url(), "--big-key-threshold", "1MB"});
    INFO(run.result.describe());
    REQUIRE(run.exit_code() == 0);
    CHECK(count_lines(run.result.err, "MEMORY USAGE refused") == 1);
    CHECK(run.counter("copied") == n);
    CHECK(run.counter("big_keys_total") == 1);  // 20,000 members at 64 bytes each
    CHECK(run.counter("rewritten") == 1);
    require_same(compare_keyspaces(src, dst), n);
  }

  TEST_CASE("--mode dump keeps refused payloads as failures") {
    RedisServer src_server(valkey_8_0().options());
    RedisServer dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    src.checked({"SET", "a", "1"});
    src.checked({"RPUSH", "b", "x"});
    auto run = run_copy({src_server.url(), dst_server.url(), "--mode", "dump"});
    INFO(run.result.describe());
    CHECK(run.exit_code() == 1);
    CHECK(run.counter("failed") == 2);
    CHECK(run.counter("rewritten") == 0);
    CHECK(run.report["path"].get<std::string>().find("keys will fail") != std::string::npos);
    // Both failures under one message, with one of them as the example.
    REQUIRE(run.report["errors"].size() == 1);
    const auto& group = run.report["errors"][0];
    CHECK(group["count"] == 2);
    CHECK(group["message"].get<std::string>().find("DUMP payload version or checksum are wrong") !=
          std::string::npos);
    const std::string example = group["example_key"].get<std::string>();
    CHECK((example == "a" || example == "b"));
    CHECK(user_dbsize(dst) == 0);
  }

  TEST_CASE("--mode dump: a payload the destination refuses fails that key only; the others are copied") {
    // A module's keys restore only where the module is loaded: the destination without it refuses their
    // payloads (ERR Bad data format), while plain keys of the same source restore fine.
    RedisServer src_server({.extra_args = {"--loadmodule", redisearch_module()}});
    RedisServer dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    src.checked({"FT.CREATE", "idx", "SCHEMA", "title", "TEXT"});
    src.checked({"FT.ADD", "idx", "doc1", "1.0", "FIELDS", "title", "hello world"});
    seed_mixed(src, {.count = 200, .ttl_fraction = 0.3});
    std::set<std::string> module_keys;
    for (const auto& k : src.scan_all()) {
      const std::string type = src.checked({"TYPE", k}).str;
      if (type != "string" && type != "hash" && type != "list" && type != "set" && type != "zset" &&
          type != "stream") {
        module_keys.insert(k);
      }
    }
    REQUIRE(!module_keys.empty());
    const auto n = static_cast<uint64_t>(src.dbsize());

    auto run = run_copy({src_server.url(), dst_server.url(), "--mode", "dump"});
    INFO(run.result.describe());
    CHECK(run.exit_code() == 1);
    CHECK(run.counter("failed") == module_keys.size());
    CHECK(run.counter("copied") == n - module_keys.size());
    CHECK(run.counter("rewritten") == 0);
    REQUIRE(run.report["errors"].size() == 1);
    const auto& group = run.report["errors"][0];
    CHECK(group["count"] == module_keys.size());
    CHECK(group["message"].get<std::string>().find("RESTORE") != std::string::npos);
    CHECK(module_keys.count(group["example_key"].get<std::string>()) == 1);
    // Every other key is on the destination, exact; no module key is.
    require_same(compare_keyspaces(
                     src, dst, {.include = [&](const std::string& k) { return module_keys.count(k) == 0; }}),
                 n - module_keys.size());
    for (const auto& k : module_keys)
      CHECK(dst.command({"EXISTS", k}).integer == 0);
  }
}

TEST_SUITE("rewrite") {
  TEST_CASE("a module's key cannot be rewritten: it fails with a clear message, the others are copied") {
    const ServerOptions with_module{.extra_args = {"--loadmodule", redisearch_module()}};
    RedisServer src_server(with_module), dst_server(with_module);
    Client src = src_server.client();
    Client dst = dst_server.client();
    src.checked({"FT.CREATE", "idx", "SCHEMA", "title", "TEXT"});
    src.checked({"FT.ADD", "idx", "doc1", "1.0", "FIELDS", "title", "hello world"});
    src.checked({"SET", "plain", "v"});
    std::size_t module_keys = 0;
    for (const auto& k : src.scan_all()) {
      const std::string type = src.checked({"TYPE", k}).str;
      if (type != "string" && type != "hash" && type != "list" && type != "set" && type != "zset" &&
          type != "stream") {
        ++module_keys;
      }
    }
    REQUIRE(module_keys > 0);
    const auto n = static_cast<uint64_t>(src.dbsize());

    auto run = run_copy({src_server.url(), dst_server.url(), "--mode", "rewrite"});
    INFO(run.result.describe());
    CHECK(run.exit_code() == 1);
    CHECK(run.counter("failed") == module_keys);
    CHECK(run.counter("copied") == n - module_keys);
    REQUIRE(!run.report["errors"].empty());
    CHECK(run.report["errors"][0]["message"].get<std::string>().find(
              "(a module's) cannot be rewritten: copy it with the dump path") != std::string::npos);
    CHECK(dst.command({"GET", "plain"}).str == "v");
    CHECK(dst.command({"HGET", "doc1", "title"}).str == "hello world");
    check_no_temp_keys(dst);
  }
}

TEST_SUITE("rewrite") {
  TEST_CASE(
      "the size check: one MEMORY USAGE per key read the usual way, none when the dataset is under it") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    seed_mixed(src, {.count = 200});
    const auto n = static_cast<uint64_t>(src.dbsize());
    auto memory_calls = [&] {
      const std::string stats = src.checked({"INFO", "commandstats"}).str;
      const std::size_t at = stats.find("cmdstat_memory|usage:calls=");
      return at == std::string::npos ? 0ll : std::atoll(stats.c_str() + at + 27);
    };
    src.checked({"CONFIG", "RESETSTAT"});
    auto small = run_copy({src_server.url(), dst_server.url()});  // 64MB: more than the whole dataset
    INFO(small.result.describe());
    REQUIRE(small.exit_code() == 0);
    CHECK(small.counter("copied") == n);
    CHECK(memory_calls() == 0);

    dst_server.client().flushall();
    src.checked({"CONFIG", "RESETSTAT"});
    auto checked = run_copy({src_server.url(), dst_server.url(), "--big-key-threshold", "1KB"});
    INFO(checked.result.describe());
    REQUIRE(checked.exit_code() == 0);
    CHECK(checked.counter("copied") == n);
    // Every key that goes the usual way is sized: then DUMPed, or rewritten when big. (Strings of at most the
    // threshold are read with GETRANGE, which needs no size check.)
    CHECK(memory_calls() ==
          command_calls(src, "dump") + static_cast<long long>(checked.counter("big_keys_total")));
    CHECK(memory_calls() + command_calls(src, "getrange") >= static_cast<long long>(n));
    CHECK(checked.counter("big_keys_total") + checked.counter("copied") - checked.counter("rewritten") == n);
  }
}

TEST_SUITE("rewrite") {
  TEST_CASE("connections dropped in the middle of a rewrite: the key starts again, nothing half-made stays") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    // Server-side loops: seeding costs no round trip per element.
    src.checked(
        {"EVAL",
         "local a = {} for i = 1, 400000 do a[#a + 1] = 'f' .. i; a[#a + 1] = string.rep('v', 40) .. i "
         "if #a >= 2000 then redis.call('HSET', KEYS[1], unpack(a)); a = {} end end",
         "1", "big:hash"});
    src.checked({"EVAL",
                 "local a = {} for i = 1, 400000 do a[#a + 1] = string.rep('l', 40) .. i "
                 "if #a >= 1000 then redis.call('RPUSH', KEYS[1], unpack(a)); a = {} end end",
                 "1", "big:list"});
    src.checked({"PEXPIRE", "big:list", "3600000"});
    seed_mixed(src, {.count = 200});
    const auto n = static_cast<uint64_t>(src.dbsize());

    TempDir dir("report");
    auto tool = start_tool({src_server.url(), dst_server.url(), "--big-key-threshold", "100KB",
                            "--progress-interval", "0", "--report-json", dir.file("r.json")});
    // Once a temporary key is being built, cut the tool's connections: the destination's, then the source's.
    bool cut = false;
    for (int i = 0; i < 20000 && tool.running() && !cut; ++i) {
      if (!dst.scan_all("*redis-migrate:tmp:*").empty()) {
        dst.checked({"CLIENT", "KILL", "TYPE", "normal"});
        std::this_thread::sleep_for(50ms);
        src.checked({"CLIENT", "KILL", "TYPE", "normal"});
        cut = true;
      } else {
        std::this_thread::sleep_for(1ms);
      }
    }
    auto result = tool.finish(120s);
    INFO(result.describe());
    REQUIRE(cut);
    CHECK(result.exit_code == 0);
    CHECK(result.err.find("reconnected") != std::string::npos);
    auto report = nlohmann::json::parse(read_file(dir.file("r.json")));
    CHECK(report["copied"] == n);
    CHECK(report["rewritten"] == 2);
    CHECK(report["failed"] == 0);
    // The comparison reads every key's TTL on the source, then on the destination, after reading the 400,000
    // fields of each big key on the source: seconds apart under the sanitizers. The TTLs themselves are
    // checked to the millisecond elsewhere.
    require_same(compare_keyspaces(src, dst, {.ttl_tolerance_ms = 60000}), n);
    check_no_temp_keys(dst);
  }
}

TEST_SUITE("rewrite") {
  TEST_CASE("--cleanup after the rewrite path: only keys whose DUMP was read are deleted, compared by it") {
    RedisServer src_server(valkey_8_0().options());
    RedisServer dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_mixed(src, {.count = 300});
    const auto n = static_cast<uint64_t>(src.dbsize());
    const auto before = src.scan_all();

    auto run = run_copy({src_server.url(), dst_server.url(), "--cleanup", "--yes"});
    INFO(run.result.describe());
    REQUIRE(run.exit_code() == 0);
    CHECK(run.counter("copied") == n);
    CHECK(run.counter("rewritten") == n);
    // Keys that fell back after their RESTORE was refused carry the DUMP's hash, so compare-and-delete works;
    // keys sent straight to the rewrite path after the switch have none and stay.
    CHECK(run.counter("deleted") > 0);
    CHECK(run.counter("deleted") + run.counter("cleanup_kept") == n);
    CHECK(static_cast<uint64_t>(src.dbsize()) == run.counter("cleanup_kept"));
    for (const auto& k : before)
      CHECK(dst.command({"EXISTS", k}).integer == 1);

    // --mode rewrite reads no DUMP: nothing is deleted, and the log says why once.
    dst.flushall();
    const auto left = static_cast<uint64_t>(src.dbsize());
    if (left == 0) seed_mixed(src, {.count = 30});
    const auto m = static_cast<uint64_t>(src.dbsize());
    auto forced = run_copy({src_server.url(), dst_server.url(), "--cleanup", "--yes", "--mode", "rewrite"});
    INFO(forced.result.describe());
    REQUIRE(forced.exit_code() == 0);
    CHECK(forced.counter("rewritten") == m);
    CHECK(forced.counter("deleted") == 0);
    CHECK(forced.counter("cleanup_kept") == m);
    CHECK(static_cast<uint64_t>(src.dbsize()) == m);
    CHECK(lines_with(forced.result.err, "--cleanup keeps source keys copied by the rewrite path").size() ==
          1);
  }
}

TEST_SUITE("rewrite") {
  TEST_CASE("a big key deleted on the source during its rewrite is counted vanished and does not land") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    src.checked(
        {"EVAL",
         "local a = {} for i = 1, 300000 do a[#a + 1] = 'f' .. i; a[#a + 1] = string.rep('v', 40) .. i "
         "if #a >= 2000 then redis.call('HSET', KEYS[1], unpack(a)); a = {} end end",
         "1", "big:hash"});
    src.checked({"SET", "small", "s"});
    auto tool = start_tool(
        {src_server.url(), dst_server.url(), "--big-key-threshold", "100KB", "--progress-interval", "0"});
    // Freeze the destination while the hash is half-built, delete the source key, let the copy go on.
    bool deleted = false;
    for (int i = 0; i < 20000 && tool.running() && !deleted; ++i) {
      if (!dst.scan_all("*redis-migrate:tmp:*").empty()) {
        dst_server.pause();
        src.checked({"DEL", "big:hash"});
        dst_server.resume();
        deleted = true;
      } else {
        std::this_thread::sleep_for(1ms);
      }
    }
    auto result = tool.finish(120s);
    INFO(result.describe());
    REQUIRE(deleted);
    CHECK(result.exit_code == 0);
    CHECK(dst.command({"EXISTS", "big:hash"}).integer == 0);
    CHECK(dst.command({"GET", "small"}).str == "s");
    check_no_temp_keys(dst);
    CHECK(result.err.find("vanished                1") != std::string::npos);
  }
}
