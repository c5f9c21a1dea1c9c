// The command line in any order, numeric values checked against one table, environment lists split like the
// rename variables, and the state prefix kept out of the selection.

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "app/cli.hpp"
#include "select/glob.hpp"
#include "support/process.hpp"

using namespace rmig;

namespace {

// Clears every variable the tool reads, sets `vars`, and restores the old values afterwards.
class CleanEnv {
 public:
  explicit CleanEnv(std::initializer_list<std::pair<const char*, const char*>> vars = {}) {
    for (std::string_view name : test::kToolEnvVars) {
      const std::string n(name);
      const char* old = std::getenv(n.c_str());
      saved_.emplace_back(n, old != nullptr ? std::optional<std::string>(old) : std::nullopt);
      unsetenv(n.c_str());
    }
    for (auto [k, v] : vars)
      setenv(k, v, 1);
  }
  ~CleanEnv() {
    for (auto& [k, v] : saved_) {
      if (v) {
        setenv(k.c_str(), v->c_str(), 1);
      } else {
        unsetenv(k.c_str());
      }
    }
  }
  CleanEnv(const CleanEnv&) = delete;
  CleanEnv& operator=(const CleanEnv&) = delete;

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

std::variant<app::Config, int> parse(std::vector<std::string> args) {
  args.insert(args.begin(), "redis-migrate");
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  return app::parse_command_line(static_cast<int>(argv.size()), argv.data());
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v)
    out += "[" + s + "]";
  return out;
}

// Everything a command line can set, as text: two configurations are the same when these are.
std::string describe(const app::Config& c) {
  const auto& o = c.copy.options;
  const auto& sel = o.selection;
  std::ostringstream s;
  s << "command=" << app::command_name(c.command) << " src=" << c.copy.source_url
    << " dst=" << c.copy.destination_url << " match=" << join(sel.match) << " exclude=" << join(sel.exclude)
    << " types=" << join(sel.types) << " own_prefix=" << sel.own_prefix
    << " conflict=" << static_cast<int>(o.conflict) << " mode=" << static_cast<int>(o.mode)
    << " dry_run=" << o.dry_run << " cleanup=" << o.cleanup << " window=" << o.window.keys << "/"
    << o.window.bytes << " scan=" << o.window.scan_count << " rate=" << o.rate_limit_keys << "/"
    << o.rate_limit_bytes << " examples=" << o.examples << " all_dbs=" << c.copy.all_dbs
    << " progress=" << c.copy.progress_interval_ms << " yes=" << c.yes << " report=" << c.report_json
    << " sample=" << c.verify.sample << " prefix=" << c.state.prefix << " no_lock=" << c.state.no_lock
    << " rules=";
  if (sel.rename) {
    for (int i = 0; i < sel.rename->size(); ++i)
      s << "{" << sel.rename->describe(i) << "}";
  }
  return s.str();
}

std::string config_of(const std::vector<std::string>& args) {
  auto r = parse(args);
  if (!std::holds_alternative<app::Config>(r)) return "exit " + std::to_string(std::get<int>(r));
  return describe(std::get<app::Config>(r));
}

// Every order of `groups` (an option with its values, a URL, a subcommand) as one argument list: the groups
// are permuted as wholes, so each option's values stay right after it.
std::vector<std::vector<std::string>> orders(std::vector<std::vector<std::string>> groups) {
  std::vector<std::size_t> idx(groups.size());
  for (std::size_t i = 0; i < idx.size(); ++i)
    idx[i] = i;
  std::vector<std::vector<std::string>> out;
  do {
    // Groups of one option keep their order among themselves: the order of rules and patterns is theirs.
    bool kept = true;
    for (std::size_t a = 0; a < idx.size(); ++a) {
      for (std::size_t b = a + 1; b < idx.size(); ++b) {
        if (idx[a] > idx[b] && groups[idx[a]].front() == groups[idx[b]].front()) kept = false;
      }
    }
    if (!kept) continue;
    std::vector<std::string> args;
    for (std::size_t i : idx)
      args.insert(args.end(), groups[i].begin(), groups[i].end());
    out.push_back(std::move(args));
  } while (std::next_permutation(idx.begin(), idx.end()));
  return out;
}

// All orders of `groups` parse to one configuration, and it is a valid one. The positional URLs keep their
// relative order (source first), so orders swapping them are left out.
void check_all_orders_equal(const std::vector<std::vector<std::string>>& groups, const std::string& src,
                            const std::string& dst, const std::string& must_contain) {
  std::optional<std::string> first;
  for (const auto& args : orders(groups)) {
    const auto s = std::find(args.begin(), args.end(), src);
    const auto d = std::find(args.begin(), args.end(), dst);
    if (s != args.end() && d != args.end() && d < s) continue;
    std::string joined;
    for (const auto& a : args)
      joined += a + " ";
    CAPTURE(joined);
    const std::string got = config_of(args);
    CHECK(got.find("exit ") != 0);
    CHECK(got.find(must_contain) != std::string::npos);
    if (!first) first = got;
    CHECK(got == *first);
  }
}

}  // namespace

