// A live run's per-key work against real servers (copy/copy_task.hpp, copy/live_stage.hpp,
// scripts::restore_unless_equal, copy/live_preflight.hpp): jobs that re-copy a changed key (replacing the
// destination's copy, counted recopied), delete the destination name of a key gone from the source (removed),
// resync (compare before writing: unchanged, nothing written), and check orphans under a prefix rename. The
// live engine sets each job's mode from its key source; here a harness runs the copy task with every job in
// one mode, over a SCAN of the source or over a list of names (Engine::take_keys), so each mode is proven
// on its own.

#include <doctest/doctest.h>

#include <optional>
#include <set>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "app/cli.hpp"
#include "app/commands.hpp"
#include "copy/copy_task.hpp"
#include "copy/live_preflight.hpp"
#include "engine/drive.hpp"
#include "engine/engine.hpp"
#include "engine/sides.hpp"
#include "helpers.hpp"
#include "net/loop.hpp"
#include "resp/probe.hpp"
#include "state/run_state.hpp"
#include "support/compare.hpp"
#include "support/redis_server.hpp"
#include "support/versions.hpp"

using namespace rmig;
using namespace rmig::test;

namespace {

// The copy task with every job in `mode` (what the live engine does from QueuedKey::mode).
class ModeTask final : public engine::KeyTask {
 public:
  ModeTask(engine::KeyTask& inner, engine::LiveMode mode) : inner_(inner), mode_(mode) {}
  void attach(engine::Engine& engine) override {
    engine_ = &engine;
    inner_.attach(engine);
  }
  void start(uint32_t j) override {
    engine_->job(j).live = mode_;
    inner_.start(j);
  }
  void on_reply(uint32_t j, uint8_t op, resp::Reply reply) override {
    inner_.on_reply(j, op, std::move(reply));
  }
  void resend(uint32_t j) override { inner_.resend(j); }
  void give_up(uint32_t j) override { inner_.give_up(j); }
  void finished(uint32_t j) override { inner_.finished(j); }
  void room() override { inner_.room(); }

 private:
  engine::KeyTask& inner_;
  engine::LiveMode mode_;
  engine::Engine* engine_ = nullptr;
};

// The run spec the command line gives (`args` after the two URLs), as a live run's; `replace`: with the
// policy the live preflight sets.
engine::RunSpec spec_of(const std::string& src, const std::string& dst, std::vector<std::string> args,
                        bool replace = true) {
  std::vector<std::string> words = {"redis-migrate", src, dst};
  words.insert(words.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& w : words)
    argv.push_back(w.data());
  auto parsed = app::parse_command_line(static_cast<int>(argv.size()), argv.data());
  REQUIRE(std::holds_alternative<app::Config>(parsed));
  const app::Config& cfg = std::get<app::Config>(parsed);
  engine::RunSpec spec = cfg.copy;
  spec.state = app::state_options(cfg, "redis-migrate (live_copy test)");
  spec.options.run_id = "livecopy";
  // The test servers are Redis 7.0: no hash field TTLs on either side.
  spec.options.source_field_ttls = false;
  spec.options.destination.field_ttls = false;
  spec.options.live.enabled = true;
  if (replace) spec.options.conflict = engine::ConflictPolicy::kReplace;
  return spec;
}

struct ModeRun {
  report::Counters totals;
  std::optional<Error> fatal;
};

// Runs the copy task with every job in `mode` over `keys` (the source's SCAN when empty).
ModeRun run_mode(const std::string& src_url, const std::string& dst_url, engine::LiveMode mode,
                 std::vector<std::string> args = {}, std::vector<std::string> keys = {}) {
  engine::RunSpec spec = spec_of(src_url, dst_url, std::move(args));
  net::Loop loop;
  ModeRun out;
  {
    auto src = engine::open_connection(loop, spec.source);
    REQUIRE(src);
    auto dst = engine::open_connection(loop, spec.destination);
    REQUIRE(dst);
    auto facts = resp::probe_server(loop, **dst);
    REQUIRE(facts);
    auto sources = engine::open_sources(loop, spec, std::move(*src), false);
    REQUIRE(sources);
    auto destination = engine::open_destination(loop, spec, std::move(*dst), *facts, false);
    REQUIRE(destination);
    engine::CommandNeeds needs;
    needs.dump = true;
    needs.restore = true;
    needs.destination_delete = true;
    needs.live = true;
    REQUIRE(engine::check_commands(loop, *sources, *destination, needs, spec.options));
    copy::CopyTask task;
    ModeTask moded(task, mode);
    engine::Engine engine(loop, spec.options, std::move(*sources), std::move(*destination), spec.source,
                          spec.destination, moded);
    if (!keys.empty()) engine.take_keys({std::move(keys)});
    engine::EngineResult r = engine::drive(loop, engine, 0, 0, engine::ProgressStyle::kCopy);
    out.totals = r.total;
    out.fatal = r.fatal;
  }
  loop.close();
  return out;
}

// The live preflight of a run with `args`, on its own (nothing else of a run).
struct Preflight {
  Status status;
  engine::CopyOptions options;
};
Preflight preflight(const std::string& src_url, const std::string& dst_url, std::vector<std::string> args,
                    bool leave_running_record = false) {
  engine::RunSpec spec = spec_of(src_url, dst_url, std::move(args), false);
  Preflight out;
  net::Loop loop;
  {
    auto src = engine::open_connection(loop, spec.source);
    REQUIRE(src);
    auto dst = engine::open_connection(loop, spec.destination);
    REQUIRE(dst);
    auto facts = resp::probe_server(loop, **dst);
    REQUIRE(facts);
    auto sources = engine::open_sources(loop, spec, std::move(*src), false);
    REQUIRE(sources);
    auto destination = engine::open_destination(loop, spec, std::move(*dst), *facts, false);
    REQUIRE(destination);
    out.options = spec.options;
    out.status = copy::live_preflight(loop, spec, false, *sources, *destination, out.options);
    if (leave_running_record && out.status) {
      // A live run that starts and is killed: its record says "running", and nothing ends it.
      spec.state.lock = false;
      state::RunState state(loop, spec, "copy");
      REQUIRE(state.begin(*sources));
    }
  }
  loop.close();
  return out;
}

std::vector<std::string> names(const std::string& prefix, int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i)
    out.push_back(prefix + std::to_string(i));
  return out;
}

}  // namespace

