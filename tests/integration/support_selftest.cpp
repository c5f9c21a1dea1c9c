// Proves the test support library against real servers: a comparison that cannot fail, or a server helper
// that silently talks to the wrong process, would make every integration test meaningless.

#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "helpers.hpp"
#include "support/certs.hpp"
#include "support/client.hpp"
#include "support/cluster.hpp"
#include "support/compare.hpp"
#include "support/files.hpp"
#include "support/ports.hpp"
#include "support/process.hpp"
#include "support/redis_server.hpp"
#include "support/seed.hpp"

using namespace rmig::test;

namespace {

using Rename = std::function<std::string(const std::string&)>;

// A deliberately naive copy (test-only): SCAN, then PTTL + DUMP, then RESTORE ... REPLACE. It gives compare
// something known-good to check; the tool under test is never involved.
std::size_t dump_restore_copy(
    KeyReader& src, KeyWriter& dst, const Rename& rename = [](const std::string& k) { return k; }) {
  std::vector<std::string> keys = src.scan_all();
  std::size_t copied = 0;
  for (std::size_t begin = 0; begin < keys.size(); begin += 200) {
    std::size_t end = std::min(keys.size(), begin + 200);
    std::vector<Command> reads;
    for (std::size_t i = begin; i < end; ++i) {
      reads.push_back({"PTTL", keys[i]});
      reads.push_back({"DUMP", keys[i]});
    }
    std::vector<Reply> replies = src.pipeline(reads);
    std::vector<Command> writes;
    for (std::size_t i = begin; i < end; ++i) {
      const Reply& pttl = replies[2 * (i - begin)];
      const Reply& payload = replies[2 * (i - begin) + 1];
      // Gone, or expiring this very millisecond (RESTORE with 0 would make it persistent).
      if (!payload.is_string() || !pttl.is_integer() || pttl.integer == -2 || pttl.integer == 0) continue;
      writes.push_back({"RESTORE", rename(keys[i]), pttl.integer == -1 ? "0" : std::to_string(pttl.integer),
                        payload.str, "REPLACE"});
    }
    dst.pipeline_checked(writes);
    copied += writes.size();
  }
  return copied;
}

bool process_gone(pid_t pid) {
  // A killed child of an exited shell is reparented and reaped by init; until then it is a zombie.
  std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  if (stat.empty()) return true;
  auto close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'Z';
}

// redis-cli against a server's TLS port; returns its result.
RunResult tls_cli(const RedisServer& server, const std::vector<std::string>& tls_args,
                  const std::vector<std::string>& command) {
  std::vector<std::string> argv = {"redis-cli", "--tls", "-h",
                                   "127.0.0.1", "-p",    std::to_string(server.tls_port())};
  argv.insert(argv.end(), tls_args.begin(), tls_args.end());
  argv.insert(argv.end(), command.begin(), command.end());
  return run(argv, {}, 20s);
}

bool said_pong(const RunResult& r) { return r.exit_code == 0 && r.out.find("PONG") != std::string::npos; }

// Sets a variable in the test process for one scope, then restores it.
class EnvGuard {
 public:
  EnvGuard(std::string name, const std::string& value) : name_(std::move(name)) {
    if (const char* old = std::getenv(name_.c_str())) old_ = old;
    ::setenv(name_.c_str(), value.c_str(), 1);
  }
  EnvGuard(const EnvGuard&) = delete;
  EnvGuard& operator=(const EnvGuard&) = delete;
  ~EnvGuard() {
    if (old_) {
      ::setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }

 private:
  std::string name_;
  std::optional<std::string> old_;
};

}  // namespace

TEST_SUITE("cli") {
  TEST_CASE("support: processes") {
    SUBCASE("exit code and captured output") {
      RunResult r = run({"sh", "-c", "echo out; echo err >&2; exit 3"});
      CHECK(r.exit_code == 3);
      CHECK(r.term_signal == 0);
      CHECK(r.out == "out\n");
      CHECK(r.err == "err\n");
      CHECK_FALSE(r.timed_out);
    }
    SUBCASE("termination by signal") {
      RunResult r = run({"sh", "-c", "kill -TERM $$"});
      CHECK(r.term_signal == SIGTERM);
      CHECK(r.exit_code == -1);
    }
    SUBCASE("timeout kills") {
      RunResult r = run({"sleep", "30"}, {}, 200ms);
      CHECK(r.timed_out);
      CHECK(r.term_signal == SIGKILL);
      CHECK(r.seconds < 5);
    }
    SUBCASE("environment: tool variables are not inherited, overrides set and unset") {
      EnvGuard leak("SOURCE_REDIS_URL", "redis://must-not-leak:1");
      EnvGuard inherited("RM_SELFTEST_INHERITED", "inherited");
      const std::string script =
          "echo \"${SOURCE_REDIS_URL-unset}|${RM_SELFTEST_INHERITED-unset}|${RM_SELFTEST_SET-unset}\"";
      CHECK(run({"sh", "-c", script}).out == "unset|inherited|unset\n");
      CHECK(run({"sh", "-c", script}, {{"RM_SELFTEST_SET", "yes"}, {"RM_SELFTEST_INHERITED", std::nullopt}})
                .out == "unset|unset|yes\n");
      CHECK(run({"sh", "-c", script}, {{"SOURCE_REDIS_URL", "explicit"}}).out ==
            "explicit|inherited|unset\n");
    }
    SUBCASE("working directory") {
      ProcessOptions o;
      o.argv = {"pwd"};
      o.cwd = "/";
      CHECK(run(std::move(o)).out == "/\n");
    }
    SUBCASE("a program that cannot be executed throws") {
      CHECK_THROWS_AS(run({"/nonexistent/program"}), std::runtime_error);
      CHECK_THROWS_AS(run({"rmig-no-such-program-in-path"}), std::runtime_error);
    }
    SUBCASE("peak RSS is reported in bytes") {
      RunResult r = run({"sh", "-c", "x=$(head -c 20000000 /dev/zero | tr '\\0' a); echo ${#x}"});
      REQUIRE(r.exit_code == 0);
      CHECK(r.out == "20000000\n");
      CHECK(r.max_rss_bytes > 20'000'000);
      CHECK(r.max_rss_bytes < 2'000'000'000);
    }
    SUBCASE("async: wait for output, signal, kill the whole process group") {
      ProcessOptions o;
      o.argv = {"sh", "-c", "trap 'echo got-term; exit 7' TERM; echo ready; while :; do sleep 0.05; done"};
      Process p = Process::start(std::move(o));
      REQUIRE(p.wait_for_output("ready", 5s));
      p.send_signal(SIGTERM);
      auto st = p.wait(5s);
      REQUIRE(st.has_value());
      CHECK(st->exit_code == 7);
      CHECK(p.finish().out == "ready\ngot-term\n");

      ProcessOptions g;
      g.argv = {"sh", "-c", "sleep 30 & echo $!; wait"};
      Process parent = Process::start(std::move(g));
      REQUIRE(parent.wait_for_output("\n", 5s));
      pid_t grandchild = std::stoi(parent.out());
      CHECK_FALSE(process_gone(grandchild));
      CHECK(parent.kill9().term_signal == SIGKILL);
      CHECK(eventually([&] { return process_gone(grandchild); }));
    }
    SUBCASE("the tool binary runs") {
      REQUIRE(std::filesystem::exists(tool_path()));
      RunResult r = run_tool({"--version"}, {}, 30s);
      CHECK_MESSAGE(r.term_signal == 0, r.describe());
      CHECK_FALSE(r.timed_out);
      if (std::getenv("RM_BINARY") == nullptr) {
        // The binary beside the tests was built with the same flags as they were.
#ifdef RM_SANITIZED
        CHECK(tool_sanitized());
#else
        CHECK_FALSE(tool_sanitized());
#endif
      }
    }
  }

  TEST_CASE("support: ports and key slots") {
    std::uint16_t a = free_port();
    std::uint16_t b = free_port(true);
    CHECK(a != b);
    CHECK(port_is_free(a));
    CHECK(b <= 65535 - kClusterBusOffset);
    CHECK(port_is_free(static_cast<std::uint16_t>(b + kClusterBusOffset)));

    CHECK(crc16_xmodem("123456789") == 0x31C3);
    CHECK(key_slot("foo") == 12182);
    CHECK(key_slot("{user1000}.following") == key_slot("{user1000}.followers"));
    CHECK(key_slot("foo{{bar}}zap") == key_slot("{bar"));
    CHECK(key_slot("foo{bar}{zap}") == key_slot("bar"));
    CHECK(key_slot("foo{}{bar}") == (crc16_xmodem("foo{}{bar}") & 16383));
    CHECK(key_slot("{}") == (crc16_xmodem("{}") & 16383));

    CHECK(command_key({"GET", "k"}) == "k");
    CHECK(command_key({"XINFO", "STREAM", "s"}) == "s");
    CHECK(command_key({"XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "STREAMS", "s", ">"}) == "s");
    CHECK_FALSE(command_key({"PING"}).has_value());
    CHECK_FALSE(command_key({"EVAL", "return 1", "0"}).has_value());
  }

  TEST_CASE("support: certificates") {
    const TestCerts& c = test_certs();
    auto verify = [](const std::vector<std::string>& args) {
      std::vector<std::string> argv = {"openssl", "verify"};
      argv.insert(argv.end(), args.begin(), args.end());
      return run(argv, {}, 20s).exit_code == 0;
    };
    CHECK(verify({"-CAfile", c.ca_cert, "-verify_hostname", "localhost", c.server_cert}));
    CHECK(verify({"-CAfile", c.ca_cert, "-verify_ip", "127.0.0.1", c.server_cert}));
    CHECK(verify({"-CAfile", c.ca_cert, "-purpose", "sslclient", c.client_cert}));
    CHECK_FALSE(verify({"-CAfile", c.wrong_ca_cert, c.server_cert}));
    CHECK_FALSE(verify({"-CAfile", c.ca_cert, c.wrong_client_cert}));
    CHECK(verify({"-CAfile", c.ca_cert, c.wrong_host_cert}));
    CHECK_FALSE(verify({"-CAfile", c.ca_cert, "-verify_hostname", "localhost", c.wrong_host_cert}));
    CHECK(&test_certs() == &c);
  }

  TEST_CASE("support: copy and compare on plain servers") {
    RedisServer src;
    RedisServer dst;
    CHECK(src.redis_version().rfind("7.", 0) == 0);
    CHECK(src.url() == "redis://127.0.0.1:" + std::to_string(src.port()) + "/0");
    CHECK(src.url(3) == "redis://127.0.0.1:" + std::to_string(src.port()) + "/3");
    CHECK(src.port() != dst.port());

    Client s = src.client();
    Client d = dst.client();
    SeedOptions so;
    so.count = 600;
    so.large_every = 40;
    std::vector<std::string> mixed = seed_mixed(s, so);
    EdgeOptions eo;
    eo.empty_key_name = true;
    std::vector<std::string> edge = seed_edge_keys(s, eo);
    REQUIRE(mixed.size() == 600);
    CHECK(std::set<std::string>(mixed.begin(), mixed.end()).size() == 600);
    // The short-TTL key is gone within milliseconds; everything else is there.
    REQUIRE(eventually([&] { return s.command({"EXISTS", edge_short_ttl_key()}).integer == 0; }));
    CHECK(s.dbsize() == static_cast<long long>(mixed.size() + edge.size() - 1));
    CHECK(s.scan_all().size() == mixed.size() + edge.size() - 1);
    CHECK(s.scan_all("edge:*").size() == edge.size() - 2);

    // The data really is varied: encodings, TTLs, stream groups with pending entries.
    std::set<std::string> encodings;
    for (const auto& k : mixed)
      encodings.insert(s.checked({"OBJECT", "ENCODING", k}).str);
    for (const char* e : {"int", "listpack", "quicklist", "intset", "hashtable", "skiplist", "stream"}) {
      CHECK_MESSAGE(encodings.count(e) == 1, "no key with encoding ", e);
    }
    std::size_t with_ttl = 0;
    for (const auto& k : mixed)
      with_ttl += s.command({"PTTL", k}).integer > 0 ? 1 : 0;
    CHECK(with_ttl > 60);
    CHECK(with_ttl < 200);
    Reply groups = s.checked({"XINFO", "GROUPS", "seed:stream:5"});
    REQUIRE(groups.elements.size() >= 1);
    CHECK(s.checked({"XPENDING", "seed:stream:5", "readers"}).elements.at(0).integer >= 1);
    KeySnapshot zs = snapshot_key(s, "edge:zset-inf");
    CHECK(zs.items == std::vector<std::string>{"\"low\" -inf", "\"zero\" 0", "\"high\" inf"});

    std::size_t copied = dump_restore_copy(s, d);
    CHECK(copied == mixed.size() + edge.size() - 1);
    CompareResult same = compare_keyspaces(s, d);
    require_same(same, copied);
    CHECK(same.equal == copied);
    // ...in both directions.
    require_same(compare_keyspaces(d, s), copied);

    SUBCASE("rename and include") {
      Client d1 = dst.client(1);
      CHECK(d1.dbsize() == 0);
      dump_restore_copy(s, d1, [](const std::string& k) { return "copy/" + k; });
      CompareOptions o;
      o.rename = [](const std::string& k) { return "copy/" + k; };
      require_same(compare_keyspaces(s, d1, o), copied);
      // Without the rename every key is both missing and extra.
      CompareResult wrong = compare_keyspaces(s, d1);
      CHECK(wrong.missing == copied);
      CHECK(wrong.extra_on_dst == copied);
      CHECK(wrong.differences.size() == CompareResult::kMaxDifferences);

      CompareOptions only_strings;
      only_strings.include = [](const std::string& k) { return k.rfind("seed:string:", 0) == 0; };
      CompareResult partial = compare_keyspaces(s, d, only_strings);
      CHECK(partial.compared == 100);
      CHECK(partial.extra_on_dst == copied - 100);
      only_strings.check_extra_keys_on_dst = false;
      require_same(compare_keyspaces(s, d, only_strings), 100);
    }

    SUBCASE("every kind of difference is reported") {
      using namespace std::string_literals;
      // Keys with a TTL on the source and no other change, for the TTL checks.
      const std::set<std::string> changed = {"seed:string:6", "seed:list:1",  "seed:hash:4", "seed:zset:3",
                                             "seed:stream:5", "seed:hash:10", "seed:set:2"};
      std::vector<std::string> ttl_keys;
      for (const auto& k : mixed) {
        if (changed.count(k) == 0 && s.command({"PTTL", k}).integer > 0) ttl_keys.push_back(k);
      }
      REQUIRE(ttl_keys.size() >= 2);
      d.pipeline_checked({
          {"SET", "seed:string:6", "changed", "KEEPTTL"},  // value (string)
          {"LSET", "seed:list:1", "0", "changed"},         // value (list element)
          {"HSET", "seed:hash:4", "extra-field", "v"},     // value (hash)
          {"ZADD", "seed:zset:3", "XX", "42.25",
           s.checked({"ZRANGE", "seed:zset:3", "0", "0"}).elements.at(0).str},
          {"XACK", "seed:stream:5", "readers",
           s.checked({"XPENDING", "seed:stream:5", "readers"}).elements.at(1).str},
          {"SET", "edge:nul\0key"s, "changed"},            // value, binary key name
          {"XADD", "edge:stream-empty", "6-1", "f", "v"},  // value: last-generated-id only
          {"XDEL", "edge:stream-empty", "6-1"},
          {"DEL", "seed:hash:10"},  // missing
          {"DEL", "seed:set:2"},    // type
          {"SET", "seed:set:2", "now a string"},
          {"PERSIST", ttl_keys[0]},              // TTL dropped
          {"PEXPIRE", ttl_keys[1], "99999999"},  // TTL off by far more than the tolerance
          {"SET", "extra:key", "x"},             // extra
      });
      CompareResult r = compare_keyspaces(s, d);
      INFO(r.summary());
      CHECK_FALSE(r.same());
      CHECK(r.value_differs == 7);
      CHECK(r.missing == 1);
      CHECK(r.type_differs == 1);
      CHECK(r.ttl_differs == 2);
      CHECK(r.extra_on_dst == 1);
      CHECK(r.compared == copied);
      CHECK(r.equal == copied - 11);
      CHECK(r.differences.size() == 12);
      std::string all = r.summary();
      CHECK(all.find("\"edge:nul\\x00key\"") != std::string::npos);
      CHECK(all.find("last-generated-id") != std::string::npos);
      CHECK(all.find("\"extra:key\"") != std::string::npos);
      CHECK(all.find("src set, dst string") != std::string::npos);

      // A TTL within the tolerance is not a difference.
      std::int64_t ttl = s.command({"PTTL", ttl_keys[1]}).integer;
      d.checked({"PEXPIRE", ttl_keys[1], std::to_string(ttl + 1500)});
      CHECK(compare_keyspaces(s, d).ttl_differs == 1);
    }
  }

  TEST_CASE("support: tls servers") {
    const TestCerts& c = test_certs();
    {
      ServerOptions o;
      o.tls = true;
      RedisServer server(o);
      CHECK(server.port() != 0);
      CHECK(server.tls_port() != 0);
      CHECK(server.tls_url(2) == "rediss://localhost:" + std::to_string(server.tls_port()) + "/2");
      CHECK(server.client().ping());
      CHECK(said_pong(run({"redis-cli", "-p", std::to_string(server.port()), "ping"})));
      RunResult ok = tls_cli(server, {"--cacert", c.ca_cert}, {"ping"});
      CHECK_MESSAGE(said_pong(ok), ok.describe());
      CHECK_FALSE(said_pong(tls_cli(server, {"--cacert", c.wrong_ca_cert}, {"ping"})));
      // Host-name check with a client that does one: the default certificate is for localhost.
      RunResult s_client =
          run({"openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(server.tls_port()), "-CAfile",
               c.ca_cert, "-verify_hostname", "localhost", "-verify_return_error"},
              {}, 20s);
      CHECK_MESSAGE(s_client.exit_code == 0, s_client.describe());
    }
    {
      ServerOptions o;
      o.tls = true;
      o.cert_file = c.wrong_host_cert;
      o.key_file = c.wrong_host_key;
      RedisServer wrong_host(o);
      RunResult s_client =
          run({"openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(wrong_host.tls_port()),
               "-CAfile", c.ca_cert, "-verify_hostname", "localhost", "-verify_return_error"},
              {}, 20s);
      CHECK(s_client.exit_code != 0);
    }
    {
      ServerOptions o;
      o.tls_only = true;
      o.tls_auth_clients = true;
      RedisServer server(o);
      CHECK(server.port() == 0);
      CHECK_THROWS_AS(server.url(), std::logic_error);
      Client admin = server.client();
      CHECK(admin.checked({"CONFIG", "GET", "port"}).elements.at(1).str == "0");
      CHECK(said_pong(tls_cli(server, {"--cacert", c.ca_cert, "--cert", c.client_cert, "--key", c.client_key},
                              {"ping"})));
      CHECK_FALSE(said_pong(tls_cli(server, {"--cacert", c.ca_cert}, {"ping"})));
      CHECK_FALSE(said_pong(
          tls_cli(server, {"--cacert", c.ca_cert, "--cert", c.wrong_client_cert, "--key", c.wrong_client_key},
                  {"ping"})));
    }
  }

  TEST_CASE("support: passwords and ACL users") {
    {
      ServerOptions o;
      o.requirepass = "s3cret pass";
      RedisServer server(o);
      CHECK(server.client().ping());
      ConnectOptions anonymous = server.tcp_connect_options();
      anonymous.password.clear();
      Client anon(anonymous);
      CHECK(anon.command({"PING"}).is_error("NOAUTH"));
      CHECK(server.url_as("", "s3cret pass") ==
            "redis://:s3cret%20pass@127.0.0.1:" + std::to_string(server.port()) + "/0");
    }
    {
      ServerOptions o;
      o.requirepass = "defpw";
      o.acl_users = {"user alice on >alicepw ~app:* +@read +@connection",
                     "bob on >bobpw ~* +@all -@dangerous"};
      RedisServer server(o);
      CHECK(server.admin_user() == kAdminUser);
      Client admin = server.client();
      admin.checked({"SET", "app:1", "hello"});
      admin.checked({"SET", "other", "x"});
      const std::string port = std::to_string(server.port());
      auto cli = [&](std::vector<std::string> args) {
        std::vector<std::string> argv = {"redis-cli", "--no-auth-warning", "-p", port};
        argv.insert(argv.end(), args.begin(), args.end());
        return run(argv, {}, 20s);
      };
      CHECK(cli({"--user", "alice", "--pass", "alicepw", "GET", "app:1"}).out == "hello\n");
      CHECK(cli({"--user", "alice", "--pass", "alicepw", "GET", "other"}).out.find("NOPERM") !=
            std::string::npos);
      CHECK(cli({"--user", "alice", "--pass", "alicepw", "SET", "app:2", "x"}).out.find("NOPERM") !=
            std::string::npos);
      CHECK(cli({"--user", "bob", "--pass", "bobpw", "FLUSHALL"}).out.find("NOPERM") != std::string::npos);
      // The default user kept requirepass.
      CHECK(cli({"PING"}).out.find("NOAUTH") != std::string::npos);
      CHECK(cli({"-a", "defpw", "PING"}).out == "PONG\n");
    }
  }

  TEST_CASE("support: server lifecycle") {
    ServerOptions o;
    o.persistence = true;
    RedisServer server(o);
    pid_t first_pid = server.pid();
    int port = server.port();
    server.client().checked({"SET", "survives", "restart"});
    server.restart();
    CHECK(server.pid() != first_pid);
    CHECK(server.port() == port);
    CHECK(server.client().checked({"GET", "survives"}).str == "restart");
    CHECK(server.log().find("Ready to accept connections") != std::string::npos);

    server.pause();
    ConnectOptions quick = server.connect_options();
    quick.timeout = 300ms;
    Client c(quick);
    CHECK_THROWS_AS(c.command({"PING"}), std::runtime_error);
    server.resume();
    CHECK(c.ping());  // reconnects after the failure

    pid_t pid = server.pid();
    server.kill9();
    CHECK_FALSE(server.running());
    CHECK(process_gone(pid));
    // A connection to a dead server fails with an exception, not with SIGPIPE.
    CHECK_THROWS_AS(c.command({"SET", "k", std::string(1 << 20, 'x')}), std::runtime_error);
    server.stop();  // no-op on a dead server

    // A server that cannot start says why, with its log.
    ServerOptions bad;
    bad.extra_args = {"--no-such-option", "1"};
    try {
      RedisServer broken(bad);
      FAIL("a server with a bad option started");
    } catch (const std::runtime_error& e) {
      std::string what = e.what();
      CHECK(what.find("failed to start") != std::string::npos);
      CHECK(what.find("no-such-option") != std::string::npos);
    }
  }

  TEST_CASE("support: cluster") {
    ClusterOptions co;
    co.primaries = 3;
    co.replicas_per_primary = 1;
    LocalCluster cluster(co);
    REQUIRE(cluster.primaries().size() == 3);
    REQUIRE(cluster.replicas().size() == 3);
    CHECK(cluster.url() == "redis://127.0.0.1:" + std::to_string(cluster.primary(0).port()));
    std::size_t owned = 0;
    for (RedisServer* p : cluster.primaries())
      owned += cluster.slots_of(*p).size();
    CHECK(owned == kClusterSlots);

    ClusterClient cc = cluster.client();
    CHECK(cc.primaries().size() == 3);
    SeedOptions so;
    so.count = 600;
    so.prefix = "c:";
    so.large_every = 0;
    std::vector<std::string> keys = seed_mixed(cc, so);
    EdgeOptions eo;
    eo.short_ttl_key = false;
    std::vector<std::string> edge = seed_edge_keys(cc, eo);
    keys.insert(keys.end(), edge.begin(), edge.end());
    std::sort(keys.begin(), keys.end());
    CHECK(cc.scan_all() == keys);
    CHECK(cc.dbsize() == static_cast<long long>(keys.size()));

    // Our slot function agrees with the server's, and every key is on the node owning its slot.
    for (RedisServer* p : cluster.primaries()) {
      Client node = p->client();
      std::vector<int> slots = cluster.slots_of(*p);
      for (const auto& k : node.scan_all()) {
        CHECK(node.checked({"CLUSTER", "KEYSLOT", k}).integer == key_slot(k));
        CHECK(std::binary_search(slots.begin(), slots.end(), key_slot(k)));
      }
    }

    // Cluster as destination and as source of a compare.
    RedisServer plain;
    Client p = plain.client();
    std::size_t copied = dump_restore_copy(cc, p);
    CHECK(copied == keys.size());
    require_same(compare_keyspaces(cc, p), keys.size());

    // Reshard while reading: no key may ever look missing, and the reader must have followed redirections.
    RedisServer& from = cluster.owner_of_slot(key_slot(keys.front()));
    RedisServer& to = &from == &cluster.primary(0) ? cluster.primary(1) : cluster.primary(0);
    std::vector<int> from_slots = cluster.slots_of(from);
    std::set<int> busy;
    for (const auto& k : keys) {
      if (std::binary_search(from_slots.begin(), from_slots.end(), key_slot(k))) busy.insert(key_slot(k));
    }
    std::vector<int> moving(busy.begin(), busy.end());
    if (moving.size() > 40) moving.resize(40);
    REQUIRE(moving.size() >= 10);

    ClusterClient reader = cluster.client();
    std::size_t rounds = 0;
    {
      Reshard reshard = cluster.reshard_async(from, to, moving);
      while (!reshard.done() || rounds == 0) {
        std::vector<KeySnapshot> snap = snapshot_keys(reader, keys);
        std::size_t missing = 0;
        for (const auto& s : snap)
          missing += s.type == "none" ? 1 : 0;
        REQUIRE(missing == 0);
        ++rounds;
      }
      reshard.wait();
      CHECK(reshard.slots_moved() == static_cast<int>(moving.size()));
    }
    std::vector<int> now_to = cluster.slots_of(to);
    for (int slot : moving)
      CHECK(std::binary_search(now_to.begin(), now_to.end(), slot));
    require_same(compare_keyspaces(reader, p), keys.size());
    const auto& st = reader.stats();
    MESSAGE("reads during reshard: " << rounds << " rounds, " << st.moved << " MOVED, " << st.ask << " ASK");
    CHECK(st.moved + st.ask > 0);

    // And back, synchronously.
    cluster.move_slots(to, from, moving);
    std::vector<int> back = cluster.slots_of(from);
    for (int slot : moving)
      CHECK(std::binary_search(back.begin(), back.end(), slot));
    cluster.wait_until_stable();
    require_same(compare_keyspaces(p, cc), keys.size());
  }

  TEST_CASE("support: tls cluster") {
    const TestCerts& c = test_certs();
    ClusterOptions co;
    co.node.tls = true;
    co.node.tls_auth_clients = true;
    co.node.requirepass = "pw";
    LocalCluster cluster(co);
    RedisServer& first = cluster.primary(0);
    CHECK(cluster.tls_url() == "rediss://localhost:" + std::to_string(first.tls_port()));
    // A TLS client is redirected to TLS ports, through the TLS cluster bus.
    RunResult r = run(
        {"redis-cli", "--tls", "--cacert", c.ca_cert, "--cert", c.client_cert, "--key", c.client_key, "-a",
         "pw", "--no-auth-warning", "-c", "-p", std::to_string(first.tls_port()), "SET", "tls-key", "v"},
        {}, 20s);
    CHECK_MESSAGE(r.out == "OK\n", r.describe());
    ClusterClient cc = cluster.client();
    CHECK(cc.command({"GET", "tls-key"}).str == "v");
    SeedOptions so;
    so.count = 120;
    seed_mixed(cc, so);
    RedisServer& from = cluster.owner_of_slot(key_slot("tls-key"));
    RedisServer& to = &from == &first ? cluster.primary(1) : first;
    cluster.move_slots(from, to, {key_slot("tls-key")});
    CHECK(&cluster.owner_of_slot(key_slot("tls-key")) == &to);
    CHECK(cc.command({"GET", "tls-key"}).str == "v");
    CHECK(cc.stats().moved == 1);
  }
}
