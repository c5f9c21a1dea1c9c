// The copy against real servers: every type byte-exact, TTLs to the millisecond, the conflict policy,
// cleanup's compare-and-delete, dry runs, and the edge cases of a live keyspace.

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <random>
#include <regex>
#include <set>
#include <thread>

#include "helpers.hpp"
#include "support/compare.hpp"
#include "support/redis_server.hpp"
#include "support/seed.hpp"

using namespace rmig::test;

TEST_SUITE("copy") {
  TEST_CASE("every type and edge key round-trips byte-exact, with TTLs") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    auto keys = seed_mixed(src, {.count = 3000, .ttl_fraction = 0.3});
    auto edge = seed_edge_keys(src, {.short_ttl_key = false});
    keys.insert(keys.end(), edge.begin(), edge.end());

    const auto src_before = forbidden_calls(src);
    const auto dst_before = forbidden_calls(dst);
    auto run = run_copy({src_server.url(), dst_server.url()});
    INFO(run.result.describe());
    REQUIRE(run.exit_code() == 0);
    // Nothing a managed service forbids was sent to either side.
    const auto src_after = forbidden_calls(src);
    check_no_forbidden_calls(src_before, src_after, "the source");
    check_no_forbidden_calls(dst_before, forbidden_calls(dst), "the destination");
    // ...and the counting sees such a command when one is sent.
    src.checked({"CONFIG", "GET", "maxmemory"});
    CHECK(forbidden_calls(src).at("config") == src_after.at("config") + 1);
    const auto n = static_cast<uint64_t>(src.dbsize());
    CHECK(run.counter("scanned") == n);
    CHECK(run.counter("copied") == n);
    CHECK(run.counter("skipped") == 0);
    CHECK(run.counter("failed") == 0);
    CHECK(run.counter("bytes") > 0);
    CHECK(run.report["exit_code"] == 0);
    require_same(compare_keyspaces(src, dst, {.ttl_tolerance_ms = 1000}), n);
    require_same_dumps(src, dst, keys);
  }

  TEST_CASE("TTLs are kept to the millisecond and persistent keys stay persistent") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    std::vector<Command> cmds;
    for (int i = 0; i < 2000; ++i) {
      cmds.push_back({"SET", "ttl:" + std::to_string(i), "v", "PX", std::to_string(600'000 + i * 997)});
      cmds.push_back({"SET", "persist:" + std::to_string(i), "v"});
    }
    src.pipeline_checked(cmds);
    auto run = run_copy({src_server.url(), dst_server.url()});
    REQUIRE(run.exit_code() == 0);
    for (int i = 0; i < 2000; ++i) {
      const std::string k = "ttl:" + std::to_string(i);
      // Compared as absolute expiry times (both servers share this machine's clock): two PTTL reads would
      // differ by the time between them, which on a loaded machine exceeds any fixed allowance.
      long long d = dst.command({"PEXPIRETIME", k}).integer;
      long long s = src.command({"PEXPIRETIME", k}).integer;
      CHECK(d > 0);
      CHECK(d <= s);         // never extended
      CHECK(d >= s - 1000);  // and not cut by more than the copy's duration
      CHECK(dst.command({"PTTL", "persist:" + std::to_string(i)}).integer == -1);
    }
  }

  TEST_CASE("a key whose TTL runs out while it is in flight is counted expired, never restored") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    // DUMP of a 1M-member set takes the server a while: a key whose TTL is shorter than that when PTTL runs
    // (PTTL and DUMP go out together) runs out on its way and must be counted expired. Too short a TTL and
    // the key is gone before the tool reads it (vanished, or never scanned); too long and it lands. The
    // window between depends on the machine's load, so the TTL is adjusted until the key is caught in flight.
    seed_big_set(src, "slow", 1'000'000, "-padding-padding");
    const auto dump_start = std::chrono::steady_clock::now();
    const std::string payload = src.checked({"DUMP", "slow"}).str;
    const auto dump_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - dump_start)
            .count();
    MESSAGE("DUMP of the set took " << dump_ms << " ms");
    long long ttl_ms = std::max<long long>(150, dump_ms / 2);
    ToolRun run;
    for (int attempt = 1; attempt <= 8; ++attempt) {
      CAPTURE(attempt);
      CAPTURE(ttl_ms);
      dst.flushall();
      src.checked({"RESTORE", "slow", "0", payload, "REPLACE"});
      src.checked({"SET", "normal", "v"});
      src.checked({"PEXPIRE", "slow", std::to_string(ttl_ms)});
      run = run_copy({src_server.url(), dst_server.url(), "--mode", "dump", "--progress-interval", "0"});
      INFO(run.result.describe());
      REQUIRE(run.exit_code() == 0);
      // Whatever the timing, the key is never restored without its TTL, and "normal" is copied.
      const Reply pttl = dst.command({"PTTL", "slow"});
      CHECK(pttl.integer != -1);
      CHECK(dst.command({"GET", "normal"}).str == "v");
      if (run.counter("expired") == 1) break;
      if (run.counter("copied") == 2) {
        ttl_ms = std::max<long long>(50, ttl_ms * 2 / 3);  // it arrived in time: shorter
      } else {
        ttl_ms += std::max<long long>(100, dump_ms / 2);  // gone before it was read: longer
      }
    }
    INFO(run.result.describe());
    CHECK(run.counter("expired") == 1);
    CHECK(run.counter("vanished") == 0);
    CHECK(run.counter("copied") == 1);
    CHECK(run.counter("failed") == 0);
    CHECK(dst.command({"EXISTS", "slow"}).integer == 0);  // above all not persistent
    CHECK(dst.command({"GET", "normal"}).str == "v");
  }

  TEST_CASE("keys with tiny TTLs are never made persistent, and every scanned key is accounted for") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    std::vector<Command> cmds;
    for (int i = 0; i < 5000; ++i)
      cmds.push_back({"SET", "t:" + std::to_string(i), "v", "PX", std::to_string(1 + i % 40)});
    src.pipeline_checked(cmds);
    auto run = run_copy({src_server.url(), dst_server.url(), "--window-keys", "4"});
    REQUIRE(run.exit_code() == 0);
    CHECK(run.counter("scanned") == run.counter("copied") + run.counter("expired") + run.counter("vanished"));
    for (const auto& k : dst.scan_all())
      CHECK(dst.command({"PTTL", k}).integer != -1);
  }

  TEST_CASE("existing keys are skipped without an extra round trip, and overwritten with --replace") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    std::vector<Command> cmds;
    for (int i = 0; i < 100; ++i)
      cmds.push_back({"SET", "k:" + std::to_string(i), "new"});
    src.pipeline_checked(cmds);
    for (int i = 0; i < 30; ++i)
      dst.checked({"SET", "k:" + std::to_string(i), "old"});
    dst_server.client().checked({"CONFIG", "RESETSTAT"});

    auto run = run_copy({src_server.url(), dst_server.url()});
    REQUIRE(run.exit_code() == 0);
    CHECK(run.counter("copied") == 70);
    CHECK(run.counter("skipped") == 30);
    CHECK(dst.command({"GET", "k:5"}).str == "old");
    CHECK(dst.command({"GET", "k:50"}).str == "new");
    // Skipping is the write's own answer (these strings are written with SET ... NX: nil, as RESTORE's
    // BUSYKEY): no EXISTS or other probe per key. One SET per key, plus the tool's own lock and record.
    const std::string stats = dst.command({"INFO", "commandstats"}).str;
    CHECK(stats.find("cmdstat_restore") == std::string::npos);
    CHECK(stats.find("cmdstat_exists") == std::string::npos);
    CHECK(command_calls(dst, "set") >= 100);
    CHECK(command_calls(dst, "set") <= 120);

    auto replace = run_copy({src_server.url(), dst_server.url(), "--replace"});
    REQUIRE(replace.exit_code() == 0);
    CHECK(replace.counter("copied") == 100);
    CHECK(replace.counter("skipped") == 0);
    CHECK(dst.command({"GET", "k:5"}).str == "new");

    auto env = run_copy({src_server.url(), dst_server.url()}, {{"REPLACE_DST_KEYS", "1"}});
    CHECK(env.counter("copied") == 100);
  }

  TEST_CASE("--cleanup deletes only what was copied and did not change; a concurrent write is never lost") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    std::vector<Command> cmds;
    for (int i = 0; i < 3000; ++i)
      cmds.push_back({"SET", "k:" + std::to_string(i), "v1"});
    src.pipeline_checked(cmds);
    seed_big_set(src, "bigset", 500'000, "-padding-padding");
    for (int i = 0; i < 100; ++i)
      dst.checked({"SET", "k:" + std::to_string(i), "dst"});  // skipped: never deleted

    std::atomic<bool> stop{false};
    std::map<std::string, std::string> last_written;
    // Each k: key is written at most once (7919 and 3000 share no factor), paced, so that a key deleted after
    // its write stays gone however long the run takes; the big set is written to until the run ends.
    std::thread writer([&] {
      Client w = src_server.client();
      for (int n = 0; !stop; ++n) {
        if (n < 3000) {
          const std::string k = "k:" + std::to_string((n * 7919) % 3000);
          const std::string v = "v2-" + std::to_string(n);
          w.checked({"SET", k, v});
          last_written[k] = v;
        }
        w.checked({"SADD", "bigset", "written-" + std::to_string(n)});
        last_written["bigset"] = "written-" + std::to_string(n);
        std::this_thread::sleep_for(std::chrono::microseconds(300));
      }
    });
    auto run = run_copy({src_server.url(), dst_server.url(), "--cleanup", "--window-keys", "16"});
    stop = true;
    writer.join();
    INFO(run.result.describe());
    REQUIRE(run.exit_code() == 0);
    CHECK(run.counter("skipped") == 100);
    CHECK(run.counter("deleted") > 0);
    CHECK(run.counter("deleted") + run.counter("cleanup_kept") == run.counter("copied"));
    for (int i = 0; i < 100; ++i)
      CHECK(src.command({"GET", "k:" + std::to_string(i)}).is_string());
    // No write is lost: a key gone from the source holds, on the destination, the last value written to it.
    std::size_t gone = 0;
    for (int i = 100; i < 3000; ++i) {
      const std::string k = "k:" + std::to_string(i);
      if (src.command({"EXISTS", k}).integer == 1) continue;
      ++gone;
      auto it = last_written.find(k);
      CHECK(dst.command({"GET", k}).str == (it == last_written.end() ? "v1" : it->second));
    }
    // The writer may recreate a key after its deletion; it is then on the source again, so gone <= deleted.
    CHECK(gone > 0);
    CHECK(gone <= run.counter("deleted"));
    // The big set kept changing while it was copied: it must still be on the source with the last write.
    REQUIRE(src.command({"EXISTS", "bigset"}).integer == 1);
    CHECK(src.command({"SISMEMBER", "bigset", last_written["bigset"]}).integer == 1);
  }

  TEST_CASE("--dry-run writes nothing and reports what would happen") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_mixed(src, {.count = 500});
    for (int i = 0; i < 20; ++i) {
      // 20 of the source's keys already exist on the destination.
      auto keys = src.scan_all();
      dst.checked({"SET", keys[static_cast<std::size_t>(i)], "x"});
    }
    src.checked({"CONFIG", "RESETSTAT"});
    dst.checked({"CONFIG", "RESETSTAT"});
    const auto src_before = src.dbsize();

    auto run = run_copy({src_server.url(), dst_server.url(), "--dry-run"});
    INFO(run.result.describe());
    REQUIRE(run.exit_code() == 0);
    CHECK(run.report["dry_run"] == true);
    CHECK(run.counter("copied") == 0);
    CHECK(run.counter("would_copy") == static_cast<uint64_t>(src_before) - 20);
    CHECK(run.counter("existing") == 20);
    CHECK(run.counter("would_skip") == 20);
    CHECK(run.counter("would_copy_bytes") > 0);
    CHECK(run.report["examples"].size() == 10);
    CHECK(dst.dbsize() == 20);
    CHECK(src.dbsize() == src_before);
    // Nothing written on either side: no write command ran at all.
    for (Client* c : {&src, &dst}) {
      const std::string stats = c->command({"INFO", "commandstats"}).str;
      for (const char* cmd : {"restore", "set:", "del", "unlink", "eval", "script", "expire", "hset"}) {
        CHECK_MESSAGE(stats.find(std::string("cmdstat_") + cmd) == std::string::npos,
                      cmd << " ran: " << stats);
      }
    }
    auto env = run_copy({src_server.url(), dst_server.url()}, {{"DRY_RUN", "1"}});
    CHECK(env.report["dry_run"] == true);
    CHECK(dst.dbsize() == 20);
  }

  TEST_CASE("two databases of the same server") {
    RedisServer server;
    Client db1 = server.client(1);
    Client db0 = server.client(0);
    seed_mixed(db1, {.count = 300, .ttl_fraction = 0.3});
    auto run = run_copy({server.url(1), server.url(0)});
    REQUIRE(run.exit_code() == 0);
    CHECK(run.counter("copied") == 300);
    require_same(compare_keyspaces(db1, db0), 300);
    CHECK(db1.dbsize() == 300);  // the source DB is untouched
  }

  TEST_CASE("a key deleted between SCAN and DUMP is vanished, not an error") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    std::vector<Command> cmds;
    for (int i = 0; i < 20000; ++i)
      cmds.push_back({"SET", "k:" + std::to_string(i), "v"});
    src.pipeline_checked(cmds);
    std::atomic<bool> started{false};
    std::thread deleter([&] {
      Client d = src_server.client();
      // Delete every key, in an order unrelated to the scan's, while the copy runs one key at a time.
      for (int i = 0; i < 20000; ++i)
        d.command({"UNLINK", "k:" + std::to_string((i * 7919) % 20000)});
      started = true;
    });
    auto run = run_copy({src_server.url(), dst_server.url(), "--window-keys", "1"});
    deleter.join();
    INFO(run.result.describe());
    REQUIRE(run.exit_code() == 0);
    CHECK(run.counter("failed") == 0);
    CHECK(run.counter("vanished") > 0);
    CHECK(run.counter("scanned") == run.counter("copied") + run.counter("vanished"));
  }

  TEST_CASE("a key SCAN returns twice is counted once") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    // SCAN returns keys again when the table shrinks under it: the buckets it already visited fold into the
    // one it is at. 4,000 keys are copied slowly while a writer keeps growing the table with 40,000 other
    // keys and deleting them, so it shrinks back many times during the scan (--match keeps those keys out of
    // the copy, on the server side). A shrink returns about one key twice on average, so the scenario is
    // repeated (a bounded number of times) until SCAN did return duplicates; the checks then prove that each
    // key was counted and copied once.
    std::vector<Command> cmds;
    for (int i = 0; i < 4000; ++i)
      cmds.push_back({"SET", "k:" + std::to_string(i), "v" + std::to_string(i)});
    src.pipeline_checked(cmds);
    std::vector<Command> adds, dels;
    for (int i = 0; i < 40000; ++i) {
      adds.push_back({"SET", "f:" + std::to_string(i), "x"});
      dels.push_back({"UNLINK", "f:" + std::to_string(i)});
    }
    nlohmann::json report;
    RunResult result;
    for (int attempt = 1; attempt <= 5; ++attempt) {
      CAPTURE(attempt);
      dst.flushall();
      std::atomic<bool> stop{false};
      std::atomic<int> cycles{0};
      std::thread churn([&] {
        Client c = src_server.client();
        while (!stop) {
          c.pipeline(adds);
          std::this_thread::sleep_for(100ms);
          c.pipeline(dels);
          std::this_thread::sleep_for(300ms);  // serverCron (10 Hz) shrinks the table
          ++cycles;
        }
      });
      auto tool = start_tool({src_server.url(), dst_server.url(), "--match", "k:*", "--window-keys", "2",
                              "--scan-count", "50", "--rate-limit", "1000", "--report-json", "-",
                              "--progress-interval", "0"});
      result = tool.finish(300s);
      stop = true;
      churn.join();
      INFO(result.describe());
      REQUIRE(result.exit_code == 0);
      report = nlohmann::json::parse(result.out);
      MESSAGE("attempt " << attempt << ": " << cycles.load()
                         << " grow-and-shrink cycles, duplicates returned by SCAN: " << report["duplicates"]);
      if (report.value("duplicates", uint64_t{0}) > 0) break;
    }
    INFO(result.describe());
    REQUIRE(report.value("duplicates", uint64_t{0}) > 0);
    // Each key counted once (duplicates are not in `scanned`) and copied once; none skipped because of its
    // own earlier copy.
    CHECK(report["scanned"] == 4000);
    CHECK(report["copied"] == 4000);
    CHECK(report["skipped"] == 0);
    CHECK(report["failed"] == 0);
    CHECK(report["vanished"] == 0);
    CHECK(user_dbsize(dst) == 4000);
    for (int i = 0; i < 4000; i += 97)
      CHECK(dst.command({"GET", "k:" + std::to_string(i)}).str == "v" + std::to_string(i));
  }

  TEST_CASE(
      "progress lines: scanned, copied, skipped, expired, failed, keys/s, MB/s and an ETA from DBSIZE") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    // 200 keys of 50 KB paced to 100 keys/s: a copy of about 2 s at about 5 MB/s, a progress line every
    // 0.2 s. The values are random: DUMP would compress repeated bytes.
    std::mt19937_64 rng(7);
    std::vector<Command> cmds;
    for (int i = 0; i < 200; ++i) {
      std::string value(50'000, '\0');
      for (auto& ch : value)
        ch = static_cast<char>(rng());
      cmds.push_back({"SET", "k:" + std::to_string(i), std::move(value)});
    }
    src.pipeline_checked(cmds);
    for (int i = 0; i < 10; ++i)
      dst.checked({"SET", "k:" + std::to_string(i), "old"});  // skipped
    auto run = run_copy({src_server.url(), dst_server.url(), "--rate-limit", "100", "--progress-interval",
                         "0.2", "--big-key-threshold", "0"});
    INFO(run.result.describe());
    REQUIRE(run.exit_code() == 0);
    CHECK(run.counter("copied") == 190);
    CHECK(run.counter("skipped") == 10);
    // As src/report/progress.cpp prints it:
    // progress 42% | scanned 84 of ~200 | copied 80 skipped 4 expired 0 vanished 0 failed 0 | 100 keys/s
    // 5.0 MB/s | in flight 3 | ETA 1.2s | paced to 100 keys/s
    const std::regex line_re(
        "progress ([0-9]+)% \\| scanned ([0-9,]+) of ~200 \\| copied ([0-9,]+) skipped ([0-9,]+) expired "
        "([0-9,]+) vanished ([0-9,]+) failed ([0-9,]+) \\| ([0-9,]+) keys/s ([0-9.]+ (B|KB|MB|GB))/s \\| in "
        "flight [0-9]+( \\(waiting for the destination\\))? \\| ETA ([^ ]+)( \\| paced to 100 keys/s"
        "( \\(holding back\\))?)?$");
    const auto lines = lines_with(run.result.err, "progress ");
    CHECK(lines.size() >= 3);
    std::size_t matched = 0, in_megabytes = 0, with_eta = 0, with_rate = 0;
    for (const auto& l : lines) {
      std::smatch m;
      CHECK_MESSAGE(std::regex_search(l, m, line_re), "progress line not as expected: " << l);
      if (m.empty()) continue;
      ++matched;
      if (m[9].str().find(" MB") != std::string::npos) ++in_megabytes;
      if (m[8].str() != "0") ++with_rate;
      // An ETA is a duration ("1.2s", "12s", "1m5s"); "?" only before anything was copied.
      if (std::regex_match(m[12].str(), std::regex("[0-9][0-9.hms]*"))) ++with_eta;
    }
    CHECK(matched == lines.size());
    CHECK(in_megabytes > 0);
    CHECK(with_rate > 0);
    CHECK(with_eta > 0);
  }

  TEST_CASE("a stream with consumer groups and pending entries keeps them") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    for (int i = 0; i < 10; ++i)
      src.checked({"XADD", "events", "*", "n", std::to_string(i)});
    src.checked({"XGROUP", "CREATE", "events", "g1", "0"});
    src.checked({"XGROUP", "CREATE", "events", "g2", "$"});
    src.checked({"XREADGROUP", "GROUP", "g1", "alice", "COUNT", "3", "STREAMS", "events", ">"});
    src.checked({"XREADGROUP", "GROUP", "g1", "bob", "COUNT", "2", "STREAMS", "events", ">"});
    auto run = run_copy({src_server.url(), dst_server.url()});
    REQUIRE(run.exit_code() == 0);
    require_same(compare_keyspaces(src, dst), 1);
    Reply pending = dst.command({"XPENDING", "events", "g1"});
    REQUIRE(pending.is_array());
    CHECK(pending.elements[0].integer == 5);
    Reply consumers = dst.command({"XINFO", "CONSUMERS", "events", "g1"});
    CHECK(consumers.elements.size() == 2);
  }
}
