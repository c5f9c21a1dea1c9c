// --live and its options: parsed from the command line in any order and from the environment, checked, and
// the options a live run cannot honour refused before anything connects; the cutover command; the cut-over
// request and answer keys; the live object of the report and of the run record.

#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "app/cli.hpp"
#include "copy/live_report.hpp"
#include "state/checkpoint.hpp"
#include "state/cutover.hpp"
#include "state/lock.hpp"
#include "support/process.hpp"

using namespace rmig;

namespace {

// Clears every variable the tool reads, sets `vars`, and restores the old values afterwards.
class LiveEnv {
 public:
  explicit LiveEnv(std::initializer_list<std::pair<const char*, const char*>> vars = {}) {
    std::vector<std::string_view> names(test::kToolEnvVars.begin(), test::kToolEnvVars.end());
    names.insert(names.end(), {"RENAME", "RENAME_PREFIX"});  // read without an option of their own
    for (std::string_view name : names) {
      const std::string n(name);
      const char* old = std::getenv(n.c_str());
      saved_.emplace_back(n, old != nullptr ? std::optional<std::string>(old) : std::nullopt);
      unsetenv(n.c_str());
    }
    for (auto [k, v] : vars)
      setenv(k, v, 1);
  }
  ~LiveEnv() {
    for (auto& [k, v] : saved_) {
      if (v) {
        setenv(k.c_str(), v->c_str(), 1);
      } else {
        unsetenv(k.c_str());
      }
    }
  }
  LiveEnv(const LiveEnv&) = delete;
  LiveEnv& operator=(const LiveEnv&) = delete;

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

// Parses `args` with stderr captured: the configuration or the exit code, and what was printed.
struct Parsed {
  std::variant<app::Config, int> result;
  std::string err;
  int code() const { return std::holds_alternative<int>(result) ? std::get<int>(result) : -1; }
  const app::Config& cfg() const { return std::get<app::Config>(result); }
};

Parsed parse(std::vector<std::string> args) {
  args.insert(args.begin(), "redis-migrate");
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  char path[] = "/tmp/cli_live_test_XXXXXX";
  const int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  std::fflush(stderr);
  const int saved = dup(STDERR_FILENO);
  dup2(fd, STDERR_FILENO);
  Parsed p{app::parse_command_line(static_cast<int>(argv.size()), argv.data()), {}};
  std::fflush(stderr);
  dup2(saved, STDERR_FILENO);
  close(saved);
  close(fd);
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  p.err = ss.str();
  unlink(path);
  return p;
}

const std::string kSrc = "redis://127.0.0.1:6379/0";
const std::string kDst = "redis://127.0.0.1:6380/0";

bool has(const std::string& text, const std::string& what) { return text.find(what) != std::string::npos; }

// A refused command line: exit 2 and exactly one line on stderr, naming `conflict` and `fix`.
void check_refused(std::vector<std::string> args, const std::string& conflict, const std::string& fix) {
  CAPTURE(args);
  const Parsed p = parse(std::move(args));
  CAPTURE(p.err);
  CHECK(p.code() == 2);
  CHECK(std::count(p.err.begin(), p.err.end(), '\n') == 1);
  CHECK(has(p.err, conflict));
  CHECK(has(p.err, fix));
}

}  // namespace

TEST_SUITE("cli_live") {
  TEST_CASE("--live is off by default; the options fill CopyOptions::live") {
    LiveEnv env;
    auto plain = parse({kSrc, kDst});
    REQUIRE(plain.code() == -1);
    CHECK_FALSE(plain.cfg().copy.options.live.enabled);

    auto p = parse({kSrc, kDst, "--live"});
    REQUIRE(p.code() == -1);
    const engine::LiveOptions& l = p.cfg().copy.options.live;
    CHECK(l.enabled);
    CHECK(l.pending_max == 1'000'000);
    CHECK_FALSE(l.assume_notifications);
    CHECK(l.until_idle_s == 0);
    CHECK_FALSE(l.verify_at_cutover);
    CHECK_FALSE(l.resync_first);  // decided by the live preflight, never by the command line
  }

  TEST_CASE("every live option in any order around the URLs") {
    LiveEnv env;
    const std::vector<std::vector<std::string>> lines = {
        {"--live", "--live-pending-max", "5000", "--assume-notifications", "--until-idle", "30",
         "--verify-at-cutover", kSrc, kDst},
        {kSrc, "--until-idle", "30", kDst, "--verify-at-cutover", "--live-pending-max", "5000", "--live",
         "--assume-notifications"},
        {kSrc, kDst, "--assume-notifications", "--verify-at-cutover", "--until-idle=30",
         "--live-pending-max=5000", "--live"},
    };
    for (const auto& args : lines) {
      CAPTURE(args);
      auto p = parse(args);
      REQUIRE(p.code() == -1);
      const engine::LiveOptions& l = p.cfg().copy.options.live;
      CHECK(l.enabled);
      CHECK(l.pending_max == 5000);
      CHECK(l.assume_notifications);
      CHECK(l.until_idle_s == 30);
      CHECK(l.verify_at_cutover);
      CHECK(p.cfg().copy.source.endpoint.port == 6379);
      CHECK(p.cfg().copy.destination.endpoint.port == 6380);
    }
  }

  TEST_CASE("every live option from its environment variable; the command line wins") {
    LiveEnv env({{"LIVE", "1"},
                 {"LIVE_PENDING_MAX", "250"},
                 {"ASSUME_NOTIFICATIONS", "1"},
                 {"UNTIL_IDLE", "12"},
                 {"VERIFY_AT_CUTOVER", "true"}});
    auto p = parse({kSrc, kDst});
    REQUIRE(p.code() == -1);
    const engine::LiveOptions& l = p.cfg().copy.options.live;
    CHECK(l.enabled);
    CHECK(l.pending_max == 250);
    CHECK(l.assume_notifications);
    CHECK(l.until_idle_s == 12);
    CHECK(l.verify_at_cutover);

    auto q = parse({kSrc, kDst, "--live-pending-max", "7", "--until-idle", "3"});
    REQUIRE(q.code() == -1);
    CHECK(q.cfg().copy.options.live.pending_max == 7);
    CHECK(q.cfg().copy.options.live.until_idle_s == 3);
  }

  TEST_CASE("LIVE=0 and VERIFY_AT_CUTOVER=0 mean off") {
    LiveEnv env({{"LIVE", "0"}, {"VERIFY_AT_CUTOVER", "0"}, {"ASSUME_NOTIFICATIONS", "0"}});
    auto p = parse({kSrc, kDst});
    REQUIRE(p.code() == -1);
    CHECK_FALSE(p.cfg().copy.options.live.enabled);
    CHECK_FALSE(p.cfg().copy.options.live.verify_at_cutover);
  }

  TEST_CASE("numbers: --live-pending-max and --until-idle are whole numbers above 0") {
    LiveEnv env;
    for (const char* bad : {"0", "-5", "1.5", "abc", "99999999999999999999"}) {
      CAPTURE(bad);
      for (const char* opt : {"--live-pending-max", "--until-idle"}) {
        CAPTURE(opt);
        auto p = parse({kSrc, kDst, "--live", opt, bad});
        CHECK(p.code() == 2);
        CHECK(has(p.err, opt));
        CHECK(has(p.err, "give a whole number from 1"));
      }
    }
    LiveEnv env2({{"LIVE", "1"}, {"UNTIL_IDLE", "0"}});
    auto p = parse({kSrc, kDst});
    CHECK(p.code() == 2);
    CHECK(has(p.err, "UNTIL_IDLE"));
  }

  TEST_CASE("the live options without --live are refused, naming --live") {
    LiveEnv env;
    for (std::vector<std::string> opt : std::vector<std::vector<std::string>>{{"--live-pending-max", "10"},
                                                                              {"--until-idle", "5"},
                                                                              {"--verify-at-cutover"},
                                                                              {"--assume-notifications"}}) {
      std::vector<std::string> args = {kSrc, kDst};
      args.insert(args.end(), opt.begin(), opt.end());
      check_refused(args, opt.front(), "--live");
    }
    LiveEnv env2({{"UNTIL_IDLE", "5"}});
    check_refused({kSrc, kDst}, "UNTIL_IDLE", "--live");
  }

  TEST_CASE("options a live run cannot honour: one line each naming the conflict and the fix") {
    LiveEnv env;
    check_refused({kSrc, kDst, "--live", "--cleanup"}, "--cleanup", "redis-migrate cleanup");
    check_refused({"--live", "--dry-run", kSrc, kDst}, "--dry-run", "without --live");
    check_refused({"plan", "--live", kSrc, kDst}, "plan", "without --live");
    check_refused({kSrc, kDst, "--live", "--on-conflict", "merge"}, "--on-conflict merge",
                  "drop --on-conflict");
    check_refused({kSrc, kDst, "--on-conflict", "fail", "--live"}, "--on-conflict fail",
                  "drop --on-conflict");
    check_refused({kSrc, kDst, "--live", "--rename", "a:(.*)", "b:\\1"}, "--rename 'a:(.*)'",
                  "--rename-prefix");
    check_refused({kSrc, kDst, "--live", "--all-dbs"}, "--all-dbs", "one live run per database");
    check_refused({kSrc, kDst, "--live", "--shard", "0/2"}, "--shard 0/2", "drop --shard");
    check_refused({kSrc, kDst, "--live", "--read-from", "replicas"}, "--read-from replicas", "primaries");
    check_refused({kSrc, kDst, "--live", "--no-lock"}, "--no-lock", "drop --no-lock");
  }

  TEST_CASE("refusals from the environment name the variables") {
    {
      LiveEnv env({{"LIVE", "1"}, {"CLEAN_UP", "1"}});
      check_refused({kSrc, kDst}, "LIVE with CLEAN_UP", "cleanup");
    }
    {
      LiveEnv env({{"LIVE", "1"}, {"RENAME", "a:(.*) b:\\1"}});
      check_refused({kSrc, kDst}, "RENAME rule", "--rename-prefix");
    }
    {
      LiveEnv env({{"LIVE", "1"}, {"JOB_COMPLETION_INDEX", "1"}, {"SHARD_COUNT", "3"}});
      check_refused({kSrc, kDst}, "--shard 1/3", "JOB_COMPLETION_INDEX");
    }
    {
      LiveEnv env({{"LIVE", "1"}, {"DRY_RUN", "1"}});
      check_refused({kSrc, kDst}, "DRY_RUN", "without --live");
    }
  }

  TEST_CASE("what a live run takes: prefix renames, --replace, --on-conflict replace or skip, --state-file") {
    LiveEnv env;
    auto p = parse({kSrc, kDst, "--live", "--rename-prefix", "a:", "b:", "--replace", "--match", "a:*"});
    REQUIRE(p.code() == -1);
    CHECK(p.cfg().copy.options.live.enabled);
    CHECK(p.cfg().copy.options.conflict == engine::ConflictPolicy::kReplace);
    for (const char* policy : {"replace", "skip"}) {
      auto q = parse({kSrc, kDst, "--live", "--on-conflict", policy, "--state-file", "/tmp/x.json"});
      CHECK(q.code() == -1);
    }
  }

  TEST_CASE("cutover DESTINATION_URL: the command, its options in any order, its environment") {
    LiveEnv env;
    for (const auto& args :
         std::vector<std::vector<std::string>>{{"cutover", kDst, "--timeout", "5", "--state-prefix", "p:"},
                                               {"--timeout", "5", "cutover", "--state-prefix", "p:", kDst},
                                               {kDst, "--state-prefix", "p:", "cutover", "--timeout=5"}}) {
      CAPTURE(args);
      auto p = parse(args);
      REQUIRE(p.code() == -1);
      CHECK(p.cfg().command == app::Command::kCutover);
      CHECK(p.cfg().state.prefix == "p:");
      CHECK(p.cfg().state.cutover_timeout_s == 5);
      CHECK(p.cfg().copy.destination.endpoint.port == 6380);
    }
    {
      LiveEnv env2({{"CUTOVER_TIMEOUT", "2.5"}, {"DESTINATION_REDIS_URL", "redis://10.0.0.1:7000"}});
      auto p = parse({"cutover"});
      REQUIRE(p.code() == -1);
      CHECK(p.cfg().state.cutover_timeout_s == 2.5);
      CHECK(p.cfg().copy.destination.endpoint.port == 7000);
    }
    auto none = parse({"cutover"});
    CHECK(none.code() == 2);
    CHECK(has(none.err, "missing the destination URL"));
    auto bad = parse({"cutover", kDst, "--timeout", "-1"});
    CHECK(bad.code() == 2);
    auto two = parse({"cutover", kSrc, kDst});
    CHECK(two.code() == 2);
  }

  TEST_CASE("the cut-over request names the lease it is meant for; the answer key is under the prefix") {
    state::CutoverRequest r{"0123456789abcdef", R"({"host":"h","pid":1})", "2026-01-01T00:00:00Z", "h", 42};
    const auto back = state::parse_cutover_request(state::cutover_request_value(r));
    REQUIRE(back);
    CHECK(back->id == r.id);
    CHECK(back->lock == r.lock);
    CHECK(back->pid == 42);
    CHECK_FALSE(state::parse_cutover_request("not json"));
    CHECK_FALSE(state::parse_cutover_request(R"({"id":"0123","lock":""})"));
    CHECK_FALSE(state::parse_cutover_request(R"({"id":"ZZ","lock":"x"})"));
    CHECK(state::cutover_request_key("p:") == "p:live:cutover");
    CHECK(state::cutover_result_key("p:", "abc") == "p:live:cutover:abc");
  }

  TEST_CASE("a live run's lease says so; other leases do not") {
    const auto live = state::parse_lock_value(state::lock_value("redis-migrate --live a b", true), 1000);
    CHECK(live.lease);
    CHECK(live.live);
    const auto plain = state::parse_lock_value(state::lock_value("redis-migrate a b"), 1000);
    CHECK(plain.lease);
    CHECK_FALSE(plain.live);
    CHECK_FALSE(state::parse_lock_value(R"({"live":true})", 1000).live);  // not a lease at all
  }

  TEST_CASE("the report's live object and the run record's live state") {
    engine::LiveStats s;
    s.phase = engine::LiveStats::Phase::kLive;
    s.changes = 10;
    s.recopied = 7;
    s.deleted = 3;
    s.pending = 2;
    s.pending_max = 9;
    s.lag_ms = 15;
    s.lag_ms_max = 120;
    s.resyncs.push_back({"127.0.0.1:6379", "subscriber disconnected"});
    s.cutover = engine::CutoverCause::kSignal;
    s.cutover_ms = 250;
    const nlohmann::json j = copy::live_json(s);
    CHECK(j["changes"] == 10);
    CHECK(j["recopied"] == 7);
    CHECK(j["deleted"] == 3);
    CHECK(j["resyncs"]["count"] == 1);
    CHECK(j["resyncs"]["list"][0]["node"] == "127.0.0.1:6379");
    CHECK(j["resyncs"]["list"][0]["cause"] == "subscriber disconnected");
    CHECK(j["lag_ms_max"] == 120);
    CHECK(j["pending_max"] == 9);
    CHECK(j["cutover"] == "signal");
    CHECK(j["cutover_ms"] == 250.0);
    CHECK(copy::live_json(engine::LiveStats{})["cutover"].is_null());

    const nlohmann::json rec = state::live_record_json(s);
    CHECK(rec["phase"] == "live");
    CHECK(rec["lag_ms"] == 15);
    CHECK(rec["pending"] == 2);
    CHECK(rec["resyncs"] == 1);
    state::RunRecord r;
    r.id = "x";
    r.status = "running";
    r.live = rec;
    const auto back = state::RunRecord::from_json(r.to_json());
    REQUIRE(back);
    CHECK(back->live == rec);
    state::RunRecord plain;
    plain.id = "y";
    plain.status = "finished";
    CHECK_FALSE(plain.to_json().contains("live"));
  }

  TEST_CASE("a live run's fingerprint differs from a plain copy's of the same selection") {
    engine::RunSpec spec;
    const auto plain = state::run_id(state::fingerprint(spec, "copy"));
    spec.options.live.enabled = true;
    const auto live = state::run_id(state::fingerprint(spec, "copy"));
    CHECK(plain != live);
    spec.options.live.until_idle_s = 30;  // tuning: the same run
    CHECK(state::run_id(state::fingerprint(spec, "copy")) == live);
  }
}
