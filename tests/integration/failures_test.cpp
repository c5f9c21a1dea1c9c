// Conditions that doom every key stop the run at once with one clear line naming the endpoint (password
// redacted) and the fix, and a distinct exit code; nothing is lost on the way.

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <random>
#include <regex>
#include <set>
#include <thread>

#include "helpers.hpp"
#include "support/compare.hpp"
#include "support/ports.hpp"
#include "support/redis_server.hpp"
#include "support/seed.hpp"

using namespace rmig::test;

namespace {

// A TCP listener that accepts connections and never answers.
class SilentListener {
 public:
  SilentListener() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(listen(fd_, 16) == 0);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~SilentListener() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

}  // namespace

TEST_SUITE("failures") {
  TEST_CASE("wrong password: exit 3, the endpoint named, the password never shown") {
    RedisServer server({.requirepass = "right-password"});
    RedisServer dst;
    const std::string secret = "Wr0ngPassw0rd";
    auto run =
        run_copy({"redis://:" + secret + "@127.0.0.1:" + std::to_string(server.port()) + "/0", dst.url()});
    CHECK(run.exit_code() == 3);
    const std::string line = error_line(run);
    CHECK(line.find("authentication failed") != std::string::npos);
    CHECK(line.find("source redis://:***@127.0.0.1:" + std::to_string(server.port())) != std::string::npos);
    CHECK(run.report["exit_code"] == 3);
    require_secret_hidden(run, secret);
  }

  TEST_CASE("no password for a server that needs one (NOAUTH): exit 3 with the fix") {
    RedisServer src({.requirepass = "pw"});
    RedisServer dst;
    auto run = run_copy({dst.url(), "redis://127.0.0.1:" + std::to_string(src.port()) + "/0"});
    CHECK(run.exit_code() == 3);
    const std::string line = error_line(run);
    CHECK(line.find("destination redis://127.0.0.1:" + std::to_string(src.port())) != std::string::npos);
    CHECK(line.find("requires authentication") != std::string::npos);
    CHECK(line.find("--destination-password-file") != std::string::npos);
  }

  TEST_CASE("unreachable host: refused port, unknown host name, silent server; all end quickly with exit 3") {
    RedisServer dst;
    const int closed = free_port();
    auto refused = run_copy({"redis://127.0.0.1:" + std::to_string(closed), dst.url()});
    CHECK(refused.exit_code() == 3);
    CHECK(error_line(refused).find("connection refused") != std::string::npos);
    CHECK(error_line(refused).find("127.0.0.1:" + std::to_string(closed)) != std::string::npos);
    CHECK(refused.result.seconds < 5);

    auto unknown = run_copy({"redis://no-such-host.invalid:6379", dst.url()});
    CHECK(unknown.exit_code() == 3);
    CHECK(error_line(unknown).find("cannot resolve host name 'no-such-host.invalid'") != std::string::npos);

    SilentListener silent;
    auto hung =
        run_copy({dst.url(), "redis://127.0.0.1:" + std::to_string(silent.port()), "--connect-timeout", "1"});
    CHECK(hung.exit_code() == 3);
    CHECK(error_line(hung).find("no answer") != std::string::npos);
    CHECK(hung.result.seconds < 5);
  }

  TEST_CASE("a read-only replica as destination: exit 5, pointing at the primary, nothing written") {
    RedisServer src;
    RedisServer primary;
    RedisServer replica({.extra_args = {"--replicaof", "127.0.0.1", std::to_string(primary.port())}});
    Client s = src.client();
    Client p = primary.client();
    Client r = replica.client();
    seed_strings(s, 100);
    auto run = run_copy({src.url(), replica.url()});
    INFO(run.result.describe());
    CHECK(run.exit_code() == 5);
    const std::string line = error_line(run);
    CAPTURE(line);
    // The endpoint (the destination, by its URL), what is wrong, and the fix.
    CHECK(line.find("destination " + replica.url() + " is a read-only replica") != std::string::npos);
    CHECK(line.find("primary at 127.0.0.1:" + std::to_string(primary.port())) != std::string::npos);
    CHECK(line.find("point the destination URL at the primary") != std::string::npos);
    CHECK(run.counter("copied") == 0);
    // Nothing written anywhere: not a key, not the lock or a run record, on the replica nor on its primary
    // (which would pass it on to the replica).
    CHECK(r.dbsize() == 0);
    CHECK(p.dbsize() == 0);
    CHECK(s.dbsize() == 100);
  }

  TEST_CASE(
      "an out-of-memory destination: exit 5 with the fix; the source is untouched, copied keys are exact") {
    RedisServer src;
    RedisServer dst({.extra_args = {"--maxmemory", "3mb", "--maxmemory-policy", "noeviction"}});
    Client s = src.client();
    Client d = dst.client();
    // About 12 MB: does not fit. Every other key expires at a known time, an hour from now.
    const long long now_ms = std::stoll(s.checked({"TIME"}).elements.at(0).str) * 1000;
    const long long expire_base = now_ms + 3'600'000;
    std::vector<Command> cmds;
    for (int i = 0; i < 20000; ++i) {
      Command c{"SET", "k:" + std::to_string(i), std::string(500, 'v')};
      if (i % 2 == 0) {
        c.push_back("PXAT");
        c.push_back(std::to_string(expire_base + i));
      }
      cmds.push_back(std::move(c));
    }
    s.pipeline_checked(cmds);
    auto run = run_copy({src.url(), dst.url(), "--cleanup"});
    INFO(run.result.describe());
    CHECK(run.exit_code() == 5);
    const std::string line = error_line(run);
    CAPTURE(line);
    CHECK(line.find("destination " + dst.url()) != std::string::npos);
    CHECK(line.find("out of memory") != std::string::npos);
    CHECK(line.find("maxmemory") != std::string::npos);
    CHECK(s.dbsize() == 20000 - static_cast<long long>(run.counter("deleted")));
    CHECK(run.counter("copied") < 20000);
    // Whatever reached the destination is an exact copy, TTL included, and every deleted source key is on
    // the destination.
    auto on_dst = d.scan_all("k:*");
    CHECK(on_dst.size() >= run.counter("deleted"));
    for (const auto& k : on_dst) {
      CAPTURE(k);
      CHECK(d.command({"GET", k}).str == std::string(500, 'v'));
      const int i = std::stoi(k.substr(2));
      const long long at = d.command({"PEXPIRETIME", k}).integer;
      if (i % 2 == 0) {
        // Sent as an absolute time from the destination's clock sample: within a second of the source's.
        CHECK(at <= expire_base + i);
        CHECK(at >= expire_base + i - 1000);
      } else {
        CHECK(at == -1);
      }
    }
  }

  TEST_CASE("keys too large for the destination fail alone; the others are copied") {
    // The destination takes no argument over 1 MB: it answers a 3 MB RESTORE with a protocol error and closes
    // the connection, dropping the commands pipelined behind it. With --mode dump both big keys fail; in
    // auto mode the hash, whose fields fit, is rebuilt in chunks by the rewrite path and only the string
    // (which APPEND cannot grow past the limit either) fails. The tool reconnects and every other key
    // arrives.
    RedisServer src;
    RedisServer dst({.extra_args = {"--proto-max-bulk-len", "1mb"}});
    Client s = src.client();
    Client d = dst.client();
    std::mt19937_64 rng(42);
    auto random_bytes = [&](std::size_t n) {
      std::string out(n, '\0');
      for (auto& ch : out)
        ch = static_cast<char>(rng());  // incompressible: DUMP does not shrink it below the limit
      return out;
    };
    s.checked({"SET", "big", random_bytes(3'000'000)});
    Command hset{"HSET", "bighash"};
    for (int i = 0; i < 3000; ++i) {
      hset.push_back("f" + std::to_string(i));
      hset.push_back(random_bytes(1000));
    }
    s.checked(hset);
    seed_mixed(s, {.count = 100, .ttl_fraction = 0.3});
    const auto n = static_cast<uint64_t>(s.dbsize());

    for (const bool dump_mode : {true, false}) {
      CAPTURE(dump_mode);
      d.flushall();
      std::vector<std::string> args = {src.url(), dst.url(), "--retry-timeout", "20"};
      if (dump_mode) {
        args.insert(args.end(), {"--mode", "dump"});
      } else {
        args.insert(args.end(), {"--big-key-threshold", "0"});  // auto mode, no size check: DUMP first
      }
      const std::set<std::string> failing =
          dump_mode ? std::set<std::string>{"big", "bighash"} : std::set<std::string>{"big"};
      auto run = run_copy(args, {}, 120s);
      INFO(run.result.describe());
      CHECK_FALSE(run.result.timed_out);
      CHECK(run.exit_code() == 1);
      CHECK(run.counter("failed") == failing.size());
      CHECK(run.counter("copied") == n - failing.size());
      CHECK(run.counter("rewritten") == (dump_mode ? 0 : 1));
      REQUIRE(run.report["errors"].size() == 1);
      const auto& group = run.report["errors"][0];
      CHECK(group["count"] == failing.size());
      CHECK(failing.count(group["example_key"].get<std::string>()) == 1);
      CHECK(group["message"].get<std::string>().find(dump_mode ? "Protocol error" : "proto-max-bulk-len") !=
            std::string::npos);
      // The destination did close the connection, and the tool came back.
      CHECK(run.result.err.find("reconnected") != std::string::npos);
      for (const auto& k : failing)
        CHECK(d.command({"EXISTS", k}).integer == 0);
      CHECK(d.scan_all("*redis-migrate:tmp:*").empty());
      require_same(
          compare_keyspaces(s, d, {.include = [&](const std::string& k) { return failing.count(k) == 0; }}),
          n - failing.size());
      CHECK(run.result.seconds < 30);
    }
  }

  TEST_CASE("bad URL and unknown option: exit 2 with one line") {
    auto bad = run_tool({"redis://h:99999", "redis://h"});
    CHECK(bad.exit_code == 2);
    CHECK(bad.err.find("port '99999'") != std::string::npos);
    CHECK(lines_with(bad.err, "redis-migrate:").size() == 1);
    auto secret = run_tool({"redis://u:TopSecret@h/x", "redis://h"});
    CHECK(secret.exit_code == 2);
    CHECK(secret.err.find("TopSecret") == std::string::npos);
    auto unknown = run_tool({"redis://a", "redis://b", "--frobnicate"});
    CHECK(unknown.exit_code == 2);
    CHECK(unknown.err.find("--frobnicate") != std::string::npos);
    auto none = run_tool({});
    CHECK(none.exit_code == 2);
    CHECK(none.err.find("SOURCE_REDIS_URL") != std::string::npos);
  }

  TEST_CASE("a destination still loading its data is waited for") {
    RedisServer src;
    Client s = src.client();
    seed_strings(s, 200, "new:");
    const std::vector<std::string> slow_load = {"--key-load-delay", "100",
                                                "--loading-process-events-interval-bytes", "1024"};
    RedisServer dst({.extra_args = slow_load});
    {
      Client d = dst.client();
      seed_strings(d, 20000, "old:");  // about 2 s to load at 100 us per key
      d.checked({"SAVE"});
    }
    const int port = dst.port();
    // Back on the same port, answering LOADING while it reads its dump.rdb.
    dst.restart(RedisServer::Until::kAccepting);
    auto run = run_copy({src.url(), "redis://127.0.0.1:" + std::to_string(port) + "/0"});
    INFO(run.result.describe());
    CHECK(run.exit_code() == 0);
    CHECK(run.counter("copied") == 200);
    CHECK(run.result.err.find("loading") != std::string::npos);
  }

  TEST_CASE("a source still loading its data is waited for, then copied whole") {
    const std::vector<std::string> slow_load = {"--key-load-delay", "100",
                                                "--loading-process-events-interval-bytes", "1024"};
    RedisServer src({.extra_args = slow_load});
    RedisServer dst;
    {
      Client s = src.client();
      seed_strings(s, 20000, "k:");  // about 2 s to load at 100 us per key
      s.checked({"SAVE"});
    }
    const int port = src.port();
    // Back on the same port, answering LOADING while it reads its dump.rdb.
    src.restart(RedisServer::Until::kAccepting);
    ConnectOptions src_options;
    src_options.port = port;
    {
      // Still loading when the copy starts.
      Client probe(src_options);
      REQUIRE(probe.command({"PING"}).is_error("LOADING"));
    }
    auto run = run_copy({"redis://127.0.0.1:" + std::to_string(port) + "/0", dst.url()});
    INFO(run.result.describe());
    CHECK(run.exit_code() == 0);
    CHECK(run.counter("copied") == 20000);
    CHECK(run.counter("failed") == 0);
    // The wait is logged, naming the source.
    const auto waits = lines_with(run.result.err, "loading");
    REQUIRE(!waits.empty());
    CHECK(waits.front().find("source redis://127.0.0.1:" + std::to_string(port)) != std::string::npos);
    Client s(src_options);
    Client d = dst.client();
    require_same(compare_keyspaces(s, d), 20000);
  }

  TEST_CASE(
      "a stopped destination fills the byte window: the scan pauses, the progress says so, nothing is lost") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    // 3,000 keys of 10 KB (30 MB), random so that DUMP cannot compress them, through a 64 KB window: about
    // six payloads fit.
    constexpr int kKeys = 3000;
    constexpr std::size_t kValueSize = 10'000;
    std::mt19937_64 rng(11);
    std::vector<Command> cmds;
    for (int i = 0; i < kKeys; ++i) {
      std::string value(kValueSize, '\0');
      for (auto& ch : value)
        ch = static_cast<char>(rng());
      cmds.push_back({"SET", "k:" + std::to_string(i), std::move(value)});
    }
    src.pipeline_checked(cmds);
    TempDir dir("report");
    auto tool = start_tool({src_server.url(), dst_server.url(), "--window-bytes", "64KB",
                            "--progress-interval", "0.2", "--report-json", dir.file("r.json")});
    bool arrived = false;
    for (int i = 0; i < 20000 && tool.running() && !arrived; ++i) {
      if (dst.dbsize() >= 50)
        arrived = true;
      else
        std::this_thread::sleep_for(1ms);
    }
    REQUIRE(arrived);
    dst_server.pause();
    // Let the keys already sent drain into the stopped server's socket, then watch the tool for 2 s.
    std::this_thread::sleep_for(300ms);
    const std::size_t from = tool.err().size();
    std::this_thread::sleep_for(2s);
    const std::string during = tool.err().substr(from);
    const bool still_running = tool.running();
    dst_server.resume();
    auto result = tool.finish(60s);
    INFO(result.describe());
    INFO("stderr while the destination was stopped:\n" << during);
    CHECK(still_running);
    CHECK(result.exit_code == 0);
    const auto report = nlohmann::json::parse(read_file(dir.file("r.json")));
    CHECK(report["copied"] == kKeys);
    CHECK(report["failed"] == 0);
    CHECK(report["peak_rss_bytes"].get<uint64_t>() > 0);
    require_same(compare_keyspaces(src, dst), kKeys);

    // Every progress line printed while the destination was stopped says the tool waits for it, holds the
    // same copied count (nothing was acknowledged), and shows no more keys in flight than the byte window
    // holds payloads (plus the one that crosses the limit, and slack for DUMP's framing).
    const auto lines = lines_with(during, "progress ");
    REQUIRE(lines.size() >= 5);
    const std::regex copied_re("copied ([0-9,]+) ");
    const std::regex in_flight_re("in flight ([0-9]+)");
    std::set<std::string> copied_counts;
    for (const auto& l : lines) {
      CAPTURE(l);
      CHECK(l.find("(waiting for the destination)") != std::string::npos);
      std::smatch m;
      REQUIRE(std::regex_search(l, m, copied_re));
      copied_counts.insert(m[1].str());
      REQUIRE(std::regex_search(l, m, in_flight_re));
      CHECK(std::stoul(m[1].str()) <= 64'000 / kValueSize + 2);
    }
    CHECK(copied_counts.size() == 1);
  }

  TEST_CASE("SIGINT and SIGTERM stop the scan, finish the keys in flight, print the summary, exit 130/143") {
    for (int sig : {SIGINT, SIGTERM}) {
      CAPTURE(sig);
      RedisServer src, dst;
      Client s = src.client();
      Client d = dst.client();
      seed_strings(s, 300000, "k:", 100);
      TempDir dir("report");
      auto tool = start_tool({src.url(), dst.url(), "--window-keys", "8", "--progress-interval", "0.1",
                              "--report-json", dir.file("r.json")});
      REQUIRE(tool.wait_for_output("progress", 30s, Stream::kErr));
      tool.send_signal(sig);
      auto result = tool.finish(60s);
      INFO(result.describe());
      CHECK(result.exit_code == 128 + sig);
      CHECK(result.err.find("interrupted") != std::string::npos);
      CHECK(result.err.find("copied") != std::string::npos);
      auto report = nlohmann::json::parse(read_file(dir.file("r.json")));
      CHECK(report["exit_code"] == 128 + sig);
      const auto copied = report["copied"].get<uint64_t>();
      CHECK(copied > 0);
      CHECK(copied < 300000);
      // Drained: every key counted copied is on the destination, and nothing else.
      CHECK(static_cast<uint64_t>(user_dbsize(d)) == copied);
      CHECK(s.dbsize() == 300000);
    }
  }
}
