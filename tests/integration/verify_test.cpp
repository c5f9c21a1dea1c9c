// verify and cleanup against real servers: an exact copy passes, every planted difference is caught and
// counted under its kind, big keys are compared in chunks in bounded memory, a sample checks a random subset,
// and cleanup deletes only keys whose copy verifies equal and that did not change meanwhile.

#include <doctest/doctest.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "helpers.hpp"
#include "support/cluster.hpp"
#include "support/compare.hpp"
#include "support/redis_server.hpp"
#include "support/seed.hpp"

using namespace rmig::test;

namespace {

// Writes the server accepted since it started (or last saved): any write at all moves it.
long long writes(KeyReader& c) { return std::stoll(info_field(c, "rdb_changes_since_last_save")); }

// The differences of a verify report, as kind -> keys.
std::map<std::string, std::set<std::string>> differences(const ToolRun& run) {
  std::map<std::string, std::set<std::string>> out;
  for (const auto& d : run.report["differences"])
    out[d["kind"].get<std::string>()].insert(d["key"].get<std::string>());
  return out;
}

}  // namespace

TEST_SUITE("verify") {
  TEST_CASE("verify passes on an exact copy of every type and edge key, and writes nothing") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_mixed(src, {.count = 3000, .ttl_fraction = 0.3});
    seed_edge_keys(src, {.short_ttl_key = false});
    // The tool's own keys on the source are never copied, and never reported missing.
    src.checked({"SET", "redis-migrate:lock", "someone else's"});
    auto copy = run_copy({src_server.url(), dst_server.url()});
    REQUIRE(copy.exit_code() == 0);
    const uint64_t n = static_cast<uint64_t>(user_dbsize(src));
    REQUIRE(copy.counter("copied") == n);
    // Precondition of the per-type path: some keys dump differently on the two servers.
    std::size_t dumps_differ = 0;
    for (const auto& k : src.scan_all("seed:*")) {
      if (src.command({"DUMP", k}).str != dst.command({"DUMP", k}).str) ++dumps_differ;
    }
    CHECK(dumps_differ > 0);

    const long long src_writes = writes(src), dst_writes = writes(dst);
    for (Client* c : {&src, &dst})
      c->checked({"CONFIG", "RESETSTAT"});
    auto run = run_verify(src_server.url(), dst_server.url());
    INFO(run.result.describe());
    CHECK(run.exit_code() == 0);
    CHECK(run.report["command"] == "verify");
    CHECK(run.counter("scanned") == n);
    CHECK(run.counter("checked") == n);
    CHECK(run.counter("equal") == n);
    for (const char* k : {"missing", "type_differs", "value_differs", "ttl_differs", "failed"})
      CHECK_MESSAGE(run.counter(k) == 0, k);
    CHECK(run.report["differences"].empty());
    CHECK(run.report["exit_code"] == 0);
    CHECK(run.result.err.find("every key checked is equal") != std::string::npos);
    // Nothing written on either side: no lock, no record, no script, no key.
    CHECK(writes(src) == src_writes);
    CHECK(writes(dst) == dst_writes);
    for (Client* c : {&src, &dst}) {
      const std::string stats = c->command({"INFO", "commandstats"}).str;
      for (const char* cmd : {"restore", "set:", "del", "unlink", "eval", "script", "expire", "zadd"}) {
        CHECK_MESSAGE(stats.find(std::string("cmdstat_") + cmd) == std::string::npos,
                      cmd << " ran: " << stats);
      }
    }
  }

  TEST_CASE("verify works on any two servers, not only after a copy by this tool") {
    RedisServer a_server, b_server;
    Client a = a_server.client();
    Client b = b_server.client();
    // The same deterministic data written independently to both: same values, TTLs within a moment.
    seed_mixed(a, {.count = 1200, .ttl_fraction = 0.3, .seed = 7});
    seed_mixed(b, {.count = 1200, .ttl_fraction = 0.3, .seed = 7});
    auto run = run_verify(a_server.url(), b_server.url());
    INFO(run.result.describe());
    CHECK(run.exit_code() == 0);
    CHECK(run.counter("equal") == 1200);
    // A key only on the destination is not a difference: verify checks the source's keys.
    b.checked({"SET", "only-on-b", "x"});
    CHECK(run_verify(a_server.url(), b_server.url()).exit_code() == 0);
    // The other way round it is missing.
    auto back = run_verify(b_server.url(), a_server.url());
    CHECK(back.exit_code() == 1);
    CHECK(back.counter("missing") == 1);
    CHECK(differences(back)["missing"] == std::set<std::string>{"only-on-b"});
  }

  TEST_CASE("verify catches a missing key, a changed value, a changed type and a lost TTL") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    auto keys = seed_mixed(src, {.count = 1200, .ttl_fraction = 0.0});
    src.checked({"SET", "str", "hello"});
    src.checked({"SET", "ttl", "v", "EX", "3600"});
    src.checked({"SET", "ttl-shifted", "v", "EX", "3600"});
    src.checked({"SET", "typed", "v"});
    seed_big_set(src, "bigset", 3000);
    std::vector<Command> cmds;
    for (int i = 0; i < 2000; ++i) {
      cmds.push_back({"HSET", "bighash", "f" + std::to_string(i), "v" + std::to_string(i)});
      cmds.push_back({"ZADD", "bigzset", std::to_string(i) + ".5", "m" + std::to_string(i)});
      cmds.push_back({"RPUSH", "biglist", "e" + std::to_string(i)});
      cmds.push_back({"XADD", "bigstream", std::to_string(i + 1) + "-0", "f", std::to_string(i)});
    }
    src.pipeline_checked(cmds);
    src.checked({"XGROUP", "CREATE", "bigstream", "readers", "0"});
    REQUIRE(run_copy({src_server.url(), dst_server.url()}).exit_code() == 0);
    REQUIRE(run_verify(src_server.url(), dst_server.url()).exit_code() == 0);

    // Plant one difference of each kind on the destination, small keys and big ones.
    dst.checked({"DEL", keys[0]});         // missing
    dst.checked({"SET", "str", "hellO"});  // value, small string (DUMP path)
    dst.checked({"DEL", "typed"});
    dst.checked({"SADD", "typed", "v"});             // type
    dst.checked({"PERSIST", "ttl"});                 // lost TTL
    dst.checked({"EXPIRE", "ttl-shifted", "3630"});  // TTL 30 s longer
    dst.checked({"SREM", "bigset", "member-2999"});  // big set: a member replaced
    dst.checked({"SADD", "bigset", "member-x"});
    dst.checked({"HSET", "bighash", "f1999", "changed"});             // big hash: the last field
    dst.checked({"ZADD", "bigzset", "1999.25", "m1999"});             // big zset: a score
    dst.checked({"LSET", "biglist", "1999", "E1999"});                // big list: the last element
    dst.checked({"XGROUP", "SETID", "bigstream", "readers", "5-0"});  // big stream: a group's position
    const std::set<std::string> value_keys = {"str", "bigset", "bighash", "bigzset", "biglist", "bigstream"};

    auto run = run_verify(src_server.url(), dst_server.url());
    INFO(run.result.describe());
    CHECK(run.exit_code() == 1);
    const uint64_t n = static_cast<uint64_t>(src.dbsize());
    CHECK(run.counter("checked") == n);
    CHECK(run.counter("missing") == 1);
    CHECK(run.counter("type_differs") == 1);
    CHECK(run.counter("value_differs") == value_keys.size());
    CHECK(run.counter("ttl_differs") == 2);
    CHECK(run.counter("equal") == n - 10);
    auto diffs = differences(run);
    CHECK(diffs["missing"] == std::set<std::string>{keys[0]});
    CHECK(diffs["type differs"] == std::set<std::string>{"typed"});
    CHECK(diffs["value differs"] == value_keys);
    CHECK(diffs["ttl differs"] == std::set<std::string>{"ttl", "ttl-shifted"});
    // The details name what differs.
    for (const auto& d : run.report["differences"]) {
      const std::string key = d["key"], detail = d["detail"];
      if (key == "bigset") CHECK(detail.find("member-2999") != std::string::npos);
      if (key == "bighash") CHECK(detail.find("f1999") != std::string::npos);
      if (key == "bigzset") CHECK(detail.find("1999.5") != std::string::npos);
      if (key == "biglist") CHECK(detail.find("element 1999") != std::string::npos);
      if (key == "bigstream") CHECK(detail.find("readers") != std::string::npos);
      if (key == "str") CHECK(detail.find("at byte 4") != std::string::npos);
      if (key == "ttl") CHECK(detail.find("persistent on the destination") != std::string::npos);
    }
    CHECK(run.result.err.find("differences found") != std::string::npos);

    // --max-differences bounds the list, not the counts; --ttl-tolerance admits the shifted TTL.
    auto few =
        run_verify(src_server.url(), dst_server.url(), {"--max-differences", "3", "--ttl-tolerance", "60"});
    CHECK(few.exit_code() == 1);
    CHECK(few.report["differences"].size() == 3);
    CHECK(few.counter("ttl_differs") == 1);
    CHECK(few.counter("equal") == n - 9);

    // Repaired, it passes again.
    dst.checked({"PEXPIRE", "ttl", std::to_string(src.command({"PTTL", "ttl"}).integer)});
    dst.checked({"PEXPIRE", "ttl-shifted", std::to_string(src.command({"PTTL", "ttl-shifted"}).integer)});
    for (const char* k : {"str", "typed", "bigset", "bighash", "bigzset", "biglist", "bigstream"})
      dst.checked({"DEL", k});
    dst.checked({"DEL", keys[0]});
    REQUIRE(run_copy({src_server.url(), dst_server.url()}).exit_code() == 0);
    auto again = run_verify(src_server.url(), dst_server.url());
    INFO(again.result.describe());
    CHECK(again.exit_code() == 0);
    CHECK(again.counter("equal") == n);
  }

  TEST_CASE("--sample N checks a random sample of the selection") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_strings(src, 20000, "k:");
    seed_strings(src, 500, "other:");
    REQUIRE(run_copy({src_server.url(), dst_server.url()}).exit_code() == 0);

    auto exact = run_verify(src_server.url(), dst_server.url(), {"--sample", "500", "--match", "k:*"});
    INFO(exact.result.describe());
    CHECK(exact.exit_code() == 0);
    CHECK(exact.counter("checked") == 500);
    CHECK(exact.counter("equal") == 500);
    CHECK(exact.report["population"] == 20000);
    CHECK(exact.report["sample"] == 500);

    // 5% of the keys missing: a sample of 2000 finds about 100 of them.
    std::vector<Command> dels;
    for (int i = 0; i < 20000; i += 20)
      dels.push_back({"DEL", "k:" + std::to_string(i)});
    dst.pipeline_checked(dels);
    auto sampled = run_verify(src_server.url(), dst_server.url(), {"--sample", "2000", "--match", "k:*"});
    CHECK(sampled.exit_code() == 1);
    CHECK(sampled.counter("checked") == 2000);
    CHECK(sampled.counter("missing") >= 50);
    CHECK(sampled.counter("missing") <= 170);
    CHECK(sampled.counter("equal") + sampled.counter("missing") == 2000);
    // Two samples are drawn independently.
    auto other = run_verify(src_server.url(), dst_server.url(), {"--sample", "2000", "--match", "k:*"});
    CHECK(differences(other)["missing"] != differences(sampled)["missing"]);
    // A sample larger than the selection checks all of it.
    auto all = run_verify(src_server.url(), dst_server.url(), {"--sample", "100000", "--match", "other:*"});
    CHECK(all.exit_code() == 0);
    CHECK(all.counter("checked") == 500);
  }

  TEST_CASE("verify on a cluster destination with renamed keys") {
    RedisServer src_server;
    LocalCluster dst_cluster;
    Client src = src_server.client();
    seed_mixed(src, {.count = 2000, .ttl_fraction = 0.3});
    const std::vector<std::string> rename = {"--rename-prefix", "seed:", "moved:"};
    std::vector<std::string> copy_args = {src_server.url(), dst_cluster.url()};
    copy_args.insert(copy_args.end(), rename.begin(), rename.end());
    REQUIRE(run_copy(copy_args).exit_code() == 0);

    auto run = run_verify(src_server.url(), dst_cluster.url(), rename);
    INFO(run.result.describe());
    CHECK(run.exit_code() == 0);
    CHECK(run.counter("equal") == 2000);
    // Without the rename every key is missing under its own name.
    auto plain = run_verify(src_server.url(), dst_cluster.url(), {"--match", "seed:string:*"});
    CHECK(plain.exit_code() == 1);
    CHECK(plain.counter("missing") == plain.counter("checked"));
    // A difference on one of the cluster's nodes names both keys.
    ClusterClient dst = dst_cluster.client();
    dst.checked({"SET", "moved:string:6", "changed"});
    auto one = run_verify(src_server.url(), dst_cluster.url(), rename);
    CHECK(one.exit_code() == 1);
    CHECK(one.counter("value_differs") == 1);
    REQUIRE(one.report["differences"].size() == 1);
    CHECK(one.report["differences"][0]["key"] == "seed:string:6");
    CHECK(one.report["differences"][0]["destination_key"] == "moved:string:6");
    // The copy's lock and record live on the nodes owning their slots; status finds them from any node.
    auto status = run_copy({"status", "redis://127.0.0.1:" + std::to_string(dst_cluster.primary(2).port())});
    INFO(status.result.describe());
    CHECK(status.exit_code() == 0);
    CHECK(status.result.out.find("copy  finished  exit code 0") != std::string::npos);
    CHECK(status.result.out.find("lock redis-migrate:lock: free") != std::string::npos);
  }

  TEST_CASE("exit codes: 0 equal, 1 different, 2 usage, 3 unreachable") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    seed_strings(src, 10, "k:");
    CHECK(run_verify(src_server.url(), dst_server.url()).exit_code() == 1);
    REQUIRE(run_copy({src_server.url(), dst_server.url()}).exit_code() == 0);
    CHECK(run_verify(src_server.url(), dst_server.url()).exit_code() == 0);
    CHECK(run_tool({"verify", src_server.url(), dst_server.url(), "--ttl-tolerance", "x"}).exit_code == 2);
    auto down = run_verify(src_server.url(), "redis://127.0.0.1:1");
    CHECK(down.exit_code() == 3);
    CHECK(down.result.err.find("127.0.0.1:1") != std::string::npos);
  }

  TEST_CASE("cleanup deletes only keys whose copy verifies equal; --dry-run deletes nothing") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_mixed(src, {.count = 1200, .ttl_fraction = 0.3});
    REQUIRE(run_copy({src_server.url(), dst_server.url()}).exit_code() == 0);
    const long long n = user_dbsize(src);
    // Differences: on the destination (missing, value, type, TTL), and a source key changed after the copy.
    dst.checked({"DEL", "seed:string:0"});
    dst.checked({"SET", "seed:string:6", "changed"});
    dst.checked({"DEL", "seed:list:1"});
    dst.checked({"SET", "seed:list:1", "now a string"});
    dst.checked({"PERSIST", "seed:hash:4"});
    dst.checked({"EXPIRE", "seed:hash:4", "100"});  // far from the source's (none, or an hour and more)
    src.checked({"APPEND", "seed:string:12", "+more"});
    const std::set<std::string> differing = {"seed:string:0", "seed:string:6", "seed:list:1", "seed:hash:4",
                                             "seed:string:12"};

    const long long src_writes = writes(src);
    auto dry = run_cleanup(src_server.url(), dst_server.url(), {"--dry-run"});
    INFO(dry.result.describe());
    CHECK(dry.exit_code() == 1);
    CHECK(dry.report["dry_run"] == true);
    CHECK(dry.counter("would_delete") == static_cast<uint64_t>(n) - differing.size());
    CHECK(dry.counter("deleted") == 0);
    CHECK(dry.report["examples"].size() == 10);
    for (const auto& e : dry.report["examples"]) {
      CHECK(e["action"] == "delete");
      CHECK(differing.count(e["key"].get<std::string>()) == 0);
    }
    CHECK(writes(src) == src_writes);  // nothing deleted
    CHECK(dst.scan_all("redis-migrate:lock").empty());

    auto run = run_cleanup(src_server.url(), dst_server.url());
    INFO(run.result.describe());
    CHECK(run.exit_code() == 1);  // not everything could be deleted
    CHECK(run.counter("deleted") == static_cast<uint64_t>(n) - differing.size());
    CHECK(run.counter("checked") == static_cast<uint64_t>(n));
    // What is left on the source is exactly what differs, untouched; the destination still has every copy.
    auto left = src.scan_all();
    CHECK(std::set<std::string>(left.begin(), left.end()) == differing);
    CHECK(src.command({"GET", "seed:string:12"}).str.size() > 5);
    CHECK(user_dbsize(dst) == n - 1);
    CHECK(dst.scan_all("redis-migrate:lock").empty());  // the lock was released
    // Nothing equal is left: a second pass deletes nothing and reports the same differences.
    auto second = run_cleanup(src_server.url(), dst_server.url());
    CHECK(second.counter("deleted") == 0);
    CHECK(second.counter("checked") == differing.size());
  }

  TEST_CASE("cleanup never deletes a key that changed while it ran") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_strings(src, 3000, "k:");
    // Compared member by member (a hashtable's DUMP differs between servers): it takes a while, and the
    // test changes it meanwhile.
    seed_big_set(src, "bigset", 300'000);
    REQUIRE(run_copy({src_server.url(), dst_server.url()}).exit_code() == 0);

    std::atomic<bool> stop{false};
    std::atomic<bool> big_changed{false};
    std::map<std::string, std::string> last_written;
    std::thread writer([&] {
      Client w = src_server.client();
      for (int n = 0; !stop; ++n) {
        // Once the set is being scanned, add a member to it: it is then either seen as different or its
        // compare-and-delete refuses; either way it stays.
        if (!big_changed &&
            info_field(w, "cmdstat_sscan", "commandstats").find("calls=") != std::string::npos) {
          w.checked({"SADD", "bigset", "added-during-cleanup"});
          big_changed = true;
        }
        // A tenth of the keys keep changing; the rest can be deleted for good.
        const std::string k = "k:" + std::to_string((n * 7919) % 300);
        const std::string v = "changed-" + std::to_string(n);
        w.checked({"SET", k, v});
        last_written[k] = v;
      }
    });
    auto run = run_cleanup(src_server.url(), dst_server.url(), {"--window-keys", "16"});
    stop = true;
    writer.join();
    INFO(run.result.describe());
    REQUIRE(big_changed);
    CHECK(run.counter("deleted") > 0);
    // The set survived with the member written during the cleanup.
    REQUIRE(src.command({"EXISTS", "bigset"}).integer == 1);
    CHECK(src.command({"SISMEMBER", "bigset", "added-during-cleanup"}).integer == 1);
    // No write is lost: a key gone from the source holds, on the destination, the last value written to it
    // (a key rewritten after its deletion is on the source again).
    std::size_t gone = 0;
    for (int i = 0; i < 3000; ++i) {
      const std::string k = "k:" + std::to_string(i);
      if (src.command({"EXISTS", k}).integer == 1) continue;
      ++gone;
      auto it = last_written.find(k);
      CHECK(dst.command({"GET", k}).str == (it == last_written.end() ? seeded_value("k:", i) : it->second));
    }
    CHECK(gone > 0);
    CHECK(gone <= run.counter("deleted"));
    CHECK(run.counter("deleted") + run.counter("cleanup_kept") + run.counter("vanished") +
              run.counter("value_differs") ==
          run.counter("scanned"));
  }
}
