// What the source is asked per key before its value. A string is read with TYPE, then PTTL + GETRANGE, its
// payload built by the tool, on a node whose keys are mostly strings (copy/fetch_stage.hpp); every other key
// is sized (MEMORY USAGE) before its DUMP unless the node proves at start that no key can be over
// --big-key-threshold: its whole dataset is under it (used_memory_dataset, suite rewrite), or, on Redis >= 8,
// INFO keysizes shows only strings, all shorter (engine/key_size_bound.hpp). These tests count the commands
// the source served and check that the copy stays exact either way: values (a string's DUMP on the
// destination byte for byte the source's), encodings, TTLs, big keys on the rewrite path; on a cluster
// source, node by node.

#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>

#include "helpers.hpp"
#include "support/cluster.hpp"
#include "support/compare.hpp"
#include "support/redis_server.hpp"
#include "support/versions.hpp"

using namespace rmig::test;

namespace {

long long memory_usage_calls(KeyReader& c) { return command_calls(c, "memory|usage"); }

// A source user whose strings are DUMPed (GETRANGE refused), so that every key goes through the size check.
const char* kNoGetrange = "copier on >pw ~* &* +@all -getrange";

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

// Strings at every encoding DUMP chooses and every length-encoding bound, half of them with a TTL of their
// own, plus a hash and a list: "e:N" keys. Returns how many strings (all at most 64 KB but the last two; the
// first is empty).
int seed_string_bounds(KeyWriter& c) {
  std::vector<std::string> values = {
      "",       "0",          "-0",         "1",           "-1",          "127",
      "128",    "-128",       "-129",       "32767",       "32768",       "-32768",
      "-32769", "2147483647", "2147483648", "-2147483648", "-2147483649", "007",
      "+1",     " 1",         "1.5",        "12345678901", "123456789012"};
  values.push_back(std::string("\0\r\n$*", 5) + std::string(300, '\xff'));
  for (std::size_t n : {1, 20, 21, 43, 44, 45, 63, 64, 65, 16383, 16384, 16385, 65535, 65536, 65537, 90000}) {
    std::string v;
    for (std::size_t i = 0; i < n; ++i)
      v += static_cast<char>('a' + (i * 7 + i / 13) % 26);
    values.push_back(std::move(v));
  }
  std::vector<Command> cmds;
  for (std::size_t i = 0; i < values.size(); ++i) {
    const std::string key = "e:" + std::to_string(i);
    cmds.push_back({"SET", key, values[i]});
    if (i % 2 == 1) cmds.push_back({"PEXPIRE", key, std::to_string(3'600'000 + i * 1000)});
  }
  cmds.push_back({"HSET", "e:hash", "f", "v"});
  cmds.push_back({"RPUSH", "e:list", "a", "b"});
  c.pipeline_checked(cmds);
  return static_cast<int>(values.size());
}

// How many error replies of `code` (WRONGTYPE...) the server has sent since its last CONFIG RESETSTAT.
long long error_replies(Client& c, const std::string& code) {
  const std::string errors = c.checked({"INFO", "errorstats"}).str;
  const std::string field = "errorstat_" + code + ":count=";
  const std::size_t at = errors.find(field);
  return at == std::string::npos ? 0 : std::atoll(errors.c_str() + at + field.size());
}

// Two servers of the same release: every key's OBJECT ENCODING the same on both sides, and its DUMP byte for
// byte.
void check_same_encodings(Client& src, Client& dst) {
  for (const std::string& key : src.scan_all("e:*")) {
    CAPTURE(key);
    CHECK(dst.checked({"OBJECT", "ENCODING", key}).str == src.checked({"OBJECT", "ENCODING", key}).str);
    CHECK(dst.checked({"DUMP", key}).str == src.checked({"DUMP", key}).str);
  }
}

}  // namespace

