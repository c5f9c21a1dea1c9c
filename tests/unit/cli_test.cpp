#include "app/cli.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <initializer_list>
#include <string>
#include <variant>
#include <vector>

using namespace rmig;

namespace {

// Sets environment variables for the scope of a test and restores them afterwards.
class EnvGuard {
 public:
  EnvGuard(std::initializer_list<std::pair<const char*, const char*>> vars) {
    for (const char* name : kAll) {
      const char* old = std::getenv(name);
      saved_.emplace_back(name, old != nullptr ? std::optional<std::string>(old) : std::nullopt);
      unsetenv(name);
    }
    for (auto [k, v] : vars)
      setenv(k, v, 1);
  }
  ~EnvGuard() {
    for (auto& [k, v] : saved_) {
      if (v) {
        setenv(k.c_str(), v->c_str(), 1);
      } else {
        unsetenv(k.c_str());
      }
    }
  }

 private:
  static constexpr const char* kAll[] = {"SOURCE_REDIS_URL",
                                         "DESTINATION_REDIS_URL",
                                         "DRY_RUN",
                                         "DEBUG",
                                         "REPLACE_DST_KEYS",
                                         "CLEAN_UP",
                                         "LOG_LEVEL",
                                         "REPORT_JSON",
                                         "WINDOW_BYTES",
                                         "SOURCE_PASSWORD_FILE",
                                         "MODE",
                                         "BIG_KEY_THRESHOLD",
                                         "RENAME",
                                         "RENAME_PREFIX",
                                         "ALL_DBS"};
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

std::variant<app::Config, int> parse(std::vector<std::string> args) {
  args.insert(args.begin(), "redis-migrate");
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  return app::parse_command_line(static_cast<int>(argv.size()), argv.data());
}

}  // namespace

TEST_CASE("positional URLs, and defaults") {
  EnvGuard env({});
  auto r = parse({"redis://a:6379/1", "redis://b:6380/0"});
  REQUIRE(std::holds_alternative<app::Config>(r));
  auto& c = std::get<app::Config>(r);
  CHECK(c.copy.source.endpoint.host == "a");
  CHECK(c.copy.source.db == 1);
  CHECK(c.copy.destination.endpoint.port == 6380);
  CHECK_FALSE(c.copy.options.dry_run);
  CHECK(c.copy.options.conflict == engine::ConflictPolicy::kSkip);
  CHECK_FALSE(c.copy.options.cleanup);
  CHECK(c.log_level == spdlog::level::info);
  CHECK(c.copy.source.label == "source redis://a:6379/1");
}

TEST_CASE("URLs and switches from the environment") {
  EnvGuard env({{"SOURCE_REDIS_URL", "redis://:pw@src:1/2"},
                {"DESTINATION_REDIS_URL", "redis://dst:2"},
                {"DRY_RUN", "1"},
                {"DEBUG", "1"},
                {"REPLACE_DST_KEYS", "true"},
                {"CLEAN_UP", "1"}});
  auto r = parse({});
  REQUIRE(std::holds_alternative<app::Config>(r));
  auto& c = std::get<app::Config>(r);
  CHECK(c.copy.source.endpoint.host == "src");
  CHECK(c.copy.source.password == "pw");
  CHECK(c.copy.source.label.find("pw") == std::string::npos);
  CHECK(c.copy.destination.endpoint.host == "dst");
  CHECK(c.copy.options.dry_run);
  CHECK(c.copy.options.cleanup);
  CHECK(c.copy.options.conflict == engine::ConflictPolicy::kReplace);
  CHECK(c.log_level == spdlog::level::debug);
}

TEST_CASE("switches set to 0 stay off; flags on the command line win over the environment") {
  EnvGuard env({{"DRY_RUN", "0"}, {"REPLACE_DST_KEYS", "0"}, {"LOG_LEVEL", "warn"}, {"DEBUG", "0"}});
  auto r = parse({"redis://a", "redis://b", "--log-level", "error"});
  REQUIRE(std::holds_alternative<app::Config>(r));
  auto& c = std::get<app::Config>(r);
  CHECK_FALSE(c.copy.options.dry_run);
  CHECK(c.copy.options.conflict == engine::ConflictPolicy::kSkip);
  CHECK(c.log_level == spdlog::level::err);
}

TEST_CASE("usage errors exit with 2") {
  EnvGuard env({});
  CHECK(std::get<int>(parse({})) == 2);                                     // no URLs at all
  CHECK(std::get<int>(parse({"redis://a"})) == 2);                          // one URL
  CHECK(std::get<int>(parse({"redis://a", "redis://b", "--bogus"})) == 2);  // unknown option
  CHECK(std::get<int>(parse({"redis://a", "http://b"})) == 2);              // bad URL
  CHECK(std::get<int>(parse({"redis://a", "redis://b", "--window-bytes", "lots"})) == 2);
  CHECK(std::get<int>(parse({"redis://a", "redis://b", "--log-level", "loud"})) == 2);
  CHECK(std::get<int>(parse({"redis://a", "redis://b", "--source-tls-ca-file", "/x"})) ==
        2);  // TLS flag, plain URL
  CHECK(std::get<int>(parse({"redis://a", "redis://b", "--source-password-file", "/nonexistent/pw"})) == 2);
  EnvGuard bad({{"DEBUG", "maybe"}});
  CHECK(std::get<int>(parse({"redis://a", "redis://b"})) == 2);
}

TEST_CASE("--help and --version exit 0") {
  EnvGuard env({});
  CHECK(std::get<int>(parse({"--help"})) == 0);
  CHECK(std::get<int>(parse({"--version"})) == 0);
}

TEST_CASE("sizes") {
  CHECK(*app::parse_size("16MB") == 16'000'000);
  CHECK(*app::parse_size("16MiB") == 16u << 20);
  CHECK(*app::parse_size("512kib") == 512u * 1024);
  CHECK(*app::parse_size("1048576") == 1048576);
  CHECK(*app::parse_size("2g") == 2'000'000'000ull);
  CHECK_FALSE(app::parse_size("MB"));
  CHECK_FALSE(app::parse_size("12 parsecs"));
}

TEST_CASE("--mode and --big-key-threshold, from the command line or MODE / BIG_KEY_THRESHOLD") {
  {
    EnvGuard env({});
    auto r = parse({"redis://a", "redis://b"});
    REQUIRE(std::holds_alternative<app::Config>(r));
    CHECK(std::get<app::Config>(r).copy.options.mode == engine::CopyMode::kAuto);
    CHECK(std::get<app::Config>(r).copy.options.big_key_threshold == 64'000'000);
  }
  {
    EnvGuard env({});
    auto r = parse({"redis://a", "redis://b", "--mode", "rewrite", "--big-key-threshold", "1MiB"});
    REQUIRE(std::holds_alternative<app::Config>(r));
    CHECK(std::get<app::Config>(r).copy.options.mode == engine::CopyMode::kRewrite);
    CHECK(std::get<app::Config>(r).copy.options.big_key_threshold == 1u << 20);
  }
  {
    EnvGuard env({{"MODE", "dump"}, {"BIG_KEY_THRESHOLD", "0"}});
    auto r = parse({"plan", "redis://a", "redis://b"});
    REQUIRE(std::holds_alternative<app::Config>(r));
    CHECK(std::get<app::Config>(r).copy.options.mode == engine::CopyMode::kDump);
    CHECK(std::get<app::Config>(r).copy.options.big_key_threshold == 0);
  }
  EnvGuard env({});
  CHECK(std::get<int>(parse({"redis://a", "redis://b", "--mode", "fast"})) == 2);
  CHECK(std::get<int>(parse({"redis://a", "redis://b", "--big-key-threshold", "lots"})) == 2);
}

TEST_CASE("rename rules from RENAME_PREFIX and RENAME: ';' or newlines between rules, a space inside") {
  using Kind = select::RuleSpec::Kind;
  auto one_line = app::parse_rule_list("old: new:; legacy: leg: ;", Kind::kPrefix, "RENAME_PREFIX");
  REQUIRE(one_line);
  REQUIRE(one_line->size() == 2);
  CHECK((*one_line)[0].from == "old:");
  CHECK((*one_line)[0].to == "new:");
  CHECK((*one_line)[1].from == "legacy:");
  CHECK((*one_line)[1].to == "leg:");
  // With newlines, ';' belongs to the rule; the replacement may hold spaces.
  auto lines = app::parse_rule_list("a;b:(.*) x;\\1\n\n  c:(.*) the \\1\r\n", Kind::kRegex, "RENAME");
  REQUIRE(lines);
  REQUIRE(lines->size() == 2);
  CHECK((*lines)[0].kind == Kind::kRegex);
  CHECK((*lines)[0].from == "a;b:(.*)");
  CHECK((*lines)[0].to == "x;\\1");
  CHECK((*lines)[1].from == "c:(.*)");
  CHECK((*lines)[1].to == "the \\1");
  auto missing = app::parse_rule_list("old:", Kind::kPrefix, "RENAME_PREFIX");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == ExitCode::kUsage);
  CHECK(missing.error().message.find("RENAME_PREFIX") != std::string::npos);
  CHECK(app::parse_rule_list("", Kind::kPrefix, "RENAME_PREFIX")->empty());

  {
    EnvGuard env({{"RENAME_PREFIX", "old: new:"}, {"RENAME", "t:(.*) {t}:\\1"}});
    auto r = parse({"redis://a", "redis://b"});
    REQUIRE(std::holds_alternative<app::Config>(r));
    const auto& rules = std::get<app::Config>(r).copy.options.selection.rename;
    REQUIRE(rules);
    REQUIRE(rules->size() == 2);
    CHECK(rules->apply("old:1") == "new:1");
    CHECK(rules->apply("t:9") == "{t}:9");
    // The command line's rules replace the environment's.
    auto cli = parse({"redis://a", "redis://b", "--rename-prefix", "old:", "cli:"});
    REQUIRE(std::holds_alternative<app::Config>(cli));
    const auto& cli_rules = std::get<app::Config>(cli).copy.options.selection.rename;
    REQUIRE(cli_rules);
    CHECK(cli_rules->size() == 1);
    CHECK(cli_rules->apply("old:1") == "cli:1");
  }
  EnvGuard bad({{"RENAME", "no-replacement"}});
  CHECK(std::get<int>(parse({"redis://a", "redis://b"})) == 2);
  EnvGuard bad_regex({{"RENAME", "tenant:( x"}});
  CHECK(std::get<int>(parse({"redis://a", "redis://b"})) == 2);
}

TEST_CASE("--all-dbs belongs to copy and plan; verify and cleanup work on one database") {
  EnvGuard env({});
  auto copy_all = parse({"redis://a", "redis://b", "--all-dbs"});
  REQUIRE(std::holds_alternative<app::Config>(copy_all));
  CHECK(std::get<app::Config>(copy_all).copy.all_dbs);
  auto plan_all = parse({"plan", "redis://a", "redis://b", "--all-dbs"});
  REQUIRE(std::holds_alternative<app::Config>(plan_all));
  CHECK(std::get<app::Config>(plan_all).copy.all_dbs);
  CHECK(std::get<int>(parse({"verify", "redis://a", "redis://b", "--all-dbs"})) == 2);
  CHECK(std::get<int>(parse({"cleanup", "redis://a", "redis://b", "--all-dbs"})) == 2);
  EnvGuard all({{"ALL_DBS", "1"}});
  auto verify = parse({"verify", "redis://a", "redis://b"});
  REQUIRE(std::holds_alternative<app::Config>(verify));
  CHECK_FALSE(std::get<app::Config>(verify).copy.all_dbs);
}
