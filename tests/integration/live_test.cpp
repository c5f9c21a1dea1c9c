// Live runs (--live) against real servers while an application writes: a writer thread touching every command
// family a live run must follow (tests/support/writer.hpp) runs during the bulk copy and the live phase; each
// way of losing notifications (the subscriber killed, a pubsub output buffer limit, the pending set over its
// bound, FLUSHDB and SWAPDB, a cluster resharding and failing over, the run itself killed) must end in a
// counted resync; and each of the three cut-overs (the `cutover` command, SIGUSR1, --until-idle) must leave
// the destination exactly equal to the source: the writer's last acknowledged value of every key, every TTL,
// every deletion. Notifications that are off or incomplete refuse the run before anything is written.

#include <doctest/doctest.h>

#include <csignal>
#include <thread>

#include "helpers.hpp"
#include "support/certs.hpp"
#include "support/cluster.hpp"
#include "support/compare.hpp"
#include "support/preserved.hpp"
#include "support/redis_server.hpp"
#include "support/seed.hpp"
#include "support/writer.hpp"

using namespace rmig::test;

namespace {

// Every class a live run needs (K plus g$lshzxet), as the README tells operators to set it.
const std::vector<std::string> kNotify = {"--notify-keyspace-events", "KEA"};

ServerOptions notifying(ServerOptions o = {}) {
  o.extra_args.insert(o.extra_args.end(), kNotify.begin(), kNotify.end());
  return o;
}

// Keys seeded before the run, so the bulk copy takes a moment (paced by --rate-limit) while the writer runs.
constexpr std::size_t kSeeded = 1500;
const std::vector<std::string> kPaced = {"--rate-limit", "3000", "--progress-interval", "0.2"};

std::vector<std::string> join(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// The report's live object; its resyncs may be a count or a list (with causes) or an object of counts.
uint64_t resync_count(const nlohmann::json& live) {
  if (!live.is_object() || !live.contains("resyncs")) return 0;
  const auto& r = live["resyncs"];
  if (r.is_number_unsigned() || r.is_number_integer()) return r.get<uint64_t>();
  if (r.is_array()) return r.size();
  if (r.is_object()) {
    if (r.contains("count") && r["count"].is_number()) return r["count"].get<uint64_t>();
    uint64_t n = 0;
    for (const auto& [cause, v] : r.items()) {
      if (v.is_number()) n += v.get<uint64_t>();
      if (v.is_array()) n += v.size();
    }
    return n;
  }
  return 0;
}

// A live run started in the background, with its report in a temporary directory.
class LiveRun {
 public:
  LiveRun(std::vector<std::string> args, const EnvOverrides& env = {}) {
    args.push_back("--report-json");
    args.push_back(dir_.file("report.json"));
    tool_ = start_tool(args, env);
  }

  ToolProcess& tool() { return tool_; }

  // The live phase has started: this process's run record says so (its live object's phase, saved about every
  // second for `status`; a record a killed run left says "live" too, so its pid must be this process's), or a
  // progress line does ("progress live | pending N | lag N ms | ..."). False when the run ended or the
  // timeout passed.
  bool wait_live(KeyReader& dst, std::chrono::milliseconds timeout = 60s) {
    return eventually(
               [&] {
                 if (!tool_.running()) return true;
                 const nlohmann::json record = latest_record(dst);
                 if (record.is_object() && record.value("pid", 0LL) == tool_.pid() &&
                     record.contains("live") && record["live"].is_object() &&
                     record["live"].value("phase", "") == "live")
                   return true;
                 return !lines_with(tool_.err(), "live | pending").empty();
               },
               timeout) &&
           tool_.running();
  }

  // Waits for the exit; the report is read afterwards.
  RunResult finish(std::chrono::milliseconds timeout = 60s) {
    result_ = tool_.finish(timeout);
    const std::string text = read_file(dir_.file("report.json"));
    report_ = text.empty() ? nlohmann::json::object() : nlohmann::json::parse(text, nullptr, false);
    if (report_.is_discarded()) {
      FAIL_CHECK("the JSON report does not parse: " << text);
      report_ = nlohmann::json::object();
    }
    return result_;
  }
  const nlohmann::json& report() const { return report_; }
  nlohmann::json live() const { return report_.value("live", nlohmann::json::object()); }

 private:
  TempDir dir_{"live"};
  ToolProcess tool_;
  RunResult result_;
  nlohmann::json report_ = nlohmann::json::object();
};

// The writer's families that must have been exercised (field TTLs only where the server has them; MOVE only
// on a standalone source).
void check_families(const Writer& writer, bool cluster = false) {
  const WriterStats s = writer.stats();
  INFO(s.summary());
  for (std::size_t i = 0; i < kFamilies; ++i) {
    const auto f = static_cast<Family>(i);
    if (f == Family::kFieldTtl && !writer.field_ttls()) continue;
    if (f == Family::kMove && cluster) continue;
    CHECK_MESSAGE(s.ok[i] > 0, "the writer never completed a " << family_name(f) << " operation");
  }
}

// The report of a live run that ended by a cut-over: exit 0 and the live object's fields.
void check_cut_over(LiveRun& run, const RunResult& result, const std::string& cause) {
  INFO(result.describe());
  CHECK(result.exit_code == 0);
  const nlohmann::json live = run.live();
  INFO("live: " << live.dump());
  REQUIRE(live.is_object());
  CHECK(live.value("cutover", "") == cause);
  for (const char* field :
       {"changes", "recopied", "deleted", "resyncs", "lag_ms_max", "pending_max", "cutover_ms"})
    CHECK_MESSAGE(live.contains(field), "the report's live object has no " << field);
  CHECK(live.value("changes", uint64_t{0}) > 0);
  CHECK(live.value("recopied", uint64_t{0}) > 0);
  CHECK(live.value("deleted", uint64_t{0}) > 0);
  CHECK(live.value("pending_max", uint64_t{0}) > 0);
  CHECK(live.value("cutover_ms", -1.0) >= 0);
  CHECK(run.report().value("failed", uint64_t{1}) == 0);
}

// A standalone source and destination with notifications on, the source seeded, the writer started.
struct Pair {
  RedisServer src_server{notifying()};
  RedisServer dst_server;
  Client src = src_server.client();
  Client dst = dst_server.client();
  Writer writer;

  explicit Pair(WriterOptions w = {.rate = 600}) : writer(src_server.connect_options(), std::move(w)) {
    seed_mixed(src, {.count = kSeeded, .ttl_fraction = 0.3, .large_every = 0});
  }
  std::vector<std::string> live_args(std::vector<std::string> extra = {}) const {
    return join(join({src_server.url(), dst_server.url(), "--live"}, kPaced), extra);
  }
};

// Lets the writer run for `d` in the live phase, then stops it: everything it wrote is acknowledged.
void write_for(Writer& writer, std::chrono::milliseconds d) {
  std::this_thread::sleep_for(d);
  writer.stop();
}

// A key written just before the cut-over request: the barrier must bring it over.
void last_write(KeyWriter& src) { src.checked({"SET", "w:last-before-cutover", "acknowledged"}); }

void require_exact(KeyReader& src, KeyReader& dst, std::size_t min_compared = kSeeded / 2,
                   const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  require_same(compare_exact(src, dst), min_compared, file, line);
}

}  // namespace

TEST_SUITE("live") {
  TEST_CASE("the writer touches every command family; compare_exact finds every kind of difference") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    Writer writer(src_server.connect_options(), {.rate = 0});
    writer.start();
    REQUIRE(eventually([&] { return writer.operations() >= 4000; }, 30s));
    writer.stop();
    check_families(writer);
    MESSAGE(writer.stats().summary());
    const long long before = src.dbsize();
    CHECK(before > 0);
    // The stopped writer writes nothing more (wait out the short TTLs it set first).
    std::this_thread::sleep_for(600ms);
    const ServerImage image = server_image(src);
    std::this_thread::sleep_for(300ms);
    check_unchanged(image, server_image(src), 1000);
    CHECK(src_server.client(1).dbsize() > 0);  // MOVE took keys to db 1

    // A copy key by key (DUMP/RESTORE with the PTTL) is exact...
    for (const auto& k : src.scan_all()) {
      const Reply dump = src.command({"DUMP", k});
      const Reply pttl = src.command({"PTTL", k});
      if (!dump.is_string()) continue;
      dst.checked({"RESTORE", k, pttl.integer > 0 ? std::to_string(pttl.integer) : "0", dump.str, "REPLACE"});
    }
    require_same(compare_exact(src, dst), 1);
    // ...and each difference a live run could leave is found: a stale copy of a deleted key, a changed value,
    // a missing key, a TTL lost; keys outside the selection are not compared.
    dst.checked({"SET", "w:stale", "left behind"});
    auto stale = compare_exact(src, dst);
    CHECK(stale.extra_on_dst == 1);
    CHECK(compare_exact(src, dst, "w:{1}*").same());
    dst.checked({"DEL", "w:stale"});
    const std::vector<std::string> keys = src.scan_all("w:*");
    REQUIRE(keys.size() >= 3);
    dst.checked({"DEL", keys[0]});
    dst.checked({"RENAME", keys[1], keys[1] + "x"});
    src.checked({"PEXPIRE", keys[2], "600000"});
    auto diff = compare_exact(src, dst);
    INFO(diff.summary());
    CHECK(diff.missing == 2);
    CHECK(diff.extra_on_dst == 1);
    CHECK(diff.ttl_differs == 1);
  }

