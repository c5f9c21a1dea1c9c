// TLS and authentication against real servers: verified, mutual and insecure TLS on either side, the refusals
// (wrong CA, host name mismatch, plain/TLS mismatches), passwords from URLs and files, ACL users with exactly
// the documented rules, and the one-line errors for everything that cannot work. Every copy is compared key
// by key; every failure must end with exit code 3 within seconds, name the endpoint and the fix, and never
// print a password.

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <sstream>
#include <thread>

#include "helpers.hpp"
#include "support/certs.hpp"
#include "support/compare.hpp"
#include "support/ports.hpp"
#include "support/redis_server.hpp"
#include "support/seed.hpp"

using namespace rmig::test;

namespace {

// Start-up failures must be quick: connection refusals and TLS alerts take milliseconds, and where a server
// may stay silent the tests pass a connect timeout of kShortTimeout seconds.
constexpr double kQuickFailure = 5.0;
const std::string kShortTimeout = "2";

std::vector<std::string> ca(const std::string& side, const std::string& file = test_certs().ca_cert) {
  return {"--" + side + "-tls-ca-file", file};
}

std::vector<std::string> client_cert(const std::string& side) {
  const TestCerts& c = test_certs();
  return {"--" + side + "-tls-cert", c.client_cert, "--" + side + "-tls-key", c.client_key};
}

std::vector<std::string> args(std::initializer_list<std::vector<std::string>> parts) {
  std::vector<std::string> out;
  for (const auto& p : parts)
    out.insert(out.end(), p.begin(), p.end());
  return out;
}

// Seeds every type plus the awkward keys; returns the number of keys.
std::size_t seed(Client& c, std::size_t count = 400) {
  seed_mixed(c, {.count = count, .ttl_fraction = 0.3});
  seed_edge_keys(c, {.short_ttl_key = false});
  return static_cast<std::size_t>(c.dbsize());
}

// A successful copy: exit 0, every key copied, source and destination equal key by key.
void require_copied(const ToolRun& run, Client& src, Client& dst) {
  INFO(run.result.describe());
  REQUIRE(run.exit_code() == 0);
  const auto n = static_cast<uint64_t>(src.dbsize());
  CHECK(run.counter("copied") == n);
  CHECK(run.counter("failed") == 0);
  require_same(compare_keyspaces(src, dst), n);
}

// A run that cannot start: exit code 3 within kQuickFailure seconds, and stderr is one line (plus the
// --*-tls-insecure warning when asked for) that names the endpoint and holds every part of the fix.
std::string require_start_failure(const ToolRun& run, const std::string& endpoint,
                                  const std::vector<std::string>& fix) {
  INFO(run.result.describe());
  CHECK(run.exit_code() == 3);
  CHECK(run.result.seconds < kQuickFailure);
  std::vector<std::string> lines;
  for (auto& l : nonempty_lines(run.result.err)) {
    if (!contains(l, "WARNING: --")) lines.push_back(l);
  }
  REQUIRE(lines.size() == 1);
  const std::string& line = lines.front();
  CHECK(line.rfind("redis-migrate: ", 0) == 0);
  CHECK_MESSAGE(contains(line, endpoint), "endpoint " << endpoint << " not named in: " << line);
  for (const auto& f : fix)
    CHECK_MESSAGE(contains(line, f), "'" << f << "' missing from: " << line);
  CHECK(run.report.value("stopped", std::string()) == line.substr(std::string("redis-migrate: ").size()));
  CHECK(run.report.value("exit_code", -1) == 3);
  return line;
}

// A run stopped after the copy began: exit code 3, and exactly one stderr line carries the error.
std::string require_stopped(const ToolRun& run, const std::string& endpoint,
                            const std::vector<std::string>& fix) {
  INFO(run.result.describe());
  CHECK(run.exit_code() == 3);
  CHECK(run.result.seconds < kQuickFailure);
  REQUIRE(!fix.empty());
  auto lines = lines_with(run.result.err, fix.front());
  REQUIRE(lines.size() == 1);
  const std::string& line = lines.front();
  CHECK(line.rfind("redis-migrate: ", 0) == 0);
  CHECK_MESSAGE(contains(line, endpoint), "endpoint " << endpoint << " not named in: " << line);
  for (const auto& f : fix)
    CHECK_MESSAGE(contains(line, f), "'" << f << "' missing from: " << line);
  CHECK(run.report.value("exit_code", -1) == 3);
  return line;
}

// The redacted form the tool prints for tls_url() (without the db).
std::string tls_endpoint(const RedisServer& s) {
  return "rediss://localhost:" + std::to_string(s.tls_port());
}

ServerOptions tls_server() {
  ServerOptions o;
  o.tls = true;
  return o;
}

// The documented minimal ACL rules (README, "Minimal ACL rules"), applied word for word.
const std::vector<std::string> kSourceRules = {"reset", "on", "~*", "+scan", "+dump", "+pttl"};
// A deleting run also reads INFO on both sides (identity, the destination's eviction policy).
const std::vector<std::string> kCleanupRules = {"+script|load", "+evalsha", "+eval", "+unlink", "+info"};
// The destination user also keeps the tool's lease and run records, through a selector on its own keys.
const std::string kToolKeys =
    "(~redis-migrate:* +get +set +del +pexpire +pttl +eval +zadd +zrevrange +zremrangebyscore)";
const std::vector<std::string> kDestinationRules = {"reset", "on", "~*", "+restore", kToolKeys};
// The rewrite path: the source's chunked reads, the destination's writes under a temporary name and the
// rename.
const std::vector<std::string> kRewriteSourceRules = {"+type",  "+exists",  "+getrange", "+lrange",
                                                      "+sscan", "+hscan",   "+zscan",    "+xrange",
                                                      "+xinfo", "+xpending"};
const std::vector<std::string> kRewriteDestinationRules = {
    "+set",    "+append",  "+rpush",     "+sadd",    "+zadd",   "+hset",   "+xadd",   "+xsetid",  "+xgroup",
    "+xclaim", "+pexpire", "+pexpireat", "+persist", "+unlink", "+exists", "+rename", "+renamenx"};

void set_user(Client& admin, const std::string& user, const std::string& password,
              std::vector<std::string> rules) {
  Command cmd{"ACL", "SETUSER", user};
  cmd.insert(cmd.end(), rules.begin(), rules.end());
  cmd.push_back(">" + password);
  admin.checked(cmd);
}

std::vector<std::string> with(std::vector<std::string> rules, const std::vector<std::string>& more) {
  rules.insert(rules.end(), more.begin(), more.end());
  return rules;
}

}  // namespace

