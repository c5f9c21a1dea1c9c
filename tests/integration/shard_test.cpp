// --shard I/N: N processes each copy an even share of the hash slots, from a cluster and from a standalone
// source, every key exactly once; each shard has its own lease and run record (a killed shard resumes its
// own checkpoint), sharded and unsharded runs exclude each other (with --no-lock too), each shard counts its
// share of the source keys, status lists the shards with their progress, the shard registry is pruned, and
// the Indexed Job manifest runs as its pods would.

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "helpers.hpp"
#include "support/cluster.hpp"
#include "support/compare.hpp"
#include "support/preserved.hpp"
#include "support/redis_server.hpp"
#include "support/seed.hpp"

using namespace rmig::test;

namespace {

// N tools started at once, each with its own JSON report; waits for all of them.
struct Parallel {
  TempDir dir{"shards"};
  std::vector<ToolProcess> procs;
  std::vector<RunResult> results;
  std::vector<nlohmann::json> reports;

  void start(std::vector<std::string> args, const EnvOverrides& env = {}) {
    args.push_back("--report-json");
    args.push_back(dir.file("report-" + std::to_string(procs.size()) + ".json"));
    procs.push_back(start_tool(args, env));
  }
  void finish() {
    for (std::size_t i = 0; i < procs.size(); ++i) {
      results.push_back(procs[i].finish(180s));
      const std::string text = read_file(dir.file("report-" + std::to_string(i) + ".json"));
      reports.push_back(text.empty() ? nlohmann::json::object()
                                     : nlohmann::json::parse(text, nullptr, false));
    }
  }
};

// 1234 -> "1,234", as the tool prints counts.
std::string with_commas(uint64_t n) {
  std::string s = std::to_string(n);
  for (int at = static_cast<int>(s.size()) - 3; at > 0; at -= 3)
    s.insert(static_cast<std::size_t>(at), ",");
  return s;
}

std::string shard_arg(int i, int n) { return std::to_string(i) + "/" + std::to_string(n); }

// The run record of shard `shard` ("1/3") on the destination, or null.
nlohmann::json shard_record(KeyReader& dst, const std::string& shard) {
  Reply ids = dst.command({"ZREVRANGE", "redis-migrate:run:index", "0", "-1"});
  for (const Reply& id : ids.elements) {
    Reply v = dst.command({"GET", "redis-migrate:run:" + id.str});
    if (!v.is_string()) continue;
    auto j = nlohmann::json::parse(v.str, nullptr, false);
    if (j.is_object() && j["fingerprint"].value("shard", "") == shard) return j;
  }
  return nullptr;
}

long long reads(const std::vector<Client*>& nodes) {
  long long n = 0;
  for (Client* c : nodes)
    n += value_reads(*c);
  return n;
}

}  // namespace

