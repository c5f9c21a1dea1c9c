#include "copy/copy_command.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>

#include "cluster/topology.hpp"
#include "copy/copy_task.hpp"
#include "copy/live_preflight.hpp"
#include "copy/live_report.hpp"
#include "copy/plan_task.hpp"
#include "copy/server_copy_task.hpp"
#include "engine/crew.hpp"
#include "engine/drive.hpp"
#include "engine/engine.hpp"
#include "engine/safety.hpp"
#include "engine/sides.hpp"
#include "net/loop.hpp"
#include "report/format.hpp"
#include "resp/probe.hpp"
#include "resp/server_error.hpp"
#include "select/rename.hpp"
#include "state/run_state.hpp"

namespace rmig::copy {

namespace {

using Clock = std::chrono::steady_clock;

// Whether the server takes the command a server-side copy would send (an ACL may deny COPY or MOVE, a
// managed service may rename or disable them): the command is tried on a key that does not exist, which
// changes nothing. A key outside the user's key patterns says nothing about the command: assumed allowed.
Result<bool> server_copy_allowed(net::Loop& loop, resp::Connection& c, const engine::CopyOptions& o,
                                 int dst_db) {
  const std::string key =
      (o.selection.own_prefix.empty() ? std::string("redis-migrate:") : o.selection.own_prefix) +
      "copy-probe:" + o.run_id;
  const std::string db = std::to_string(dst_db);
  std::string_view words[6];
  engine::Engine::Side side = engine::Engine::Side::kSource;
  const std::size_t n = ServerCopyTask::command(o, key, db, words, side);
  auto r = resp::call_sync(loop, c, resp::Args(words, words + n));
  if (!r) return r.error();
  if (!resp::is_error(r->get())) return true;
  const std::string_view msg = resp::text(r->get());
  if (resp::classify_error(msg) == resp::ServerError::kNoPermKey) return true;
  spdlog::warn("{}: {} refused ({}): keys go through DUMP/RESTORE instead", c.label(), words[0], msg);
  return false;
}

// --all-dbs: the destination has a database for the highest source DB with keys, checked before any is
// copied (CONFIG GET databases may be refused; SELECT is what the copy itself needs). When it has not, the
// destination's count is found with SELECT by bisection, for the message. The connection is left on the
// URL's database.
Status check_destination_dbs(net::Loop& loop, resp::Connection& dst, const resp::ConnectOptions& o,
                             int highest) {
  auto select = [&](int db) -> Result<bool> {
    auto r = resp::call_sync(loop, dst, {"SELECT", std::to_string(db)});
    if (!r) return r.error();
    if (!resp::is_error(r->get())) return true;
    const std::string_view msg = resp::text(r->get());
    if (resp::classify_error(msg) == resp::ServerError::kNoPerm) {
      return resp::permission_error(o, "select", msg, " (--all-dbs selects each database)");
    }
    return false;
  };
  auto top = select(highest);
  if (!top) return top.error();
  if (!*top) {
    int lo = 0, hi = highest;  // SELECT lo works (the URL's db 0), SELECT hi does not
    while (hi - lo > 1) {
      const int mid = lo + (hi - lo) / 2;
      auto ok = select(mid);
      if (!ok) return ok.error();
      (*ok ? lo : hi) = mid;
    }
    return make_error(
        ExitCode::kUsage,
        "--all-dbs: the source has keys in DB " + std::to_string(highest) + " but " + o.label + " has only " +
            std::to_string(hi) + " databases (0-" + std::to_string(hi - 1) +
            "): raise its 'databases' setting, or copy the databases it has one by one with /N in "
            "both URLs (nothing was copied)");
  }
  auto back = select(o.db);
  if (!back) return back.error();
  return {};
}

// How many event loops (threads) a pass runs on (--threads; docs/internals.md, "Threads"): one per source
// node by default, at most the cores available; one for a single source node (a standalone server), a live
// run, a server-side copy, a cleanup into an evicting destination (one key at a time) and a plan with rename
// rules (its collision detector is one loop's).
uint32_t event_loops(const engine::CopyOptions& o, const std::vector<engine::SourceNode>& sources,
                     bool server_copy, bool one_key_at_a_time) {
  const auto nodes = static_cast<uint32_t>(sources.size());
  if (server_copy || one_key_at_a_time || o.live.enabled || nodes <= 1) {
    if (o.threads > 1 && nodes <= 1 && !server_copy && !one_key_at_a_time) {
      spdlog::info("--threads {}: the source is one server, read by one event loop", o.threads);
    }
    return 1;
  }
  const bool renaming = o.selection.rename && !o.selection.rename->empty();
  if (o.dry_run && renaming) {
    if (o.threads > 1) {
      spdlog::info(
          "--threads {}: a plan with rename rules runs on one event loop (its collision check sees "
          "every name)",
          o.threads);
    }
    return 1;
  }
  if (o.threads == 0) return std::min(nodes, engine::available_cores());
  if (o.threads > nodes) {
    spdlog::info("--threads {}: the source has {} nodes, so {} event loops (one per node)", o.threads, nodes,
                 nodes);
    return nodes;
  }
  return o.threads;
}

// One pass of the engine: one source DB into one destination DB.
struct PassResult {  // NOLINT(bugprone-exception-escape): implicit moves of std containers and json
  engine::EngineResult result;
  PlanStats plan;
  bool interrupted = false;
  nlohmann::json run;  // the run record's section of the report (lock, id, resumed)
  report::BigKeys big_keys;
  engine::LiveStats live;       // --live: where the live phase ended
  uint32_t loops = 1;           // event loops (threads) the pass ran on
  std::size_t slots_moved = 0;  // a cluster source's slots a resharding moved during the pass
};

// A cluster source's slot map, or nullopt (said) when no node answers.
std::optional<cluster::Topology> source_slots(net::Loop& loop, const engine::RunSpec& spec, const char* when,
                                              const cluster::Topology* known = nullptr) {
  auto t = engine::read_slot_map(loop, spec.source, known);
  if (t) return std::move(*t);
  spdlog::warn("{}: cannot read the cluster's slots {} ({}): a resharding during the copy would go unnoticed",
               spec.source.label, when, t.error().message);
  return std::nullopt;
}

// SCAN sees only the keys that stay on a node for its whole iteration: slots that moved to another shard
// during the pass (a resharding) may have had keys migrated past both nodes' cursors. Says so in one line and
// returns how many; the pass itself ran as usual (its run record says finished, so the same copy run again
// starts from the beginning).
std::size_t check_slots_moved(net::Loop& loop, const engine::RunSpec& spec, const cluster::Topology& before,
                              const std::vector<report::SourceFailover>& failovers) {
  const auto after = source_slots(loop, spec, "again after the copy", &before);
  if (!after) return 0;
  std::vector<std::string> continued_on;
  for (const auto& f : failovers) {
    if (f.rescanned) continued_on.push_back(f.primary);
  }
  const select::Shard& part = spec.options.selection.shard;
  const auto moved = cluster::slots_moved(before, *after, static_cast<uint16_t>(part.first_slot()),
                                          part.end_slot(), continued_on);
  if (moved.empty()) return 0;
  spdlog::error(
      "{}: {} {} moved to another shard during the copy (a resharding): keys migrated meanwhile may be "
      "missing "
      "on the destination; run the same copy again once the resharding is over (existing keys are skipped) "
      "and "
      "check with redis-migrate verify",
      spec.source.label, moved.size() == 1 ? "slot" : report::thousands(moved.size()) + " slots",
      cluster::slot_ranges_text(moved));
  return moved.size();
}

enum class PassKind { kCopy, kPlan, kServerCopy };

// `spec`: the run as decided at start (its options' selection included); the pass reads `src_db` into
// `dst_db`.
Result<PassResult> run_pass(net::Loop& loop, const engine::RunSpec& spec, int src_db, int dst_db,
                            bool src_cluster, bool dst_cluster, PassKind kind, uint64_t* keys_estimate) {
  const engine::CopyOptions& options = spec.options;
  engine::RunSpec pass_cmd = spec;
  pass_cmd.source.db = src_db;
  pass_cmd.destination.db = dst_db;
  const resp::ConnectOptions& src_opts = pass_cmd.source;
  const resp::ConnectOptions& dst_opts = pass_cmd.destination;
  auto src = engine::open_connection(loop, src_opts);
  if (!src) return src.error();
  auto dst = engine::open_connection(loop, dst_opts);
  if (!dst) return dst.error();
  auto dst_facts = resp::probe_server(loop, **dst);
  if (!dst_facts) return dst_facts.error();
  // A cluster source's slots at start, compared with those at the end (check_slots_moved).
  std::optional<cluster::Topology> slots_at_start;
  if (src_cluster && kind == PassKind::kCopy && !options.live.enabled) {
    slots_at_start = source_slots(loop, pass_cmd, "at start");
  }
  auto sources = engine::open_sources(loop, pass_cmd, std::move(*src), src_cluster);
  if (!sources) return sources.error();
  auto destination = engine::open_destination(loop, pass_cmd, std::move(*dst), *dst_facts, dst_cluster);
  if (!destination) return destination.error();
  engine::CopyOptions engine_options = options;
  bool one_key_at_a_time = false;
  if (options.cleanup) {
    auto evicting = check_eviction_policy(loop, *destination, pass_cmd, "--cleanup");
    if (!evicting) return evicting.error();
    if (!evicting->empty() && kind == PassKind::kCopy) {
      // Other keys' writes could evict a copy between the reading that clears its deletion and the
      // deletion: one key at a time, nothing is written in between.
      engine_options.window.keys = 1;
      one_key_at_a_time = true;
      spdlog::warn("the destination evicts: --cleanup copies and deletes one key at a time{}",
                   options.threads > 1 ? ", on one event loop (--threads ignored)" : "");
    }
  }
  engine_options.watch_evictions = !options.dry_run && dst_facts->known;
  uint64_t keys = 0;
  for (const auto& n : *sources)
    keys += n.dbsize;
  *keys_estimate += keys;

  // Every command the pass will send that a server may refuse or not know, before the first write (the lock).
  engine::CommandNeeds needs;
  const bool dump_path = engine_options.mode != engine::CopyMode::kRewrite;
  if (kind == PassKind::kPlan) {
    needs.dump = dump_path;
  } else if (kind == PassKind::kCopy) {
    needs.dump = dump_path;
    needs.restore = dump_path;
    needs.string_writes = engine_options.string_writes;
    needs.source_scripts = engine_options.cleanup;
    needs.destination_scripts = engine_options.conflict == engine::ConflictPolicy::kMerge;
    needs.destination_delete = engine_options.mode != engine::CopyMode::kDump;
    needs.live = engine_options.live.enabled;
  } else {
    needs.source_scripts =
        engine_options.cleanup && engine_options.conflict == engine::ConflictPolicy::kReplace;
  }
  if (auto st = engine::check_commands(loop, *sources, *destination, needs, engine_options); !st) {
    return st.error();
  }
  if (auto st = live_preflight(loop, pass_cmd, src_cluster, *sources, *destination, engine_options); !st) {
    return st.error();
  }

  // The lease and the run record (one per database: the fingerprint names it); nothing for a plan.
  state::RunState state(loop, pass_cmd, "copy");
  if (auto st = state.begin(*sources); !st) return st.error();

  PassResult out;
  const uint32_t loops =
      event_loops(engine_options, *sources, kind == PassKind::kServerCopy, one_key_at_a_time);
  CopyTask copy_task;
  PlanTask plan_task;
  ServerCopyTask server_copy_task(dst_db);
  std::unique_ptr<engine::Runner> runner;  // after the tasks: an engine never outlives its task
  if (loops > 1) {
    // One task per loop (made on its thread); what the tasks found is added up as each loop ends.
    auto crew = std::make_unique<engine::Crew>(
        loop, engine_options, std::move(*sources), std::move(*destination), src_opts, dst_opts, loops,
        [kind]() -> std::unique_ptr<engine::KeyTask> {
          if (kind == PassKind::kPlan) return std::make_unique<PlanTask>();
          return std::make_unique<CopyTask>();
        },
        [&out, kind](engine::KeyTask& t) {
          const report::BigKeys& big = kind == PassKind::kPlan ? static_cast<PlanTask&>(t).big_keys()
                                                               : static_cast<CopyTask&>(t).big_keys();
          for (const auto& k : big.listed())
            out.big_keys.add(k);
          if (kind == PassKind::kPlan) out.plan += static_cast<PlanTask&>(t).stats();
        });
    spdlog::info("{}", crew->spread_text());
    out.loops = static_cast<uint32_t>(crew->loops());
    runner = std::move(crew);
  } else {
    engine::KeyTask& task = kind == PassKind::kPlan         ? static_cast<engine::KeyTask&>(plan_task)
                            : kind == PassKind::kServerCopy ? static_cast<engine::KeyTask&>(server_copy_task)
                                                            : copy_task;
    runner = std::make_unique<engine::Engine>(loop, engine_options, std::move(*sources),
                                              std::move(*destination), src_opts, dst_opts, task);
  }
  engine::Runner& engine = *runner;
  state.attach(engine);
  out.result = engine::drive(loop, engine, keys, spec.progress_interval_ms, engine::ProgressStyle::kCopy);
  if (engine_options.live.enabled) out.live = engine.live_stats();
  if (loops == 1) {
    out.plan = plan_task.stats();
    out.big_keys = kind == PassKind::kPlan ? plan_task.big_keys() : copy_task.big_keys();
  }
  out.interrupted = out.result.signal != 0;
  if (slots_at_start && !out.result.fatal && out.result.signal == 0) {
    out.slots_moved = check_slots_moved(loop, pass_cmd, *slots_at_start, out.result.source_failovers);
  }
  if (state.active()) {
    report::RunReport pass_report;
    pass_report.totals = out.result.total;
    pass_report.fatal = out.result.fatal;
    pass_report.signal = out.result.signal;
    ExitCode code = report::copy_exit_code(pass_report.totals, pass_report.fatal, pass_report.signal);
    if (out.slots_moved > 0 && code == ExitCode::kOk) code = ExitCode::kKeysFailed;
    state.end(pass_report, code, engine.checkpoint());
    out.run = state.report_section();
  }
  return out;
}

nlohmann::json plan_json(const PlanStats& s, const engine::Selection& sel,
                         const std::vector<std::pair<int, uint64_t>>& by_db) {
  nlohmann::json j;
  nlohmann::json types = nlohmann::json::object();
  for (const auto& [t, n] : s.by_type)
    types[t] = n;
  j["by_type"] = types;
  nlohmann::json rules = nlohmann::json::array();
  for (const auto& [rule, n] : s.by_rule) {
    rules.push_back(
        {{"rule", rule < 0 || !sel.rename ? std::string("name unchanged") : sel.rename->describe(rule)},
         {"keys", n}});
  }
  j["by_rule"] = rules;
  nlohmann::json actions = nlohmann::json::object();
  for (const auto& [a, n] : s.actions)
    actions[a] = n;
  j["actions"] = actions;
  nlohmann::json dbs = nlohmann::json::object();
  for (const auto& [db, n] : by_db)
    dbs[std::to_string(db)] = n;
  j["by_db"] = dbs;
  nlohmann::json collisions = nlohmann::json::array();
  for (const auto& c : s.collisions)
    collisions.push_back(c.message());
  j["collisions"] = collisions;
  j["collision_count"] = s.collision_count;
  j["collision_check_partial"] = s.collisions_partial;
  return j;
}

void log_plan(const PlanStats& s, const engine::Selection& sel) {
  std::string types;
  for (const auto& [t, n] : s.by_type)
    types += " " + t + " " + report::thousands(n);
  if (!types.empty()) spdlog::info("plan by type:{}", types);
  if (sel.rename) {
    for (const auto& [rule, n] : s.by_rule) {
      spdlog::info("plan rule {}: {} keys",
                   rule < 0 ? std::string("(name unchanged)") : sel.rename->describe(rule),
                   report::thousands(n));
    }
  }
  for (const auto& c : s.collisions)
    spdlog::error("{}", c.message());
}

// What the rewrite path may use on the destination. Valkey is 7.2 or later; an unknown version is assumed
// current (a refused command then fails the key with the server's message).
engine::DestinationTraits destination_traits(const resp::ServerFacts& dst) {
  const resp::ServerVersion& v = dst.version;
  engine::DestinationTraits t;
  t.field_ttls = v.has_field_ttls();
  if (dst.known && !v.text.empty()) t.server = v.name();
  if (v.valkey() || !v.known()) return t;
  t.stream_metadata = v.at_least(7, 0);
  t.create_consumer = v.at_least(6, 2);
  return t;
}

nlohmann::json server_json(const resp::ServerFacts& f) {
  return {
      {"server", f.version.server()}, {"version", f.version.text}, {"rdb_version", f.version.rdb_version()}};
}

// Says before the run which path the keys will take, from both servers' versions (INFO server) and the
// RDB version each writes. In auto mode the run starts with DUMP/RESTORE all the same and switches on the
// first refused payload: the table can be behind a server release, the destination cannot.
void plan_path(report::RunReport& rep, const engine::CopyOptions& o, const resp::ServerFacts& src,
               const resp::ServerFacts& dst) {
  const int src_rdb = resp::rdb_version(src);
  const int dst_rdb = resp::rdb_version(dst);
  auto side = [](const resp::ServerFacts& f, int rdb) {
    return resp::server_name(f) + ", RDB " + (rdb > 0 ? std::to_string(rdb) : std::string("unknown"));
  };
  const std::string dst_text = "the destination (" + side(dst, dst_rdb) + ")";
  const std::string src_text = "the source (" + side(src, src_rdb) + ")";
  std::string why;
  const std::optional<bool> reads = resp::reads_payloads(src, dst, &why);
  const bool known = reads.has_value();
  const bool readable = known && *reads;
  std::string expected;
  std::string text;
  switch (o.mode) {
    case engine::CopyMode::kRewrite:
      expected = "rewrite";
      text = "rewrite path for every key (--mode rewrite)";
      break;
    case engine::CopyMode::kDump:
      expected = "dump";
      text = "dump path for every key (--mode dump)";
      if (known && !readable) text += "; " + why + ": keys will fail, use --mode auto";
      break;
    case engine::CopyMode::kAuto:
      if (!known) {
        expected = "dump";
        text =
            "dump path, switching to the rewrite path if the destination refuses a payload (versions "
            "not known: " +
            side(src, src_rdb) + " -> " + side(dst, dst_rdb) + ")";
      } else if (!readable) {
        expected = "rewrite";
        text = "rewrite path: " + (src_rdb > dst_rdb ? dst_text + " cannot read DUMP payloads of " + src_text
                                                     : "the destination " + why);
      } else {
        expected = "dump";
        text = "dump path: " + dst_text + " reads DUMP payloads of " + src_text;
      }
      if (o.big_key_threshold > 0) {
        text += "; big keys over the threshold (" + report::human_bytes(o.big_key_threshold) + "): rewrite";
      }
      break;
  }
  // Hashes with field TTLs: what becomes of their TTLs (the plan counts them from their DUMP payloads).
  std::string field_ttls;
  if (!o.source_field_ttls) {
    field_ttls = "none: the source (" + resp::server_name(src) + ") has no hash field expiration";
  } else if (expected == "dump" && (known || o.mode == engine::CopyMode::kDump)) {
    field_ttls = "carried in their DUMP payloads (dump path)";
  } else if (o.destination.field_ttls) {
    field_ttls = expected == "dump"
                     ? "carried in their DUMP payloads, or recreated (HPEXPIREAT) if the "
                       "destination refuses a payload"
                     : "recreated on the rewrite path (HPTTL -> HPEXPIREAT, to the millisecond)";
  } else if (o.drop_field_ttls) {
    field_ttls =
        "dropped (--drop-field-ttls): their fields are copied without TTLs, counted field_ttls_dropped";
  } else {
    field_ttls = "such hashes will FAIL: the destination (" + resp::server_name(dst) +
                 ") has no hash field expiration; --drop-field-ttls copies their fields without the TTLs";
  }
  rep.path = text;
  rep.path_detail = {{"mode", name_of(engine::kCopyModeNames, o.mode)},
                     {"expected", expected},
                     {"big_key_threshold", o.mode == engine::CopyMode::kAuto ? o.big_key_threshold : 0},
                     {"field_ttls", field_ttls},
                     {"source", server_json(src)},
                     {"destination", server_json(dst)}};
  spdlog::info("path: {}", text);
}

std::string random_run_id() {
  std::random_device rd;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(8, '0');
  for (auto& c : id)
    c = kHex[rd() % 16];
  return id;
}

}  // namespace

report::RunReport run_copy(const CopyCommand& cmd) {
  const auto started = Clock::now();
  report::RunReport rep;
  rep.command = cmd.options.dry_run ? "plan" : "copy";
  rep.source = cmd.source_url;
  rep.destination = cmd.destination_url;
  rep.dry_run = cmd.options.dry_run;
  // A live run replaces, whatever was given (copy/live_preflight.hpp).
  rep.conflict_policy =
      name_of(engine::kConflictPolicyNames,
              cmd.options.live.enabled ? engine::ConflictPolicy::kReplace : cmd.options.conflict);
  rep.cleanup = cmd.options.cleanup;
  auto finish = [&](report::RunReport& r) -> report::RunReport {
    r.duration_s = std::chrono::duration<double>(Clock::now() - started).count();
    r.exit_code = report::copy_exit_code(r.totals, r.fatal, r.signal);
    // A resharding during the copy (check_slots_moved): keys may be missing.
    if (r.exit_code == ExitCode::kOk && r.extra.contains("source_slots_moved"))
      r.exit_code = ExitCode::kKeysFailed;
    return std::move(r);
  };
  auto failed = [&](const Error& e) {
    rep.fatal = e;
    return finish(rep);
  };

  net::Loop loop;
  {
    engine::RunSpec spec = cmd;  // as decided at start: the selection, the servers' traits, the run id
    engine::CopyOptions& options = spec.options;
    engine::Selection& sel = options.selection;
    std::vector<std::pair<int, int>> passes;
    bool src_cluster = false, dst_cluster = false;
    PassKind kind = options.dry_run ? PassKind::kPlan : PassKind::kCopy;
    {
      const bool renaming = sel.rename && !sel.rename->empty();
      // A move with --cleanup in place: keys no rule renames stay where they are.
      auto checked = engine::check_sides(
          loop, spec,
          engine::SideChecks{options.cleanup, false, true,
                             options.cleanup                                        ? "--cleanup"
                             : options.conflict == engine::ConflictPolicy::kReplace ? "--replace"
                                                                                    : "--on-conflict merge"});
      if (!checked) return failed(checked.error());
      src_cluster = checked->source_cluster;
      dst_cluster = checked->destination_cluster;
      const bool same_server = checked->identity.same_server;
      const resp::ServerFacts* src_facts = &checked->source_facts;
      const resp::ServerFacts* dst_facts = &checked->destination_facts;
      resp::Connection& src = *checked->source;
      resp::Connection& dst = *checked->destination;
      sel.scan_type_supported =
          !src_facts->known || !src_facts->version.known() || src_facts->version.at_least(6, 0);
      options.destination = destination_traits(*dst_facts);
      options.source_field_ttls = resp::has_field_ttls(*src_facts);
      options.source_lfu = src_facts->maxmemory_policy.find("lfu") != std::string::npos;
      if (options.live.enabled && !src_cluster && src_facts->known && src_facts->role == "slave") {
        // A replica applies the primary's writes late: a barrier on its subscriber would not cover writes the
        // primary acknowledged, and its canary and probe keys cannot be written.
        return failed(make_error(
            ExitCode::kUsage,
            cmd.source.label + ": is a replica (of " +
                (src_facts->primary.empty() ? std::string("its primary") : src_facts->primary) +
                "): a live run must follow the primary the application writes to; give the primary's URL "
                "(nothing was written)"));
      }
      if (options.keep_idle) {
        spdlog::info(
            "--keep-idle: each key's {} is read before its DUMP and given to RESTORE (source "
            "maxmemory-policy {})",
            options.source_lfu ? "LFU frequency (OBJECT FREQ)" : "LRU idle time (OBJECT IDLETIME)",
            src_facts->maxmemory_policy.empty() ? "unknown" : src_facts->maxmemory_policy);
      }
      options.run_id = random_run_id();

      if (cmd.all_dbs) {
        if (cmd.source.db != 0 || cmd.destination.db != 0) {
          return failed(make_error(ExitCode::kUsage,
                                   "--all-dbs copies each DB to the same number: remove /N from the "
                                   "URLs"));
        }
        if (!src_facts->known) {
          return failed(make_error(ExitCode::kConnect, cmd.source.label +
                                                           ": --all-dbs needs INFO keyspace to find the "
                                                           "non-empty databases (add the ACL rule +info)"));
        }
        std::map<int, uint64_t> db_keys = src_facts->db_keys;
        if (src_cluster) {
          // Each primary holds some slots of every database (Valkey 9's cluster-databases): the union.
          auto keys = engine::cluster_db_keys(loop, cmd.source, src);
          if (!keys) return failed(keys.error());
          db_keys = std::move(*keys);
        }
        for (const auto& [db, n] : db_keys) {
          if (n > 0) passes.emplace_back(db, db);
        }
        if (!passes.empty()) {
          if (auto st = check_destination_dbs(loop, dst, cmd.destination, passes.back().second); !st) {
            return failed(st.error());
          }
        }
      } else {
        passes.emplace_back(cmd.source.db, cmd.destination.db);
      }

      // The server copies by itself when both DBs live on it and nothing is renamed (COPY needs Redis 6.2).
      if (kind == PassKind::kCopy && same_server && !renaming && !src_cluster && !options.live.enabled &&
          src_facts->version.at_least(6, 2) &&
          (options.conflict == engine::ConflictPolicy::kSkip ||
           options.conflict == engine::ConflictPolicy::kReplace)) {
        auto allowed = server_copy_allowed(loop, src, options, cmd.destination.db);
        if (!allowed) return failed(allowed.error());
        if (*allowed) {
          kind = PassKind::kServerCopy;
          spdlog::info("source and destination are the same server: keys are copied server-side with {}",
                       options.cleanup ? "MOVE" : "COPY ... DB");
        }
      }
      if (kind == PassKind::kServerCopy) {
        rep.path =
            std::string("server-side ") + (options.cleanup ? "MOVE" : "COPY") + " (one server, two DBs)";
      } else {
        plan_path(rep, options, *src_facts, *dst_facts);
        // Strings are read with GETRANGE where a DUMP would be read and RESTOREd (not for --cleanup, whose
        // compare-and-delete checks the source's own DUMP).
        if (kind == PassKind::kCopy && options.mode == engine::CopyMode::kAuto && !options.cleanup &&
            resp::reads_payloads(*src_facts, *dst_facts).value_or(false)) {
          options.string_payload_rdb = resp::rdb_version(*src_facts);
          // Written with SET where the destination has PXAT (Redis >= 6.2, every Valkey): the expiry stays
          // absolute, as with RESTORE ... ABSTTL.
          options.string_writes = dst_facts->version.at_least(6, 2);
        }
      }

      if (renaming && kind == PassKind::kCopy) {
        // The pre-scan below is bounded; past its bound, and for keys created meanwhile, the copy checks
        // each destination name as it goes.
        options.detect_rename_collisions = true;
        for (const auto& [src_db, dst_db] : passes) {
          engine::RunSpec c = spec;  // the selection as decided above (in place: renamed keys only)
          c.source.db = src_db;
          auto seed = engine::open_connection(loop, c.source);
          if (!seed) return failed(seed.error());
          auto nodes = engine::open_sources(loop, c, std::move(*seed), src_cluster);
          if (!nodes) return failed(nodes.error());
          if (auto st = engine::prescan_collisions(loop, c, *nodes, 32u << 20, false); !st) {
            return failed(st.error());
          }
        }
      }
    }

    rep.started = true;
    PlanStats plan;
    std::vector<std::pair<int, uint64_t>> plan_by_db;
    uint64_t keys = 0;
    for (const auto& [src_db, dst_db] : passes) {
      if (passes.size() > 1) spdlog::info("database {}", src_db);
      auto pass = run_pass(loop, spec, src_db, dst_db, src_cluster, dst_cluster, kind, &keys);
      if (!pass) {
        // Stopped before its engine started (a refused command, the lock): nothing moved in this pass, and
        // when it is the first, the error line alone says it all.
        rep.fatal = pass.error();
        if (src_db == passes.front().first) rep.started = false;
        break;
      }
      engine::EngineResult& r = pass->result;
      // The event loops (threads) the run used: the most of any pass.
      rep.extra["threads"] = std::max(rep.extra.value("threads", uint32_t{1}), pass->loops);
      if (pass->slots_moved > 0) {
        rep.extra["source_slots_moved"] =
            rep.extra.value("source_slots_moved", std::size_t{0}) + pass->slots_moved;
      }
      if (options.live.enabled) add_live_report(rep, pass->live);
      rep.totals += r.total;
      if (passes.size() > 1) rep.dbs.emplace_back(src_db, r.total);
      for (auto& n : r.nodes) {
        if (passes.size() > 1) n.name += " db " + std::to_string(src_db);
        rep.nodes.push_back(std::move(n));
      }
      for (const auto& g : r.errors.sorted()) {
        rep.errors.add(g.message, g.example_key, g.count);
      }
      for (auto& e : r.examples) {
        if (rep.examples.size() < options.examples) rep.examples.push_back(std::move(e));
      }
      for (auto& f : r.source_failovers)
        rep.source_failovers.push_back(std::move(f));
      plan += pass->plan;
      for (const auto& k : pass->big_keys.listed())
        rep.big_keys.add(k);
      plan_by_db.emplace_back(src_db, r.total.scanned);
      if (!pass->run.is_null()) {
        if (passes.size() > 1) {
          pass->run["db"] = src_db;
          rep.extra["run"].push_back(pass->run);
        } else {
          rep.extra["run"] = pass->run;
        }
      }
      if (r.fatal) rep.fatal = std::move(r.fatal);
      rep.signal = r.signal;
      if (rep.fatal || rep.signal != 0) break;
    }
    rep.source_keys = keys;
    if (options.dry_run) {
      rep.extra["plan"] = plan_json(plan, sel, plan_by_db);
      log_plan(plan, sel);
      if (rep.path_detail.contains("field_ttls")) {
        const std::string outcome = rep.path_detail["field_ttls"].get<std::string>();
        rep.extra["plan"]["hash_field_ttls"] = {{"keys", plan.field_ttl_hashes}, {"outcome", outcome}};
        if (plan.field_ttl_hashes > 0) {
          spdlog::info("plan: {} hash(es) with field TTLs: {}", report::thousands(plan.field_ttl_hashes),
                       outcome);
          rep.notes.push_back(report::thousands(plan.field_ttl_hashes) +
                              " hash(es) with field TTLs: " + outcome);
        }
      }
      if (plan.collision_count > 0 && !rep.fatal) {
        rep.fatal =
            make_error(ExitCode::kUsage, plan.collisions.front().message() + " (" +
                                             std::to_string(plan.collision_count) +
                                             " collision(s) in the plan: nothing would be safe to write)");
      }
    }
    if (!rep.fatal && rep.signal == 0 && rep.totals.scanned == 0) {
      rep.notes.push_back(sel.renamed_only ? "no keys to migrate: no selected key needs renaming"
                                           : "no keys to migrate: no key matches the selection");
      spdlog::info("{}", rep.notes.back());
    }
  }
  if (int rc = loop.close(); rc != 0) spdlog::debug("event loop closed with handles still open ({})", rc);
  return finish(rep);
}

}  // namespace rmig::copy