TEST_SUITE("tls") {
  TEST_CASE("verified TLS to verified TLS, CA given as a flag and as an environment variable") {
    RedisServer src_server(tls_server()), dst_server(tls_server());
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed(src);
    auto run = run_copy(args({{src_server.tls_url(), dst_server.tls_url()}, ca("source")}),
                        {{"DESTINATION_TLS_CA_FILE", test_certs().ca_cert}});
    require_copied(run, src, dst);
    CHECK(run.report["source"] == tls_endpoint(src_server) + "/0");
  }

  TEST_CASE("a TLS source with a plain destination, and a plain source with a TLS destination") {
    RedisServer tls_side(tls_server()), plain_side;
    Client t = tls_side.client();
    Client p = plain_side.client();

    seed(t);
    auto to_plain = run_copy(args({{tls_side.tls_url(), plain_side.url()}, ca("source")}));
    require_copied(to_plain, t, p);

    p.flushall();
    t.flushall();
    seed(p, 300);
    auto to_tls = run_copy(args({{plain_side.url(), tls_side.tls_url()}, ca("destination")}));
    require_copied(to_tls, p, t);
  }

  TEST_CASE("a TLS 1.2-only server, a CA directory, and the certificate's IP address") {
    ServerOptions o = tls_server();
    o.extra_args = {"--tls-protocols", "TLSv1.2"};
    RedisServer src_server(o), dst_server(tls_server());
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed(src, 200);
    // A hashed CA directory, as /etc/ssl/certs is.
    TempDir ca_dir("cadir");
    write_file(ca_dir.file("ca.pem"), read_file(test_certs().ca_cert));
    RunResult rehash = run({"openssl", "rehash", ca_dir.path()}, {{"OPENSSL_CONF", std::nullopt}});
    REQUIRE_MESSAGE(rehash.exit_code == 0, rehash.describe());
    // The server certificate lists IP:127.0.0.1, so the address verifies as well as the name.
    const std::string by_ip = "rediss://127.0.0.1:" + std::to_string(dst_server.tls_port()) + "/0";
    auto run = run_copy(
        args({{src_server.tls_url(), by_ip, "--source-tls-ca-dir", ca_dir.path()}, ca("destination")}));
    require_copied(run, src, dst);
  }

  TEST_CASE("mutual TLS: client certificates from flags and from the environment") {
    ServerOptions o;
    o.tls_only = true;
    o.tls_auth_clients = true;
    RedisServer src_server(o), dst_server(o);
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed(src);
    const TestCerts& c = test_certs();
    auto run =
        run_copy(args({{src_server.tls_url(), dst_server.tls_url()}, ca("source"), client_cert("source")}),
                 {{"DESTINATION_TLS_CA_FILE", c.ca_cert},
                  {"DESTINATION_TLS_CERT", c.client_cert},
                  {"DESTINATION_TLS_KEY", c.client_key}});
    require_copied(run, src, dst);

    SUBCASE("no client certificate: refused, and told to pass one") {
      auto refused = run_copy(args({{src_server.tls_url(), dst_server.tls_url()},
                                    ca("source"),
                                    client_cert("source"),
                                    ca("destination")}));
      require_start_failure(refused, "destination " + tls_endpoint(dst_server),
                            {"client certificate", "--destination-tls-cert", "--destination-tls-key"});
    }
    SUBCASE("a client certificate from another CA: refused, and told which certificate") {
      auto refused =
          run_copy(args({{src_server.tls_url(), dst_server.tls_url()},
                         ca("source"),
                         {"--source-tls-cert", c.wrong_client_cert, "--source-tls-key", c.wrong_client_key},
                         ca("destination"),
                         client_cert("destination")}));
      require_start_failure(refused, "source " + tls_endpoint(src_server),
                            {"refused the client certificate", c.wrong_client_cert});
    }
  }

  TEST_CASE("TLS 1.2 refusals: no client certificate, and a server without TLS 1.2 or 1.3") {
    ServerOptions mtls12 = tls_server();
    mtls12.tls_auth_clients = true;
    mtls12.extra_args = {"--tls-protocols", "TLSv1.2"};
    ServerOptions tls11 = tls_server();
    tls11.extra_args = {"--tls-protocols", "TLSv1.1"};  // which the tool does not offer
    RedisServer needs_cert(mtls12), old_tls(tls11), dst_server;

    // TLS 1.2 reports a missing client certificate with the same alert as a cipher mismatch: both are named.
    auto no_cert = run_copy(args({{needs_cert.tls_url(), dst_server.url()}, ca("source")}));
    require_start_failure(no_cert, "source " + tls_endpoint(needs_cert),
                          {"handshake failure", "client certificate", "--source-tls-cert", "ciphers"});
    Client src = needs_cert.client();
    Client dst = dst_server.client();
    seed(src, 100);
    auto with_cert =
        run_copy(args({{needs_cert.tls_url(), dst_server.url()}, ca("source"), client_cert("source")}));
    require_copied(with_cert, src, dst);

    auto version = run_copy(args({{old_tls.tls_url(), dst_server.url()}, ca("source")}));
    require_start_failure(version, "source " + tls_endpoint(old_tls),
                          {"share no TLS version", "TLS 1.2 and 1.3"});
  }

  TEST_CASE("a certificate not signed by the trusted CA is refused, naming the CA used") {
    RedisServer src_server(tls_server()), dst_server;
    auto wrong =
        run_copy(args({{src_server.tls_url(), dst_server.url()}, ca("source", test_certs().wrong_ca_cert)}));
    require_start_failure(
        wrong, "source " + tls_endpoint(src_server),
        {"certificate not trusted", "by CA file " + test_certs().wrong_ca_cert, "--source-tls-ca-file"});
    Client dst_check = dst_server.client();
    CHECK(user_dbsize(dst_check) == 0);

    // Without a CA option the system store is used, and the message says so.
    auto system = run_copy({dst_server.url(), src_server.tls_url()});
    require_start_failure(system, "destination " + tls_endpoint(src_server),
                          {"certificate not trusted", "the system CA store", "--destination-tls-ca-file"});
  }

  TEST_CASE("a host name the certificate does not list is refused; --*-tls-server-name fixes it") {
    ServerOptions o = tls_server();
    o.cert_file = test_certs().wrong_host_cert;  // SAN DNS:wrong.example only
    o.key_file = test_certs().wrong_host_key;
    RedisServer src_server(o), dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed(src, 200);
    auto mismatch = run_copy(args({{src_server.tls_url(), dst_server.url()}, ca("source")}));
    require_start_failure(
        mismatch, "source " + tls_endpoint(src_server),
        {"host name mismatch", "'localhost'", "it lists DNS:wrong.example", "--source-tls-server-name"});
    CHECK(user_dbsize(dst) == 0);

    auto named =
        run_copy(args({{src_server.tls_url(), dst_server.url(), "--source-tls-server-name", "wrong.example"},
                       ca("source")}));
    require_copied(named, src, dst);
  }

  TEST_CASE("the host name is sent as SNI (from the URL, or the server-name override)") {
    // This server presents the valid certificate only to clients that send SNI "localhost"; to others it
    // shows the wrong-host one. It answers lines reversed, which is no RESP: getting that far means the
    // certificate chosen by SNI was verified.
    const TestCerts& c = test_certs();
    const auto port = std::to_string(free_port());
    ProcessOptions p;
    p.argv = {"openssl",     "s_server",        "-rev",       "-accept",        port,
              "-cert",       c.wrong_host_cert, "-key",       c.wrong_host_key, "-cert2",
              c.server_cert, "-key2",           c.server_key, "-servername",    "localhost"};
    p.env = {{"OPENSSL_CONF", std::nullopt}};
    Process server = Process::start(std::move(p));
    REQUIRE(server.wait_for_output("ACCEPT", 10s));
    RedisServer dst_server;

    auto sni =
        run_copy(args({{"rediss://localhost:" + port, dst_server.url(), "--connect-timeout", kShortTimeout},
                       ca("source")}));
    INFO(sni.result.describe());
    CHECK(sni.exit_code() == 3);
    CHECK(contains(sni.result.err, "protocol error"));
    CHECK_FALSE(contains(sni.result.err, "mismatch"));

    auto override_sni =
        run_copy(args({{"rediss://127.0.0.1:" + port, dst_server.url(), "--source-tls-server-name",
                        "localhost", "--connect-timeout", kShortTimeout},
                       ca("source")}));
    CHECK(contains(override_sni.result.err, "protocol error"));
    CHECK_FALSE(contains(override_sni.result.err, "mismatch"));

    // An IP address is never sent as SNI (RFC 6066): the default certificate comes back, and it does not list
    // 127.0.0.1.
    auto no_sni =
        run_copy(args({{"rediss://127.0.0.1:" + port, dst_server.url(), "--connect-timeout", kShortTimeout},
                       ca("source")}));
    require_start_failure(no_sni, "source rediss://127.0.0.1:" + port,
                          {"host name mismatch", "'127.0.0.1'", "it lists DNS:wrong.example"});
    server.kill9();
  }

  TEST_CASE("--*-tls-insecure copies without verification and says so loudly") {
    ServerOptions o = tls_server();
    o.cert_file = test_certs().wrong_host_cert;
    o.key_file = test_certs().wrong_host_key;
    RedisServer src_server(o), dst_server(tls_server());
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed(src, 200);
    // Neither the CA (the system store does not hold it) nor the name would verify.
    auto run = run_copy({src_server.tls_url(), dst_server.tls_url(), "--source-tls-insecure"},
                        {{"DESTINATION_TLS_INSECURE", "1"}});
    require_copied(run, src, dst);
    for (const std::string side : {"source", "destination"}) {
      auto warning = lines_with(run.result.err, "WARNING: --" + side + "-tls-insecure");
      REQUIRE(warning.size() == 1);
      CHECK(contains(warning.front(), "NOT verified"));
    }
  }

  TEST_CASE("TLS spoken to a plain port ends within the connect timeout") {
    RedisServer plain;
    // The server reads the ClientHello as the start of an inline command: it may wait for the rest, or answer
    // an error when the random bytes hold a newline. Both must end quickly with the same advice.
    for (int attempt = 0; attempt < 3; ++attempt) {
      const std::string url = "rediss://localhost:" + std::to_string(plain.port()) + "/0";
      auto run = run_copy(args({{url, plain.url(1), "--connect-timeout", kShortTimeout}, ca("source")}));
      require_start_failure(run, "source " + url, {"plain (non-TLS) port", "redis://"});
    }
  }

  TEST_CASE("plain spoken to a TLS port ends quickly and suggests rediss://") {
    ServerOptions o;
    o.tls_only = true;
    RedisServer tls_only(o), plain;
    const std::string url = "redis://127.0.0.1:" + std::to_string(tls_only.tls_port()) + "/0";
    auto run = run_copy({plain.url(), url, "--connect-timeout", kShortTimeout});
    require_start_failure(run, "destination " + url, {"TLS port", "rediss://"});

    // Some TLS front ends answer clear text with a TLS alert record instead of closing.
    const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(listener >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t addr_len = sizeof addr;
    REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&addr), addr_len) == 0);
    REQUIRE(::listen(listener, 1) == 0);
    REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &addr_len) == 0);
    std::thread alerter([listener] {
      const int c = ::accept(listener, nullptr, nullptr);
      if (c < 0) return;
      std::array<char, 512> buf{};
      (void)::read(c, buf.data(), buf.size());
      // Alert record, TLS 1.2, fatal (2) protocol_version (70).
      const std::array<unsigned char, 7> alert = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46};
      (void)::write(c, alert.data(), alert.size());
      ::usleep(200'000);
      ::close(c);
    });
    const std::string alert_url = "redis://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/0";
    auto alerted = run_copy({alert_url, plain.url(), "--connect-timeout", kShortTimeout});
    alerter.join();
    ::close(listener);
    require_start_failure(alerted, "source " + alert_url, {"the server answered with TLS", "rediss://"});
  }

  TEST_CASE("passwords in URLs are percent-decoded and never printed") {
    ServerOptions o;
    o.requirepass = "p@ss:w/rd%41 #?x";
    RedisServer src_server(o), dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed(src, 200);
    const std::string url =
        "redis://:" + url_encode(o.requirepass) + "@127.0.0.1:" + std::to_string(src_server.port()) + "/0";
    auto run = run_copy({url, dst_server.url()});
    require_copied(run, src, dst);
    require_secret_hidden(run, o.requirepass);
    require_secret_hidden(run, url_encode(o.requirepass));
    CHECK(run.report["source"] == "redis://:***@127.0.0.1:" + std::to_string(src_server.port()) + "/0");
  }

  TEST_CASE("an ACL user and password with special characters, over TLS on both sides") {
    const std::string user = "mig@r:t/%";
    const std::string pw = "s3cr@t:/%25";
    RedisServer src_server(tls_server()), dst_server(tls_server());
    Client src = src_server.client();
    Client dst = dst_server.client();
    set_user(src, user, pw, kSourceRules);
    set_user(dst, user, pw, kDestinationRules);
    seed(src, 200);
    auto run = run_copy(args({{src_server.tls_url_as(user, pw), dst_server.tls_url_as(user, pw)},
                              ca("source"),
                              ca("destination")}));
    require_copied(run, src, dst);
    require_secret_hidden(run, pw);
    require_secret_hidden(run, url_encode(pw));
  }

  TEST_CASE("a wrong password, an unknown user and a missing password each give their own error") {
    ServerOptions o;
    o.requirepass = "right-pw";
    RedisServer server(o), dst_server;
    Client admin = server.client();
    set_user(admin, "alice", "alice-pw", kSourceRules);
    const std::string port = std::to_string(server.port());

    auto wrong = run_copy({"redis://:wrong-pw@127.0.0.1:" + port, dst_server.url()});
    require_start_failure(wrong, "source redis://:***@127.0.0.1:" + port,
                          {"authentication failed", "password is wrong", "check the password in the URL"});
    require_secret_hidden(wrong, "wrong-pw");

    // Redis answers an unknown user exactly as a wrong password: the message says it cannot tell.
    auto ghost = run_copy({"redis://ghost:ghost-pw@127.0.0.1:" + port, dst_server.url()});
    require_start_failure(
        ghost, "source redis://ghost:***@127.0.0.1:" + port,
        {"authentication failed for user 'ghost'", "does not exist", "disabled", "password is wrong"});
    require_secret_hidden(ghost, "ghost-pw");

    auto alice = run_copy({"redis://alice:not-alice-pw@127.0.0.1:" + port, dst_server.url()});
    require_start_failure(alice, "source redis://alice:***@127.0.0.1:" + port,
                          {"authentication failed for user 'alice'", "does not exist", "password is wrong"});

    auto missing = run_copy({dst_server.url(), "redis://127.0.0.1:" + port});
    require_start_failure(
        missing, "destination redis://127.0.0.1:" + port,
        {"requires authentication", "redis://:PASSWORD@host", "--destination-password-file"});
  }

  TEST_CASE("password files: flags, environment, trailing newline, never printed") {
    ServerOptions o;
    o.requirepass = "from-file-pw";
    RedisServer src_server(o), dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    Client admin = dst_server.client();
    set_user(admin, "writer", "writer pw", kDestinationRules);
    seed(src, 200);
    TempDir secrets("secrets");
    // As a Kubernetes secret is often written: with a trailing newline (CRLF from some editors).
    write_file(secrets.file("src"), o.requirepass + "\n");
    write_file(secrets.file("dst"), "writer pw\r\n");
    write_file(secrets.file("bad"), "not-the-pw\n");
    const std::string src_url = src_server.url();  // no password in the URL
    const std::string dst_url = "redis://writer@127.0.0.1:" + std::to_string(dst_server.port()) + "/0";

    SUBCASE("flags") {
      auto run = run_copy({src_url, dst_url, "--source-password-file", secrets.file("src"),
                           "--destination-password-file", secrets.file("dst")});
      require_copied(run, src, dst);
      require_secret_hidden(run, o.requirepass);
      require_secret_hidden(run, "writer pw");
      CHECK(run.report["destination"] ==
            "redis://writer:***@127.0.0.1:" + std::to_string(dst_server.port()) + "/0");
    }
    SUBCASE("environment") {
      auto run = run_copy({src_url, dst_url}, {{"SOURCE_PASSWORD_FILE", secrets.file("src")},
                                               {"DESTINATION_PASSWORD_FILE", secrets.file("dst")}});
      require_copied(run, src, dst);
      require_secret_hidden(run, o.requirepass);
    }
    SUBCASE("a file overrides the URL's password") {
      auto run = run_copy({"redis://:stale@127.0.0.1:" + std::to_string(src_server.port()), dst_url,
                           "--source-password-file", secrets.file("src"), "--destination-password-file",
                           secrets.file("dst")});
      require_copied(run, src, dst);
    }
    SUBCASE("a wrong password in a file names the file") {
      auto run = run_copy({src_url, dst_url, "--source-password-file", secrets.file("bad"),
                           "--destination-password-file", secrets.file("dst")});
      require_start_failure(run, "source redis://:***@127.0.0.1:" + std::to_string(src_server.port()),
                            {"authentication failed", secrets.file("bad"), "--source-password-file"});
      require_secret_hidden(run, "not-the-pw");
    }
    SUBCASE("a missing file is a usage error") {
      auto run = run_copy({src_url, dst_url, "--source-password-file", secrets.file("nope")});
      CHECK(run.exit_code() == 2);
      CHECK(contains(run.result.err, secrets.file("nope")));
    }
  }

  TEST_CASE("unix sockets with a password and with an ACL user") {
    ServerOptions o;
    o.requirepass = "sock@pw";
    RedisServer src_server(o), dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    set_user(dst, "writer", "writer/pw", kDestinationRules);
    seed(src, 200);
    const std::string src_url = "unix://:" + url_encode(o.requirepass) + "@" + src_server.unix_socket();
    const std::string dst_url =
        "unix://writer:" + url_encode("writer/pw") + "@" + dst_server.unix_socket() + "?db=0";
    auto run = run_copy({src_url, dst_url});
    require_copied(run, src, dst);
    require_secret_hidden(run, o.requirepass);
    require_secret_hidden(run, "writer/pw");

    auto wrong = run_copy({"unix://:nope@" + src_server.unix_socket(), dst_server.url()});
    require_start_failure(wrong, "source unix://:***@" + src_server.unix_socket(), {"authentication failed"});
  }

  TEST_CASE("ACL users with exactly the documented minimal rules") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    set_user(src, "migrate-src", "src-pw", kSourceRules);
    set_user(dst, "migrate-dst", "dst-pw", kDestinationRules);
    const std::string src_url = src_server.url_as("migrate-src", "src-pw");
    const std::string dst_url = dst_server.url_as("migrate-dst", "dst-pw");

    SUBCASE("copy, with every optional start-up command refused") {
      seed(src);
      src.checked({"CONFIG", "RESETSTAT"});
      auto run = run_copy({src_url, dst_url});
      require_copied(run, src, dst);
      // PING and CLIENT SETNAME were sent and refused, and the run went on.
      CHECK(contains(src.command({"ACL", "LOG"}).to_string(), "ping"));
    }
    SUBCASE("a read-only source user (Redis 7 %R~ key permission)") {
      set_user(src, "migrate-src", "src-pw", {"reset", "on", "%R~*", "+scan", "+dump", "+pttl"});
      seed(src, 200);
      auto run = run_copy({src_url, dst_url});
      require_copied(run, src, dst);
    }
    SUBCASE("databases other than 0 need +select") {
      Client src2 = src_server.client(2);
      Client dst3 = dst_server.client(3);
      seed(src2, 200);
      set_user(src, "migrate-src", "src-pw", with(kSourceRules, {"+select"}));
      set_user(dst, "migrate-dst", "dst-pw", with(kDestinationRules, {"+select"}));
      auto run = run_copy(
          {src_server.url_as("migrate-src", "src-pw", 2), dst_server.url_as("migrate-dst", "dst-pw", 3)});
      require_copied(run, src2, dst3);
      CHECK(user_dbsize(dst) == 0);
    }
    SUBCASE("--cleanup with the cleanup rules") {
      set_user(src, "migrate-src", "src-pw", with(kSourceRules, kCleanupRules));
      set_user(dst, "migrate-dst", "dst-pw", with(kDestinationRules, {"+info"}));
      std::vector<Command> cmds;
      for (int i = 0; i < 500; ++i)
        cmds.push_back({"SET", "k:" + std::to_string(i), "v" + std::to_string(i)});
      src.pipeline_checked(cmds);
      auto run = run_copy({src_url, dst_url, "--cleanup"});
      INFO(run.result.describe());
      REQUIRE(run.exit_code() == 0);
      CHECK(run.counter("copied") == 500);
      CHECK(run.counter("deleted") == 500);
      CHECK(src.dbsize() == 0);
      CHECK(user_dbsize(dst) == 500);
      CHECK(dst.command({"GET", "k:7"}).str == "v7");
      CHECK(command_calls(src, "evalsha") == 500);  // the script was loaded once, not sent with every key
    }
    SUBCASE("--cleanup with +eval only: the script is sent with each key") {
      set_user(src, "migrate-src", "src-pw", with(kSourceRules, {"+eval", "+unlink", "+info"}));
      set_user(dst, "migrate-dst", "dst-pw", with(kDestinationRules, {"+info"}));
      src.checked({"SET", "a", "1"});
      src.checked({"SET", "b", "2"});
      auto run = run_copy({src_url, dst_url, "--cleanup"});
      INFO(run.result.describe());
      REQUIRE(run.exit_code() == 0);
      CHECK(run.counter("deleted") == 2);
      CHECK(src.dbsize() == 0);
    }
    SUBCASE("without the tool's keys: only +restore, with --no-lock and --state-file") {
      set_user(dst, "migrate-dst", "dst-pw", {"reset", "on", "~*", "+restore"});
      seed(src, 100);
      TempDir dir("state");
      auto refused = run_copy({src_url, dst_url});
      CHECK(refused.exit_code() == 3);
      CHECK(contains(refused.result.err, kToolKeys));
      auto run = run_copy({src_url, dst_url, "--no-lock", "--state-file", dir.file("run.json")});
      require_copied(run, src, dst);
    }
    SUBCASE("--on-conflict merge with the merge rules") {
      set_user(dst, "migrate-dst", "dst-pw",
               with(kDestinationRules, {"+evalsha", "+eval", "+type", "+unlink", "+sscan", "+sadd", "+hscan",
                                        "+hset", "+hsetnx", "+zscan", "+zadd"}));
      src.checked({"SADD", "s", "a", "b"});
      src.checked({"HSET", "h", "f1", "src", "f2", "src"});
      src.checked({"ZADD", "z", "1", "m1", "2", "m2"});
      dst.checked({"SADD", "s", "c"});
      dst.checked({"HSET", "h", "f1", "dst"});
      dst.checked({"ZADD", "z", "5", "m1"});
      auto run = run_copy({src_url, dst_url, "--on-conflict", "merge", "--yes"});
      INFO(run.result.describe());
      REQUIRE(run.exit_code() == 0);
      CHECK(run.counter("merged") == 3);
      CHECK(dst.command({"SCARD", "s"}).integer == 3);
      CHECK(dst.command({"HGET", "h", "f1"}).str == "dst");  // the destination wins by default
      CHECK(dst.command({"HGET", "h", "f2"}).str == "src");
      CHECK(dst.command({"ZSCORE", "z", "m1"}).str == "5");
      CHECK(dst.command({"ZSCORE", "z", "m2"}).str == "2");
      CHECK(user_dbsize(dst) == 3);
    }
    SUBCASE("--mode rewrite with the rewrite rules") {
      set_user(src, "migrate-src", "src-pw", with(kSourceRules, kRewriteSourceRules));
      set_user(dst, "migrate-dst", "dst-pw", with(kDestinationRules, kRewriteDestinationRules));
      seed(src);
      // Its pending entries point at trimmed messages, which no command can recreate (the rewrite suite
      // covers that count); here every key must compare equal.
      src.checked({"DEL", "edge:stream-trimmed"});
      auto run = run_copy({src_url, dst_url, "--mode", "rewrite"});
      require_copied(run, src, dst);
      CHECK(run.counter("rewritten") == static_cast<uint64_t>(src.dbsize()));
      CHECK(run.counter("stream_not_recreated") == 0);
    }
    SUBCASE("--dry-run needs only +exists on the destination") {
      set_user(dst, "migrate-dst", "dst-pw", {"reset", "on", "~*", "+exists"});
      seed(src, 100);
      auto run = run_copy({src_url, dst_url, "--dry-run"});
      INFO(run.result.describe());
      REQUIRE(run.exit_code() == 0);
      CHECK(run.counter("would_copy") == static_cast<uint64_t>(src.dbsize()));
      CHECK(user_dbsize(dst) == 0);
    }
  }

  TEST_CASE("a missing command permission stops the run naming the command and the rule to add") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed(src, 100);
    const std::string src_url = src_server.url_as("migrate-src", "src-pw");
    const std::string dst_url = dst_server.url_as("migrate-dst", "dst-pw");
    const std::string src_label =
        "source redis://migrate-src:***@127.0.0.1:" + std::to_string(src_server.port());
    const std::string dst_label =
        "destination redis://migrate-dst:***@127.0.0.1:" + std::to_string(dst_server.port());
    set_user(dst, "migrate-dst", "dst-pw", kDestinationRules);

    SUBCASE("DUMP") {
      set_user(src, "migrate-src", "src-pw", {"reset", "on", "~*", "+scan", "+pttl"});
      auto run = run_copy({src_url, dst_url});
      require_stopped(
          run, src_label,
          {"may not run DUMP", "'dump'", "add the ACL rule +dump", "ACL SETUSER migrate-src +dump"});
      require_secret_hidden(run, "src-pw");
      CHECK(run.counter("copied") == 0);
      CHECK(user_dbsize(dst) == 0);
    }
    SUBCASE("SCAN") {
      set_user(src, "migrate-src", "src-pw", {"reset", "on", "~*", "+dump", "+pttl"});
      auto run = run_copy({src_url, dst_url});
      require_stopped(run, src_label, {"+scan", "ACL SETUSER migrate-src +scan"});
    }
    SUBCASE("SELECT for a database other than 0") {
      set_user(src, "migrate-src", "src-pw", kSourceRules);
      auto run = run_copy({src_server.url_as("migrate-src", "src-pw", 1), dst_url});
      require_start_failure(run, src_label, {"'select'", "ACL SETUSER migrate-src +select"});
    }
    SUBCASE("RESTORE on the destination") {
      set_user(src, "migrate-src", "src-pw", kSourceRules);
      set_user(dst, "migrate-dst", "dst-pw", {"reset", "on", "~*", "+exists", kToolKeys});
      auto run = run_copy({src_url, dst_url});
      require_stopped(run, dst_label, {"may not run RESTORE", "ACL SETUSER migrate-dst +restore"});
      require_secret_hidden(run, "dst-pw");
      CHECK(user_dbsize(dst) == 0);
    }
    SUBCASE("UNLINK for --cleanup: nothing is deleted") {
      set_user(src, "migrate-src", "src-pw",
               with(kSourceRules, {"+script|load", "+evalsha", "+eval", "+info"}));
      set_user(dst, "migrate-dst", "dst-pw", with(kDestinationRules, {"+info"}));
      const auto before = src.dbsize();
      auto run = run_copy({src_url, dst_url, "--cleanup"});
      require_stopped(run, src_label, {"ACL SETUSER migrate-src +unlink", "PTTL, DUMP and UNLINK"});
      CHECK(src.dbsize() == before);
    }
  }

  TEST_CASE("keys outside the user's key patterns fail one by one; the others are copied") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    std::vector<Command> cmds;
    for (int i = 0; i < 300; ++i) {
      cmds.push_back({"SET", "app:" + std::to_string(i), "v"});
      if (i < 40) cmds.push_back({"SET", "secret:" + std::to_string(i), "v"});
    }
    src.pipeline_checked(cmds);
    auto only_app = [](const std::string& k) { return k.rfind("app:", 0) == 0; };

    SUBCASE("on the source") {
      set_user(src, "migrate-src", "src-pw", {"reset", "on", "~app:*", "+scan", "+dump", "+pttl"});
      auto run = run_copy({src_server.url_as("migrate-src", "src-pw"), dst_server.url()});
      INFO(run.result.describe());
      CHECK(run.exit_code() == 1);
      CHECK(run.counter("copied") == 300);
      CHECK(run.counter("failed") == 40);
      REQUIRE(run.report["errors"].size() == 1);
      const auto& group = run.report["errors"][0];
      CHECK(group["count"] == 40);
      CHECK(contains(group["message"].get<std::string>(), "NOPERM"));
      CHECK(contains(group["message"].get<std::string>(), "key patterns"));
      CHECK(group["example_key"].get<std::string>().rfind("secret:", 0) == 0);
      require_same(compare_keyspaces(src, dst, {.include = only_app}), 300);
    }
    SUBCASE("on the destination") {
      set_user(dst, "migrate-dst", "dst-pw", {"reset", "on", "~app:*", "+restore", kToolKeys});
      auto run = run_copy({src_server.url(), dst_server.url_as("migrate-dst", "dst-pw")});
      INFO(run.result.describe());
      CHECK(run.exit_code() == 1);
      CHECK(run.counter("copied") == 300);
      CHECK(run.counter("failed") == 40);
      REQUIRE(run.report["errors"].size() == 1);
      CHECK(
          contains(run.report["errors"][0]["message"].get<std::string>(), "destination user's key patterns"));
      require_same(compare_keyspaces(src, dst, {.include = only_app}), 300);
    }
  }

  TEST_CASE("mutual TLS and ACL users together, on TLS-only servers") {
    ServerOptions o;
    o.tls_only = true;
    o.tls_auth_clients = true;
    o.acl_users = {"user migrate-src on >src-pw ~* +scan +dump +pttl +select",
                   "user migrate-dst on >dst-pw ~* +restore +select " + kToolKeys};
    RedisServer src_server(o), dst_server(o);
    Client src = src_server.client(4);
    Client dst = dst_server.client(5);
    seed(src);
    TempDir secrets("secrets");
    write_file(secrets.file("src"), "src-pw\n");
    const std::string src_url =
        "rediss://migrate-src@localhost:" + std::to_string(src_server.tls_port()) + "/4";
    auto run = run_copy(args({{src_url, dst_server.tls_url_as("migrate-dst", "dst-pw", 5)},
                              ca("source"),
                              client_cert("source"),
                              ca("destination"),
                              client_cert("destination")}),
                        {{"SOURCE_PASSWORD_FILE", secrets.file("src")}});
    require_copied(run, src, dst);
    require_secret_hidden(run, "src-pw");
    require_secret_hidden(run, "dst-pw");
  }
}