TEST_CASE("options in any order around the URLs: the README's command lines") {
  CleanEnv env;
  const std::string src = "redis://127.0.0.1:7000/0";
  const std::string dst = "redis://127.0.0.1:7001/0";
  // The first command lines people type.
  check_all_orders_equal({{"--match", "tt:*"}, {src}, {dst}}, src, dst, "match=[tt:*]");
  check_all_orders_equal({{"--rename-prefix", "tt:", "tt:my-project:"}, {src}, {dst}}, src, dst,
                         "rules={prefix \"tt:\" -> \"tt:my-project:\"}");
  // Several repeatable options with their own arities, mixed with switches and the URLs.
  check_all_orders_equal({{"--match", "a:*"},
                          {"--match", "b:*"},
                          {"--exclude", "a:tmp:*"},
                          {"--type", "hash"},
                          {"--rename", "^b:(.*)$", "c:\\1"},
                          {src},
                          {dst}},
                         src, dst, "match=[a:*][b:*] exclude=[a:tmp:*] types=[hash]");
}

TEST_CASE("options in any order around a subcommand and its URLs") {
  CleanEnv env;
  const std::string src = "redis://127.0.0.1:7000/0";
  const std::string dst = "redis://127.0.0.1:7001/0";
  for (const char* command : {"plan", "verify", "cleanup"}) {
    CAPTURE(command);
    check_all_orders_equal({{command}, {"--match", "tt:*"}, {"--rename-prefix", "tt:", "x:"}, {src}, {dst}},
                           src, dst, std::string("command=") + command + " src=");
  }
  check_all_orders_equal({{"verify"}, {"--sample", "7"}, {src}, {dst}}, src, dst, "sample=7");
  check_all_orders_equal({{"status"}, {"--state-prefix", "mig:"}, {dst}}, "", dst, "command=status");
  check_all_orders_equal({{"unlock"}, {"--yes"}, {"--state-prefix", "mig:"}, {dst}}, "", dst, "yes=1");
  // A value that reads like a subcommand stays a value.
  CHECK(config_of({"--state-prefix", "plan", src, dst}).find("command=copy") == 0);
  CHECK(config_of({"--report-json", "verify", src, dst}).find("report=verify") != std::string::npos);
}

TEST_CASE("-- ends the options; a URL swallowed by an option is named when URLs are missing") {
  CleanEnv env;
  CHECK(config_of({"--match", "x*", "--", "redis://a", "redis://b"}).find("match=[x*]") != std::string::npos);
  // After --, an option name is a (bad) URL, not an option.
  CHECK(std::get<int>(parse({"--", "redis://a", "--dry-run"})) == 2);
  CHECK(std::get<int>(parse({"redis://a", "--rename-prefix", "tt:"})) == 2);
  // One URL given: the error names it (never a password), and the option that took the other.
  CHECK(std::get<int>(parse({"--rename-prefix", "tt:", "redis://:pw@a:1", "redis://b:2"})) == 2);
}

