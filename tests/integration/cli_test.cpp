// The command line as an operator meets it: --help documents every exit code and environment variable, the
// test support keeps the tool's variables out of children, and the logs (text or JSON, any level) never show
// a password.

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "helpers.hpp"
#include "support/redis_server.hpp"
#include "support/seed.hpp"

using namespace rmig::test;

namespace {

// `name` occurs in `text` as a whole word (not as part of a longer variable name such as CONNECT_TIMEOUT).
bool has_word(const std::string& text, const std::string& name) {
  auto word_char = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; };
  for (std::size_t at = text.find(name); at != std::string::npos; at = text.find(name, at + 1)) {
    const bool left = at == 0 || !word_char(text[at - 1]);
    const bool right = at + name.size() >= text.size() || !word_char(text[at + name.size()]);
    if (left && right) return true;
  }
  return false;
}

// Every environment variable the --help of `command` (empty: the copy) names with CLI11's "(Env:NAME)".
std::set<std::string> env_names_in_help(const std::string& command) {
  std::vector<std::string> args;
  if (!command.empty()) args.push_back(command);
  args.push_back("--help");
  RunResult r = run_tool(args, {}, 30s);
  INFO(r.describe());
  REQUIRE(r.exit_code == 0);
  std::set<std::string> names;
  const std::regex env_re("\\(Env:([A-Z0-9_]+)\\)");
  for (auto it = std::sregex_iterator(r.out.begin(), r.out.end(), env_re); it != std::sregex_iterator(); ++it)
    names.insert((*it)[1].str());
  return names;
}

struct Seeded {
  RedisServer src{ServerOptions{.requirepass = "Src-S3cret-pw"}};
  RedisServer dst{ServerOptions{.requirepass = "Dst-S3cret-pw"}};
  Seeded() {
    Client s = src.client();
    seed_mixed(s, {.count = 300, .ttl_fraction = 0.3});
  }
  std::vector<std::string> urls() const {
    return {src.url_as("", "Src-S3cret-pw"), dst.url_as("", "Dst-S3cret-pw")};
  }
};

void check_passwords_hidden(const ToolRun& run) {
  for (const char* secret : {"Src-S3cret-pw", "Dst-S3cret-pw"})
    require_secret_hidden(run, secret);
}

// Every non-empty line of stderr is one JSON object with a time, a level and a message.
void check_all_json(const std::string& err, std::set<std::string>& levels) {
  const auto lines = nonempty_lines(err);
  CHECK(!lines.empty());
  for (const auto& l : lines) {
    auto j = nlohmann::json::parse(l, nullptr, false);
    CHECK_MESSAGE(j.is_object(), "not a JSON object: " << l);
    if (!j.is_object()) continue;
    CHECK_MESSAGE(j.contains("time"), l);
    CHECK_MESSAGE(j.contains("msg"), l);
    CHECK_MESSAGE(j.contains("level"), l);
    if (j.contains("level") && j["level"].is_string()) levels.insert(j["level"].get<std::string>());
  }
}

}  // namespace