TEST_SUITE("fetch") {
  TEST_CASE(
      "strings are read with PTTL + GETRANGE, never sized nor DUMPed, and written with SET (PXAT, NX): every "
      "encoding and length bound, byte for byte the source's DUMP on the destination, TTLs to the "
      "millisecond; "
      "existing keys skipped or replaced as with RESTORE") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    const int strings = seed_string_bounds(src);
    src.checked({"CONFIG", "RESETSTAT"});
    dst.checked({"CONFIG", "RESETSTAT"});
    auto run = run_copy({src_server.url(), dst_server.url(), "--big-key-threshold", "100KB"});
    INFO(run.result.describe());
    REQUIRE(run.exit_code() == 0);
    CHECK(run.counter("copied") == static_cast<uint64_t>(strings + 2));
    // A GETRANGE longer than 64 KB (two strings) or empty (the empty string) sends the key the usual way:
    // sized, then DUMPed, as are the hash and the list. (Counted before the comparison, which asks too.)
    CHECK(command_calls(src, "getrange") == strings);
    CHECK(command_calls(src, "dump") == 5);
    CHECK(memory_usage_calls(src) == 5);
    CHECK(command_calls(src, "type") == strings + 2);
    CHECK(command_calls(src, "pttl") == strings + 5);
    // RESTORE for those five only; the strings read with GETRANGE are SET.
    CHECK(command_calls(dst, "restore") == 5);
    CHECK(command_calls(dst, "set") >= strings - 3);
    require_same(compare_keyspaces(src, dst), static_cast<std::size_t>(strings + 2));
    check_same_encodings(src, dst);

    // Existing keys: SET ... NX writes nothing and the key counts skipped, as a RESTORE's BUSYKEY.
    src.checked({"SET", "e:1", "changed"});
    src.checked({"PEXPIRE", "e:3", "7200000"});
    auto again = run_copy({src_server.url(), dst_server.url(), "--big-key-threshold", "100KB"});
    INFO(again.result.describe());
    REQUIRE(again.exit_code() == 0);
    CHECK(again.counter("copied") == 0);
    CHECK(again.counter("skipped") == static_cast<uint64_t>(strings + 2));
    CHECK(dst.checked({"GET", "e:1"}).str == "0");
    // --on-conflict replace: SET without NX writes over, TTLs as the source's now.
    auto replaced = run_copy(
        {src_server.url(), dst_server.url(), "--big-key-threshold", "100KB", "--on-conflict", "replace"});
    INFO(replaced.result.describe());
    REQUIRE(replaced.exit_code() == 0);
    CHECK(replaced.counter("copied") == static_cast<uint64_t>(strings + 2));
    require_same(compare_keyspaces(src, dst), static_cast<std::size_t>(strings + 2));
    check_same_encodings(src, dst);
  }

  TEST_CASE("strings written with RESTORE where SET cannot be: a destination without PXAT, SET refused") {
    SUBCASE("Redis 6.0 on both sides (PXAT is 6.2's): RESTORE of the built payloads, exact") {
      RedisServer src_server(redis_6_0().options());
      RedisServer dst_server(redis_6_0().options());
      Client src = src_server.client();
      Client dst = dst_server.client();
      const int strings = seed_string_bounds(src);
      src.checked({"CONFIG", "RESETSTAT"});
      dst.checked({"CONFIG", "RESETSTAT"});
      auto run = run_copy({src_server.url(), dst_server.url(), "--big-key-threshold", "100KB"});
      INFO(run.result.describe());
      REQUIRE(run.exit_code() == 0);
      CHECK(command_calls(src, "getrange") == strings);
      CHECK(command_calls(dst, "restore") == strings + 2);
      require_same(compare_keyspaces(src, dst), static_cast<std::size_t>(strings + 2));
      check_same_encodings(src, dst);
    }
    SUBCASE(
        "a destination user without +set (~* +restore +info, --no-lock --state-file): SET refused at start") {
      // +info: the destination's version known, strings are read with GETRANGE (without it every key is
      // DUMPed).
      ServerOptions options;
      options.acl_users = {"copier on >pw ~* +restore +info"};
      RedisServer src_server;
      RedisServer dst_server(options);
      Client src = src_server.client();
      Client dst = dst_server.client();
      seed_ttl_strings(src, 3000);
      src.checked({"CONFIG", "RESETSTAT"});
      dst.checked({"CONFIG", "RESETSTAT"});
      TempDir dir("state");
      auto run = run_copy({src_server.url(), dst_server.url_as("copier", "pw"), "--no-lock", "--state-file",
                           dir.file("run.json"), "--big-key-threshold", "100KB"});
      INFO(run.result.describe());
      REQUIRE(run.exit_code() == 0);
      CHECK(run.counter("copied") == 3000);
      CHECK(lines_with(run.result.err, "SET refused").size() == 1);
      CHECK(command_calls(src, "getrange") == 3000);
      // One RESTORE per key, and the start-up check's (MULTI refused too: sent alone, refused by its
      // payload).
      CHECK(command_calls(dst, "restore") == 3001);
      require_same(compare_keyspaces(src, dst), 3000);
    }
    SUBCASE(
        "a destination user allowed SET on the tool's own keys only: RESTORE from the first refusal, said "
        "once") {
      ServerOptions options;
      options.acl_users = {"copier on >pw ~* &* +@all -set (+set ~redis-migrate:*)"};
      RedisServer src_server;
      RedisServer dst_server(options);
      Client src = src_server.client();
      Client dst = dst_server.client();
      seed_ttl_strings(src, 3000);
      dst.checked({"CONFIG", "RESETSTAT"});
      auto run =
          run_copy({src_server.url(), dst_server.url_as("copier", "pw"), "--big-key-threshold", "100KB"});
      INFO(run.result.describe());
      REQUIRE(run.exit_code() == 0);
      CHECK(run.counter("copied") == 3000);
      CHECK(run.counter("failed") == 0);
      CHECK(lines_with(run.result.err, "strings are written with RESTORE from now on").size() == 1);
      CHECK(command_calls(dst, "restore") == 3000);
      require_same(compare_keyspaces(src, dst), 3000);
    }
  }

  TEST_CASE("strings read with GETRANGE between releases that read each other's payloads") {
    struct Pair {
      const ServerBuild* src;
      const ServerBuild* dst;
    };
    for (const Pair& pair :
         {Pair{&redis_6_0(), nullptr}, Pair{nullptr, &redis_8_0()}, Pair{&redis_8_0(), &redis_8_0()},
          Pair{&valkey_8_0(), &valkey_9()}, Pair{&valkey_9(), &valkey_9()}}) {
      const std::string name =
          (pair.src ? pair.src->name : "Redis 7.0") + " -> " + (pair.dst ? pair.dst->name : "Redis 7.0");
      CAPTURE(name);
      RedisServer src_server(pair.src ? pair.src->options() : ServerOptions{});
      RedisServer dst_server(pair.dst ? pair.dst->options() : ServerOptions{});
      Client src = src_server.client();
      Client dst = dst_server.client();
      const int strings = seed_string_bounds(src);
      src.checked({"CONFIG", "RESETSTAT"});
      auto run = run_copy({src_server.url(), dst_server.url()});
      INFO(run.result.describe());
      REQUIRE(run.exit_code() == 0);
      CHECK(run.counter("rewritten") == 0);
      CHECK(command_calls(src, "getrange") == strings);
      require_same(compare_keyspaces(src, dst), static_cast<std::size_t>(strings + 2));
      // Releases encode small values their own way (listpack or ziplist, embedded strings): the same release
      // keeps each key's encoding and DUMP.
      if (pair.src == pair.dst) check_same_encodings(src, dst);
    }
  }

  TEST_CASE("a node of mostly hashes: its strings are DUMPed, TYPE is asked of a few keys only") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    std::vector<Command> cmds;
    for (int i = 0; i < 6000; ++i) {
      const std::string key = "k:" + std::to_string(i);
      if (i % 10 == 0) {
        cmds.push_back({"SET", key, "value " + std::to_string(i)});
      } else {
        cmds.push_back({"HSET", key, "f", std::to_string(i)});
      }
    }
    src.pipeline_checked(cmds);
    src.checked({"CONFIG", "RESETSTAT"});
    auto run =
        run_copy({src_server.url(), dst_server.url(), "--big-key-threshold", "1KB", "--window-keys", "256"});
    INFO(run.result.describe());
    REQUIRE(run.exit_code() == 0);
    const long long types = command_calls(src, "type");
    MESSAGE(types << " TYPE calls for 6,000 keys, 600 strings");
    // The keys of the first window (256) may all be asked before the first answers say what the node holds;
    // after them, a few at most.
    CHECK(types <= 256 + 20);
    CHECK(command_calls(src, "getrange") <= types);
    // Never 256 strings in a row here: every GETRANGE followed a TYPE, no key answered WRONGTYPE.
    CHECK(error_replies(src, "WRONGTYPE") == 0);
    CHECK(value_reads(src) == 6000);
    require_same(compare_keyspaces(src, dst), 6000);
  }

  TEST_CASE("a node of strings only: after 256 strings in a row, keys are read without their TYPE") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_strings(src, 20000, "s:", 100);
    src.checked({"CONFIG", "RESETSTAT"});
    auto run = run_copy({src_server.url(), dst_server.url(), "--window-keys", "256"});
    INFO(run.result.describe());
    REQUIRE(run.exit_code() == 0);
    const long long types = command_calls(src, "type");
    MESSAGE(types << " TYPE calls for 20,000 strings");
    // The first window is TYPEd before any answer, then the keys sent before 256 strings were read.
    CHECK(types >= 256);
    CHECK(types <= 2 * 256 + 20);
    CHECK(command_calls(src, "getrange") == 20000);
    CHECK(command_calls(src, "dump") == 0);
    CHECK(error_replies(src, "WRONGTYPE") == 0);
    require_same(compare_keyspaces(src, dst), 20000);
  }

  TEST_CASE("strings longer than the read (64 KB) among them do not break the run of strings") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_strings(src, 5000, "s:", 100);
    std::vector<Command> cmds;
    for (int i = 0; i < 50; ++i)
      cmds.push_back(
          {"SET", "long:" + std::to_string(i), std::string(70000, static_cast<char>('a' + i % 26))});
    src.pipeline_checked(cmds);
    src.checked({"CONFIG", "RESETSTAT"});
    auto run = run_copy({src_server.url(), dst_server.url(), "--window-keys", "256"});
    INFO(run.result.describe());
    REQUIRE(run.exit_code() == 0);
    const long long types = command_calls(src, "type");
    MESSAGE(types << " TYPE calls for 5,050 strings, 50 of them long");
    // Were a long string to break the run, the 256 keys after each would be TYPEd: most of the 5,050.
    CHECK(types <= 2 * 256 + 20);
    CHECK(command_calls(src, "dump") == 50);  // the long ones, after their GETRANGE
    CHECK(error_replies(src, "WRONGTYPE") == 0);
    require_same(compare_keyspaces(src, dst), 5050);
  }

  TEST_CASE(
      "strings with a few keys of other types: the first met without its TYPE answers WRONGTYPE, is read the "
      "usual way, and the node's keys are TYPEd from then on (said once); the copy is exact") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_strings(src, 30000, "s:", 100);
    std::vector<Command> cmds;
    for (int i = 0; i < 40; ++i) {
      const std::string n = std::to_string(i);
      switch (i % 4) {
        case 0: cmds.push_back({"HSET", "o:" + n, "f", n}); break;
        case 1: cmds.push_back({"RPUSH", "o:" + n, "a", n}); break;
        case 2: cmds.push_back({"ZADD", "o:" + n, "1.5", n}); break;
        default: cmds.push_back({"SADD", "o:" + n, n, "b"}); break;
      }
      if (i % 2 == 0) cmds.push_back({"PEXPIRE", "o:" + n, std::to_string(3'600'000 + i * 977)});
    }
    src.pipeline_checked(cmds);
    src.checked({"CONFIG", "RESETSTAT"});
    auto run =
        run_copy({src_server.url(), dst_server.url(), "--big-key-threshold", "1KB", "--window-keys", "256"});
    INFO(run.result.describe());
    REQUIRE(run.exit_code() == 0);
    CHECK(run.counter("failed") == 0);
    CHECK(run.counter("copied") == 30040);
    const long long wrongtype = error_replies(src, "WRONGTYPE");
    const long long types = command_calls(src, "type");
    MESSAGE(wrongtype << " WRONGTYPE replies, " << types << " TYPE calls for 30,040 keys");
    // 256 strings in a row come long before the first of the 40 others (one key in 750): that one is read
    // without its TYPE, and the others among the 256 reads in flight then (more than five: about once in a
    // million runs). Then every key is TYPEd: the untyped reads end within the first few thousand keys (after
    // key 15,000: about once in 10^8 runs).
    CHECK(wrongtype >= 1);
    CHECK(wrongtype <= 5);
    CHECK(types > 15000);
    CHECK(types < 30040);
    CHECK(lines_with(run.result.err, "asked their TYPE first from now on").size() == 1);
    // The others are sized and DUMPed; every string is read with GETRANGE.
    CHECK(command_calls(src, "dump") == 40);
    CHECK(memory_usage_calls(src) == 40);
    CHECK(command_calls(src, "getrange") == 30000 + wrongtype);
    require_same(compare_keyspaces(src, dst), 30040);
  }

  TEST_CASE(
      "RESTOREs sent again after the destination dropped the connection: the strings already written are "
      "recognised by their value, though the destination's DUMP of them is compressed and their payload is "
      "not") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    // 200 bytes that LZF compresses: the destination's DUMP of each differs from the payload built.
    std::vector<Command> cmds;
    for (int i = 0; i < 100000; ++i)
      cmds.push_back({"SET", "c:" + std::to_string(i), std::string(190, 'c') + std::to_string(1000000 + i)});
    src.pipeline_checked(cmds);
    TempDir dir("report");
    auto tool = start_tool({src_server.url(), dst_server.url(), "--progress-interval", "0", "--report-json",
                            dir.file("r.json")});
    // Cut the tool's destination connections again and again while RESTOREs are in flight: some of them ran
    // before their connection was cut, and are sent again. (From the first keys written on: a connection cut
    // during the start-up checks ends the run, exit 3.)
    REQUIRE(eventually([&] { return dst.dbsize() >= 5000; }, 60s));
    int cuts = 0;
    while (tool.running() && dst.dbsize() < 90000) {
      dst.command({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"});
      ++cuts;
      std::this_thread::sleep_for(50ms);
    }
    const RunResult result = tool.finish(120s);
    INFO(result.describe());
    MESSAGE(cuts << " cuts");
    REQUIRE(cuts >= 3);
    REQUIRE(result.exit_code == 0);
    CHECK(result.err.find("reconnected") != std::string::npos);
    // Every key counted copied (none skipped as if it had been there before), compared by value (GETRANGE),
    // not by the destination's DUMP.
    const auto report = nlohmann::json::parse(read_file(dir.file("r.json")));
    CHECK(report["copied"] == 100000);
    CHECK(report["skipped"] == 0);
    CHECK(command_calls(dst, "getrange") > 0);
    CHECK(command_calls(dst, "dump") == 0);
    require_same(compare_keyspaces(src, dst), 100000);
  }

  TEST_CASE("TYPE or GETRANGE refused to the source user: strings are DUMPed, said once, exact") {
    for (const char* denied : {"-type", "-getrange"}) {
      CAPTURE(denied);
      ServerOptions options;
      options.acl_users = {std::string("copier on >pw ~* &* +@all ") + denied};
      RedisServer src_server(options);
      RedisServer dst_server;
      Client src = src_server.client();
      Client dst = dst_server.client();
      seed_ttl_strings(src, 500);
      auto run = run_copy({src_server.url_as("copier", "pw"), dst_server.url(), "--big-key-threshold", "0"});
      INFO(run.result.describe());
      REQUIRE(run.exit_code() == 0);
      require_same(compare_keyspaces(src, dst), 500);
      CHECK(lines_with(run.result.err, "refused").size() == 1);
      CHECK(lines_with(run.result.err, "its strings are read with DUMP instead").size() == 1);
      CHECK(command_calls(src, "dump") >= 499);
    }
  }

  TEST_CASE(
      "keys changing type between their TYPE and their GETRANGE: read again the usual way, never failed") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_strings(src, 2000, "s:");
    std::vector<Command> cmds;
    for (int i = 0; i < 50; ++i)
      cmds.push_back({"SET", "flip:" + std::to_string(i), "string"});
    src.pipeline_checked(cmds);
    // A writer turns the flip: keys into hashes and back as fast as it can while copies run, until the source
    // has answered some GETRANGE with WRONGTYPE (the type changed after its TYPE).
    std::atomic<bool> stop{false};
    std::thread writer([&] {
      Client w = src_server.client();
      for (long n = 0; !stop; ++n) {
        std::vector<Command> flips;
        for (int i = 0; i < 50; ++i) {
          const std::string key = "flip:" + std::to_string(i);
          flips.push_back({"DEL", key});
          if (n % 2 == 0) {
            flips.push_back({"HSET", key, "f", "hash"});
          } else {
            flips.push_back({"SET", key, "string"});
          }
        }
        w.pipeline(flips);
      }
    });
    long long wrongtype = 0;
    for (int attempt = 0; attempt < 20 && wrongtype == 0; ++attempt) {
      dst.flushall();
      auto run = run_copy({src_server.url(), dst_server.url(), "--progress-interval", "0"});
      INFO(run.result.describe());
      CHECK(run.exit_code() == 0);
      CHECK(run.counter("failed") == 0);
      // Every flip: key copied is one of the two values the writer writes.
      for (const std::string& key : dst.scan_all("flip:*")) {
        const std::string type = dst.checked({"TYPE", key}).str;
        if (type == "string") {
          CHECK(dst.checked({"GET", key}).str == "string");
        } else {
          CHECK(type == "hash");
          CHECK(dst.checked({"HGET", key, "f"}).str == "hash");
        }
      }
      wrongtype = error_replies(src, "WRONGTYPE");
    }
    stop = true;
    writer.join();
    MESSAGE(wrongtype << " GETRANGE answered WRONGTYPE");
    CHECK(wrongtype > 0);
    require_same(compare_keyspaces(src, dst,
                                   {.include = [](const std::string& k) { return k.rfind("s:", 0) == 0; },
                                    .check_extra_keys_on_dst = false}),
                 2000);
  }

  TEST_CASE(
      "Redis 8.0, strings DUMPed (a user without GETRANGE): INFO keysizes proves every key small, no MEMORY "
      "USAGE; with string reads only the long string is sized, the big one rewritten") {
    ServerOptions options = redis_8_0().options();
    options.acl_users = {kNoGetrange};
    RedisServer src_server(options);
    RedisServer dst_server(redis_8_0().options());
    Client src = src_server.client();
    seed_ttl_strings(src, 400);
    // The dataset alone proves nothing: it is over the threshold.
    REQUIRE(dataset_bytes(src) > 100'000);

    auto dumped = copy_checked(src_server, dst_server, src_server.url_as("copier", "pw"));
    CHECK(memory_usage_calls(src) == 0);
    CHECK(command_calls(src, "dump") == 400);
    CHECK(lines_with(dumped.result.err, "GETRANGE refused").size() == 1);

    // One string over the threshold, one between the longest string read with GETRANGE (64 KB) and the
    // threshold: the keysizes bound (256K bucket) is over the threshold, but strings read with GETRANGE need
    // no size check; the two long ones are sized, the big one takes the rewrite path (never DUMPed whole),
    // the other is DUMPed.
    src.checked({"SET", "big:string", std::string(300'000, 'x')});
    src.checked({"PEXPIRE", "big:string", "7200000"});
    src.checked({"SET", "long:string", std::string(80'000, 'l')});
    auto run = copy_checked(src_server, dst_server);
    CHECK(memory_usage_calls(src) == 2);
    CHECK(command_calls(src, "dump") == 1);
    CHECK(run.counter("big_keys_total") == 1);
    CHECK(run.counter("rewritten") == 1);
  }

  TEST_CASE("Redis 8.0: a hash or a stream among the strings proves nothing, every DUMPed key is sized") {
    ServerOptions options = redis_8_0().options();
    options.acl_users = {kNoGetrange};
    RedisServer src_server(options);
    RedisServer dst_server(redis_8_0().options());
    Client src = src_server.client();
    const std::string url = src_server.url_as("copier", "pw");
    seed_ttl_strings(src, 300);
    // A hash's element count (in INFO keysizes) says nothing of its bytes.
    src.checked({"HSET", "h", "f", std::string(2000, 'h')});
    copy_checked(src_server, dst_server, url);
    CHECK(memory_usage_calls(src) == 301);

    // A stream is not in INFO keysizes at all: the counts no longer add up to the keyspace's.
    src.checked({"DEL", "h"});
    src.checked({"XADD", "st", "*", "f", std::string(2000, 's')});
    copy_checked(src_server, dst_server, url);
    CHECK(memory_usage_calls(src) == 301);

    // With string reads only the stream is sized: the strings need no check.
    copy_checked(src_server, dst_server);
    CHECK(memory_usage_calls(src) == 1);
    CHECK(command_calls(src, "dump") == 1);
  }

  TEST_CASE("Redis 8.0, a source user without INFO: nothing is proved, every DUMPed key is sized") {
    ServerOptions options = redis_8_0().options();
    options.acl_users = {"copier on >pw ~* +@all -info -getrange"};
    RedisServer src_server(options);
    RedisServer dst_server(redis_8_0().options());
    Client src = src_server.client();
    seed_ttl_strings(src, 200);
    copy_checked(src_server, dst_server, src_server.url_as("copier", "pw"));
    CHECK(memory_usage_calls(src) == 200);
  }

  TEST_CASE("Redis 8.0 cluster source: each primary proves its own keys small, or sizes all it DUMPs") {
    LocalCluster src_cluster({.node = [] {
      ServerOptions o = redis_8_0().options();
      o.acl_users = {kNoGetrange};
      return o;
    }()});
    RedisServer dst_server(redis_8_0().options());
    ClusterClient src = src_cluster.client();
    Client dst = dst_server.client();
    const std::string url = src_cluster.url_as("copier", "pw");
    seed_ttl_strings(src, 600);
    const auto primaries = src_cluster.primaries();
    REQUIRE(primaries.size() == 3);
    for (RedisServer* p : primaries) {
      Client c = p->client();
      REQUIRE(dataset_bytes(c) > 100'000);
      c.checked({"CONFIG", "RESETSTAT"});
    }
    auto run = run_copy({url, dst_server.url(), "--big-key-threshold", "100KB"});
    INFO(run.result.describe());
    REQUIRE(run.exit_code() == 0);
    CHECK(run.counter("copied") == 600);
    require_same(compare_keyspaces(src, dst), 600);
    for (RedisServer* p : primaries) {
      Client c = p->client();
      CHECK(memory_usage_calls(c) == 0);
    }

    // A hash on one primary: that node sizes every key it holds, the others still none.
    src.checked({"HSET", "h:1", "f", std::string(3000, 'y')});
    RedisServer& owner =
        src_cluster.owner_of_slot(static_cast<int>(src.checked({"CLUSTER", "KEYSLOT", "h:1"}).integer));
    for (RedisServer* p : primaries) {
      Client c = p->client();
      c.checked({"CONFIG", "RESETSTAT"});
    }
    dst.flushall();
    auto again = run_copy({url, dst_server.url(), "--big-key-threshold", "100KB"});
    INFO(again.result.describe());
    REQUIRE(again.exit_code() == 0);
    CHECK(again.counter("copied") == 601);
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