TEST_SUITE("shard") {
  TEST_CASE("3 shards in parallel from a 3-primary cluster: one read per key, status and verify --shard") {
    LocalCluster src_cluster;
    RedisServer dst_server;
    ClusterClient src = src_cluster.client();
    seed_mixed(src, {.count = 3000, .ttl_fraction = 0.2});
    std::vector<Client> node_clients;
    for (auto* p : src_cluster.primaries())
      node_clients.push_back(p->client());
    std::vector<Client*> nodes;
    for (auto& c : node_clients)
      nodes.push_back(&c);
    const long long before = reads(nodes);
    auto count_calls = [&] {
      long long n = 0;
      for (Client* c : nodes)
        n += command_calls(*c, "cluster|countkeysinslot");
      return n;
    };
    const long long counted_before = count_calls();

    Parallel run;
    for (int i = 0; i < 3; ++i)
      run.start(
          {"--shard", shard_arg(i, 3), src_cluster.url(), dst_server.url(), "--progress-interval", "0"});
    run.finish();
    uint64_t copied = 0;
    for (int i = 0; i < 3; ++i) {
      CAPTURE(i);
      INFO(run.results[i].describe());
      REQUIRE(run.results[i].exit_code == 0);
      copied += run.reports[i].value("copied", uint64_t{0});
      CHECK(run.reports[i].value("failed", uint64_t{1}) == 0);
      // The slot range is printed at start.
      const auto first = static_cast<uint32_t>(i) * 16384u / 3,
                 end = static_cast<uint32_t>(i + 1) * 16384u / 3;
      CHECK(contains(run.results[i].err, "shard " + shard_arg(i, 3) + ": slots " + std::to_string(first) +
                                             "-" + std::to_string(end - 1)));
      // Only the nodes owning slots of the shard are scanned (3 primaries, 3 shards: one or two each).
      CHECK(run.reports[i]["nodes"].size() <= 2);
      CHECK(run.reports[i]["nodes"].size() >= 1);
      // The shard's estimate of its keys is its share, not the nodes' DBSIZE: here exact (a whole node, or a
      // node but for one slot, or one slot of a node: CLUSTER COUNTKEYSINSLOT).
      CHECK(run.reports[i]["source_keys"] == run.reports[i]["copied"]);
    }
    CHECK(copied == 3000);
    CHECK(count_calls() > counted_before);
    // Every shard finished: the last to end removed the registry's entries.
    Client dst_view = dst_server.client();
    CHECK(dst_view.command({"EXISTS", "redis-migrate:lock:shards"}).integer == 0);
    // Across the shards every key was dumped exactly once.
    CHECK(reads(nodes) - before == 3000);
    Client dst = dst_server.client();
    require_same(compare_keyspaces(src, dst), 3000);
    // Each shard held its own lease; none is left.
    for (int i = 0; i < 3; ++i)
      CHECK(dst.command({"EXISTS", "redis-migrate:lock:shard-" + std::to_string(i) + "-of-3"}).integer == 0);

    // status: every shard with its record, and all finished.
    auto status = run_copy({"status", dst_server.url()});
    REQUIRE(status.exit_code() == 0);
    CHECK(contains(status.result.out, "copy in 3 shards: 3 of 3 finished (all shards finished)"));
    REQUIRE(status.report["shards"].size() == 1);
    CHECK(status.report["shards"][0]["all_finished"] == true);
    CHECK(status.report["shards"][0]["shards"].size() == 3);
    CHECK(status.report["shards"][0]["source_keys"] == 3000);
    for (const auto& m : status.report["shards"][0]["shards"]) {
      CHECK(m["source_keys"] == m["scanned"]);
      CHECK(m["percent"] == 100);
    }

    // verify --shard checks only that shard's keys; a difference outside it is not seen.
    uint64_t checked = 0;
    for (int i = 0; i < 3; ++i) {
      auto v = run_verify(src_cluster.url(), dst_server.url(), {"--shard", shard_arg(i, 3)});
      INFO(v.result.describe());
      CHECK(v.exit_code() == 0);
      checked += v.counter("checked");
    }
    CHECK(checked == 3000);
    // A difference in shard 2's slots is seen by verify --shard 2/3 only.
    std::string changed;
    for (const auto& key : src.scan_all()) {
      if (src.command({"CLUSTER", "KEYSLOT", key}).integer >= 10922) {
        changed = key;
        break;
      }
    }
    REQUIRE(!changed.empty());
    Client dst_admin = dst_server.client();
    dst_admin.command({"DEL", changed});
    CHECK(run_verify(src_cluster.url(), dst_server.url(), {"--shard", "0/3"}).exit_code() == 0);
    auto missing = run_verify(src_cluster.url(), dst_server.url(), {"--shard", "2/3"});
    CHECK(missing.exit_code() == 1);
    CHECK(missing.counter("missing") == 1);
    const long long pttl = src.command({"PTTL", changed}).integer;
    dst_admin.command(
        {"RESTORE", changed, std::to_string(pttl > 0 ? pttl : 0), src.command({"DUMP", changed}).str});
    CHECK(run_verify(src_cluster.url(), dst_server.url(), {"--shard", "2/3"}).exit_code() == 0);

    // cleanup --shard deletes only its slots' keys from the source (each has its copy on the destination).
    std::size_t in_shard = 0;
    for (const auto& key : src.scan_all()) {
      if (src.command({"CLUSTER", "KEYSLOT", key}).integer < 5461) ++in_shard;
    }
    REQUIRE(in_shard > 0);
    const KeysBefore snapshot = keys_before({&src, &dst});
    auto cleaned = run_cleanup(src_cluster.url(), dst_server.url(), {"--shard", "0/3", "--yes"});
    INFO(cleaned.result.describe());
    REQUIRE(cleaned.exit_code() == 0);
    CHECK(cleaned.counter("deleted") == in_shard);
    CHECK(src.dbsize() == static_cast<long long>(3000 - in_shard));
    for (const auto& key : src.scan_all())
      CHECK(src.command({"CLUSTER", "KEYSLOT", key}).integer >= 5461);
    CHECK(user_dbsize(dst) == 3000);  // every key still exists somewhere
    require_preserved(check_preserved(snapshot, {&src, &dst}), 3000);
  }

  TEST_CASE(
      "the Indexed Job pod command, 3 in parallel (JOB_COMPLETION_INDEX 0..2, SHARD_COUNT=3), from a "
      "standalone source: one read per key") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    seed_strings(src, 3000, "k:");
    seed_mixed(src, {.count = 300});
    const long long before = value_reads(src);
    Parallel run;
    // The exact environment a pod of scripts/k8s/migrate-indexed-job.yaml gets (without password files).
    for (int i = 0; i < 3; ++i) {
      run.start({}, {{"SOURCE_REDIS_URL", src_server.url()},
                     {"DESTINATION_REDIS_URL", dst_server.url()},
                     {"JOB_COMPLETION_INDEX", std::to_string(i)},
                     {"SHARD_COUNT", "3"},
                     {"LOG_FORMAT", "json"},
                     {"PROGRESS_INTERVAL", "30"}});
    }
    run.finish();
    uint64_t copied = 0;
    for (int i = 0; i < 3; ++i) {
      CAPTURE(i);
      INFO(run.results[i].describe());
      REQUIRE(run.results[i].exit_code == 0);
      CHECK(contains(run.results[i].err, "shard " + shard_arg(i, 3)));
      const uint64_t mine = run.reports[i].value("copied", uint64_t{0});
      CHECK(mine > 0);
      copied += mine;
      // A standalone source: the shard's estimate is DBSIZE x its share of the slots, near its real count.
      const auto estimate = run.reports[i]["source_keys"].get<uint64_t>();
      CHECK(estimate ==
            3300 * (static_cast<uint64_t>(i + 1) * 16384 / 3 - static_cast<uint64_t>(i) * 16384 / 3) / 16384);
      CHECK(estimate * 100 >= mine * 85);
      CHECK(estimate * 100 <= mine * 115);
    }
    CHECK(copied == 3300);
    CHECK(value_reads(src) - before == 3300);
    Client dst = dst_server.client();
    require_same(compare_keyspaces(src, dst), 3300);

    // Another migration (another selection) in 2 shards, of which only one ran: status says which has not.
    auto half = run_copy({"--shard", "0/2", "--match", "k:1*", src_server.url(), dst_server.url()});
    REQUIRE(half.exit_code() == 0);
    auto status = run_copy({"status", dst_server.url()});
    REQUIRE(status.exit_code() == 0);
    CHECK(contains(status.result.out, "copy in 3 shards: 3 of 3 finished (all shards finished)"));
    CHECK(contains(status.result.out, "copy in 2 shards: 1 of 2 finished\n"));
    CHECK(contains(status.result.out, "shard 1/2  not started (no record)"));
    REQUIRE(status.report["shards"].size() == 2);
    for (const auto& g : status.report["shards"]) {
      CAPTURE(g.dump());
      if (g["count"] == 2) {
        CHECK(g["all_finished"] == false);
        CHECK(g["not_started"] == nlohmann::json::array({1}));
      } else {
        CHECK(g["all_finished"] == true);
      }
    }
  }

  TEST_CASE(
      "a shard killed with -9 resumes its own checkpoint; sharded and unsharded runs exclude each other") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_strings(src, 6000, "k:");
    auto args = [&](int i) {
      return std::vector<std::string>{"--shard",
                                      shard_arg(i, 3),
                                      src_server.url(),
                                      dst_server.url(),
                                      "--lock-ttl",
                                      "5",
                                      "--progress-interval",
                                      "0"};
    };
    Parallel others;
    others.start(args(0));
    others.start(args(2));
    // Shard 1 is paced so it is still running when killed.
    auto slow = args(1);
    slow.insert(slow.end(), {"--rate-limit", "300"});
    auto victim = start_tool(slow);
    REQUIRE(eventually([&] { return record_scanned(shard_record(dst, "1/3")) > 0; }, 30s));
    const pid_t killed = victim.pid();
    victim.kill9();
    const uint64_t saved = record_scanned(shard_record(dst, "1/3"));
    const auto saved_total = shard_record(dst, "1/3")["totals"]["scanned"].get<uint64_t>();
    others.finish();
    for (int i = 0; i < 2; ++i) {
      INFO(others.results[i].describe());
      REQUIRE(others.results[i].exit_code == 0);  // not locked out by shard 1
    }
    // The finished shards left the registry; the killed one, whose lease still lives, is in it.
    auto registered = [&](const std::string& key) {
      return !dst.command({"ZSCORE", "redis-migrate:lock:shards", key}).is_nil();
    };
    // An entry goes by its score (ZREMRANGEBYSCORE), so one that registered in the same millisecond as the
    // killed shard stays with it (the documented rule); any other finished shard's entry is gone.
    auto score = [&](const std::string& key) {
      return dst.command({"ZSCORE", "redis-migrate:lock:shards", key}).str;
    };
    const std::string killed_score = score("redis-migrate:lock:shard-1-of-3");
    for (const char* key : {"redis-migrate:lock:shard-0-of-3", "redis-migrate:lock:shard-2-of-3"}) {
      CAPTURE(key);
      CHECK((!registered(key) || score(key) == killed_score));
    }
    CHECK(registered("redis-migrate:lock:shard-1-of-3"));

    // While the killed shard's lease lives, an unsharded run and a shard of another count are kept out.
    auto whole = run_copy({src_server.url(), dst_server.url()});
    CHECK(whole.exit_code() == 4);
    CHECK(contains(error_line(whole), "lock:shard-1-of-3"));
    auto other_count = run_copy({"--shard", "0/2", src_server.url(), dst_server.url()});
    CHECK(other_count.exit_code() == 4);
    // --no-lock takes no lease, but an overlapping run's lease keeps it out all the same: one line, exit 4.
    for (const auto& no_lock : std::vector<std::vector<std::string>>{
             {"--no-lock", src_server.url(), dst_server.url()},
             {src_server.url(), "--shard", "1/2", dst_server.url(), "--no-lock"}}) {
      CAPTURE(quote_command(no_lock));
      auto refused = run_tool(no_lock);
      CHECK(refused.exit_code == 4);
      CHECK(lines_with(refused.err, "redis-migrate: ").size() == 1);
      CHECK(contains(error_line(refused), "lock:shard-1-of-3"));
      CHECK(contains(error_line(refused), "with --no-lock too"));
    }

    // status: shard 1 is not finished.
    auto status = run_copy({"status", dst_server.url()});
    REQUIRE(status.exit_code() == 0);
    REQUIRE(status.report["shards"].size() == 1);
    CHECK(status.report["shards"][0]["all_finished"] == false);
    CHECK(status.report["shards"][0]["finished"] == 2);
    CHECK(contains(status.result.out, "2 of 3 finished, scanned "));
    // Each shard's progress against its estimate (6,000 keys, its share of the slots), not the source's
    // DBSIZE.
    const auto& group = status.report["shards"][0];
    CHECK(group["source_keys"].get<uint64_t>() >= 5990);
    CHECK(group["source_keys"].get<uint64_t>() <= 6000);
    const auto& killed_shard = group["shards"][1];
    CHECK(killed_shard["shard"] == "1/3");
    CHECK(killed_shard["lease_held"] == true);
    CHECK(killed_shard["source_keys"] == 6000 * 5461 / 16384);  // slots 5461-10921
    CHECK(killed_shard["scanned"].get<uint64_t>() == saved_total);
    CHECK(killed_shard["percent"].get<uint64_t>() == std::min<uint64_t>(saved_total * 100 / 1999, 99));
    CHECK(contains(status.result.out, "scanned " + with_commas(saved_total) + " of ~1,999 ("));

    // unlock --shard clears the killed shard's lease at once (the other leases are not touched).
    auto unlocked = run_copy({"unlock", "--shard", "1/3", "--yes", dst_server.url()});
    INFO(unlocked.result.describe());
    CHECK(unlocked.exit_code() == 0);
    CHECK(dst.command({"EXISTS", "redis-migrate:lock:shard-1-of-3"}).integer == 0);
    // ... and its registry entry.
    CHECK(unlocked.report["unregistered"] == true);
    CHECK(!registered("redis-migrate:lock:shard-1-of-3"));
    auto resumed = run_copy(args(1));
    INFO(resumed.result.describe());
    REQUIRE(resumed.exit_code() == 0);
    CHECK(resumed.report["run"]["resumed"] == true);
    CHECK(contains(resumed.result.err,
                   "shard 1/3: ~1,999 of the source's 6,000 keys (its share of the slots)"));
    CHECK(resumed.report["source_keys"] == 1999);
    CHECK(resumed.report["run"]["resumed_from"]["scanned"] == saved);
    CHECK(resumed.result.err.find("pid " + std::to_string(killed)) == std::string::npos);
    // The other shards' records were not touched: one attempt each, finished.
    for (const char* s : {"0/3", "2/3"}) {
      CAPTURE(s);
      const auto rec = shard_record(dst, s);
      REQUIRE(rec.is_object());
      CHECK(rec["status"] == "finished");
      CHECK(rec["attempts"] == 1);
    }
    CHECK(shard_record(dst, "1/3")["attempts"] == 2);
    // The estimate status measured shard 1 against is near the keys it really had.
    const auto real = shard_record(dst, "1/3")["totals"]["scanned"].get<uint64_t>();
    CHECK(real * 85 <= 1999 * 100);
    CHECK(real * 115 >= 1999 * 100);
    require_same(compare_keyspaces(src, dst), 6000);
    auto all = run_copy({"status", dst_server.url()});
    CHECK(all.report["shards"][0]["all_finished"] == true);
    CHECK(contains(all.result.out, "3 of 3 finished (all shards finished)"));
    // Nothing registered is left: the refused 0/2 run's entry (no lease, no record) went with the last end.
    CHECK(dst.command({"EXISTS", "redis-migrate:lock:shards"}).integer == 0);

    // A lease of the whole keyspace keeps every shard out.
    dst.command({"SET", "redis-migrate:lock",
                 R"({"host":"elsewhere","pid":4242,"started_at":"2026-01-01T00:00:00Z","command":"copy"})",
                 "PX", "20000"});
    auto shard_refused = run_copy(args(0));
    CHECK(shard_refused.exit_code() == 4);
    CHECK(contains(error_line(shard_refused), "pid 4242"));
    auto no_lock_refused = run_copy({"--no-lock", "--shard", "2/3", src_server.url(), dst_server.url()});
    CHECK(no_lock_refused.exit_code() == 4);
    CHECK(contains(error_line(no_lock_refused), "pid 4242"));
    // Without a lease of its own, --no-lock does not check its own lock: unchanged for an unsharded run.
    CHECK(run_copy({"--no-lock", src_server.url(), dst_server.url()}).exit_code() == 0);
    dst.command({"DEL", "redis-migrate:lock"});
  }

  TEST_CASE(
      "--no-lock --shard registers nothing; a user who may not read the leases is told what is not checked") {
    RedisServer src_server;
    RedisServer dst_server({.acl_users = {"user app on >pw ~app:* +@all"}});
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_strings(src, 300, "app:");
    // A shard of 3 holds its lease: a --no-lock shard of the same count does not overlap it and goes ahead,
    // leaving no lease and no registry entry behind.
    dst.checked({"SET", "redis-migrate:lock:shard-1-of-3",
                 R"({"host":"elsewhere","pid":4242,"started_at":"2026-01-01T00:00:00Z","command":"copy"})",
                 "PX", "30000"});
    dst.checked({"ZADD", "redis-migrate:lock:shards", "1", "redis-migrate:lock:shard-1-of-3"});
    auto same_count = run_copy({"--no-lock", "--shard", "0/3", src_server.url(), dst_server.url()});
    INFO(same_count.result.describe());
    CHECK(same_count.exit_code() == 0);
    CHECK(dst.command({"ZCARD", "redis-migrate:lock:shards"}).integer == 1);
    CHECK(dst.command({"EXISTS", "redis-migrate:lock:shard-0-of-3"}).integer == 0);
    // The destination user may not read the tool's keys (hence --no-lock --state-file): one warning says the
    // overlap was not checked, and the copy goes on.
    TempDir dir("state");
    auto unread = run_copy({"--no-lock", "--state-file", dir.file("run.json"), "--shard", "1/2",
                            src_server.url(), dst_server.url_as("app", "pw")});
    INFO(unread.result.describe());
    CHECK(unread.exit_code() == 0);
    CHECK(contains(unread.result.err, "--no-lock: whether a run of other slots"));
    CHECK(contains(unread.result.err, "was not checked"));
  }

  TEST_CASE("a cluster destination: the shard registry is pruned and unlock --shard removes an entry") {
    RedisServer src_server;
    LocalCluster dst_cluster;
    Client src = src_server.client();
    seed_strings(src, 2000, "k:");
    ClusterClient dst = dst_cluster.client();
    // The registry, the leases and the records live on the nodes owning their slots.
    Parallel run;
    for (int i = 0; i < 2; ++i)
      run.start(
          {"--shard", shard_arg(i, 2), src_server.url(), dst_cluster.url(), "--progress-interval", "0"});
    run.finish();
    for (int i = 0; i < 2; ++i) {
      INFO(run.results[i].describe());
      REQUIRE(run.results[i].exit_code == 0);
    }
    CHECK(dst.command({"EXISTS", "redis-migrate:lock:shards"}).integer == 0);
    require_same(compare_keyspaces(src, dst), 2000);
    // A dead shard's lease and entry (as a kill -9 leaves them): unlock --shard removes both, from any node.
    dst.command({"SET", "redis-migrate:lock:shard-1-of-2",
                 R"({"host":"elsewhere","pid":4242,"started_at":"2026-01-01T00:00:00Z","command":"copy"})",
                 "PX", "30000"});
    dst.command({"ZADD", "redis-migrate:lock:shards", "1", "redis-migrate:lock:shard-1-of-2"});
    auto refused = run_copy({"--no-lock", src_server.url(), dst_cluster.url()});
    CHECK(refused.exit_code() == 4);
    auto unlocked = run_copy({"unlock", "--shard", "1/2", "--yes",
                              "redis://127.0.0.1:" + std::to_string(dst_cluster.primary(2).port())});
    INFO(unlocked.result.describe());
    CHECK(unlocked.exit_code() == 0);
    CHECK(unlocked.report["unregistered"] == true);
    CHECK(dst.command({"EXISTS", "redis-migrate:lock:shards"}).integer == 0);
    CHECK(dst.command({"EXISTS", "redis-migrate:lock:shard-1-of-2"}).integer == 0);
  }

  TEST_CASE("bad --shard values: one line, exit 2, nothing written; the option goes anywhere") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    seed_strings(src, 10, "k:");
    const std::string s = src_server.url(), d = dst_server.url();
    struct Bad {
      std::vector<std::string> args;
      EnvOverrides env;
      const char* says;
    };
    const std::vector<Bad> cases = {
        {{"--shard", "3/3", s, d}, {}, "must be below N"},
        {{"--shard", "0/0", s, d}, {}, "N must be from 1 to 16384"},
        {{"--shard", "0/16385", s, d}, {}, "N must be from 1 to 16384"},
        {{"--shard", "a/3", s, d}, {}, "not two whole numbers"},
        {{"--shard", "-1/3", s, d}, {}, "not two whole numbers"},
        {{"--shard", "2", s, d}, {}, "not of the form I/N"},
        {{s, d}, {{"SHARD", "5/4"}}, "SHARD '5/4'"},
        {{s, d}, {{"JOB_COMPLETION_INDEX", "1"}}, "SHARD_COUNT is not"},
        {{s, d}, {{"SHARD_COUNT", "3"}}, "no shard index"},
        {{s, d}, {{"JOB_COMPLETION_INDEX", "3"}, {"SHARD_COUNT", "3"}}, "must be below N"},
        {{"--shard", "0/3", s, d}, {{"JOB_COMPLETION_INDEX", "1"}, {"SHARD_COUNT", "3"}}, "disagrees"},
        {{"verify", "--shard", "1/x", s, d}, {}, "not two whole numbers"},
        {{"cleanup", s, d, "--shard", "4/2"}, {}, "must be below N"},
    };
    for (const auto& c : cases) {
      CAPTURE(quote_command(c.args));
      const std::string line = usage_refusal(c.args, c.env);
      CHECK(contains(line, c.says));
      CHECK((contains(line, "give ") || contains(line, "pass --shard I/N")));
    }
    Client dst = dst_server.client();
    CHECK(dst.dbsize() == 0);

    // Before, between and after the URLs, with a subcommand: the same shard.
    for (const auto& args : std::vector<std::vector<std::string>>{{"plan", "--shard", "1/4", s, d},
                                                                  {"plan", s, "--shard", "1/4", d},
                                                                  {s, d, "plan", "--shard=1/4"},
                                                                  {"--shard", "1/4", "plan", s, d}}) {
      CAPTURE(quote_command(args));
      auto r = run_tool(args);
      CHECK(r.exit_code == 0);
      CHECK(contains(r.err, "shard 1/4: slots 4096-8191 (4096 slots)"));
    }
    CHECK(dst.dbsize() == 0);
  }

  TEST_CASE("the Indexed Job manifest parses and names its fields") {
    const std::string path = std::string(RM_SOURCE_DIR) + "/scripts/k8s/migrate-indexed-job.yaml";
    std::ifstream in(path);
    REQUIRE(in.good());
    std::stringstream buf;
    buf << in.rdbuf();
    const std::string text = buf.str();
    // Parsed with PyYAML when this machine has it; otherwise the structure is checked line by line.
    auto parsed = run({"python3", "-c",
                       "import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))", path});
    std::string shard_count;
    if (parsed.exit_code == 0) {
      const auto j = nlohmann::json::parse(parsed.out);
      CHECK(j["kind"] == "Job");
      const auto& spec = j["spec"];
      CHECK(spec["completionMode"] == "Indexed");
      CHECK(spec["completions"] == spec["parallelism"]);
      CHECK(spec["backoffLimitPerIndex"].get<int>() >= 1);
      const auto& pod = spec["template"]["spec"];
      CHECK(pod["securityContext"]["runAsNonRoot"] == true);
      const auto& c = pod["containers"][0];
      CHECK(c["securityContext"]["readOnlyRootFilesystem"] == true);
      // The environment the pod test above gives each process is the manifest's.
      std::map<std::string, std::string> values;
      for (const auto& e : c["env"]) {
        if (e.contains("value")) values[e["name"].get<std::string>()] = e["value"].get<std::string>();
      }
      shard_count = values["SHARD_COUNT"];
      CHECK(values["LOG_FORMAT"] == "json");
      CHECK(values["PROGRESS_INTERVAL"] == "30");
      CHECK(shard_count == std::to_string(spec["completions"].get<int>()));
      CHECK(pod["volumes"].dump().find("\"secretName\":\"redis-migrate\"") != std::string::npos);
    } else {
      MESSAGE("no PyYAML: structural check only");
      for (const char* field : {"completionMode: Indexed", "completions: 4", "parallelism: 4",
                                "backoffLimitPerIndex:", "- name: SHARD_COUNT", "runAsNonRoot: true",
                                "readOnlyRootFilesystem: true", "secretName: redis-migrate"})
        CHECK(contains(text, field));
      shard_count = "4";
    }
    CHECK(text.find('\t') == std::string::npos);
    CHECK(!shard_count.empty());
  }
}