TEST_CASE("every numeric option refuses negative, overflowing, fractional-count and out-of-range values") {
  CleanEnv env;
  const std::vector<std::string> urls = {"redis://a", "redis://b"};
  // The command that takes the option: the first of these that accepts its smallest valid value (a live
  // run's options need --live).
  auto command_for = [&](const std::string& name, const std::string& valid) -> std::optional<std::string> {
    for (const char* c : {"", "verify", "cleanup", "--live"}) {
      std::vector<std::string> args;
      if (*c != '\0') args.push_back(c);
      args.insert(args.end(), {name, valid, urls[0], urls[1]});
      if (std::holds_alternative<app::Config>(parse(args))) return std::string(c);
    }
    return std::nullopt;
  };
  auto text = [](const app::NumericOption&, double v) {
    std::ostringstream s;
    s.precision(15);
    s << v;
    return s.str();
  };
  REQUIRE(app::numeric_options().size() >= 15);
  for (const app::NumericOption& o : app::numeric_options()) {
    CAPTURE(o.name);
    const auto command = command_for(o.name, text(o, o.min));
    REQUIRE_MESSAGE(command, "no command accepts the option's minimum");
    auto run = [&](const std::string& value) {
      std::vector<std::string> args;
      if (!command->empty()) args.push_back(*command);
      args.insert(args.end(), {o.name, value, urls[0], urls[1]});
      return parse(args);
    };
    auto refused = [&](const std::string& value) {
      CAPTURE(value);
      auto r = run(value);
      REQUIRE(std::holds_alternative<int>(r));
      CHECK(std::get<int>(r) == 2);
    };
    auto accepted = [&](const std::string& value) {
      CAPTURE(value);
      CHECK(std::holds_alternative<app::Config>(run(value)));
    };
    refused("-1");
    refused("-5");
    refused("99999999999999999999");
    refused("99999999999999999999999999999999999999999999");
    refused("ten");
    refused("");
    accepted(text(o, o.min));
    accepted(text(o, o.max));
    if (o.kind == app::NumericOption::Kind::kSize) {
      // Sizes are written with units; the limits are whole kilobytes.
      refused(text(o, o.max + 1));
      if (o.min >= 1000) accepted(std::to_string(static_cast<uint64_t>(o.min / 1000)) + "KB");
    } else {
      refused(text(o, o.max * 2 + 1));
      if (o.kind == app::NumericOption::Kind::kCount) refused("1.5");
    }
    if (o.min > 0) {
      if (o.zero != nullptr) {
        accepted("0");
      } else {
        refused("0");
      }
      if (o.kind == app::NumericOption::Kind::kSeconds) refused(text(o, o.min / 2));
    }
    // The message names the range in words.
    const std::string why = app::check_numeric(o, "-5");
    CHECK(why.find("negative") != std::string::npos);
    CHECK(why.find("from ") != std::string::npos);
    CHECK(app::check_numeric(o, text(o, o.min)).empty());
  }
}