TEST_SUITE("cli") {
  TEST_CASE("--help lists every exit code and every environment variable of the README") {
    RunResult help = run_tool({"--help"}, {}, 30s);
    INFO(help.describe());
    REQUIRE(help.exit_code == 0);
    const std::string& text = help.out;
    // README "Exit codes": 0, 1, 2, 3, 4, 5, 70, 130 and 143, each on a line of the help's exit code list.
    const auto exit_section = text.find("Exit codes:");
    REQUIRE(exit_section != std::string::npos);
    const std::string exits = text.substr(exit_section);
    for (const char* code : {"0", "1", "2", "3", "4", "5", "70", "130"}) {
      CAPTURE(code);
      CHECK(std::regex_search(exits, std::regex(std::string("\\n  ") + code + " +[a-z]")));
    }
    CHECK(exits.find("143 by SIGTERM") != std::string::npos);
    CHECK(exits.find("internal error") != std::string::npos);

    // The variables of the README's option tables (copying, pacing, lock and state, TLS, cluster) and the
    // four names operators already use.
    const std::vector<std::string> readme_env = {"SOURCE_REDIS_URL",
                                                 "DESTINATION_REDIS_URL",
                                                 "DRY_RUN",
                                                 "REPLACE_DST_KEYS",
                                                 "CLEAN_UP",
                                                 "LOG_LEVEL",
                                                 "LOG_FORMAT",
                                                 "REPORT_JSON",
                                                 "PROGRESS_INTERVAL",
                                                 "WINDOW_KEYS",
                                                 "WINDOW_BYTES",
                                                 "SCAN_COUNT",
                                                 "CONNECT_TIMEOUT",
                                                 "TIMEOUT",
                                                 "RETRY_TIMEOUT",
                                                 "EXAMPLES",
                                                 "MODE",
                                                 "BIG_KEY_THRESHOLD",
                                                 "RATE_LIMIT",
                                                 "MAX_BYTES_PER_SEC",
                                                 "STATE_PREFIX",
                                                 "NO_LOCK",
                                                 "LOCK_TTL",
                                                 "STATE_FILE",
                                                 "RESTART",
                                                 "SOURCE_CLUSTER",
                                                 "DESTINATION_CLUSTER",
                                                 "READ_FROM",
                                                 "ON_CONFLICT",
                                                 "MERGE_PREFER",
                                                 "MATCH",
                                                 "EXCLUDE",
                                                 "TYPE",
                                                 "YES",
                                                 "SOURCE_PASSWORD_FILE",
                                                 "DESTINATION_PASSWORD_FILE",
                                                 "SOURCE_TLS_CA_FILE",
                                                 "SOURCE_TLS_CA_DIR",
                                                 "SOURCE_TLS_CERT",
                                                 "SOURCE_TLS_KEY",
                                                 "SOURCE_TLS_SERVER_NAME",
                                                 "SOURCE_TLS_INSECURE",
                                                 "DESTINATION_TLS_CA_FILE"};
    for (const auto& name : readme_env) {
      CAPTURE(name);
      CHECK(has_word(text, name));
    }
    // DEBUG=1 has no option of its own: the help says what it means.
    CHECK(text.find("DEBUG=1 (--log-level debug)") != std::string::npos);
    for (const char* sw :
         {"DRY_RUN=1 (--dry-run)", "REPLACE_DST_KEYS=1 (--replace)", "CLEAN_UP=1 (--cleanup)"})
      CHECK(text.find(sw) != std::string::npos);

    // verify's own variables (README "verify").
    RunResult verify = run_tool({"verify", "--help"}, {}, 30s);
    REQUIRE(verify.exit_code == 0);
    for (const char* name : {"TTL_TOLERANCE", "SAMPLE", "MAX_DIFFERENCES", "REPORT_JSON"}) {
      CAPTURE(name);
      CHECK(has_word(verify.out, name));
    }

    // What the help says the tool sends is true of the rewrite path too.
    CHECK(text.find("SCAN, PTTL, DUMP and RESTORE only") == std::string::npos);
    CHECK(text.find("never KEYS, MIGRATE, CONFIG, DEBUG or SYNC") != std::string::npos);
    CHECK(text.find("MEMORY USAGE, or the type's length where MEMORY is refused") != std::string::npos);
  }

  TEST_CASE("support: children never inherit a variable the tool reads") {
    // Every variable named in the help of every command must be on the list the test support clears,
    // or a developer's exported TIMEOUT or TYPE would silently change what a test copies.
    std::set<std::string> named;
    for (const char* command : {"", "plan", "verify", "cleanup", "status", "unlock", "cutover"}) {
      CAPTURE(command);
      const auto names = env_names_in_help(command);
      CHECK(!names.empty());
      named.insert(names.begin(), names.end());
    }
    // Read without an option of their own (DEBUG) or named in the help's environment section (the URLs).
    for (const char* name :
         {"DEBUG", "SOURCE_REDIS_URL", "DESTINATION_REDIS_URL", "SHARD_COUNT", "JOB_COMPLETION_INDEX"})
      named.insert(name);
    std::set<std::string> cleared;
    for (std::string_view v : kToolEnvVars)
      cleared.emplace(v);
    for (const auto& name : named) {
      CAPTURE(name);
      CHECK(cleared.count(name) == 1);
    }
    // ...and the list holds nothing the tool does not read (it would hide a typo).
    for (const auto& name : cleared) {
      CAPTURE(name);
      CHECK(named.count(name) == 1);
    }
  }

  TEST_CASE("JSON logs at trace level: every line is JSON, no password anywhere") {
    Seeded servers;
    auto args = servers.urls();
    for (const char* a : {"--log-format", "json", "--log-level", "trace", "--progress-interval", "0.05",
                          "--rate-limit", "1000"})
      args.push_back(a);
    auto run = run_copy(args);
    INFO(run.result.describe());
    REQUIRE(run.exit_code() == 0);
    CHECK(run.counter("copied") == 300);
    std::set<std::string> levels;
    check_all_json(run.result.err, levels);
    CHECK(levels.count("info") == 1);
    CHECK(levels.count("debug") == 1);  // trace includes debug
    // The summary and at least one progress line are among them, as JSON events.
    CHECK(run.result.err.find("\"event\":\"summary\"") != std::string::npos);
    CHECK(run.result.err.find("\"event\":\"progress\"") != std::string::npos);
    check_passwords_hidden(run);
  }

  TEST_CASE("DEBUG=1 turns on debug lines, in text and in JSON, and they show no password") {
    Seeded servers;
    {
      auto run = run_copy(servers.urls(), {{"DEBUG", "1"}});
      INFO(run.result.describe());
      REQUIRE(run.exit_code() == 0);
      CHECK(run.counter("copied") == 300);
      CHECK(!lines_with(run.result.err, " debug ").empty());
      check_passwords_hidden(run);
    }
    {
      Client d = servers.dst.client();
      d.flushall();
      auto run = run_copy(servers.urls(), {{"DEBUG", "1"}, {"LOG_FORMAT", "json"}});
      INFO(run.result.describe());
      REQUIRE(run.exit_code() == 0);
      std::set<std::string> levels;
      check_all_json(run.result.err, levels);
      CHECK(levels.count("debug") == 1);
      CHECK(levels.count("trace") == 0);
      check_passwords_hidden(run);
    }
    {
      // Without DEBUG, no debug line.
      Client d = servers.dst.client();
      d.flushall();
      auto run = run_copy(servers.urls());
      REQUIRE(run.exit_code() == 0);
      CHECK(lines_with(run.result.err, " debug ").empty());
    }
  }
}
