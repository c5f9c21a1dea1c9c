// Enum name tables (one per option enum, shared by the parser and the report), URLs whose password needs
// percent-encoding, password files, and the lease unlock may delete.

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "app/cli.hpp"
#include "app/url.hpp"
#include "state/lock.hpp"
#include "util/file_check.hpp"

using namespace rmig;

namespace {

// Every value of an enum whose values are 0..N-1 has exactly one name; name -> value -> name is the identity.
template <class E, std::size_t N>
void check_table(const std::array<NamedValue<E>, N>& table) {
  std::set<std::string> names;
  for (std::size_t i = 0; i < N; ++i) {
    const E v = static_cast<E>(i);
    const std::string name = name_of(table, v);
    CAPTURE(name);
    CHECK(name != "?");
    CHECK(names.insert(name).second);
    REQUIRE(value_of(table, name).has_value());
    CHECK(*value_of(table, name) == v);
    CHECK(std::string(name_of(table, *value_of(table, name))) == name);
  }
  CHECK(names.size() == N);
  CHECK(names_of(table).size() == N);
  CHECK_FALSE(value_of(table, "no-such-name").has_value());
  CHECK(std::string(name_of(table, static_cast<E>(N))) == "?");
}

std::variant<app::Config, int> parse(std::vector<std::string> args) {
  args.insert(args.begin(), "redis-migrate");
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  return app::parse_command_line(static_cast<int>(argv.size()), argv.data());
}

struct TempFiles {
  std::string dir;
  TempFiles() {
    char tmpl[] = "/tmp/rmig-unit-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    dir = tmpl;
  }
  ~TempFiles() { std::system(("rm -rf '" + dir + "'").c_str()); }
  TempFiles(const TempFiles&) = delete;
  TempFiles& operator=(const TempFiles&) = delete;
  std::string write(const std::string& name, const std::string& content) {
    const std::string path = dir + "/" + name;
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }
};

}  // namespace

TEST_CASE("every enum-to-name table round-trips name -> value -> name") {
  check_table(engine::kConflictPolicyNames);
  check_table(engine::kCopyModeNames);
  check_table(engine::kClusterModeNames);
  check_table(report::kLogFormatNames);
  check_table(app::kCommandNames);
}

TEST_CASE("the parser takes the table's names: every conflict policy and mode lands as given") {
  for (const auto& [policy, name] : engine::kConflictPolicyNames) {
    CAPTURE(name);
    auto r = parse({"--on-conflict", name, "redis://a", "redis://b"});
    REQUIRE(std::holds_alternative<app::Config>(r));
    const auto& c = std::get<app::Config>(r);
    CHECK(c.copy.options.conflict == policy);
    CHECK(std::string(name_of(engine::kConflictPolicyNames, c.copy.options.conflict)) == name);
  }
  for (const auto& [mode, name] : engine::kCopyModeNames) {
    auto r = parse({"--mode", name, "redis://a", "redis://b"});
    REQUIRE(std::holds_alternative<app::Config>(r));
    CHECK(std::get<app::Config>(r).copy.options.mode == mode);
  }
  for (const auto& [mode, name] : engine::kClusterModeNames) {
    auto r = parse({"--source-cluster", name, "--destination-cluster", name, "redis://a", "redis://b"});
    REQUIRE(std::holds_alternative<app::Config>(r));
    CHECK(std::get<app::Config>(r).copy.source_cluster == mode);
    CHECK(std::get<app::Config>(r).copy.destination_cluster == mode);
  }
  for (const auto& [format, name] : report::kLogFormatNames) {
    auto r = parse({"--log-format", name, "redis://a", "redis://b"});
    REQUIRE(std::holds_alternative<app::Config>(r));
    CHECK(std::get<app::Config>(r).log_format == format);
  }
  for (const auto& [command, name] : app::kCommandNames) {
    if (command == app::Command::kCopy) continue;
    std::vector<std::string> args = {name, "redis://b"};
    if (command != app::Command::kStatus && command != app::Command::kUnlock &&
        command != app::Command::kCutover)
      args.insert(args.begin() + 1, "redis://a");
    auto r = parse(args);
    REQUIRE(std::holds_alternative<app::Config>(r));
    CHECK(std::get<app::Config>(r).command == command);
  }
}