TEST_CASE("the values the issue names") {
  CleanEnv env;
  auto code = [](std::vector<std::string> extra) {
    std::vector<std::string> args = {"redis://a", "redis://b"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = parse(args);
    return std::holds_alternative<int>(r) ? std::get<int>(r) : 0;
  };
  CHECK(code({"--rate-limit", "-5"}) == 2);
  CHECK(code({"--rate-limit", "99999999999999999999"}) == 2);
  CHECK(code({"--examples", "-1"}) == 2);
  CHECK(code({"--timeout", "0"}) == 2);
  CHECK(code({"--progress-interval", "-1"}) == 2);
  // Documented zeros keep their meaning.
  CHECK(code({"--progress-interval", "0", "--rate-limit", "0", "--big-key-threshold", "0", "--retry-timeout",
              "0", "--max-bytes-per-sec", "0"}) == 0);
  auto r = parse({"redis://a", "redis://b", "--window-bytes", "1KB"});
  REQUIRE(std::holds_alternative<app::Config>(r));
  CHECK(std::get<app::Config>(r).copy.options.window.bytes == 1000);
  CHECK(code({"--window-bytes", "999"}) == 2);
  CHECK(code({"--window-bytes", "20000000TB"}) == 2);
  // From the environment, the same checks.
  CleanEnv bad({{"RATE_LIMIT", "-5"}});
  CHECK(code({}) == 2);
  CHECK(app::check_numeric(app::numeric_options().front(), "-1").find("'-1' is negative: give ") == 0);
}

TEST_CASE("sizes: units up to TB, overflow refused") {
  CHECK(*app::parse_size("1KB") == 1000);
  CHECK(*app::parse_size("2TB") == 2'000'000'000'000ull);
  CHECK(*app::parse_size("1TiB") == 1ull << 40);
  CHECK_FALSE(app::parse_size("-1KB"));
  CHECK_FALSE(app::parse_size("20000000TB"));
  CHECK_FALSE(app::parse_size("18446744073709551616"));
}

TEST_CASE("environment lists: ';' or newlines, never inside a glob's brackets") {
  using L = std::vector<std::string>;
  CHECK(app::split_env_list("a:*;b:*") == L{"a:*", "b:*"});
  CHECK(app::split_env_list("a[b,c]") == L{"a[b,c]"});
  CHECK(app::split_env_list("a[b;c]*; d") == L{"a[b;c]*", "d"});
  CHECK(app::split_env_list("x\\;y;z") == L{"x\\;y", "z"});
  CHECK(app::split_env_list("a:*\n b;c \r\n\n") == L{"a:*", "b;c"});
  CHECK(app::split_env_list("a[\nb]\nc") == L{"a[\nb]", "c"});
  CHECK(app::split_env_list("[];x") == L{"[]", "x"});  // "[]" closes at once, as the server reads it
  CHECK(app::split_env_list("a[;b") == L{"a[", "b"});  // a set never closed protects nothing
  CHECK(app::split_env_list(" ; ;").empty());

  CleanEnv env({{"MATCH", "a[b,c];d:*"}, {"EXCLUDE", "a[b,c]x\nd:tmp:*"}, {"TYPE", "hash;string"}});
  auto r = parse({"redis://a", "redis://b"});
  REQUIRE(std::holds_alternative<app::Config>(r));
  const auto& sel = std::get<app::Config>(r).copy.options.selection;
  CHECK(sel.match == L{"a[b,c]", "d:*"});
  CHECK(sel.exclude == L{"a[b,c]x", "d:tmp:*"});
  CHECK(sel.types == L{"hash", "string"});
  {
    CleanEnv one({{"MATCH", "a[b,c]"}});
    auto m = parse({"redis://a", "redis://b"});
    REQUIRE(std::holds_alternative<app::Config>(m));
    CHECK(std::get<app::Config>(m).copy.options.selection.match == L{"a[b,c]"});
    // The command line's pattern is taken whole, and wins over the environment.
    auto c = parse({"--match", "x;y", "redis://a", "redis://b"});
    REQUIRE(std::holds_alternative<app::Config>(c));
    CHECK(std::get<app::Config>(c).copy.options.selection.match == L{"x;y"});
  }
  CleanEnv bad({{"TYPE", "hash;strings"}});
  CHECK(std::get<int>(parse({"redis://a", "redis://b"})) == 2);
  CHECK(std::get<int>(parse({"--type", "hash,string", "redis://a", "redis://b"})) == 2);
}

TEST_CASE("--state-prefix: not empty, and out of reach of every --match pattern") {
  CleanEnv env;
  for (const char* command : {"", "plan", "verify", "cleanup"}) {
    CAPTURE(command);
    auto with = [&](std::vector<std::string> extra) {
      std::vector<std::string> args;
      if (*command != '\0') args.push_back(command);
      args.insert(args.end(), extra.begin(), extra.end());
      args.insert(args.end(), {"redis://a", "redis://b"});
      auto r = parse(args);
      return std::holds_alternative<int>(r) ? std::get<int>(r) : 0;
    };
    CHECK(with({"--state-prefix", ""}) == 2);
    CHECK(with({"--state-prefix", "tt:", "--match", "tt:*"}) == 2);
    CHECK(with({"--state-prefix", "tt:state:", "--match", "tt:*"}) == 2);
    CHECK(with({"--state-prefix", "tt:", "--match", "t?:x*"}) == 2);
    CHECK(with({"--match", "redis-migrate:*"}) == 2);
    CHECK(with({"--state-prefix", "tt:", "--match", "other:*", "--match", "tt[:]*"}) == 2);
    // Patterns that cannot reach the prefix, and patterns that select across every prefix.
    CHECK(with({"--state-prefix", "mig:", "--match", "tt:*"}) == 0);
    CHECK(with({"--state-prefix", "tt:x", "--match", "tt:y*"}) == 0);
    CHECK(with({"--match", "*"}) == 0);
    CHECK(with({"--match", "*:session"}) == 0);
  }
  CHECK(std::get<int>(parse({"status", "--state-prefix", "", "redis://b"})) == 2);
  CHECK(std::get<int>(parse({"unlock", "--state-prefix", "", "redis://b"})) == 2);
  CleanEnv from_env({{"STATE_PREFIX", "tt:"}, {"MATCH", "x:*;tt:*"}});
  CHECK(std::get<int>(parse({"redis://a", "redis://b"})) == 2);
}

TEST_CASE("glob_may_match_prefixed") {
  CHECK(select::glob_may_match_prefixed("tt:*", "tt:"));
  CHECK(select::glob_may_match_prefixed("tt:*", "tt:state:"));
  CHECK(select::glob_may_match_prefixed("t*", "tt:"));
  CHECK(select::glob_may_match_prefixed("tt:abc", "tt:"));
  CHECK(select::glob_may_match_prefixed("*x", "anything"));
  CHECK(select::glob_may_match_prefixed("[a-c]t:*", "bt:"));
  CHECK(select::glob_may_match_prefixed("a\\*b*", "a*b:"));
  CHECK_FALSE(select::glob_may_match_prefixed("a\\*b*", "axb:"));
  CHECK_FALSE(select::glob_may_match_prefixed("tt:y*", "tt:x"));
  CHECK_FALSE(select::glob_may_match_prefixed("tt:?", "tt:ab"));
  CHECK_FALSE(select::glob_may_match_prefixed("[^b]t:*", "bt:"));
  CHECK_FALSE(select::glob_may_match_prefixed("abc", "abcd"));
}

TEST_CASE("the README's command lines parse, as written") {
  CleanEnv env;
  const std::string src = "redis://old-host:6379/0";
  const std::string dst = "rediss://:PASSWORD@new-host:6380/0";
  const std::vector<std::vector<std::string>> lines = {
      {"redis://old-host:6379/0", "rediss://:PASSWORD@new-host:6380/0"},
      {"redis://old-host:6379/0", "redis://cluster-node-1:6379"},
      {"redis://old-host:6379",
       "rediss://copier:PASSWORD@clustercfg.my-cache.abc123.use1.cache.amazonaws.com:6379"},
      {"--read-from", "replicas", "redis://src-cluster-node:6379", "redis://dst-cluster-node:6379"},
      {"plan", "redis://host:6379", "redis://host:6379", "--rename",
       "^tt:(agent|inbox|urgent|task|activity|stop):(.*)$", "tt:my-project:\\1:\\2", "--rename-prefix",
       "tt:backlog", "tt:my-project:backlog", "--match", "tt:*", "--exclude", "tt:my-project:*"},
      {"redis://host:6379", "redis://host:6379", "--cleanup", "--yes", "--rename",
       "^tt:(agent|inbox|urgent|task|activity|stop):(.*)$", "tt:my-project:\\1:\\2", "--rename-prefix",
       "tt:backlog", "tt:my-project:backlog", "--match", "tt:*", "--exclude", "tt:my-project:*"},
      {"redis://host:6379/1", "redis://host:6379/0", "--match", "storyart:session:*"},
      {"redis://host:6379/1", "redis://host:6379/0", "--match", "storyart:sessions:index", "--on-conflict",
       "merge", "--yes"},
      {"redis://old-host:6379", "redis://cluster-node:6379", "--rename", "tenant:([^:]+):(.*)",
       "{tenant:\\1}:\\2"},
      {"redis://old-host:6379/0",
       "rediss://:AUTH_TOKEN@master.my-cache.abc123.use1.cache.amazonaws.com:6379/0"},
      {"rediss://default:PASSWORD@eu1-happy-cat-12345.upstash.io:6379/0", "redis://new-host:6379/0"},
      {"plan", src, dst},
      {src, dst},
      {"verify", src, dst},
      {"cleanup", "--dry-run", src, dst},
      {"cleanup", src, dst},
      {"status", dst},
      {"unlock", dst},
      {"--report-json", "/tmp/report.json", src, dst},
  };
  for (const auto& args : lines) {
    CAPTURE(join(args));
    CHECK(std::holds_alternative<app::Config>(parse(args)));
  }
  // The recipe's rules, in their order, and its selection.
  auto r = parse(lines[5]);
  REQUIRE(std::holds_alternative<app::Config>(r));
  const auto& c = std::get<app::Config>(r);
  REQUIRE(c.copy.options.selection.rename);
  CHECK(c.copy.options.selection.rename->size() == 2);
  CHECK(c.copy.options.selection.rename->apply("tt:agent:7") == "tt:my-project:agent:7");
  CHECK(c.copy.options.selection.rename->apply("tt:backlog") == "tt:my-project:backlog");
  CHECK(c.copy.options.selection.match == std::vector<std::string>{"tt:*"});
  CHECK(c.copy.options.selection.exclude == std::vector<std::string>{"tt:my-project:*"});
  CHECK(c.copy.options.cleanup);
  CHECK(c.yes);
}
