// The keyspace notification feed of a live run (engine::NotificationFeed) and the proof that notifications
// are on (engine::prove_notifications), driven directly against real redis-server processes: the feed is a
// library component with an event interface, so the tests link the library (as every integration test does
// through rm_test_support) and run its loop themselves, writing to the servers between loop turns.

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cluster/slot.hpp"
#include "engine/notifications.hpp"
#include "net/loop.hpp"
#include "support/cluster.hpp"
#include "support/redis_server.hpp"

using namespace rmig;
using namespace rmig::test;
using namespace std::chrono_literals;

namespace {

struct Recorder final : engine::FeedEvents {
  std::vector<std::pair<std::string, std::string>> changes;
  std::vector<std::pair<std::string, std::string>> losts;
  int barriers = 0;
  std::size_t changes_at_barrier = 0;
  bool is_subscribed = false;
  std::optional<Error> error;

  void changed(std::string_view key, std::string_view event) override {
    changes.emplace_back(std::string(key), std::string(event));
  }
  void lost(const std::string& node, const std::string& cause) override { losts.emplace_back(node, cause); }
  void barrier_done() override {
    ++barriers;
    changes_at_barrier = changes.size();
  }
  void subscribed() override {
    CHECK_FALSE(is_subscribed);  // once
    is_subscribed = true;
  }
  void failed(Error e) override { error = std::move(e); }

  bool saw(const std::string& key, const std::string& event) const {
    for (const auto& c : changes) {
      if (c.first == key && c.second == event) return true;
    }
    return false;
  }
  std::string dump() const {
    std::string out;
    for (const auto& c : changes)
      out += "  " + c.first + " " + c.second + "\n";
    for (const auto& l : losts)
      out += "  lost " + l.first + ": " + l.second + "\n";
    if (error) out += "  failed: " + error->message + "\n";
    return out;
  }
};

// Runs the loop until `done` holds or `timeout` passed; returns `done()`.
bool pump(net::Loop& loop, const std::function<bool()>& done, std::chrono::milliseconds timeout = 5s) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  net::Timer tick(loop, [] {});
  tick.start(10, 10);  // run_once returns at least every 10 ms
  while (!done() && std::chrono::steady_clock::now() < until)
    loop.run_once();
  tick.stop();
  return done();
}

resp::ConnectOptions source_options(const std::string& host, int port, const std::string& user,
                                    const std::string& password) {
  resp::ConnectOptions o;
  o.endpoint.kind = net::Endpoint::Kind::kTcp;
  o.endpoint.host = host;
  o.endpoint.port = static_cast<uint16_t>(port);
  o.user = user;
  o.password = password;
  o.side = "source";
  o.label = "source redis://" + host + ":" + std::to_string(port);
  o.connect_timeout_ms = 3'000;
  return o;
}

engine::FeedOptions feed_options(const RedisServer& s, const std::string& user = "",
                                 const std::string& password = "") {
  engine::FeedOptions o;
  o.seed = source_options(s.host(), s.port(), user.empty() ? s.admin_user() : user,
                          user.empty() ? s.admin_password() : password);
  o.canary_key = "redis-migrate:live:run1:canary";
  o.run_id = "run1";
  o.check_interval_ms = 200;
  o.retry_timeout_ms = 10'000;
  return o;
}

ServerOptions notifying(std::string classes = "KEA") {
  ServerOptions o;
  o.extra_args = {"--notify-keyspace-events", std::move(classes)};
  return o;
}

