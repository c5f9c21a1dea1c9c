// Big keys through the rewrite path in chunks: a 300 MB hash, a 5 M-member zset, a 2 M-item list and a 200 MB
// string, with a small --big-key-threshold. The copier's peak RSS must stay under 64 MB, bounded by the chunk
// size and not by the key size. Label `heavy`: run in the release build only, not under sanitizers.

#include <doctest/doctest.h>

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
}