  TEST_CASE("cut-over by `redis-migrate cutover`: exit 0, the destination equals the source exactly") {
    Pair p;
    p.writer.start();
    LiveRun run(p.live_args());
    REQUIRE_MESSAGE(run.wait_live(p.dst), run.tool().err());
    std::this_thread::sleep_for(1500ms);
    // `status` shows a live run's phase, lag and pending keys.
    const RunResult status = run_tool({"status", p.dst_server.url()});
    INFO(status.describe());
    CHECK(status.exit_code == 0);
    CHECK(contains(status.out, "live"));
    CHECK(contains(status.out, "pending"));
    CHECK(contains(status.out, "lag"));
    write_for(p.writer, 500ms);
    last_write(p.src);
    const RunResult cut = run_tool({"cutover", p.dst_server.url()}, {}, 60s);
    INFO(cut.describe());
    CHECK(cut.exit_code == 0);
    CHECK(contains(cut.out, "exit code 0"));  // printed once the run has finished
    const RunResult result = run.finish();
    CHECK_FALSE(run.tool().running());  // `cutover` returned only after the run had finished
    check_cut_over(run, result, "command");
    check_families(p.writer);
    CHECK(p.dst.command({"GET", "w:last-before-cutover"}).str == "acknowledged");
    require_exact(p.src, p.dst);
    CHECK(p.dst.command({"EXISTS", "redis-migrate:lock"}).integer == 0);
  }

