// The command lines operators type first, in any order around the URLs and the subcommands, against real
// servers; and every bad value, file and URL answered with one line, exit code 2 and nothing written.

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <regex>
#include <set>
#include <string>
#include <vector>

#include "helpers.hpp"
#include "state/lock.hpp"
#include "support/certs.hpp"
#include "support/redis_server.hpp"

using namespace rmig::test;

namespace {

constexpr std::size_t kTtKeys = 120;
constexpr std::size_t kOtherKeys = 80;

// A source with kTtKeys keys under "tt:" and kOtherKeys under "other:", and an empty destination.
struct Servers {
  RedisServer src;
  RedisServer dst;
  Servers() {
    Client s = src.client();
    std::vector<Command> writes;
    for (std::size_t i = 0; i < kTtKeys; ++i)
      writes.push_back({"SET", "tt:" + std::to_string(i), "v" + std::to_string(i)});
    for (std::size_t i = 0; i < kOtherKeys; ++i)
      writes.push_back({"HSET", "other:" + std::to_string(i), "f", std::to_string(i)});
    s.pipeline_checked(writes);
  }
  std::set<std::string> dst_keys() {
    Client d = dst.client();
    auto keys = d.scan_all("*");
    std::set<std::string> out;
    for (auto& k : keys) {
      if (k.rfind("redis-migrate:", 0) != 0) out.insert(k);
    }
    return out;
  }
  void clear_dst() {
    Client d = dst.client();
    d.flushall();
  }
};

std::set<std::string> names(const std::string& prefix, std::size_t n) {
  std::set<std::string> out;
  for (std::size_t i = 0; i < n; ++i)
    out.insert(prefix + std::to_string(i));
  return out;
}

std::string joined(const std::vector<std::string>& args) {
  std::string s;
  for (const auto& a : args)
    s += a + " ";
  return s;
}

// Runs a command line that must be refused: exit 2, exactly one line on stderr (which must contain each of
// `says`), nothing on stdout, and neither server changed.
void check_refused(Servers& sv, const std::vector<std::string>& args, const std::vector<std::string>& says,
                   const EnvOverrides& env = {}) {
  Client s = sv.src.client();
  Client d = sv.dst.client();
  const long long src_before = s.dbsize();
  const long long dst_before = d.dbsize();
  RunResult r = run_tool(args, env, 20s);
  INFO(r.describe());
  CAPTURE(joined(args));
  CHECK_FALSE(r.timed_out);
  CHECK(r.exit_code == 2);
  const auto lines = nonempty_lines(r.err);
  CHECK(lines.size() == 1);
  CHECK(r.out.empty());
  for (const auto& want : says) {
    CAPTURE(want);
    CHECK(r.err.find(want) != std::string::npos);
  }
  CHECK(s.dbsize() == src_before);
  CHECK(d.dbsize() == dst_before);
}

}  // namespace