TEST_CASE("a password with @ / # ? unencoded: the error says how to encode each, never the password") {
  struct Case {
    const char* url;
    const char* password;
    std::vector<const char*> encoded;
  };
  const std::vector<Case> cases = {
      {"redis://:Xq7p@ssw0rdZ@127.0.0.1:7500/0", "Xq7p@ssw0rdZ", {"%40"}},
      {"redis://:Kw9a/Zz81@127.0.0.1:7500/0", "Kw9a/Zz81", {"%2F"}},
      {"redis://:Kw9a#Zz82@127.0.0.1:7500/0", "Kw9a#Zz82", {"%23"}},
      {"redis://:Kw9a?Zz83@127.0.0.1:7500/0", "Kw9a?Zz83", {"%3F"}},
      {"redis://user:Qs3cr/et#@?x9@127.0.0.1:7500/0", "Qs3cr/et#@?x9", {"%40", "%2F", "%23", "%3F"}},
      {"redis://u:1234/5678@h", "1234/5678", {"%2F"}},
      {"rediss://default:Jab3/Jde4@host:6380", "Jab3/Jde4", {"%2F"}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.url);
    auto r = app::parse_redis_url(c.url, "source URL");
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ExitCode::kUsage);
    const std::string& m = r.error().message;
    CAPTURE(m);
    CHECK(m.find("percent-encode") != std::string::npos);
    for (const char* e : c.encoded)
      CHECK(m.find(e) != std::string::npos);
    // Neither the password nor a piece of it either side of the reserved character.
    CHECK(m.find(c.password) == std::string::npos);
    const std::string pw = c.password;
    const std::size_t cut = pw.find_first_of("@/#?");
    CHECK(m.find(pw.substr(0, cut)) == std::string::npos);
    CHECK(m.find(pw.substr(cut + 1)) == std::string::npos);
  }
  // Encoded, the same passwords parse and come back decoded.
  auto ok = app::parse_redis_url("redis://user:Qs3cr%2Fet%23%40%3Fx9@127.0.0.1:7500/0", "source URL");
  REQUIRE(ok);
  CHECK(ok->password == "Qs3cr/et#@?x9");
  // A unix socket path may hold '@'; its password may hold reserved characters too.
  auto sock = app::parse_redis_url("unix://:pw@/tmp/redis@1.sock?db=2", "source URL");
  REQUIRE(sock);
  CHECK(sock->endpoint.path == "/tmp/redis@1.sock");
  CHECK(sock->password == "pw");
  auto sock_bad = app::parse_redis_url("unix://:Kw9a#Zz84@/tmp/redis.sock", "source URL");
  REQUIRE_FALSE(sock_bad);
  CHECK(sock_bad.error().message.find("%23") != std::string::npos);
  CHECK(sock_bad.error().message.find("Zz84") == std::string::npos);
  auto sock_slash = app::parse_redis_url("unix://:Kw9a/Zz85@/tmp/redis.sock", "source URL");
  REQUIRE_FALSE(sock_slash);
  CHECK(sock_slash.error().message.find("%2F") != std::string::npos);
  // No hint where the password holds none of them.
  auto plain = app::parse_redis_url("redis://:pw@127.0.0.1:x/0", "source URL");
  REQUIRE_FALSE(plain);
  CHECK(plain.error().message.find("percent-encode them") == std::string::npos);
}

TEST_CASE("password files: a regular file of at most 64 KB, one trailing newline stripped") {
  TempFiles t;
  auto password_from = [&](const std::string& path) -> std::variant<std::string, int> {
    auto r = parse({"--source-password-file", path, "redis://a", "redis://b"});
    if (std::holds_alternative<int>(r)) return std::get<int>(r);
    return std::get<app::Config>(r).copy.source.password;
  };
  CHECK(std::get<std::string>(password_from(t.write("one", "secret\n"))) == "secret");
  CHECK(std::get<std::string>(password_from(t.write("crlf", "secret\r\n"))) == "secret");
  CHECK(std::get<std::string>(password_from(t.write("none", "secret"))) == "secret");
  CHECK(std::get<std::string>(password_from(t.write("two", "secret\n\n"))) == "secret\n");
  CHECK(std::get<std::string>(password_from(t.write("max", std::string(64 * 1024, 'x')))) ==
        std::string(64 * 1024, 'x'));
  CHECK(std::get<int>(password_from(t.write("big", std::string(64 * 1024 + 1, 'x')))) == 2);
  CHECK(std::get<int>(password_from(t.write("empty", "\n"))) == 2);
  CHECK(std::get<int>(password_from("/dev/zero")) == 2);
  CHECK(std::get<int>(password_from(t.dir)) == 2);
  CHECK(std::get<int>(password_from(t.dir + "/missing")) == 2);
  const std::string fifo = t.dir + "/fifo";
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  CHECK(std::get<int>(password_from(fifo)) == 2);  // refused at once, never waits for a writer

  // The messages name the path and the problem.
  auto why = [](const std::string& path) {
    auto r = read_small_file(path, 64 * 1024, "--source-password-file " + path);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ExitCode::kUsage);
    CHECK(r.error().message.find(path) != std::string::npos);
    return r.error().message;
  };
  CHECK(why("/dev/zero").find("character device") != std::string::npos);
  CHECK(why(fifo).find("named pipe") != std::string::npos);
  CHECK(why(t.dir).find("directory") != std::string::npos);
  CHECK(why(t.dir + "/missing").find("does not exist") != std::string::npos);
  CHECK(why(t.dir + "/big").find("65537 bytes") != std::string::npos);
  CHECK(file_problem(t.dir + "/one").empty());
  CHECK(directory_problem(t.dir).empty());
  CHECK(directory_problem(t.dir + "/one").find("not a directory") != std::string::npos);
}

TEST_CASE("only the tool's own lease value counts as a lease") {
  CHECK(state::parse_lock_value(state::lock_value("redis-migrate a b"), 1000).lease);
  CHECK_FALSE(state::parse_lock_value("1", -1).lease);
  CHECK_FALSE(state::parse_lock_value("a user's value", -1).lease);
  CHECK_FALSE(state::parse_lock_value("{\"host\":\"h\",\"pid\":1}", -1).lease);
  CHECK_FALSE(state::parse_lock_value("{\"pid\":1,\"started_at\":\"t\"}", -1).lease);
  CHECK_FALSE(state::parse_lock_value("[1,2]", -1).lease);
  // A lease written by hand or by an older version, without a token, is still one.
  CHECK(state::parse_lock_value("{\"host\":\"h\",\"pid\":7,\"started_at\":\"t\",\"command\":\"copy\"}", -1)
            .lease);
  CHECK_FALSE(
      state::parse_lock_value("{\"host\":\"h\",\"pid\":\"1\",\"started_at\":\"t\",\"token\":\"x\"}", -1)
          .lease);
  CHECK(state::parse_lock_value("{\"host\":\"h\",\"pid\":1,\"started_at\":\"t\",\"token\":\"x\"}", -1).lease);
}