  TEST_CASE("cut-over by SIGUSR1: exit 0, exact") {
    Pair p;
    p.writer.start();
    LiveRun run(p.live_args());
    REQUIRE_MESSAGE(run.wait_live(p.dst), run.tool().err());
    write_for(p.writer, 2000ms);
    last_write(p.src);
    run.tool().send_signal(SIGUSR1);
    const RunResult result = run.finish();
    check_cut_over(run, result, "signal");
    CHECK(p.dst.command({"GET", "w:last-before-cutover"}).str == "acknowledged");
    require_exact(p.src, p.dst);
  }

  TEST_CASE("cut-over by --until-idle after the writer stops; expirations do not count as changes") {
    Pair p;
    p.writer.start();
    LiveRun run(p.live_args({"--until-idle", "2"}));
    REQUIRE_MESSAGE(run.wait_live(p.dst), run.tool().err());
    std::this_thread::sleep_for(1500ms);
    CHECK(run.tool().running());  // not idle while the writer writes
    p.writer.stop();
    // Keys that keep expiring over the next 9 s: their expirations are not changes, so the run ends about
    // 2 s after the last write, long before the last of them expires.
    std::vector<Command> expiring;
    for (int i = 0; i < 60; ++i)
      expiring.push_back(
          {"SET", "w:expiring:" + std::to_string(i), "x", "PX", std::to_string(1000 + i * 130)});
    p.src.pipeline_checked(expiring);
    const auto stopped = std::chrono::steady_clock::now();
    const RunResult result = run.finish(60s);
    const double after_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - stopped).count();
    MESSAGE("the run ended " << after_s << " s after the last write");
    CHECK(after_s >= 1.5);
    CHECK(after_s < 7.0);
    check_cut_over(run, result, "idle");
    require_exact(p.src, p.dst);
  }

  TEST_CASE("the subscriber killed with CLIENT KILL TYPE pubsub: a resync, counted, and still exact") {
    Pair p;
    p.writer.start();
    LiveRun run(p.live_args());
    REQUIRE_MESSAGE(run.wait_live(p.dst), run.tool().err());
    std::this_thread::sleep_for(500ms);
    const Reply killed = p.src.command({"CLIENT", "KILL", "TYPE", "pubsub"});
    REQUIRE(killed.is_integer());
    CHECK(killed.integer >= 1);
    // Deletions while it is gone are what a blind resubscribe would miss.
    std::vector<Command> dels;
    for (std::size_t i = 0; i < 50; ++i)
      dels.push_back({"DEL", "seed:string:" + std::to_string(i * 6)});
    p.src.pipeline(dels);
    write_for(p.writer, 1500ms);
    run.tool().send_signal(SIGUSR1);
    const RunResult result = run.finish();
    check_cut_over(run, result, "signal");
    CHECK(resync_count(run.live()) >= 1);
    CHECK(!lines_with(result.err, "resync").empty());
    require_exact(p.src, p.dst);
  }

  TEST_CASE("a tiny client-output-buffer-limit pubsub disconnects the subscriber: a resync, still exact") {
    Pair p;
    p.writer.start();
    LiveRun run(p.live_args());
    REQUIRE_MESSAGE(run.wait_live(p.dst), run.tool().err());
    p.src.checked({"CONFIG", "SET", "client-output-buffer-limit", "pubsub 1kb 512 1"});
    // A burst of pipelined writes: the server reads some 400 of these short commands at a time and queues a
    // notification of about 80 bytes for each before it writes to the subscriber, beyond the 16 KB reply
    // buffer and the 1 KB limit at once.
    std::vector<Command> burst;
    for (int i = 0; i < 5000; ++i)
      burst.push_back({"SET", "b:" + std::to_string(i), "b"});
    p.src.pipeline_checked(burst);
    const bool closed = eventually([&] { return contains(p.src_server.log(), "output buffer limits"); }, 10s);
    CHECK_MESSAGE(closed, "the server never closed the subscriber: " << p.src_server.log_tail(10));
    p.src.checked({"CONFIG", "SET", "client-output-buffer-limit", "pubsub 32mb 8mb 60"});
    write_for(p.writer, 1500ms);
    run.tool().send_signal(SIGUSR1);
    const RunResult result = run.finish();
    check_cut_over(run, result, "signal");
    CHECK(resync_count(run.live()) >= 1);
    require_exact(p.src, p.dst);
  }

  TEST_CASE("--live-pending-max 10 overflows: a resync instead of growing, still exact") {
    Pair p;
    p.writer.start();
    LiveRun run(p.live_args({"--live-pending-max", "10"}));
    REQUIRE_MESSAGE(run.wait_live(p.dst), run.tool().err());
    std::vector<Command> burst;
    for (int i = 0; i < 3000; ++i)
      burst.push_back({"SET", "w:many:" + std::to_string(i), std::to_string(i)});
    for (int i = 0; i < 3000; i += 3)
      burst.push_back({"DEL", "w:many:" + std::to_string(i)});
    p.src.pipeline_checked(burst);
    write_for(p.writer, 1500ms);
    run.tool().send_signal(SIGUSR1);
    const RunResult result = run.finish();
    check_cut_over(run, result, "signal");
    const nlohmann::json live = run.live();
    INFO(live.dump());
    CHECK(resync_count(live) >= 1);
    CHECK(contains(live.dump(), "overflow"));
    // Bounded: the pending set never held much more than its bound (a notification may be counted before
    // the overflow is acted on).
    CHECK(live.value("pending_max", uint64_t{0}) <= 1000);
    require_exact(p.src, p.dst);
  }

  TEST_CASE("FLUSHDB and SWAPDB on the source: resyncs; the destination follows to empty, then to the swap") {
    Pair p({.rate = 400, .move_db = -1});
    // db 1 holds other keys, which SWAPDB brings into the copied database.
    Client src1 = p.src_server.client(1);
    seed_strings(src1, 300, "other:", 12);
    p.writer.start();
    LiveRun run(p.live_args());
    REQUIRE_MESSAGE(run.wait_live(p.dst), run.tool().err());
    std::this_thread::sleep_for(500ms);
    p.writer.stop();
    p.src.checked({"FLUSHDB"});
    // The destination's copy of the selection is emptied (the tool's own keys stay).
    CHECK_MESSAGE(eventually([&] { return user_dbsize(p.dst) == 0; }, 15s),
                  "destination still holds " << user_dbsize(p.dst) << " keys");
    seed_strings(p.src, 100, "after-flush:", 12);
    p.src.checked({"SWAPDB", "0", "1"});
    // The swapped-in content appears on the destination, the flushed-then-written keys leave it.
    CHECK(eventually([&] { return p.dst.command({"EXISTS", "other:7"}).integer == 1; }, 15s));
    p.writer.start();
    write_for(p.writer, 1000ms);
    run.tool().send_signal(SIGUSR1);
    const RunResult result = run.finish();
    INFO(result.describe());
    CHECK(result.exit_code == 0);
    const nlohmann::json live = run.live();
    INFO(live.dump());
    CHECK(resync_count(live) >= 2);
    CHECK(p.dst.command({"EXISTS", "after-flush:7"}).integer == 0);
    require_exact(p.src, p.dst, 300);
  }

  TEST_CASE("a cluster source resharding a slot with keys and failing over during the live phase: exact") {
    LocalCluster src_cluster({.primaries = 3, .replicas_per_primary = 1, .node = notifying()});
    RedisServer dst_server;
    ClusterClient src = src_cluster.client();
    Client dst = dst_server.client();
    seed_mixed(src, {.count = kSeeded, .ttl_fraction = 0.3, .large_every = 0});
    Writer writer(src_cluster.primary(0).tcp_connect_options(), {.rate = 400, .cluster = true});
    writer.start();
    LiveRun run(join({src_cluster.url(), dst_server.url(), "--live"}, kPaced));
    REQUIRE_MESSAGE(run.wait_live(dst), run.tool().err());
    // The slot of writer group 3 (and whatever seeded keys share it) moves with its keys (MIGRATE).
    const int slot = key_slot("w:{3}:string:a");
    RedisServer& from = src_cluster.owner_of_slot(slot);
    RedisServer* to = nullptr;
    for (auto* primary : src_cluster.primaries()) {
      if (primary != &from) to = primary;
    }
    REQUIRE(to != nullptr);
    src_cluster.move_slots(from, *to, {slot});
    // A manual failover of another primary: its replica takes over, the old primary becomes a replica.
    RedisServer* other = nullptr;
    for (auto* primary : src_cluster.primaries()) {
      if (primary != &from && primary != to) other = primary;
    }
    REQUIRE(other != nullptr);
    const std::string other_id = src_cluster.node_id(*other);
    RedisServer* replica = nullptr;
    for (auto* r : src_cluster.replicas()) {
      Client rc = r->client();
      if (contains(rc.command({"INFO", "replication"}).str, "master_port:" + std::to_string(other->port())))
        replica = r;
    }
    REQUIRE(replica != nullptr);
    replica->client().checked({"CLUSTER", "FAILOVER"});
    REQUIRE(eventually(
        [&] {
          Client rc = replica->client();
          return info_field(rc, "role") == "master";
        },
        30s));
    src_cluster.wait_until_stable();
    write_for(writer, 2000ms);
    run.tool().send_signal(SIGUSR1);
    const RunResult result = run.finish(90s);
    check_cut_over(run, result, "signal");
    check_families(writer, true);
    CHECK(resync_count(run.live()) >= 1);  // the primary set changed
    ClusterClient after = src_cluster.client();
    require_exact(after, dst);
  }

  TEST_CASE("kill -9 in the live phase, then the same command again: it resyncs and ends exact") {
    Pair p;
    p.writer.start();
    const std::vector<std::string> args = p.live_args({"--lock-ttl", "2"});
    {
      LiveRun killed(args);
      REQUIRE_MESSAGE(killed.wait_live(p.dst), killed.tool().err());
      std::this_thread::sleep_for(800ms);
      killed.tool().kill9();
    }
    // While no run watches: deletions and overwrites the checkpoint knows nothing about.
    std::vector<Command> changes;
    for (std::size_t i = 0; i < 60; ++i) {
      changes.push_back({"DEL", "seed:string:" + std::to_string(i * 6)});
      changes.push_back(
          {"SET", "seed:string:" + std::to_string(i * 6 + 600), "changed while no run watched"});
    }
    p.src.pipeline(changes);
    REQUIRE(eventually([&] { return p.dst.command({"EXISTS", "redis-migrate:lock"}).integer == 0; }, 10s));
    const ServerImage stale = server_image(p.dst);
    CHECK(stale.dumps.count("seed:string:0") == 1);  // left behind by the killed run
    LiveRun again(args);
    REQUIRE_MESSAGE(again.wait_live(p.dst), again.tool().err());
    write_for(p.writer, 1000ms);
    again.tool().send_signal(SIGUSR1);
    const RunResult result = again.finish();
    check_cut_over(again, result, "signal");
    const nlohmann::json live = again.live();
    INFO(live.dump());
    CHECK(resync_count(live) >= 1);
    CHECK(contains(live.dump(), "resumed"));  // the resync's cause: a resumed live run
    CHECK(p.dst.command({"EXISTS", "seed:string:0"}).integer == 0);
    CHECK(p.dst.command({"GET", "seed:string:606"}).str == "changed while no run watched");
    require_exact(p.src, p.dst);
  }

  TEST_CASE("notifications off or incomplete: exit 2 naming the setting, nothing written") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_strings(src, 200, "k:");
    const ServerImage src_before = server_image(src);
    for (const std::string setting : {"", "KEg$"}) {
      CAPTURE(setting);
      src.checked({"CONFIG", "SET", "notify-keyspace-events", setting});
      // Refused within seconds (the probe waits a few seconds for its notifications); a run that is not
      // refused would wait for a cut-over: stopped after 30 s.
      const ToolRun run =
          run_copy({src_server.url(), dst_server.url(), "--live", "--progress-interval", "0"}, {}, 30s);
      INFO(run.result.describe());
      CHECK(run.exit_code() == 2);
      const std::string line = error_line(run);
      INFO(line);
      CHECK(contains(line, "notify-keyspace-events"));
      CHECK(contains(line, "KEA"));
      CHECK(dst.dbsize() == 0);  // no key, no lock, no run record
    }
    // The probe keys (short TTLs) are gone from the source; nothing else changed there.
    CHECK(eventually([&] { return src.scan_all("redis-migrate:*").empty(); }, 15s));
    check_unchanged(src_before, server_image(src));

    // --assume-notifications skips the proof: the run is the operator's responsibility (SIGTERM ends it).
    // (A destination of its own: a run that was not refused above may have left its lock.)
    src.checked({"CONFIG", "SET", "notify-keyspace-events", "KEA"});
    RedisServer dst2_server;
    Client dst2 = dst2_server.client();
    LiveRun assumed({src_server.url(), dst2_server.url(), "--live", "--assume-notifications", "--until-idle",
                     "1", "--progress-interval", "0.2"});
    const RunResult result = assumed.finish(60s);
    INFO(result.describe());
    CHECK(result.exit_code == 0);
    require_exact(src, dst2, 200);
  }

  TEST_CASE("TLS on both sides and ACL users with the documented rules; cut-over by the command over TLS") {
    // The rules a live run needs beyond a copy's (README, minimal ACL rules):
    //   source: the copy's `~* +scan +dump +pttl`, plus `+exists` (a resync's check of a destination key's
    //     source key), `+psubscribe +ping` on the channel pattern `&__keyspace@0__:*` (the subscriber and its
    //     barrier; PSUBSCRIBE checks the pattern literally), and for the proof and canary keys under the
    //     state prefix the selector `(~redis-migrate:* +set +get +del +pexpire +lpush +sadd +zadd +hset
    //     +xadd)`.
    //   destination: the copy's `~* +restore` and state selector, plus `+dump +eval +evalsha +script|load
    //   +pttl
    //     +pexpiretime +time` (compare before restoring: the restore-unless-equal script), `+unlink +del`
    //     (deletions), `+scan +exists` (the orphan scan of a resync).
    const TestCerts& certs = test_certs();
    RedisServer src_server(notifying(
        {.tls = true,
         .acl_users = {"user live-src on >src-pw ~* +scan +dump +pttl +exists +psubscribe +ping "
                       "&__keyspace@0__:* (~redis-migrate:* +set +get +del +pexpire +lpush +sadd +zadd +hset "
                       "+xadd)"}}));
    RedisServer dst_server(
        {.tls = true,
         .acl_users = {
             "user live-dst on >dst-pw ~* +restore +dump +eval +evalsha +script|load +pttl "
             "+pexpiretime +time +unlink +del +scan +exists (~redis-migrate:* +get +set +del +pexpire "
             "+pttl +eval +zadd +zrevrange +zremrangebyscore)"}});
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_mixed(src, {.count = 800, .ttl_fraction = 0.3, .large_every = 0});
    Writer writer(src_server.connect_options(), {.rate = 400, .move_db = -1});
    writer.start();
    const std::vector<std::string> tls = {"--source-tls-ca-file", certs.ca_cert, "--destination-tls-ca-file",
                                          certs.ca_cert};
    const std::string dst_url = dst_server.tls_url_as("live-dst", "dst-pw");
    LiveRun run(join(
        {src_server.tls_url_as("live-src", "src-pw"), dst_url, "--live", "--progress-interval", "0.2"}, tls));
    REQUIRE_MESSAGE(run.wait_live(dst), run.tool().err());
    write_for(writer, 1500ms);
    const RunResult cut = run_tool({"cutover", dst_url, "--destination-tls-ca-file", certs.ca_cert}, {}, 60s);
    INFO(cut.describe());
    CHECK(cut.exit_code == 0);
    const RunResult result = run.finish();
    check_cut_over(run, result, "command");
    require_exact(src, dst, 400);
    CHECK(!contains(result.err + result.out + cut.out + cut.err, "src-pw"));
    CHECK(!contains(result.err + result.out + cut.out + cut.err, "dst-pw"));
  }

  TEST_CASE("SIGTERM in the live phase stops at once with exit 143, no cut-over") {
    Pair p;
    p.writer.start();
    LiveRun run(p.live_args());
    REQUIRE_MESSAGE(run.wait_live(p.dst), run.tool().err());
    std::this_thread::sleep_for(500ms);
    run.tool().send_signal(SIGTERM);
    const RunResult result = run.finish(30s);
    INFO(result.describe());
    CHECK(result.exit_code == 143);
    CHECK(run.report().value("exit_code", 0) == 143);
    const bool cut_over = run.live().contains("cutover") && run.live()["cutover"].is_string();
    CHECK_FALSE(cut_over);
    const nlohmann::json record = latest_record(p.dst);
    CHECK(record["status"] == "interrupted");
    CHECK(p.dst.command({"EXISTS", "redis-migrate:lock"}).integer == 0);
    p.writer.stop();
  }

  TEST_CASE(
      "--verify-at-cutover: exit 0 when equal, exit 1 when the destination was changed behind the run") {
    Pair p;
    p.writer.start();
    LiveRun run(p.live_args({"--verify-at-cutover"}));
    REQUIRE_MESSAGE(run.wait_live(p.dst), run.tool().err());
    write_for(p.writer, 1000ms);
    run.tool().send_signal(SIGUSR1);
    const RunResult result = run.finish();
    check_cut_over(run, result, "signal");
    require_exact(p.src, p.dst);

    // A second live run (the destination holds the selection: --replace), whose destination someone changes
    // directly: no notification tells the run, the verify at cut-over finds it.
    LiveRun changed(p.live_args({"--verify-at-cutover", "--replace"}));
    REQUIRE_MESSAGE(changed.wait_live(p.dst), changed.tool().err());
    p.dst.checked({"SET", "seed:string:0", "written on the destination only"});
    changed.tool().send_signal(SIGUSR1);
    const RunResult differs = changed.finish();
    INFO(differs.describe());
    CHECK(differs.exit_code == 1);
    CHECK(contains(differs.err, "seed:string:0"));
  }
}