TEST_SUITE("cli_order") {
  TEST_CASE("--match and --rename-prefix before, between or after the URLs copy the same keys") {
    Servers sv;
    const std::string src = sv.src.url();
    const std::string dst = sv.dst.url();
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"--match", "tt:*", src, dst},
             {src, "--match", "tt:*", dst},
             {src, dst, "--match", "tt:*"},
             {"--match", "tt:*", "--", src, dst},
         }) {
      CAPTURE(joined(args));
      sv.clear_dst();
      // After "--" everything is a URL: the report option goes first.
      std::vector<std::string> with_report = args;
      TempDir report_dir("report");
      const std::string report = report_dir.file("report.json");
      with_report.insert(with_report.begin(), {"--report-json", report});
      RunResult r = run_tool(with_report, {}, 60s);
      INFO(r.describe());
      REQUIRE(r.exit_code == 0);
      CHECK(nlohmann::json::parse(read_file(report)).value("copied", std::size_t{0}) == kTtKeys);
      CHECK(sv.dst_keys() == names("tt:", kTtKeys));
    }
    auto renamed = names("tt:my-project:", kTtKeys);
    const auto others = names("other:", kOtherKeys);
    renamed.insert(others.begin(), others.end());
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"--rename-prefix", "tt:", "tt:my-project:", src, dst},
             {src, "--rename-prefix", "tt:", "tt:my-project:", dst},
             {src, dst, "--rename-prefix", "tt:", "tt:my-project:"},
         }) {
      CAPTURE(joined(args));
      sv.clear_dst();
      auto run = run_copy(args);
      INFO(run.result.describe());
      REQUIRE(run.exit_code() == 0);
      CHECK(sv.dst_keys() == renamed);
      Client d = sv.dst.client();
      CHECK(d.command({"GET", "tt:my-project:7"}).str == "v7");
    }
    // Both, and the subcommands in any position: verify finds the renamed copy equal, plan writes nothing.
    sv.clear_dst();
    {
      auto run = run_copy({"--rename-prefix", "tt:", "tt:my-project:", src, "--match", "tt:*", dst});
      INFO(run.result.describe());
      REQUIRE(run.exit_code() == 0);
      CHECK(sv.dst_keys() == names("tt:my-project:", kTtKeys));
    }
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"verify", "--match", "tt:*", "--rename-prefix", "tt:", "tt:my-project:", src, dst},
             {"--match", "tt:*", "verify", src, dst, "--rename-prefix", "tt:", "tt:my-project:"},
             {"--match", "tt:*", "--rename-prefix", "tt:", "tt:my-project:", src, dst, "verify"},
             {src, "verify", "--rename-prefix", "tt:", "tt:my-project:", dst, "--match", "tt:*"},
         }) {
      CAPTURE(joined(args));
      auto run = run_copy(args);
      INFO(run.result.describe());
      CHECK(run.exit_code() == 0);
      CHECK(run.counter("equal") == kTtKeys);
    }
    Client d = sv.dst.client();
    const long long before = d.dbsize();
    auto plan = run_copy({"--match", "other:*", src, "plan", dst});
    INFO(plan.result.describe());
    CHECK(plan.exit_code() == 0);
    CHECK(plan.counter("would_copy") == kOtherKeys);
    CHECK(d.dbsize() == before);
  }

  TEST_CASE("MATCH, EXCLUDE and TYPE from the environment: ';' or newlines, never inside brackets") {
    Servers sv;
    Client s = sv.src.client();
    s.pipeline_checked({{"SET", "ab", "1"}, {"SET", "ac", "2"}, {"SET", "a,", "3"}, {"SET", "ad", "4"}});
    const std::vector<std::string> urls = {sv.src.url(), sv.dst.url()};
    auto copy_with = [&](const EnvOverrides& env) {
      sv.clear_dst();
      auto run = run_copy(urls, env);
      INFO(run.result.describe());
      CHECK(run.exit_code() == 0);
      return sv.dst_keys();
    };
    // One pattern: the comma is inside the set.
    CHECK(copy_with({{"MATCH", "a[b,c]"}}) == std::set<std::string>{"ab", "ac", "a,"});
    auto tt_and_ad = names("tt:", kTtKeys);
    tt_and_ad.insert("ad");
    CHECK(copy_with({{"MATCH", "tt:*;ad"}}) == tt_and_ad);
    CHECK(copy_with({{"MATCH", "tt:*\nad\n"}}) == tt_and_ad);
    CHECK(copy_with({{"MATCH", "tt:*;a[d;x]"}, {"EXCLUDE", "tt:1*;tt:2*"}}).size() == 1 + kTtKeys - 31 - 11);
    CHECK(copy_with({{"TYPE", "hash"}, {"MATCH", "other:*;tt:*"}}) == names("other:", kOtherKeys));
    // The old comma-separated form is one pattern now, and the run says so.
    {
      sv.clear_dst();
      auto run = run_copy(urls, {{"MATCH", "ab,ac"}});
      INFO(run.result.describe());
      CHECK(run.exit_code() == 0);
      CHECK(run.result.err.find("MATCH='ab,ac' is one pattern") != std::string::npos);
      CHECK(sv.dst_keys().empty());
    }
    // A type that is not one refuses the run, naming it.
    check_refused(sv, urls, {"'strings'", "TYPE"}, {{"TYPE", "hash;strings"}});
  }

  TEST_CASE("bad numbers, state prefixes and password files: one line, exit 2, nothing written") {
    Servers sv;
    Client d = sv.dst.client();
    d.checked({"SET", "keep:me", "1"});
    const std::string src = sv.src.url();
    const std::string dst = sv.dst.url();
    auto with = [&](std::vector<std::string> extra) {
      std::vector<std::string> args = {src, dst};
      args.insert(args.end(), extra.begin(), extra.end());
      return args;
    };
    check_refused(sv, with({"--rate-limit", "-5"}), {"--rate-limit", "negative", "0 (no limit)"});
    check_refused(sv, with({"--rate-limit", "99999999999999999999"}), {"--rate-limit", "too large"});
    check_refused(sv, with({"--examples", "-1"}), {"--examples", "from 0 to"});
    check_refused(sv, with({"--timeout", "0"}), {"--timeout", "from 0.1 to"});
    check_refused(sv, with({"--progress-interval", "-1"}), {"--progress-interval", "0 (no progress lines)"});
    check_refused(sv, with({"--window-bytes", "999"}), {"--window-bytes", "from 1KB"});
    check_refused(sv, {"verify", src, dst, "--sample", "-3"}, {"--sample"});
    check_refused(sv, with({}), {"RATE_LIMIT", "negative"}, {{"RATE_LIMIT", "-5"}});
    check_refused(sv, with({"--state-prefix", ""}), {"--state-prefix must not be empty"});
    check_refused(sv, with({"--state-prefix", "tt:", "--match", "tt:*"}), {"--state-prefix 'tt:'", "'tt:*'"});
    check_refused(sv, {"unlock", "--state-prefix", "", dst}, {"--state-prefix must not be empty"});

    // Password files that are not small regular files, named in the message; a FIFO does not hang.
    TempDir dir("pwfiles");
    const std::string fifo = dir.file("fifo");
    REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
    write_file(dir.file("big"), std::string(64 * 1024 + 1, 'x'));
    for (const auto& [path, what] :
         std::vector<std::pair<std::string, std::string>>{{"/dev/zero", "character device"},
                                                          {fifo, "named pipe"},
                                                          {dir.path(), "directory"},
                                                          {dir.file("big"), "65537 bytes"},
                                                          {dir.file("missing"), "does not exist"}}) {
      check_refused(sv, with({"--destination-password-file", path}),
                    {"--destination-password-file " + path, what});
    }
    // The missing URL names the option that took it.
    check_refused(sv, {"--rename-prefix", "tt:", src, dst},
                  {"missing the destination URL", "--rename-prefix took"});
    CHECK(d.command({"GET", "keep:me"}).str == "1");
  }

  TEST_CASE("a password with an unencoded @ / # ?: the hint encodes each, the password is never printed") {
    Servers sv;
    for (const auto& [password, encoded] : std::vector<std::pair<std::string, std::string>>{
             {"Zx1@Yw2", "%40"}, {"Zx1/Yw2", "%2F"}, {"Zx1#Yw2", "%23"}, {"Zx1?Yw2", "%3F"}}) {
      const std::string bad = "redis://:" + password + "@" + sv.src.endpoint() + "/0";
      check_refused(sv, {bad, sv.dst.url()}, {"percent-encode", encoded});
      RunResult r = run_tool({bad, sv.dst.url()}, {}, 20s);
      CHECK(r.err.find(password) == std::string::npos);
      CHECK(r.err.find("Zx1") == std::string::npos);
      CHECK(r.err.find("Yw2") == std::string::npos);
    }
  }

  TEST_CASE("unlock deletes only the tool's own lease") {
    Servers sv;
    Client d = sv.dst.client();
    d.checked({"SET", "app:lock", "a user's value"});
    d.checked({"HSET", "cfg:lock", "f", "v"});
    check_refused(sv, {"unlock", "--yes", "--state-prefix", "app:", sv.dst.url()},
                  {"app:lock", "not a redis-migrate lease"});
    check_refused(sv, {"--state-prefix", "cfg:", "unlock", sv.dst.url(), "--yes"},
                  {"cfg:lock", "not a string"});
    CHECK(d.command({"GET", "app:lock"}).str == "a user's value");
    CHECK(d.command({"HGET", "cfg:lock", "f"}).str == "v");
    // A real lease goes.
    d.checked({"SET", "app:lock", rmig::state::lock_value("redis-migrate ..."), "PX", "60000"});
    RunResult r = run_tool({"unlock", sv.dst.url(), "--state-prefix", "app:", "--yes"}, {}, 20s);
    INFO(r.describe());
    CHECK(r.exit_code == 0);
    CHECK(d.command({"EXISTS", "app:lock"}).integer == 0);
  }

  TEST_CASE("TLS files: the real cause of each refusal, before anything is written") {
    const TestCerts& c = test_certs();
    Servers sv;
    RedisServer tls_src{ServerOptions{.tls = true, .tls_auth_clients = true}};
    const std::string src = tls_src.tls_url();
    const std::string dst = sv.dst.url();
    TempDir dir("tlsfiles");
    ::mkdir(dir.file("empty-ca-dir").c_str(), 0700);
    auto args = [&](std::vector<std::string> extra) {
      std::vector<std::string> a = {src, dst, "--source-tls-ca-file", c.ca_cert};
      a.insert(a.end(), extra.begin(), extra.end());
      return a;
    };
    const std::vector<std::string> client = {"--source-tls-cert", c.client_cert, "--source-tls-key",
                                             c.client_key};
    auto with_client = [&](std::vector<std::string> extra) {
      std::vector<std::string> a = client;
      a.insert(a.end(), extra.begin(), extra.end());
      return args(a);
    };
    check_refused(sv, with_client({"--source-tls-ca-dir", dir.file("no-such-dir")}),
                  {"--source-tls-ca-dir " + dir.file("no-such-dir"), "does not exist"});
    check_refused(sv, with_client({"--source-tls-ca-dir", dir.file("empty-ca-dir")}), {"openssl rehash"});
    check_refused(sv, with_client({"--source-tls-ca-dir", c.ca_cert}), {"not a directory"});
    check_refused(sv,
                  {src, dst, "--source-tls-ca-file", c.ca_key, "--source-tls-cert", c.client_cert,
                   "--source-tls-key", c.client_key},
                  {"--source-tls-ca-file " + c.ca_key, "holds no PEM certificate"});
    check_refused(sv,
                  {src, dst, "--source-tls-ca-file", c.dir, "--source-tls-cert", c.client_cert,
                   "--source-tls-key", c.client_key},
                  {"is a directory"});
    check_refused(
        sv, args({"--source-tls-cert", c.client_cert, "--source-tls-key", c.wrong_client_key}),
        {"--source-tls-key " + c.wrong_client_key + " does not match --source-tls-cert " + c.client_cert});
    check_refused(sv, args({"--source-tls-cert", c.client_cert, "--source-tls-key", c.client_cert}),
                  {"not a PEM private key"});
    check_refused(
        sv, args({"--source-tls-cert", c.expired_client_cert, "--source-tls-key", c.expired_client_key}),
        {"--source-tls-cert " + c.expired_client_cert, "expired on"});
    check_refused(sv, args({"--source-tls-cert", dir.file("missing.crt"), "--source-tls-key", c.client_key}),
                  {"--source-tls-cert " + dir.file("missing.crt"), "does not exist"});
    if (::geteuid() != 0) {
      write_file(dir.file("unreadable.key"), "x");
      ::chmod(dir.file("unreadable.key").c_str(), 0);
      check_refused(
          sv, args({"--source-tls-cert", c.client_cert, "--source-tls-key", dir.file("unreadable.key")}),
          {"permission denied"});
    }
    // The same files, right, copy.
    auto ok = run_copy(args(client));
    INFO(ok.result.describe());
    CHECK(ok.exit_code() == 0);
    CHECK(ok.counter("copied") == 0);  // the TLS source is empty: the connection is what is checked
  }

  TEST_CASE("the report names the conflict policy and the mode as given") {
    Servers sv;
    for (const char* policy : {"skip", "replace", "merge", "fail"}) {
      for (const char* mode : {"auto", "dump", "rewrite"}) {
        CAPTURE(policy);
        CAPTURE(mode);
        sv.clear_dst();
        auto run = run_copy(
            {sv.src.url(), sv.dst.url(), "--on-conflict", policy, "--mode", mode, "--match", "other:1*"});
        INFO(run.result.describe());
        CHECK(run.exit_code() == 0);
        CHECK(run.report.value("conflict_policy", std::string()) == policy);
        CHECK(run.report["path_detail"].value("mode", std::string()) == mode);
      }
    }
  }

  TEST_CASE("every numeric option in --help refuses a negative value with its range") {
    // Found in the help, so an option added later without a range in the table fails here.
    const std::regex numeric("\\n  (--[a-z-]+) (UINT|INT|FLOAT|SIZE)");
    std::size_t checked = 0;
    for (const char* command : {"", "plan", "verify", "cleanup", "status", "unlock"}) {
      std::vector<std::string> help_args;
      if (*command != '\0') help_args.push_back(command);
      help_args.push_back("--help");
      RunResult help = run_tool(help_args, {}, 20s);
      REQUIRE(help.exit_code == 0);
      for (auto it = std::sregex_iterator(help.out.begin(), help.out.end(), numeric);
           it != std::sregex_iterator(); ++it) {
        const std::string option = (*it)[1].str();
        CAPTURE(command);
        CAPTURE(option);
        std::vector<std::string> args;
        if (*command != '\0') args.push_back(command);
        args.insert(args.end(), {option, "-1", "redis://127.0.0.1:1/0"});
        if (std::string(command) != "status" && std::string(command) != "unlock")
          args.push_back("redis://127.0.0.1:2/0");
        RunResult r = run_tool(args, {}, 20s);
        CHECK(r.exit_code == 2);
        CHECK(r.err.find(option + ": '-1' is negative: give ") != std::string::npos);
        CHECK(r.err.find(" from ") != std::string::npos);
        ++checked;
      }
    }
    CHECK(checked >= 40);
  }
}