TEST_SUITE("live_copy") {
  TEST_CASE(
      "apply: changed keys replace the destination's copies (recopied), keys gone from the source are "
      "deleted there (removed), big keys too") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_strings(src, 200, "k:");
    src.checked({"PEXPIRE", "k:1", "3600000"});
    src.checked({"HSET", "h", "a", "1", "b", "2"});
    seed_big_set(src, "big", 2000);  // over the threshold below: the rewrite path
    // The destination holds older copies of every key, and copies of keys the source no longer has.
    seed_strings(dst, 200, "k:", 30);
    dst.checked({"SET", "h", "stale"});
    dst.checked({"SADD", "big", "old"});
    seed_strings(dst, 20, "gone:");
    dst.checked({"SET", "{gone}:big", "x"});

    std::vector<std::string> keys = names("k:", 200);
    keys.push_back("h");
    keys.push_back("big");
    for (const auto& k : names("gone:", 20))
      keys.push_back(k);
    keys.push_back("never:there");  // gone from both sides
    const ModeRun run = run_mode(src_server.url(), dst_server.url(), engine::LiveMode::kApply,
                                 {"--big-key-threshold", "10000"}, keys);
    REQUIRE_FALSE(run.fatal);
    CHECK(run.totals.recopied == 202);
    CHECK(run.totals.rewritten == 1);
    CHECK(run.totals.copied == 0);
    CHECK(run.totals.removed == 20);
    CHECK(run.totals.vanished == 1);
    CHECK(run.totals.failed == 0);
    CHECK(run.totals.done() == run.totals.scanned);
    CHECK(dst.command({"EXISTS", "gone:0"}).integer == 0);
    CHECK(dst.command({"EXISTS", "{gone}:big"}).integer == 1);  // not among the jobs: left alone
    dst.checked({"DEL", "{gone}:big"});
    // Every source key is on the destination with its value and TTL, and nothing else is.
    require_same(compare_keyspaces(src, dst), 202);

    // A key deleted on the source, and one about to expire: both go from the destination.
    src.checked({"DEL", "k:5"});
    src.checked({"PEXPIRE", "k:6", "1"});
    std::this_thread::sleep_for(5ms);
    const ModeRun again =
        run_mode(src_server.url(), dst_server.url(), engine::LiveMode::kApply, {}, {"k:5", "k:6", "k:7"});
    REQUIRE_FALSE(again.fatal);
    CHECK(again.totals.removed == 2);
    CHECK(again.totals.recopied == 1);
    require_same(compare_keyspaces(src, dst), 199);
  }

  TEST_CASE(
      "resync: an unchanged keyspace is written nowhere (unchanged); changed values and TTLs are "
      "written again, keys gone from the source deleted") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_strings(src, 300, "k:");
    seed_strings(src, 50, "t:", 10, 3'600'000);
    src.checked({"HSET", "h", "a", "1", "b", "2"});
    src.checked({"RPUSH", "l", "x", "y", "z"});
    src.checked({"ZADD", "z", "1", "a", "2", "b"});
    seed_big_set(src, "s", 300);  // hashtable-encoded: its DUMP differs between servers
    const ToolRun first = run_copy({src_server.url(), dst_server.url(), "--progress-interval", "0"});
    REQUIRE(first.exit_code() == 0);
    const long long restores = command_calls(dst, "restore");
    const long long keys = user_dbsize(dst);
    REQUIRE(keys == 354);

    const ModeRun same = run_mode(src_server.url(), dst_server.url(), engine::LiveMode::kResync);
    REQUIRE_FALSE(same.fatal);
    CHECK(same.totals.unchanged == 354);
    CHECK(same.totals.recopied == 0);
    CHECK(same.totals.failed == 0);
    // Only the hashtable-encoded set was restored, under a temporary name, to compare: no key was written.
    CHECK(command_calls(dst, "restore") - restores == 1);
    CHECK(user_dbsize(dst) == keys);

    // Changes the live run did not hear of: values, a TTL moved, a TTL removed, a TTL added, a key deleted,
    // a key added, and a destination copy that has lost its TTL.
    src.checked({"SET", "k:1", "changed"});
    src.checked({"HSET", "h", "c", "3"});
    src.checked({"SADD", "s", "new-member"});
    src.checked({"PEXPIRE", "t:1", "7200000"});
    src.checked({"PERSIST", "t:2"});
    src.checked({"PEXPIRE", "k:3", "600000"});
    src.checked({"DEL", "k:4"});
    src.checked({"SET", "k:new", "v"});
    dst.checked({"PERSIST", "t:3"});
    std::vector<std::string> all;
    for (const auto& k : src.scan_all())
      all.push_back(k);
    all.push_back("k:4");  // the live engine's orphan scan brings such names; here the list does
    const ModeRun changed = run_mode(src_server.url(), dst_server.url(), engine::LiveMode::kResync, {}, all);
    REQUIRE_FALSE(changed.fatal);
    CHECK(changed.totals.recopied == 8);  // k:1 h s t:1 t:2 k:3 k:new t:3
    CHECK(changed.totals.removed == 1);
    CHECK(changed.totals.unchanged == 354 - 8);
    CHECK(changed.totals.done() == changed.totals.scanned);
    require_same(compare_keyspaces(src, dst), 354);
  }

  TEST_CASE(
      "resync on Redis 6.0 (no PEXPIRETIME: TIME + PTTL): equal expiries stay, a moved one is written") {
    RedisServer src_server(redis_6_0().options());
    RedisServer dst_server(redis_6_0().options());
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_strings(src, 40, "p:");
    seed_strings(src, 40, "t:", 10, 3'600'000);
    REQUIRE(run_copy({src_server.url(), dst_server.url(), "--progress-interval", "0"}).exit_code() == 0);
    const ModeRun same = run_mode(src_server.url(), dst_server.url(), engine::LiveMode::kResync);
    REQUIRE_FALSE(same.fatal);
    CHECK(same.totals.unchanged == 80);
    CHECK(same.totals.recopied == 0);
    src.checked({"PEXPIRE", "t:1", "3610000"});  // 10 s later than its copy's
    const ModeRun moved = run_mode(src_server.url(), dst_server.url(), engine::LiveMode::kResync);
    REQUIRE_FALSE(moved.fatal);
    CHECK(moved.totals.recopied == 1);
    CHECK(moved.totals.unchanged == 79);
    require_same(compare_keyspaces(src, dst), 80);
  }

  TEST_CASE(
      "orphan: under a prefix rename, a destination key whose source key is gone is deleted, the others "
      "stay") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_strings(src, 10, "a:");
    src.checked({"SET", "other", "1"});
    REQUIRE(run_copy({src_server.url(), dst_server.url(), "--rename-prefix", "a:", "b:", "--match", "a:*",
                      "--progress-interval", "0"})
                .exit_code() == 0);
    dst.checked({"SET", "c:1", "not selected"});
    src.checked({"DEL", "a:3", "a:7"});
    // The destination's names b:* renamed back: the orphan checks of a resync.
    const ModeRun run = run_mode(src_server.url(), dst_server.url(), engine::LiveMode::kOrphan,
                                 {"--rename-prefix", "a:", "b:", "--match", "a:*"}, names("a:", 10));
    REQUIRE_FALSE(run.fatal);
    CHECK(run.totals.removed == 2);
    CHECK(run.totals.scanned == 2);  // an orphan check of a key that exists counts nothing
    CHECK(run.totals.done() == run.totals.scanned);
    CHECK(dst.command({"EXISTS", "b:3"}).integer == 0);
    CHECK(dst.command({"EXISTS", "b:7"}).integer == 0);
    CHECK(dst.command({"EXISTS", "c:1"}).integer == 1);
    CompareOptions o;
    o.rename = [](const std::string& k) { return k.starts_with("a:") ? "b:" + k.substr(2) : k; };
    o.include = [](const std::string& k) { return k.starts_with("a:"); };
    o.check_extra_keys_on_dst = false;
    require_same(compare_keyspaces(src, dst, o), 8);
    CHECK(dst.command({"EXISTS", "other"}).integer == 0);

    // A destination name that renames back to a source name outside --match is not the selection's: never
    // deleted, whatever its source key.
    dst.checked({"SET", "z:1", "kept"});
    const ModeRun outside = run_mode(src_server.url(), dst_server.url(), engine::LiveMode::kOrphan,
                                     {"--rename-prefix", "a:", "b:", "--match", "a:*"}, {"z:1"});
    REQUIRE_FALSE(outside.fatal);
    CHECK(outside.totals.removed == 0);
    CHECK(outside.totals.scanned == 0);
    CHECK(dst.command({"GET", "z:1"}).str == "kept");

    // With --type, a source key now of a type left out is not selected either: its old copy goes.
    src.checked({"DEL", "a:1"});
    src.checked({"HSET", "a:1", "f", "v"});
    const ModeRun typed =
        run_mode(src_server.url(), dst_server.url(), engine::LiveMode::kOrphan,
                 {"--rename-prefix", "a:", "b:", "--match", "a:*", "--type", "string"}, {"a:1", "a:2"});
    REQUIRE_FALSE(typed.fatal);
    CHECK(typed.totals.removed == 1);
    CHECK(dst.command({"EXISTS", "b:1"}).integer == 0);
    CHECK(dst.command({"GET", "b:2"}).str == src.command({"GET", "a:2"}).str);
  }

  TEST_CASE(
      "preflight: a destination holding the selection's names is refused (exit 2) unless --replace, "
      "which resyncs; an interrupted live run resyncs") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_strings(src, 10, "a:");
    dst.checked({"SET", "x:1", "not selected"});

    // Nothing under the selection's names: the run goes on, its policy replace, no resync.
    const Preflight empty = preflight(src_server.url(), dst_server.url(), {"--match", "a:*"});
    REQUIRE(empty.status);
    CHECK(empty.options.conflict == engine::ConflictPolicy::kReplace);
    CHECK_FALSE(empty.options.live.resync_first);

    dst.checked({"SET", "a:old", "stale"});
    const Preflight held = preflight(src_server.url(), dst_server.url(), {"--match", "a:*"});
    REQUIRE_FALSE(held.status);
    CHECK(held.status.error().code == ExitCode::kUsage);
    const std::string msg = held.status.error().message;
    CHECK(contains(msg, "holds keys under the selection's names (e.g. \"a:old\")"));
    CHECK(contains(msg, "add --replace to overwrite them (nothing was written)"));
    CHECK(user_dbsize(dst) == 2);

    // Under a prefix rename the destination names count, not the source's.
    const Preflight renamed =
        preflight(src_server.url(), dst_server.url(), {"--match", "a:*", "--rename-prefix", "a:", "n:"});
    CHECK_MESSAGE(static_cast<bool>(renamed.status), (renamed.status ? "" : renamed.status.error().message));

    const Preflight replace = preflight(src_server.url(), dst_server.url(), {"--match", "a:*", "--replace"});
    REQUIRE(replace.status);
    CHECK(replace.options.live.resync_first);

    // A live run that never reached its cut-over (its record "running"): the next one resyncs, and the
    // destination's keys are its own, not a refusal.
    REQUIRE(preflight(src_server.url(), dst_server.url(), {"--match", "a:*", "--replace"}, true).status);
    const Preflight resumed = preflight(src_server.url(), dst_server.url(), {"--match", "a:*"});
    REQUIRE(resumed.status);
    CHECK(resumed.options.live.resync_first);
    // --restart ignores that record: the destination is refused again.
    CHECK_FALSE(preflight(src_server.url(), dst_server.url(), {"--match", "a:*", "--restart"}).status);
    CHECK(src.dbsize() == 10);
  }
}
