// The version matrix: Redis 7.0 (the machine's), Redis 8.0 and Valkey 8.1 (trixie) and Valkey 9.x (sid),
// fetched by the test support and started through their own loader. Every type, key TTLs and hash field TTLs
// in each direction, on the dump path where the destination reads the source's payloads and on the rewrite
// path where it does not; field TTLs onto servers without field expiration; verify seeing field TTLs; a
// Valkey 9 cluster with numbered databases.

#include "support/versions.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <thread>

#include "helpers.hpp"
#include "support/cluster.hpp"
#include "support/compare.hpp"
#include "support/redis_server.hpp"
#include "support/seed.hpp"

using namespace rmig::test;

namespace {

struct Version {
  std::string name;  // "Redis 8.0"
  std::function<ServerOptions()> options;
  bool field_ttls;  // hash field expiration (Redis >= 7.4, Valkey >= 9.0)
  int rdb;          // the RDB version of its DUMP payloads
  bool valkey;
};

const std::vector<Version>& versions() {
  static const std::vector<Version> v = {
      {"Redis 7.0", [] { return ServerOptions{}; }, false, 10, false},
      {"Redis 8.0", [] { return redis_8_0().options(); }, true, 12, false},
      {"Valkey 8.1", [] { return valkey_8_1().options(); }, false, 11, true},
      {"Valkey 9", [] { return valkey_9().options(); }, true, 80, true},
  };
  return v;
}

// The path auto mode takes from `src` to `dst`: the dump path where the destination reads the payloads (an
// older or equal RDB version, and not Redis's 12-79 onto Valkey), the rewrite path otherwise.
bool dump_path(const Version& src, const Version& dst) {
  if (src.rdb > dst.rdb) return false;
  if (dst.valkey && !src.valkey && src.rdb >= 12) return false;
  return true;
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// Hashes whose fields have TTLs: a small one (listpack), a large one (hash table) with a TTL on every third
// field, and one with a key TTL as well. Field TTLs are absolute times a few hours out, distinct per field.
std::vector<std::string> seed_field_ttl_hashes(KeyWriter& c, const std::string& prefix) {
  const std::string small = prefix + "fttl:small";
  const std::string big = prefix + "fttl:big";
  const std::string both = prefix + "fttl:keyttl";
  const long long now_ms = std::stoll(c.checked({"TIME"}).elements.at(0).str) * 1000;
  c.checked({"HSET", small, "a", "1", "b", "2", "c", "3", "d", std::string("\x00\xff", 2)});
  c.checked({"HPEXPIREAT", small, std::to_string(now_ms + 3'600'123), "FIELDS", "1", "a"});
  c.checked({"HPEXPIREAT", small, std::to_string(now_ms + 7'200'456), "FIELDS", "2", "b", "d"});
  Command hset = {"HSET", big};
  for (int i = 0; i < 300; ++i) {
    hset.push_back("field:" + std::to_string(i));
    hset.push_back(std::string(40, static_cast<char>('a' + i % 26)));
  }
  c.checked(hset);
  for (int i = 0; i < 300; i += 3) {
    c.checked({"HPEXPIREAT", big, std::to_string(now_ms + 3'600'000 + i * 1'001), "FIELDS", "1",
               "field:" + std::to_string(i)});
  }
  c.checked({"HSET", both, "x", "1", "y", "2"});
  c.checked({"PEXPIRE", both, "5400000"});
  c.checked({"HPEXPIRE", both, "1800000", "FIELDS", "1", "y"});
  return {small, big, both};
}

// Field -> absolute expiry in ms (-1: none) of a hash; without field expiration every field has none.
std::map<std::string, long long> field_expiries(KeyReader& c, const std::string& key, bool field_ttls) {
  std::map<std::string, long long> out;
  Reply fields = c.checked({"HKEYS", key});
  if (fields.elements.empty()) return out;
  if (!field_ttls) {
    for (const auto& f : fields.elements)
      out[f.str] = -1;
    return out;
  }
  Command cmd = {"HPEXPIRETIME", key, "FIELDS", std::to_string(fields.elements.size())};
  for (const auto& f : fields.elements)
    cmd.push_back(f.str);
  Reply times = c.checked(cmd);
  REQUIRE(times.elements.size() == fields.elements.size());
  for (std::size_t i = 0; i < fields.elements.size(); ++i)
    out[fields.elements[i].str] = times.elements[i].integer;
  return out;
}

// The same fields with the same TTLs: both none, or the destination's absolute expiry at most `tolerance_ms`
// before the source's (the rewrite path's estimate of the destination clock is a lower bound) and never
// after it; the dump path carries them exactly.
void check_field_ttls(KeyReader& src, bool src_ttls, KeyReader& dst, bool dst_ttls, const std::string& key,
                      long long tolerance_ms) {
  CAPTURE(key);
  const auto s = field_expiries(src, key, src_ttls);
  const auto d = field_expiries(dst, key, dst_ttls);
  REQUIRE(s.size() == d.size());
  std::size_t with_ttl = 0;
  for (const auto& [field, at] : s) {
    CAPTURE(field);
    REQUIRE(d.count(field) == 1);
    const long long got = d.at(field);
    if (at < 0) {
      CHECK(got == -1);
      continue;
    }
    ++with_ttl;
    CHECK(got > 0);
    CHECK(got <= at);
    CHECK(at - got <= tolerance_ms);
  }
  CHECK(with_ttl > 0);
}

long long keys_with_prefix(KeyReader& c, const std::string& prefix) {
  return static_cast<long long>(c.scan_all(prefix + "*").size());
}

}  // namespace

TEST_SUITE("versions") {
  TEST_CASE(
      "every direction between Redis 7.0, Redis 8.0, Valkey 8.1 and Valkey 9: values, key and field TTLs") {
    const auto& v = versions();
    std::vector<std::unique_ptr<RedisServer>> servers;
    for (const auto& version : v)
      servers.push_back(std::make_unique<RedisServer>(version.options()));
    for (std::size_t i = 0; i < v.size(); ++i) {
      Client c = servers[i]->client();
      const std::string said = info_field(c, v[i].valkey ? "valkey_version" : "redis_version");
      MESSAGE(v[i].name << ": " << said);
    }

    for (std::size_t si = 0; si < v.size(); ++si) {
      for (std::size_t di = 0; di < v.size(); ++di) {
        if (si == di) continue;
        const Version& sv = v[si];
        const Version& dv = v[di];
        const bool dump = dump_path(sv, dv);
        CAPTURE(sv.name);
        CAPTURE(dv.name);
        Client src = servers[si]->client();
        Client dst = servers[di]->client();
        const std::string prefix = "m" + std::to_string(si) + std::to_string(di) + ":";
        seed_mixed(src, {.count = 30,
                         .prefix = prefix,
                         .ttl_fraction = 0.3,
                         .seed = si * 10 + di + 1,
                         .large_every = 14,
                         .large_elements = 200});
        std::vector<std::string> fttl;
        if (sv.field_ttls) fttl = seed_field_ttl_hashes(src, prefix);
        const auto n = static_cast<uint64_t>(keys_with_prefix(src, prefix));

        std::vector<std::string> args = {servers[si]->url(), servers[di]->url(),    "--match",
                                         prefix + "*",       "--progress-interval", "0"};
        const bool drop = sv.field_ttls && !dv.field_ttls;
        if (drop) args.push_back("--drop-field-ttls");
        auto run = run_copy(args);
        INFO(run.result.describe());
        REQUIRE(run.exit_code() == 0);
        CHECK(run.counter("copied") == n);
        CHECK(run.counter("failed") == 0);
        CHECK(run.counter("rewritten") == (dump ? 0 : n));
        CHECK(run.report["path_detail"]["expected"] == (dump ? "dump" : "rewrite"));
        CHECK(run.counter("field_ttls_dropped") == (drop ? fttl.size() : 0));
        CHECK(keys_with_prefix(dst, prefix) == static_cast<long long>(n));
        require_same(
            compare_keyspaces(src, dst,
                              {.include = [&](const std::string& k) { return starts_with(k, prefix); },
                               .ttl_tolerance_ms = 2000,
                               .check_extra_keys_on_dst = false}),
            n);
        for (const auto& k : fttl) {
          if (dv.field_ttls) {
            // The dump path carries the exact times; the rewrite path is at most a round trip early.
            check_field_ttls(src, true, dst, true, k, dump ? 0 : 250);
          } else {
            for (const auto& [field, at] : field_expiries(dst, k, false))
              CHECK(at == -1);
          }
        }
      }
    }
  }

  TEST_CASE(
      "Redis 8.0 -> Redis 7.0: a hash with field TTLs fails with the reason, --drop-field-ttls copies it") {
    RedisServer src_server(redis_8_0().options());
    RedisServer dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_mixed(src, {.count = 24, .ttl_fraction = 0.3});
    const auto fttl = seed_field_ttl_hashes(src, "h:");
    const std::set<std::string> with_ttls(fttl.begin(), fttl.end());
    const auto n = static_cast<uint64_t>(src.dbsize());

    // The plan counts them and says what will become of them.
    auto plan = run_copy({"plan", src_server.url(), dst_server.url(), "--progress-interval", "0"});
    INFO(plan.result.describe());
    REQUIRE(plan.exit_code() == 0);
    CHECK(plan.report["plan"]["hash_field_ttls"]["keys"] == fttl.size());
    const std::string outcome = plan.report["plan"]["hash_field_ttls"]["outcome"].get<std::string>();
    CHECK(outcome.find("will FAIL") != std::string::npos);
    CHECK(outcome.find("Redis 7.0") != std::string::npos);
    CHECK(outcome.find("--drop-field-ttls") != std::string::npos);
    CHECK(plan.report["path_detail"]["expected"] == "rewrite");
    CHECK(user_dbsize(dst) == 0);

    auto run = run_copy({src_server.url(), dst_server.url(), "--progress-interval", "0"});
    INFO(run.result.describe());
    CHECK(run.exit_code() == 1);
    CHECK(run.counter("failed") == fttl.size());
    CHECK(run.counter("copied") == n - fttl.size());
    CHECK(run.counter("field_ttls_dropped") == 0);
    REQUIRE(run.report["errors"].size() == 1);
    const auto& group = run.report["errors"][0];
    CHECK(group["count"] == fttl.size());
    CHECK(with_ttls.count(group["example_key"].get<std::string>()) == 1);
    const std::string message = group["message"].get<std::string>();
    CHECK(message.find("has no hash field expiration") != std::string::npos);
    CHECK(message.find("Redis 7.0") != std::string::npos);
    CHECK(message.find("--drop-field-ttls") != std::string::npos);
    for (const auto& k : fttl)
      CHECK(dst.command({"EXISTS", k}).integer == 0);
    CHECK(dst.scan_all("*redis-migrate:tmp:*").empty());

    // DROP_FIELD_TTLS=1: the fields come without their TTLs; the key's own TTL stays.
    auto dropped = run_copy({src_server.url(), dst_server.url(), "--progress-interval", "0"},
                            {{"DROP_FIELD_TTLS", "1"}});
    INFO(dropped.result.describe());
    REQUIRE(dropped.exit_code() == 0);
    CHECK(dropped.counter("copied") == fttl.size());
    CHECK(dropped.counter("skipped") == n - fttl.size());
    CHECK(dropped.counter("field_ttls_dropped") == fttl.size());
    CHECK(dropped.result.err.find("field TTLs dropped") != std::string::npos);
    require_same(compare_keyspaces(src, dst, {.ttl_tolerance_ms = 2000}), n);
    for (const auto& k : fttl) {
      for (const auto& [field, at] : field_expiries(dst, k, false))
        CHECK(at == -1);
    }

    // verify sees what was dropped.
    auto verified = run_copy({"verify", src_server.url(), dst_server.url()});
    INFO(verified.result.describe());
    CHECK(verified.exit_code() == 1);
    CHECK(verified.counter("field_ttl_differs") == fttl.size());
    CHECK(verified.counter("equal") == n - fttl.size());
  }

  TEST_CASE(
      "Redis 8.0 -> Valkey 9: a field whose time runs out during the copy is never written without it") {
    RedisServer src_server(redis_8_0().options());
    RedisServer dst_server(valkey_9().options());
    Client src = src_server.client();
    Client dst = dst_server.client();
    // 50 hashes of 200 fields whose TTLs run out 40 to 530 ms from now, copied at 200 keys/s (about 250 ms):
    // some fields and whole hashes run out before they are read, some between the read and the write.
    std::vector<Command> cmds;
    for (int h = 0; h < 50; ++h) {
      const std::string key = "fh:" + std::to_string(h);
      Command hset = {"HSET", key};
      for (int f = 0; f < 200; ++f)
        hset.insert(hset.end(), {"f" + std::to_string(f), "value " + std::to_string(f)});
      cmds.push_back(hset);
    }
    src.pipeline_checked(cmds);
    cmds.clear();
    for (int h = 0; h < 50; ++h) {
      for (int g = 0; g < 10; ++g) {
        Command e = {"HPEXPIRE", "fh:" + std::to_string(h), std::to_string(40 + h * 7 + g * 15), "FIELDS",
                     "20"};
        for (int f = g * 20; f < (g + 1) * 20; ++f)
          e.push_back("f" + std::to_string(f));
        cmds.push_back(e);
      }
    }
    src.pipeline_checked(cmds);
    auto run =
        run_copy({src_server.url(), dst_server.url(), "--rate-limit", "200", "--progress-interval", "0"});
    INFO(run.result.describe());
    REQUIRE(run.exit_code() == 0);
    CHECK(run.counter("failed") == 0);
    CHECK(run.counter("field_ttls_dropped") == 0);
    MESSAGE("copied " << run.counter("copied") << ", expired " << run.counter("expired"));
    CHECK(run.counter("copied") > 0);  // some hashes arrived with fields still to run out
    // Every source field is gone by now; a field written without its TTL would still be on the destination.
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    CHECK(src.scan_all("fh:*").empty());
    CHECK(dst.scan_all("fh:*").empty());
  }

  TEST_CASE(
      "Redis 8.0 -> Valkey 9: verify catches a field TTL removed on the destination; cleanup keeps it") {
    RedisServer src_server(redis_8_0().options());
    RedisServer dst_server(valkey_9().options());
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_mixed(src, {.count = 12});
    const auto fttl = seed_field_ttl_hashes(src, "h:");
    const auto n = static_cast<uint64_t>(src.dbsize());
    auto run = run_copy({src_server.url(), dst_server.url(), "--progress-interval", "0"});
    INFO(run.result.describe());
    REQUIRE(run.exit_code() == 0);
    CHECK(run.counter("rewritten") == n);

    auto same = run_copy({"verify", src_server.url(), dst_server.url()});
    INFO(same.result.describe());
    CHECK(same.exit_code() == 0);
    CHECK(same.counter("equal") == n);
    CHECK(same.counter("field_ttl_differs") == 0);

    // One field of the big hash loses its TTL on the destination, one of the small hash gets another.
    REQUIRE(dst.checked({"HPERSIST", "h:fttl:big", "FIELDS", "1", "field:3"}).elements.at(0).integer == 1);
    dst.checked({"HPEXPIRE", "h:fttl:small", "600000", "FIELDS", "1", "a"});
    auto changed = run_copy({"verify", src_server.url(), dst_server.url()});
    INFO(changed.result.describe());
    CHECK(changed.exit_code() == 1);
    CHECK(changed.counter("field_ttl_differs") == 2);
    CHECK(changed.counter("value_differs") == 0);
    CHECK(changed.counter("equal") == n - 2);
    std::set<std::string> keys;
    for (const auto& d : changed.report["differences"]) {
      CAPTURE(d.dump());
      CHECK(d["kind"] == "field TTL differs");
      keys.insert(d["key"].get<std::string>());
    }
    CHECK(keys == std::set<std::string>{"h:fttl:big", "h:fttl:small"});
    CHECK(changed.result.err.find("field TTL differs") != std::string::npos);

    // cleanup deletes what checks equal and keeps the two hashes.
    auto cleaned = run_copy({"cleanup", src_server.url(), dst_server.url()});
    INFO(cleaned.result.describe());
    CHECK(cleaned.exit_code() == 1);
    CHECK(cleaned.counter("deleted") == n - 2);
    CHECK(src.command({"EXISTS", "h:fttl:big"}).integer == 1);
    CHECK(src.command({"EXISTS", "h:fttl:small"}).integer == 1);
    CHECK(src.dbsize() == 2);

    // --on-conflict merge would fold the fields in without their TTLs: a conflict, the target left alone.
    src.checked({"HSET", "h:merge", "new", "1"});
    src.checked({"HPEXPIRE", "h:merge", "600000", "FIELDS", "1", "new"});
    dst.checked({"HSET", "h:merge", "old", "1"});
    auto merge =
        run_copy({src_server.url(), dst_server.url(), "--match", "h:merge", "--on-conflict", "merge"});
    INFO(merge.result.describe());
    CHECK(merge.exit_code() == 1);
    CHECK(merge.counter("conflicts") == 1);
    CHECK(merge.counter("merged") == 0);
    REQUIRE(merge.report["errors"].size() == 1);
    CHECK(merge.report["errors"][0]["message"].get<std::string>().find("hash with field TTLs") !=
          std::string::npos);
    CHECK(dst.checked({"HGETALL", "h:merge"}).elements.size() == 2);
    CHECK(dst.command({"EXISTS", "{h:merge}redis-migrate:tmp:x"}).integer == 0);
    CHECK(dst.scan_all("*redis-migrate:tmp:*").empty());
  }

  TEST_CASE(
      "a Valkey 9 cluster with two databases: /1 and --all-dbs between two clusters; refusals say why") {
    ClusterOptions with_dbs;
    with_dbs.node = valkey_9().options();
    with_dbs.node.extra_args = {"--cluster-databases", "2"};
    LocalCluster src_cluster(with_dbs);
    LocalCluster dst_cluster(with_dbs);
    ClusterClient src0 = src_cluster.client(0);
    ClusterClient src1 = src_cluster.client(1);
    ClusterClient dst0 = dst_cluster.client(0);
    ClusterClient dst1 = dst_cluster.client(1);
    seed_mixed(src0, {.count = 30, .prefix = "zero:", .ttl_fraction = 0.3});
    seed_mixed(src1, {.count = 40, .prefix = "one:", .ttl_fraction = 0.3, .seed = 2});
    const auto fttl = seed_field_ttl_hashes(src1, "{h}one:");
    const auto n0 = static_cast<uint64_t>(src0.dbsize());
    const auto n1 = static_cast<uint64_t>(src1.dbsize());
    REQUIRE(n0 == 30);
    REQUIRE(n1 == 43);

    // Database 1 only: routed by slot on every primary, SELECT 1 on each connection; Valkey 9 to Valkey 9
    // takes the dump path, field TTLs in the payloads.
    auto one = run_copy({src_cluster.url(1), dst_cluster.url(1), "--progress-interval", "0"});
    INFO(one.result.describe());
    REQUIRE(one.exit_code() == 0);
    CHECK(one.counter("copied") == n1);
    CHECK(one.counter("failed") == 0);
    CHECK(one.counter("rewritten") == 0);
    CHECK(dst0.dbsize() == 0);
    require_same(compare_keyspaces(src1, dst1, {.ttl_tolerance_ms = 2000}), n1);
    for (const auto& k : fttl)
      check_field_ttls(src1, true, dst1, true, k, 0);
    // Every primary of the destination holds its share of database 1.
    for (auto* p : dst_cluster.primaries())
      CHECK(p->client(1).dbsize() > 0);
    // verify reads database 1 of both clusters.
    auto verified = run_copy({"verify", src_cluster.url(1), dst_cluster.url(1)});
    INFO(verified.result.describe());
    CHECK(verified.exit_code() == 0);
    CHECK(verified.counter("equal") == n1);

    // --all-dbs: database 0 as well (database 1 is there: skipped), found on every source primary.
    auto all = run_copy({src_cluster.url(), dst_cluster.url(), "--all-dbs", "--progress-interval", "0"});
    INFO(all.result.describe());
    REQUIRE(all.exit_code() == 0);
    CHECK(all.counter("copied") == n0);
    CHECK(all.counter("skipped") == n1);
    require_same(compare_keyspaces(src0, dst0, {.ttl_tolerance_ms = 2000}), n0);
    require_same(compare_keyspaces(src1, dst1, {.ttl_tolerance_ms = 2000}), n1);

    // Slots moving between destination nodes while database 1 is copied into: -ASK and -MOVED followed on
    // connections that select database 1.
    dst0.flushall();
    RedisServer plain_src;
    Client ps = plain_src.client();
    std::vector<Command> sets;
    for (int i = 0; i < 3000; ++i)
      sets.push_back({"SET", "moving:" + std::to_string(i), std::to_string(i)});
    ps.pipeline_checked(sets);
    auto& from = dst_cluster.primary(0);
    auto& to = dst_cluster.primary(1);
    auto slots = dst_cluster.slots_of(from);
    slots.resize(std::min<std::size_t>(slots.size(), 600));
    auto tool = start_tool({plain_src.url(), dst_cluster.url(1), "--window-keys", "16", "--rate-limit",
                            "1500", "--progress-interval", "0", "--report-json", "-"});
    MoveOptions moving = MoveOptions::background();
    moving.db = 1;
    auto reshard = dst_cluster.reshard_async(from, to, slots, moving);
    auto moved = tool.finish(120s);
    reshard.wait();
    INFO(moved.describe());
    REQUIRE(moved.exit_code == 0);
    auto report = nlohmann::json::parse(moved.out);
    CHECK(report["copied"] == 3000);
    CHECK(report["failed"] == 0);
    MESSAGE("slots moved: " << reshard.slots_moved() << ", MOVED " << report["redirects_moved"] << ", ASK "
                            << report["redirects_ask"]);
    CHECK(report["redirects_moved"].get<uint64_t>() + report["redirects_ask"].get<uint64_t>() > 0);
    ClusterClient after1 = dst_cluster.client(1);
    require_same(compare_keyspaces(ps, after1, {.ttl_tolerance_ms = 2000}), 3000);
    CHECK(dst_cluster.client(0).dbsize() == 0);

    // A database the cluster does not have: the refusal names the server and the setting.
    auto beyond = run_copy({src_cluster.url(1), dst_cluster.url() + "/2"});
    CHECK(beyond.exit_code() == 2);
    CHECK(beyond.result.err.find("Valkey 9.") != std::string::npos);
    CHECK(beyond.result.err.find("cluster-databases above 2") != std::string::npos);
    // Redis 8.0 in cluster mode has only db 0.
    ServerOptions redis_node = redis_8_0().options();
    redis_node.cluster = true;
    RedisServer redis_cluster_node(redis_node);
    auto redis = run_copy({src_cluster.url(1), redis_cluster_node.url(1)});
    CHECK(redis.exit_code() == 2);
    CHECK(redis.result.err.find("Redis 8.0 runs in cluster mode, which has only db 0") != std::string::npos);
    CHECK(redis.result.err.find("Valkey >= 9.0 with cluster-databases above 1") != std::string::npos);
  }

  TEST_CASE("--keep-idle carries LRU idle times and LFU frequencies on the dump path") {
    // LFU: every access counts (lfu-log-factor 0), on both sides.
    ServerOptions lfu;
    lfu.extra_args = {"--maxmemory-policy", "allkeys-lfu", "--lfu-log-factor", "0"};
    RedisServer lfu_src(lfu);
    RedisServer lfu_dst(lfu);
    Client ls = lfu_src.client();
    Client ld = lfu_dst.client();
    for (const char* k : {"a:hot", "a:cold", "b:hot"})
      ls.checked({"SET", k, "v"});
    for (int i = 0; i < 40; ++i) {
      ls.checked({"GET", "a:hot"});
      ls.checked({"GET", "b:hot"});
    }
    const long long hot = ls.checked({"OBJECT", "FREQ", "a:hot"}).integer;
    const long long cold = ls.checked({"OBJECT", "FREQ", "a:cold"}).integer;
    REQUIRE(hot > cold + 30);
    auto kept = run_copy({lfu_src.url(), lfu_dst.url(), "--match", "a:*", "--keep-idle"});
    INFO(kept.result.describe());
    REQUIRE(kept.exit_code() == 0);
    CHECK(kept.counter("copied") == 2);
    CHECK(ld.checked({"OBJECT", "FREQ", "a:hot"}).integer == hot);
    CHECK(ld.checked({"OBJECT", "FREQ", "a:cold"}).integer == cold);
    // Off by default: a restored key starts afresh.
    auto plain = run_copy({lfu_src.url(), lfu_dst.url(), "--match", "b:*"}, {{"KEEP_IDLE", "0"}});
    REQUIRE(plain.exit_code() == 0);
    CHECK(ld.checked({"OBJECT", "FREQ", "b:hot"}).integer < hot - 30);

    // LRU (the default policy): idle seconds.
    RedisServer lru_src;
    RedisServer lru_dst;
    Client rs = lru_src.client();
    Client rd = lru_dst.client();
    rs.checked({"SET", "a:idle", "v"});
    // Strings the GETRANGE read cannot take (longer than 64 KB, empty) are DUMPed after it: the idle time
    // read before it (which touched them) is the one kept.
    rs.checked({"SET", "a:long", std::string(80'000, 'l')});
    rs.checked({"SET", "a:empty", ""});
    rs.checked({"RPUSH", "b:idle", "v"});
    std::this_thread::sleep_for(2500ms);
    const long long idle = rs.checked({"OBJECT", "IDLETIME", "a:idle"}).integer;
    REQUIRE(idle >= 2);
    auto lru = run_copy({lru_src.url(), lru_dst.url(), "--match", "a:*"}, {{"KEEP_IDLE", "1"}});
    INFO(lru.result.describe());
    REQUIRE(lru.exit_code() == 0);
    CHECK(lru.counter("copied") == 3);
    for (const char* k : {"a:idle", "a:long", "a:empty"}) {
      CAPTURE(k);
      CHECK(rd.checked({"OBJECT", "IDLETIME", k}).integer >= idle);
    }
    auto fresh = run_copy({lru_src.url(), lru_dst.url(), "--match", "b:*"});
    REQUIRE(fresh.exit_code() == 0);
    CHECK(rd.checked({"OBJECT", "IDLETIME", "b:idle"}).integer < idle);
  }
}
