// Big keys and the copier's memory: a 300 MB hash, a 5 M-member zset, a 2 M-item list and a 200 MB string
// through the rewrite path in chunks with a small --big-key-threshold, 150 keys of 3 MB at once, a 50 MB
// value on the dump path, and verify comparing big keys in chunks. The peak RSS checks hold the memory
// bounds. Label `heavy`: run against the release build only, not under sanitizers (which multiply RSS).

#include <doctest/doctest.h>

#include <cstdio>
#include <future>
#include <utility>

#include "helpers.hpp"
#include "support/redis_server.hpp"

using namespace rmig::test;

namespace {

// Server-side loops, so seeding costs no round trip per element. Each call stays well under the test client's
// 10 s timeout.
constexpr const char* kHashScript =
    "local v = string.rep('v', 290) local args = {} "
    "for i = tonumber(ARGV[1]), tonumber(ARGV[2]) do "
    "  args[#args + 1] = 'field:' .. i; args[#args + 1] = v .. i "
    "  if #args >= 2000 then redis.call('HSET', KEYS[1], unpack(args)); args = {} end "
    "end "
    "if #args > 0 then redis.call('HSET', KEYS[1], unpack(args)) end";
constexpr const char* kZsetScript =
    "local args = {} "
    "for i = tonumber(ARGV[1]), tonumber(ARGV[2]) do "
    "  args[#args + 1] = (i * 0.37) - 1e6; args[#args + 1] = 'm' .. i "
    "  if #args >= 2000 then redis.call('ZADD', KEYS[1], unpack(args)); args = {} end "
    "end "
    "if #args > 0 then redis.call('ZADD', KEYS[1], unpack(args)) end";
constexpr const char* kListScript =
    "local pad = string.rep('l', 48) local args = {} "
    "for i = tonumber(ARGV[1]), tonumber(ARGV[2]) do "
    "  args[#args + 1] = pad .. i "
    "  if #args >= 1000 then redis.call('RPUSH', KEYS[1], unpack(args)); args = {} end "
    "end "
    "if #args > 0 then redis.call('RPUSH', KEYS[1], unpack(args)) end";
constexpr const char* kStringScript =
    "local chunk = string.rep('0123456789abcdef', 65536) "
    "for i = 1, tonumber(ARGV[1]) do redis.call('APPEND', KEYS[1], string.sub(chunk, i % 16 + 1) .. i) end";

void seed_range(Client& c, const char* script, const std::string& key, long long total, long long per_call) {
  for (long long a = 1; a <= total; a += per_call) {
    c.checked(
        {"EVAL", script, "1", key, std::to_string(a), std::to_string(std::min(total, a + per_call - 1))});
  }
}

// A digest of a zset (in score order), a list or a string, computed by the server in chunks: SHA1 of the
// SHA1s of 1000-element (1 MB) slices. Same-version servers print scores alike, so equal digests mean equal
// values.
constexpr const char* kDigestScript =
    "local t = redis.call('TYPE', KEYS[1]).ok local hs = {} "
    "if t == 'zset' then "
    "  for i = 0, redis.call('ZCARD', KEYS[1]) - 1, 1000 do "
    "    hs[#hs + 1] = redis.sha1hex(table.concat(redis.call('ZRANGE', KEYS[1], i, i + 999, 'WITHSCORES'), "
    "'\\0')) "
    "  end "
    "elseif t == 'list' then "
    "  for i = 0, redis.call('LLEN', KEYS[1]) - 1, 1000 do "
    "    hs[#hs + 1] = redis.sha1hex(table.concat(redis.call('LRANGE', KEYS[1], i, i + 999), '\\0')) "
    "  end "
    "else "
    "  for i = 0, redis.call('STRLEN', KEYS[1]) - 1, 1048576 do "
    "    hs[#hs + 1] = redis.sha1hex(redis.call('GETRANGE', KEYS[1], i, i + 1048575)) "
    "  end "
    "end "
    "return redis.sha1hex(table.concat(hs))";

// Exact digests of `key` on both servers, computed at once: DEBUG DIGEST-VALUE for a hash
// (order-independent), the chunked script for the rest (DEBUG DIGEST-VALUE of a 5 M-member zset takes a
// server over 10 s).
std::pair<std::string, std::string> digests(const ConnectOptions& a, const ConnectOptions& b,
                                            const std::string& key, bool hash) {
  auto digest = [&key, hash](const ConnectOptions& o) {
    Client c(o);
    if (hash) return c.checked({"DEBUG", "DIGEST-VALUE", key}).to_string();
    return c.checked({"EVAL", kDigestScript, "1", key}).to_string();
  };
  auto first = std::async(std::launch::async, digest, a);
  std::string second = digest(b);
  return {first.get(), second};
}

// A hash of ARGV[1] fields of about 1 KB each, and a string of ARGV[1] copies of ARGV[2], made by the server.
constexpr const char* kKbHashScript =
    "local v = string.rep('h', 1000) local n = tonumber(ARGV[1]) "
    "for b = 1, n, 500 do local args = {} "
    "  for i = b, math.min(b + 499, n) do args[#args + 1] = 'f' .. i; args[#args + 1] = v .. i end "
    "  redis.call('HSET', KEYS[1], unpack(args)) "
    "end";
constexpr const char* kRepeatScript = "redis.call('SET', KEYS[1], string.rep(ARGV[2], tonumber(ARGV[1])))";

}  // namespace