// A feed on the loop, started and subscribed (a doctest failure otherwise).
struct Running {
  net::Loop& loop;
  Recorder events;
  engine::NotificationFeed feed;
  Running(net::Loop& l, const engine::FeedOptions& o) : loop(l), feed(l, o, events) {
    feed.start();
    REQUIRE_MESSAGE(pump(loop, [&] { return events.is_subscribed || events.error; }), events.dump());
    REQUIRE_MESSAGE(!events.error, events.dump());
  }
  ~Running() {
    feed.stop();
    pump(
        loop, [] { return false; }, 50ms);
  }
  bool wait_for(const std::string& key, const std::string& event, std::chrono::milliseconds t = 5s) {
    return pump(
        loop, [&] { return events.saw(key, event); }, t);
  }
  bool wait_lost(std::size_t n, std::chrono::milliseconds t = 5s) {
    return pump(
               loop, [&] { return events.losts.size() >= n || events.error.has_value(); }, t) &&
           events.losts.size() >= n;
  }
};

std::string config_calls(Client& c) {
  std::string out;
  const std::string stats = c.checked({"INFO", "commandstats"}).str;
  std::size_t pos = 0;
  while ((pos = stats.find("cmdstat_config", pos)) != std::string::npos) {
    const auto end = stats.find(",", pos);
    out += stats.substr(pos, end - pos) + " ";
    pos = end;
  }
  return out;
}

}  // namespace