TEST_SUITE("bigkeys") {
  TEST_CASE("a 300 MB hash, a 5 M-member zset, a 2 M-item list and a 200 MB string in bounded memory") {
    const ServerOptions options{.extra_args = {"--enable-debug-command", "yes", "--lua-time-limit", "20000"}};
    RedisServer src_server(options), dst_server(options);
    // The digests below take the servers several seconds.
    ConnectOptions so = src_server.connect_options(), dopt = dst_server.connect_options();
    so.timeout = dopt.timeout = 120s;
    Client src(so), dst(dopt);
    const auto t0 = std::chrono::steady_clock::now();
    seed_range(src, kHashScript, "big:hash", 1'000'000, 250'000);
    seed_range(src, kZsetScript, "big:zset", 5'000'000, 1'000'000);
    seed_range(src, kListScript, "big:list", 2'000'000, 1'000'000);
    src.checked({"EVAL", kStringScript, "1", "big:string", "200"});
    src.checked({"PEXPIRE", "big:list", "3600000"});
    src.checked({"SET", "small", "s"});
    MESSAGE("seeded in " << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()
                         << " s");
    REQUIRE(src.command({"STRLEN", "big:string"}).integer > 200'000'000);
    REQUIRE(src.command({"MEMORY", "USAGE", "big:hash"}).integer > 300'000'000);

    auto run = run_copy(
        {src_server.url(), dst_server.url(), "--big-key-threshold", "1MB", "--progress-interval", "10"}, {},
        600s);
    INFO(run.result.describe());
    REQUIRE(run.exit_code() == 0);
    CHECK(run.counter("copied") == 5);
    CHECK(run.counter("rewritten") == 4);
    CHECK(run.counter("big_keys_total") == 4);
    CHECK(run.report["big_keys"].size() == 4);
    // The tool's own VmHWM: wait4's ru_maxrss would include the test process's memory at fork time.
    const uint64_t rss = run.counter("peak_rss_bytes");
    MESSAGE("copied in " << run.result.seconds << " s, peak RSS " << (rss >> 20) << " MiB");
    CHECK(rss > 0);
    if (!tool_sanitized()) {
      CHECK(rss < 64ull << 20);
    }
    const auto t1 = std::chrono::steady_clock::now();
    for (const char* key : {"big:hash", "big:zset", "big:list", "big:string"}) {
      CAPTURE(key);
      const auto [a, b] = digests(so, dopt, key, std::string(key) == "big:hash");
      CHECK(a == b);
      MESSAGE(std::string(key) << " compared after "
                               << std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count()
                               << " s");
      CHECK(dst.command({"TYPE", key}).str == src.command({"TYPE", key}).str);
    }
    CHECK(dst.command({"HLEN", "big:hash"}).integer == 1'000'000);
    CHECK(dst.command({"ZCARD", "big:zset"}).integer == 5'000'000);
    CHECK(dst.command({"LLEN", "big:list"}).integer == 2'000'000);
    CHECK(dst.command({"LINDEX", "big:list", "0"}).str == src.command({"LINDEX", "big:list", "0"}).str);
    CHECK(dst.command({"LINDEX", "big:list", "-1"}).str == src.command({"LINDEX", "big:list", "-1"}).str);
    const long long pttl = dst.command({"PTTL", "big:list"}).integer;
    CHECK(pttl > 0);
    CHECK(pttl <= src.command({"PTTL", "big:list"}).integer + 5);
    CHECK(dst.command({"PTTL", "big:hash"}).integer == -1);
    CHECK(dst.scan_all("*redis-migrate:tmp:*").empty());
  }

  TEST_CASE(
      "150 keys of 3 MB at once: the chunks in flight are bounded by the window's bytes, not the keys") {
    // Every key is over the threshold and the window holds all of them at once: each key's reads in flight
    // are charged to --window-bytes (16 MB), so no more than a few MB of replies are on their way, however
    // many big keys are in progress.
    const ServerOptions options{.extra_args = {"--enable-debug-command", "yes"}};
    RedisServer src_server(options), dst_server(options);
    Client src = src_server.client();
    Client dst = dst_server.client();
    constexpr int kKeys = 150;
    std::vector<std::string> keys;
    for (int i = 0; i < kKeys; ++i) {
      const std::string n = std::to_string(i);
      if (i % 2 == 0) {
        keys.push_back("many:string:" + n);
        char piece[17];
        std::snprintf(piece, sizeof piece, "%015d-", i);
        src.checked({"EVAL", kRepeatScript, "1", keys.back(), std::to_string((3 << 20) / 16), piece});
      } else {
        keys.push_back("many:hash:" + n);
        src.checked({"EVAL", kKbHashScript, "1", keys.back(), "3000"});
      }
    }
    REQUIRE(src.command({"STRLEN", "many:string:0"}).integer == 3 << 20);
    REQUIRE(src.command({"MEMORY", "USAGE", "many:hash:1"}).integer > 2'000'000);

    auto run = run_copy({src_server.url(), dst_server.url(), "--big-key-threshold", "1MB"}, {}, 300s);
    INFO(run.result.describe());
    REQUIRE(run.exit_code() == 0);
    CHECK(run.counter("copied") == kKeys);
    CHECK(run.counter("rewritten") == kKeys);
    CHECK(run.counter("big_keys_total") == kKeys);
    CHECK(run.counter("failed") == 0);
    const uint64_t rss = run.counter("peak_rss_bytes");
    MESSAGE("copied in " << run.result.seconds << " s, peak RSS " << (rss >> 20) << " MiB");
    CHECK(rss > 0);
    if (!tool_sanitized()) {
      CHECK(rss < 64ull << 20);
    }
    // Equal values: the server's own digest of each value, all keys in one command per side.
    Command digest{"DEBUG", "DIGEST-VALUE"};
    digest.insert(digest.end(), keys.begin(), keys.end());
    const Reply a = src.checked(digest), b = dst.checked(digest);
    REQUIRE(a.elements.size() == keys.size());
    REQUIRE(b.elements.size() == keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) {
      CAPTURE(keys[i]);
      CHECK(a.elements[i].str == b.elements[i].str);
    }
    CHECK(dst.command({"DBSIZE"}).integer >= kKeys);
    CHECK(dst.scan_all("*redis-migrate:tmp:*").empty());
  }

  TEST_CASE("a 50 MB value and an empty value (dump path)") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    std::string big(50u << 20, 'v');
    for (std::size_t i = 0; i < big.size(); i += 4096)
      big[i] = static_cast<char>(i / 4096);
    src.checked({"SET", "big", big});
    src.checked({"SET", "empty", ""});
    src.checked({"SET", "small", "x"});
    auto run = run_copy({src_server.url(), dst_server.url()});
    INFO(run.result.describe());
    REQUIRE(run.exit_code() == 0);
    CHECK(run.counter("copied") == 3);
    CHECK(dst.command({"GET", "big"}).str == big);
    CHECK(dst.command({"STRLEN", "empty"}).integer == 0);
    CHECK(dst.command({"EXISTS", "empty"}).integer == 1);
    if (!tool_sanitized()) {
      // Bounded memory: the value is held about twice (read buffer and reply), never copied again on its way
      // out.
      CHECK(run.counter("peak_rss_bytes") > 0);
      CHECK(run.counter("peak_rss_bytes") < 150ull << 20);
    }
  }

  TEST_CASE("big keys are compared in chunks, never whole in memory") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    const std::size_t size = 48u << 20;
    {
      std::string big(size, 'a');
      for (std::size_t i = 0; i < big.size(); i += 4096)
        big[i] = static_cast<char>('a' + (i / 4096) % 26);
      src.checked({"SET", "bigstring", big});
    }  // freed: a child's peak RSS counts what the test process held when it forked
    seed_big_set(src, "bigset", 200'000);
    REQUIRE(run_copy({src_server.url(), dst_server.url()}).exit_code() == 0);
    auto run = run_copy({"verify", src_server.url(), dst_server.url()});
    INFO(run.result.describe());
    CHECK(run.exit_code() == 0);
    CHECK(run.counter("equal") == 2);
    if (!tool_sanitized()) {
      // A DUMP of the string alone would be 48 MB, twice (reply buffer and reply).
      CHECK(run.counter("peak_rss_bytes") > 0);
      CHECK(run.counter("peak_rss_bytes") < 32ull << 20);
    }
    // One byte changed near the end is found, at its offset.
    dst.checked({"SETRANGE", "bigstring", std::to_string(size - 10), "Z"});
    auto changed = run_copy({"verify", src_server.url(), dst_server.url()});
    CHECK(changed.exit_code() == 1);
    CHECK(changed.counter("value_differs") == 1);
    REQUIRE(changed.report["differences"].size() == 1);
    CHECK(changed.report["differences"][0]["detail"].get<std::string>().find(
              "at byte " + std::to_string(size - 10)) != std::string::npos);
  }
}