TEST_SUITE("feed") {
  TEST_CASE("feed: set, del, expired and rename events arrive in order with exact keys, binary names too") {
    RedisServer server(notifying());
    Client c = server.client();
    net::Loop loop;
    {
      Running run(loop, feed_options(server));
      CHECK(run.feed.nodes() == std::vector<std::string>{server.endpoint()});
      // The canary holds the run id.
      CHECK(c.checked({"GET", "redis-migrate:live:run1:canary"}).str == "run1");

      const std::string binary("bin:\x00\xff:\r\n key", 14);
      c.checked({"SET", "a:b:c", "1"});
      c.checked({"SET", binary, "2"});
      c.checked({"DEL", binary});
      c.checked({"SET", "short", "v", "PX", "1"});
      std::this_thread::sleep_for(20ms);
      c.command({"GET", "short"});
      c.checked({"SET", "from", "v"});
      c.checked({"RENAME", "from", "to"});
      c.checked({"HSET", "h", "f", "v"});
      REQUIRE_MESSAGE(run.wait_for("h", "hset"), run.events.dump());
      const std::vector<std::pair<std::string, std::string>> expected = {
          {"a:b:c", "set"},    {binary, "set"},      {binary, "del"}, {"short", "set"},
          {"short", "expire"}, {"short", "expired"}, {"from", "set"}, {"from", "rename_from"},
          {"to", "rename_to"}, {"h", "hset"}};
      CHECK_MESSAGE(run.events.changes == expected, run.events.dump());
      CHECK(run.events.losts.empty());
      // stop() deletes the canary.
      run.feed.stop();
      CHECK(pump(loop, [&] { return c.command({"EXISTS", "redis-migrate:live:run1:canary"}).integer == 0; }));
    }
    CHECK(c.dbsize() == 3);  // a:b:c, to and h: nothing of the feed's is left
  }

  TEST_CASE(
      "feed: prove_notifications refuses notifications off or incomplete, names the classes, sends no "
      "CONFIG") {
    RedisServer server;  // notify-keyspace-events "" (the default)
    Client c = server.client();
    net::Loop loop;
    const engine::FeedOptions o = feed_options(server);
    const std::string before = config_calls(c);

    auto off = engine::prove_notifications(loop, o, "redis-migrate:", 1'000);
    REQUIRE_FALSE(off);
    CHECK(off.error().code == ExitCode::kUsage);
    INFO(off.error().message);
    CHECK(off.error().message.find("no keyspace notification arrived") != std::string::npos);
    CHECK(off.error().message.find("notify-keyspace-events KEA") != std::string::npos);
    CHECK(off.error().message.find(server.endpoint()) != std::string::npos);
    CHECK(off.error().message.find("missing: g$lshzxt") != std::string::npos);
    CHECK(config_calls(c) == before);

    c.checked({"CONFIG", "SET", "notify-keyspace-events", "KEg$"});
    auto partial = engine::prove_notifications(loop, o, "redis-migrate:", 1'000);
    REQUIRE_FALSE(partial);
    CHECK(partial.error().code == ExitCode::kUsage);
    INFO(partial.error().message);
    CHECK(partial.error().message.find("sent the classes g$ but not lshzxt") != std::string::npos);
    CHECK(partial.error().message.find("README") != std::string::npos);

    // E only (keyevent channels), no K: nothing reaches a keyspace subscriber.
    c.checked({"CONFIG", "SET", "notify-keyspace-events", "EA"});
    auto no_k = engine::prove_notifications(loop, o, "redis-migrate:", 1'000);
    REQUIRE_FALSE(no_k);
    CHECK(no_k.error().message.find("lacks K") != std::string::npos);

    c.checked({"CONFIG", "SET", "notify-keyspace-events", "KEA"});
    auto ok = engine::prove_notifications(loop, o, "redis-migrate:", 3'000);
    CHECK_MESSAGE(ok, (ok ? std::string() : ok.error().message));
    // K with every provable class but e: proven (e cannot be provoked).
    c.checked({"CONFIG", "SET", "notify-keyspace-events", "Kg$lshzxt"});
    auto no_e = engine::prove_notifications(loop, o, "redis-migrate:", 3'000);
    CHECK(no_e);
    // The probe keys are gone, and the proof itself sends no CONFIG.
    CHECK(c.dbsize() == 0);
    const std::string after_sets = config_calls(c);
    CHECK(engine::prove_notifications(loop, o, "redis-migrate:", 3'000));
    CHECK(config_calls(c) == after_sets);
    CHECK(loop.close() == 0);
  }

  TEST_CASE("feed: ACL users: channel rules, probe key rules, clear errors") {
    ServerOptions so = notifying();
    so.acl_users = {
        // Everything but channels (Redis 7 defaults to resetchannels).
        "user nochan on >pw ~* resetchannels +@all",
        // Exactly the feed's channel pattern: enough for the feed, and for the proof (which falls back from
        // its narrower pattern).
        "user feed on >pw ~* &__keyspace@0__:* -@all +psubscribe +ping +get +set +pexpire +del +lpush +sadd "
        "+zadd +hset +xadd",
        // May subscribe but not write the probe keys.
        "user app on >pw ~app:* &__keyspace@0__:* +@all",
    };
    RedisServer server(so);
    net::Loop loop;

    auto nochan = engine::prove_notifications(loop, feed_options(server, "nochan", "pw"), "redis-migrate:");
    REQUIRE_FALSE(nochan);
    INFO(nochan.error().message);
    CHECK(nochan.error().message.find("may not subscribe") != std::string::npos);
    CHECK(nochan.error().message.find("&__keyspace@0__:*") != std::string::npos);
    CHECK(nochan.error().message.find("+psubscribe") != std::string::npos);

    CHECK(engine::prove_notifications(loop, feed_options(server, "feed", "pw"), "redis-migrate:"));

    auto app = engine::prove_notifications(loop, feed_options(server, "app", "pw"), "redis-migrate:");
    REQUIRE_FALSE(app);
    CHECK(app.error().code == ExitCode::kUsage);
    CHECK(app.error().message.find("user 'app' may not run SET on the probe keys") != std::string::npos);
    CHECK(app.error().message.find("--assume-notifications") != std::string::npos);

    {
      Recorder events;
      engine::NotificationFeed feed(loop, feed_options(server, "nochan", "pw"), events);
      feed.start();
      REQUIRE(pump(loop, [&] { return events.error.has_value() || events.is_subscribed; }));
      REQUIRE(events.error);
      CHECK_FALSE(events.is_subscribed);
      CHECK(events.error->message.find("may not subscribe to the keyspace notifications") !=
            std::string::npos);
      CHECK(events.error->message.find("ACL SETUSER nochan +psubscribe +ping '&__keyspace@0__:*'") !=
            std::string::npos);
    }
    {
      Running run(loop, feed_options(server, "feed", "pw"));
      server.client().checked({"SET", "app:1", "x"});
      CHECK(run.wait_for("app:1", "set"));
      run.feed.barrier();
      CHECK(pump(loop, [&] { return run.events.barriers == 1; }));
    }
  }

  TEST_CASE(
      "feed: CLIENT KILL TYPE pubsub and a tiny pubsub output buffer limit -> lost(), then events again") {
    RedisServer server(notifying());
    Client c = server.client();
    net::Loop loop;
    Running run(loop, feed_options(server));

    CHECK(c.checked({"CLIENT", "KILL", "TYPE", "pubsub"}).integer == 1);
    REQUIRE_MESSAGE(run.wait_lost(1), run.events.dump());
    CHECK(run.events.losts[0].first == server.endpoint());
    CHECK(run.events.losts[0].second.find("subscriber disconnected") != std::string::npos);
    c.checked({"SET", "after-kill", "1"});
    CHECK(run.wait_for("after-kill", "set"));

    // The subscriber falls behind a flood (the test does not run the loop meanwhile) and the server drops it.
    c.checked({"CONFIG", "SET", "client-output-buffer-limit", "pubsub 1kb 1kb 0"});
    std::vector<Command> flood;
    const std::string pad(1000, 'p');
    for (int i = 0; i < 5000; ++i)
      flood.push_back({"SET", "flood:" + std::to_string(i) + pad, "1"});
    c.pipeline_checked(flood);
    REQUIRE_MESSAGE(run.wait_lost(2), run.events.dump());
    CHECK(run.events.losts[1].second.find("subscriber disconnected") != std::string::npos);
    c.checked({"CONFIG", "SET", "client-output-buffer-limit", "pubsub 32mb 8mb 60"});
    c.checked({"SET", "after-limit", "1"});
    CHECK(run.wait_for("after-limit", "set"));
    CHECK_FALSE(run.events.error);
  }

  TEST_CASE("feed: FLUSHDB, FLUSHALL and SWAPDB -> lost() through the canary within 2 s") {
    RedisServer server(notifying());
    Client c = server.client();
    net::Loop loop;
    Running run(loop, feed_options(server));
    const std::string canary = "redis-migrate:live:run1:canary";

    c.checked({"SET", "k", "1"});
    c.checked({"FLUSHDB"});
    REQUIRE_MESSAGE(run.wait_lost(1, 2s), run.events.dump());
    CHECK(run.events.losts[0].first == server.endpoint());
    CHECK(run.events.losts[0].second == "the canary key vanished: FLUSHDB, FLUSHALL or SWAPDB on the source");
    CHECK(c.checked({"GET", canary}).str == "run1");  // set again before lost()

    c.checked({"SWAPDB", "0", "1"});
    REQUIRE_MESSAGE(run.wait_lost(2, 2s), run.events.dump());
    CHECK(run.events.losts[1].second.find("canary key vanished") != std::string::npos);

    // A canary of another value (written by someone else) counts as vanished too.
    c.checked({"SET", canary, "someone-else"});
    REQUIRE_MESSAGE(run.wait_lost(3, 2s), run.events.dump());
    CHECK(c.checked({"GET", canary}).str == "run1");

    c.checked({"FLUSHALL"});
    REQUIRE_MESSAGE(run.wait_lost(4, 2s), run.events.dump());
    CHECK(run.events.losts.size() == 4);
    CHECK_FALSE(run.events.error);
  }

  TEST_CASE("feed: barrier_done() comes after every event written before barrier()") {
    RedisServer server(notifying());
    Client c = server.client();
    net::Loop loop;
    Running run(loop, feed_options(server));
    std::vector<Command> writes;
    for (int i = 0; i < 3000; ++i)
      writes.push_back({"SET", "b:" + std::to_string(i), "v"});
    c.pipeline_checked(writes);  // acknowledged: every notification is queued on the server
    run.feed.barrier();
    REQUIRE(pump(loop, [&] { return run.events.barriers == 1; }));
    CHECK(run.events.changes_at_barrier == 3000);
    CHECK(run.events.changes.back() == std::pair<std::string, std::string>{"b:2999", "set"});

    // A drop during the barrier: the subscriber is resubscribed, lost() is reported, the barrier still ends.
    c.checked({"SET", "b:last", "v"});
    run.feed.barrier();
    c.checked({"CLIENT", "KILL", "TYPE", "pubsub"});
    REQUIRE_MESSAGE(pump(loop, [&] { return run.events.barriers == 2; }), run.events.dump());
    CHECK(run.events.losts.size() == 1);  // reported on resubscription, before the new PING's answer
    CHECK_FALSE(run.events.error);
  }

  TEST_CASE(
      "feed: cluster: every primary subscribed; a manual failover -> lost(\"*\") and events from the new "
      "primary") {
    ClusterOptions co;
    co.primaries = 3;
    co.replicas_per_primary = 1;
    co.node = notifying();
    LocalCluster cluster(co);
    ClusterClient cc = cluster.client();
    net::Loop loop;

    engine::FeedOptions o;
    RedisServer& first = cluster.primary(0);
    o = feed_options(first);
    o.cluster = true;
    CHECK(engine::prove_notifications(loop, o, "redis-migrate:"));

    Running run(loop, o);
    auto nodes = run.feed.nodes();
    CHECK(nodes.size() == 3);
    // Each primary holds its own canary.
    for (auto* p : cluster.primaries()) {
      Client pc = p->client();
      CHECK(pc.scan_all("redis-migrate:live:run1:canary*").size() == 1);
    }
    for (int i = 0; i < 30; ++i)
      cc.checked({"SET", "c:" + std::to_string(i), "v"});
    REQUIRE(pump(loop, [&] { return run.events.changes.size() >= 30; }));

    // Fail over the first primary's shard: its replica takes over.
    RedisServer* replica = nullptr;
    for (auto* r : cluster.replicas()) {
      Client rc = r->client();
      const Reply role = rc.command({"ROLE"});
      if (role.elements.size() >= 3 && role.elements[2].integer == first.port()) replica = r;
    }
    REQUIRE(replica != nullptr);
    replica->client().checked({"CLUSTER", "FAILOVER"});
    REQUIRE_MESSAGE(pump(
                        loop,
                        [&] {
                          for (const auto& l : run.events.losts)
                            if (l.first == "*") return true;
                          return run.events.error.has_value();
                        },
                        20s),
                    run.events.dump());
    CHECK_FALSE(run.events.error);
    std::string cause;
    for (const auto& l : run.events.losts)
      if (l.first == "*") cause = l.second;
    INFO(cause);
    CHECK(cause.find("topology changed") != std::string::npos);
    CHECK(cause.find("new primary " + replica->endpoint()) != std::string::npos);
    nodes = run.feed.nodes();
    CHECK(std::find(nodes.begin(), nodes.end(), replica->endpoint()) != nodes.end());
    CHECK(std::find(nodes.begin(), nodes.end(), first.endpoint()) == nodes.end());

    // A key in a slot of the new primary reaches the feed from it.
    cluster.wait_until_stable();
    const auto slots = cluster.slots_of(*replica);
    REQUIRE_FALSE(slots.empty());
    std::string key;
    for (int i = 0; key.empty(); ++i) {
      const std::string k = "after:" + std::to_string(i);
      if (std::find(slots.begin(), slots.end(), static_cast<int>(cluster::key_hash_slot(k))) != slots.end())
        key = k;
    }
    cc.checked({"SET", key, "v"});
    CHECK(run.wait_for(key, "set"));
    run.feed.barrier();
    CHECK(pump(loop, [&] { return run.events.barriers == 1; }));
  }
}
