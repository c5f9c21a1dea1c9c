#include "copy/copy_command.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>

#include "cluster/slot.hpp"
#include "cluster/topology.hpp"
#include "copy/copy_task.hpp"
#include "copy/key_size_bound.hpp"
#include "copy/plan_task.hpp"
#include "copy/server_copy_task.hpp"
#include "engine/engine.hpp"
#include "engine/safety.hpp"
#include "net/loop.hpp"
#include "net/signals.hpp"
#include "report/format.hpp"
#include "report/progress.hpp"
#include "resp/info.hpp"
#include "resp/probe.hpp"
#include "resp/server_error.hpp"
#include "select/glob.hpp"
#include "select/rename.hpp"
#include "state/run_state.hpp"

namespace rmig::copy {

namespace {

using Clock = std::chrono::steady_clock;
using ConnectionPtr = std::unique_ptr<resp::Connection>;

// The options of one cluster node, derived from the side's URL options (TLS, credentials, timeouts).
resp::ConnectOptions node_options(const resp::ConnectOptions& base, const cluster::NodeInfo& n,
                                  bool readonly) {
  resp::ConnectOptions o = base;
  o.endpoint.kind = net::Endpoint::Kind::kTcp;
  o.endpoint.host = n.host;
  o.endpoint.port = n.port;
  o.readonly = readonly;  // the URL's db: every node SELECTs it (numbered databases of a Valkey 9 cluster)
  o.label = base.side + " node " + n.address();
  return o;
}

Result<ConnectionPtr> open(net::Loop& loop, const resp::ConnectOptions& o) {
  auto c = std::make_unique<resp::Connection>(loop, o, nullptr);
  if (auto st = resp::open_sync(loop, *c); !st) {
    if (o.db == 0 || st.error().code != ExitCode::kUsage) return st.error();
    // SELECT N refused: on a cluster node, say which server and which setting (numbered databases in a
    // cluster need Valkey >= 9.0 with cluster-databases > N).
    resp::ConnectOptions zero = o;
    zero.db = 0;
    auto c0 = std::make_unique<resp::Connection>(loop, zero, nullptr);
    if (!resp::open_sync(loop, *c0)) return st.error();
    auto facts = resp::probe_server(loop, *c0);
    if (!facts || !facts->known || !facts->cluster) return st.error();
    const std::string n = std::to_string(o.db);
    const bool valkey9 = facts->server == "valkey" && std::atoi(facts->version.c_str()) >= 9;
    const std::string who = o.label + ": database " + n + " requested, but " + resp::server_name(*facts);
    if (valkey9) {
      return make_error(ExitCode::kUsage, who + " runs in cluster mode and refused SELECT " + n +
                                              ": set cluster-databases above " + n +
                                              " on every primary, or remove /" + n + " from the URL");
    }
    return make_error(
        ExitCode::kUsage,
        who + " runs in cluster mode, which has only db 0 (numbered databases in a cluster need " +
            "Valkey >= 9.0 with cluster-databases above " + n + "): remove /" + n + " from the URL");
  }
  return c;
}

Result<uint64_t> dbsize(net::Loop& loop, resp::Connection& c) {
  auto r = resp::call_sync(loop, c, {"DBSIZE"});
  if (!r) return r.error();
  if (resp::is_integer(r->get())) return static_cast<uint64_t>((*r)->integer);
  spdlog::debug("{}: DBSIZE refused ({}); no ETA", c.label(), resp::describe(r->get()));
  return 0;
}

// A replica worth reading from: linked to its primary and not in the middle of a full sync. When INFO is
// refused the replica is trusted.
bool replica_in_sync(net::Loop& loop, resp::Connection& c) {
  auto r = resp::call_sync(loop, c, {"INFO", "replication"});
  if (!r || !resp::is_string(r->get())) return true;
  auto info = resp::parse_info(resp::text(r->get()));
  return info["master_link_status"] == "up" && info["master_sync_in_progress"] != "1";
}

Result<bool> is_cluster(ClusterMode mode, const resp::ServerFacts& facts, const resp::ConnectOptions& o,
                        const std::string& url) {
  // A db other than 0 was SELECTed on the seed already: a cluster that refuses it failed in open().
  const bool cluster = mode == ClusterMode::kOn || (mode == ClusterMode::kAuto && facts.cluster);
  if (mode == ClusterMode::kOn && facts.known && !facts.cluster) {
    return make_error(
        ExitCode::kUsage,
        o.side + " " + url + " is not a cluster node (cluster_enabled:0): drop --" + o.side + "-cluster on");
  }
  return cluster;
}

// INFO keyspace of every primary of a cluster, added up per database.
Result<std::map<int, uint64_t>> cluster_db_keys(net::Loop& loop, const resp::ConnectOptions& base,
                                                resp::Connection& seed) {
  auto topo = cluster::discover(loop, seed);
  if (!topo) return topo.error();
  std::map<int, uint64_t> out;
  for (const auto& shard : topo->shards) {
    auto c = open(loop, node_options(base, shard.primary, false));
    if (!c) return c.error();
    auto facts = resp::probe_server(loop, **c);
    if (!facts) return facts.error();
    if (!facts->known) {
      return make_error(ExitCode::kConnect, base.label +
                                                ": --all-dbs needs INFO keyspace on every primary "
                                                "(add the ACL rule +info)");
    }
    for (const auto& [db, n] : facts->db_keys)
      out[db] += n;
  }
  return out;
}

// Source: one node per shard of a cluster (its primary, or a replica with --read-from replicas), or the
// server.
Result<std::vector<engine::SourceNode>> open_sources(net::Loop& loop, const CopyCommand& cmd,
                                                     ConnectionPtr seed, bool cluster) {
  std::vector<engine::SourceNode> nodes;
  if (!cluster) {
    if (cmd.read_from_replicas) {
      return make_error(ExitCode::kUsage,
                        "--read-from replicas needs a cluster source; to read from a standalone "
                        "replica, give the replica's URL as the source");
    }
    auto n = dbsize(loop, *seed);
    if (!n) return n.error();
    const uint64_t data = key_size_bound(loop, *seed);
    nodes.push_back(engine::SourceNode{std::move(seed), nullptr, cmd.source.endpoint.to_string(), *n, data});
    return nodes;
  }
  auto topo = cluster::discover(loop, *seed);
  if (!topo) return topo.error();
  if (topo->shards.empty())
    return make_error(ExitCode::kConnect, cmd.source.label + ": the cluster has no shards");
  for (const auto& shard : topo->shards) {
    const cluster::NodeInfo* read = &shard.primary;
    bool replica = false;
    ConnectionPtr conn;
    if (cmd.read_from_replicas) {
      for (const auto& r : shard.replicas) {
        if (r.failed) continue;
        auto c = open(loop, node_options(cmd.source, r, true));
        if (!c) {
          spdlog::warn("source replica {} unusable: {}", r.address(), c.error().message);
          continue;
        }
        if (!replica_in_sync(loop, **c)) {
          spdlog::warn("source replica {} is not in sync with its primary: not reading from it", r.address());
          continue;
        }
        read = &r;
        replica = true;
        conn = std::move(*c);
        break;
      }
      if (!replica) {
        spdlog::warn("source shard of {} has no replica in sync: reading from its primary",
                     shard.primary.address());
      }
    }
    if (!conn) {
      auto c = open(loop, node_options(cmd.source, *read, false));
      if (!c) return c.error();
      conn = std::move(*c);
    }
    ConnectionPtr writer;
    if (replica && cmd.options.cleanup && !cmd.options.dry_run) {
      auto w = open(loop, node_options(cmd.source, shard.primary, false));
      if (!w) return w.error();
      writer = std::move(*w);
    }
    auto n = dbsize(loop, *conn);
    if (!n) return n.error();
    const uint64_t data = key_size_bound(loop, *conn);
    nodes.push_back(engine::SourceNode{std::move(conn), std::move(writer), read->address(), *n, data});
  }
  spdlog::info("source cluster: {} shard(s), reading from {}", nodes.size(),
               cmd.read_from_replicas ? "replicas" : "primaries");
  return nodes;
}

void sample_clock(net::Loop& loop, engine::DestinationNode& node, const resp::ServerFacts& facts) {
  // ABSTTL needs Redis >= 5 and TIME; without them, relative TTLs are used.
  const int major = facts.version.empty() ? 0 : std::atoi(facts.version.c_str());
  if (major != 0 && major < 5) return;
  auto t = resp::call_sync(loop, *node.conn, {"TIME"});
  if (!t) return;
  const redisReply* r = t->get();
  if (resp::is_array(r) && r->elements == 2) {
    auto secs = resp::to_integer(r->element[0]);
    auto micros = resp::to_integer(r->element[1]);
    if (secs && micros) node.clock.sample(*secs, *micros, Clock::now());
  } else {
    spdlog::debug("{}: clock unknown ({}): TTLs are sent relative", node.conn->label(), resp::describe(r));
  }
}

// Destination: the primaries of a cluster with the slot map, or the server.
Result<engine::Destination> open_destination(net::Loop& loop, const CopyCommand& cmd, ConnectionPtr seed,
                                             const resp::ServerFacts& facts, bool cluster) {
  engine::Destination d;
  d.cluster = cluster;
  if (!cluster) {
    engine::DestinationNode node{std::move(seed), {}};
    if (!cmd.options.dry_run) sample_clock(loop, node, facts);
    d.nodes.push_back(std::move(node));
    return d;
  }
  auto topo = cluster::discover(loop, *seed);
  if (!topo) return topo.error();
  if (!topo->complete()) {
    return make_error(ExitCode::kDestinationRefused,
                      cmd.destination.label +
                          ": the cluster does not cover every slot: fix it first "
                          "(redis-cli --cluster check / fix)");
  }
  d.slot_owner.assign(cluster::kSlotCount, 0);
  for (const auto& shard : topo->shards) {
    auto conn = open(loop, node_options(cmd.destination, shard.primary, false));
    if (!conn) return conn.error();
    engine::DestinationNode node{std::move(*conn), {}};
    if (!cmd.options.dry_run) sample_clock(loop, node, facts);
    const auto index = static_cast<uint16_t>(d.nodes.size());
    for (auto [a, b] : shard.ranges) {
      for (uint32_t slot = a; slot <= b; ++slot)
        d.slot_owner[slot] = index;
    }
    d.nodes.push_back(std::move(node));
  }
  spdlog::info("destination cluster: {} primaries", d.nodes.size());
  return d;
}

}  // namespace

namespace {

// A version string's major and minor numbers ("7.0.15" -> 7, 0); 0, 0 when unknown.
std::pair<int, int> version_of(const std::string& v) {
  int major = 0, minor = 0;
  std::sscanf(v.c_str(), "%d.%d", &major, &minor);
  return {major, minor};
}

bool at_least(const std::string& version, int major, int minor) {
  const auto [ma, mi] = version_of(version);
  return ma > major || (ma == major && mi >= minor);
}

// Before a copy with rename rules writes anything: every selected source name through the collision
// detector (names only, from SCAN). Two keys landing on one name, or a renamed key landing on a key that
// keeps its name, stop the run with exit code 2; so does, in place (source and destination one keyspace),
// a renamed key landing on the old name of another selected renamed key (a swap, chain or cycle).
//
// `cleanup`: the cleanup command in place, which compares each renamed key with the key under its new name
// and writes nothing: a key under a target name is the copy it looks for, not a collision, but a renamed key
// whose new name is the old name of another one (a swap, chain or cycle) is refused, since both could be
// deleted against each other. Without a per-key check to fall back on, a check stopped by its memory bound
// refuses too.
Status prescan_collisions(net::Loop& loop, const CopyCommand& cmd,
                          const std::vector<engine::SourceNode>& nodes, std::size_t detector_bytes,
                          bool cleanup) {
  const engine::Selection& sel = cmd.options.selection;
  const bool in_place = sel.renamed_only;
  select::CollisionDetector detector(*sel.rename, in_place);
  uint64_t seen = 0;
  std::vector<std::string> types = sel.types;
  if (types.empty()) types.push_back("");
  for (const auto& node : nodes) {
    for (const auto& type : types) {
      std::string cursor = "0";
      do {
        resp::Args args = {"SCAN", cursor};
        if (sel.match.size() == 1) {
          args.push_back("MATCH");
          args.push_back(sel.match.front());
        }
        args.push_back("COUNT");
        args.push_back("1000");
        if (!type.empty()) {
          args.push_back("TYPE");
          args.push_back(type);
        }
        auto r = resp::call_sync(loop, *node.conn, args);
        if (!r) return r.error();
        const redisReply* rep = r->get();
        if (!resp::is_array(rep) || rep->elements != 2) {
          return make_error(
              ExitCode::kConnect,
              node.conn->label() + ": SCAN failed during the rename check (" + resp::describe(rep) + ")");
        }
        cursor.assign(rep->element[0]->str, rep->element[0]->len);
        std::string renamed;
        for (std::size_t i = 0; i < rep->element[1]->elements; ++i) {
          const redisReply* k = rep->element[1]->element[i];
          const std::string_view key(k->str, k->len);
          if (!sel.own_prefix.empty() && key.compare(0, sel.own_prefix.size(), sel.own_prefix) == 0) continue;
          if (sel.match.size() > 1 && std::none_of(sel.match.begin(), sel.match.end(), [&](const auto& p) {
                return select::glob_match(p, key);
              })) {
            continue;
          }
          if (std::any_of(sel.exclude.begin(), sel.exclude.end(),
                          [&](const auto& p) { return select::glob_match(p, key); })) {
            continue;
          }
          ++seen;
          std::optional<select::Collision> c;
          if (sel.rename->apply_into(key, renamed) >= 0 && renamed != key) {
            c = detector.add_renamed(key, renamed);
          } else if (!cleanup && sel.rename->may_produce(key)) {
            c = detector.add_kept(key);
          }
          if (c) return make_error(ExitCode::kUsage, c->message() + " (found before anything was written)");
          if (detector.memory_bytes() > detector_bytes) {
            if (cleanup) {
              return make_error(ExitCode::kUsage,
                                "cleanup in place: the rename check stopped after " + std::to_string(seen) +
                                    " keys (memory bound), so the rules cannot be proven free of swaps and "
                                    "chains: narrow the selection with --match and run cleanup per part");
            }
            // In place, a chain among the later keys is still never written over: the copy fails such a
            // key instead (CopyTask::chain_target).
            spdlog::warn(
                "rename check stopped after {} keys (memory bound): collisions among later keys are only "
                "found while copying, per key",
                seen);
            return {};
          }
        }
      } while (cursor != "0");
    }
  }
  spdlog::info("rename check: {} selected keys, no collision", seen);
  return {};
}

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

}  // namespace

namespace {

// One connection's probes: each command, why the run needs it, and whether it stops the run when refused
// (UNLINK and DEL are looked at together afterwards).
struct Probe {
  resp::Args args;
  std::string_view why;
  bool required = true;
};

struct Probed {
  std::vector<std::optional<std::string>> refusals;  // by probe
  std::optional<std::string> refusal(std::size_t i) const {
    return i < refusals.size() ? refusals[i] : std::nullopt;
  }
};

Result<Probed> run_probes(net::Loop& loop, resp::Connection& c, const std::vector<Probe>& probes) {
  std::vector<resp::Args> args;
  args.reserve(probes.size());
  for (const auto& p : probes)
    args.push_back(p.args);
  auto r = resp::command_refusals(loop, c, args);
  if (!r) return r.error();
  for (std::size_t i = 0; i < probes.size(); ++i) {
    if (probes[i].required && (*r)[i]) {
      std::string name(probes[i].args.front());
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char ch) { return std::tolower(ch); });
      return resp::refused_command_error(c.options(), name, *(*r)[i], probes[i].why);
    }
  }
  return Probed{std::move(*r)};
}

// UNLINK refused (in `unlink`) and DEL not: the side deletes with DEL. Both refused: the run stops, naming
// UNLINK, when a deletion is required (`why` not empty). `renamed_only`: only an UNLINK the server does not
// know switches (an ACL refusal stays for the key-by-key answer).
Status settle_delete(const resp::Connection& c, const std::optional<std::string>& unlink,
                     const std::optional<std::string>& del, scripts::ScriptCommands& side,
                     std::string_view why, bool renamed_only) {
  if (!unlink) return {};
  if (renamed_only && resp::classify_error(*unlink) != resp::ServerError::kUnknownCommand) return {};
  if (!del) {
    if (side.unlink) spdlog::info("{}: UNLINK refused ({}): keys are deleted with DEL", c.label(), *unlink);
    side.unlink = false;
    return {};
  }
  if (why.empty()) return {};
  return resp::refused_command_error(c.options(), "unlink", *unlink,
                                     std::string(why) + " (DEL is refused too)");
}

}  // namespace

Status check_commands(net::Loop& loop, std::vector<engine::SourceNode>& sources,
                      engine::Destination& destination, const CommandNeeds& needs,
                      engine::CopyOptions& options) {
  const std::string key =
      (options.selection.own_prefix.empty() ? std::string("redis-migrate:") : options.selection.own_prefix) +
      "probe:" + options.run_id;
  // EVALSHA is not probed: its first refusal switches the side to EVAL (Script::fall_back), as a NOSCRIPT
  // would.
  constexpr std::string_view kCleanupWhy =
      " (--cleanup runs EVALSHA or EVAL of a script calling PTTL, DUMP and UNLINK)";
  constexpr std::string_view kMergeWhy = " (--on-conflict merge merges with a script calling UNLINK)";
  auto add_scripts = [&](std::vector<Probe>& probes, std::string_view why) {
    probes.push_back({{"EVAL", "return 0", "0"}, why, true});
    probes.push_back({{"UNLINK", key}, why, false});
    probes.push_back({{"DEL", key}, why, false});
  };
  for (auto& node : sources) {
    const bool own_writer = needs.source_scripts && node.writer;
    std::vector<Probe> probes;
    probes.push_back({{"SCAN", "0", "COUNT", "1"}, " (every key is found with SCAN)", true});
    if (needs.dump) probes.push_back({{"DUMP", key}, " (the dump path reads each key with DUMP)", true});
    const std::size_t scripts_at = probes.size();
    if (needs.source_scripts && !own_writer) add_scripts(probes, kCleanupWhy);
    auto probed = run_probes(loop, *node.conn, probes);
    if (!probed) return probed.error();
    if (needs.source_scripts && own_writer) {
      std::vector<Probe> w;
      add_scripts(w, kCleanupWhy);
      auto on_writer = run_probes(loop, *node.writer, w);
      if (!on_writer) return on_writer.error();
      if (auto st = settle_delete(*node.writer, on_writer->refusal(1), on_writer->refusal(2),
                                  options.source_scripts, kCleanupWhy, false);
          !st) {
        return st;
      }
    } else if (needs.source_scripts) {
      if (auto st =
              settle_delete(*node.conn, probed->refusal(scripts_at + 1), probed->refusal(scripts_at + 2),
                            options.source_scripts, kCleanupWhy, false);
          !st) {
        return st;
      }
    }
  }
  for (auto& node : destination.nodes) {
    std::vector<Probe> probes;
    // An invalid payload: RESTORE's payload check refuses it before the key is touched (and queued, it never
    // runs).
    if (needs.restore) {
      probes.push_back({{"RESTORE", key, "0", "not a dump payload"},
                        " (the dump path writes each key with RESTORE)",
                        true});
    }
    const std::size_t scripts_at = probes.size();
    if (needs.destination_scripts) {
      add_scripts(probes, kMergeWhy);
    } else if (needs.destination_delete) {
      probes.push_back({{"UNLINK", key}, "", false});
      probes.push_back({{"DEL", key}, "", false});
    }
    if (probes.empty()) continue;
    auto probed = run_probes(loop, *node.conn, probes);
    if (!probed) return probed.error();
    if (needs.destination_scripts) {
      if (auto st =
              settle_delete(*node.conn, probed->refusal(scripts_at + 1), probed->refusal(scripts_at + 2),
                            options.destination_scripts, kMergeWhy, false);
          !st) {
        return st;
      }
    } else if (needs.destination_delete) {
      // Only a renamed UNLINK switches the temporary keys to DEL: an ACL user's rules for them are the
      // documented ones (+unlink), and the probe key, under the tool's prefix, may be reached by a selector
      // that the temporary keys are not.
      if (auto st = settle_delete(*node.conn, probed->refusal(scripts_at), probed->refusal(scripts_at + 1),
                                  options.destination_scripts, "", true);
          !st) {
        return st;
      }
    }
  }
  return {};
}

namespace {

// One pass of the engine: one source DB into one destination DB.
struct PassResult {  // NOLINT(bugprone-exception-escape): implicit moves of std containers and json
  engine::EngineResult result;
  PlanStats plan;
  bool interrupted = false;
  nlohmann::json run;  // the run record's section of the report (lock, id, resumed)
  report::BigKeys big_keys;
};

enum class PassKind { kCopy, kPlan, kServerCopy };

Result<PassResult> run_pass(net::Loop& loop, const CopyCommand& cmd, const engine::CopyOptions& options,
                            int src_db, int dst_db, bool src_cluster, bool dst_cluster, PassKind kind,
                            uint64_t* keys_estimate) {
  resp::ConnectOptions src_opts = cmd.source;
  resp::ConnectOptions dst_opts = cmd.destination;
  src_opts.db = src_db;
  dst_opts.db = dst_db;
  auto src = open(loop, src_opts);
  if (!src) return src.error();
  auto dst = open(loop, dst_opts);
  if (!dst) return dst.error();
  auto dst_facts = resp::probe_server(loop, **dst);
  if (!dst_facts) return dst_facts.error();
  CopyCommand pass_cmd = cmd;
  pass_cmd.source = src_opts;
  pass_cmd.destination = dst_opts;
  pass_cmd.options = options;
  auto sources = open_sources(loop, pass_cmd, std::move(*src), src_cluster);
  if (!sources) return sources.error();
  auto destination = open_destination(loop, pass_cmd, std::move(*dst), *dst_facts, dst_cluster);
  if (!destination) return destination.error();
  engine::CopyOptions engine_options = options;
  if (options.cleanup) {
    auto evicting = check_eviction_policy(loop, *destination, pass_cmd, "--cleanup");
    if (!evicting) return evicting.error();
    if (!evicting->empty() && kind == PassKind::kCopy) {
      // Other keys' writes could evict a copy between the reading that clears its deletion and the
      // deletion: one key at a time, nothing is written in between.
      engine_options.window.keys = 1;
      spdlog::warn("the destination evicts: --cleanup copies and deletes one key at a time");
    }
  }
  engine_options.watch_evictions = !options.dry_run && dst_facts->known;
  uint64_t keys = 0;
  for (const auto& n : *sources)
    keys += n.dbsize;
  *keys_estimate += keys;

  // Every command the pass will send that a server may refuse or not know, before the first write (the lock).
  CommandNeeds needs;
  const bool dump_path = engine_options.mode != engine::CopyMode::kRewrite;
  if (kind == PassKind::kPlan) {
    needs.dump = dump_path;
  } else if (kind == PassKind::kCopy) {
    needs.dump = dump_path;
    needs.restore = dump_path;
    needs.source_scripts = engine_options.cleanup;
    needs.destination_scripts = engine_options.conflict == engine::ConflictPolicy::kMerge;
    needs.destination_delete = engine_options.mode != engine::CopyMode::kDump;
  } else {
    needs.source_scripts =
        engine_options.cleanup && engine_options.conflict == engine::ConflictPolicy::kReplace;
  }
  if (auto st = check_commands(loop, *sources, *destination, needs, engine_options); !st) return st.error();

  // The lease and the run record (one per database: the fingerprint names it); nothing for a plan.
  state::RunState state(loop, pass_cmd, "copy");
  if (auto st = state.begin(*sources); !st) return st.error();

  CopyTask copy_task;
  PlanTask plan_task;
  ServerCopyTask server_copy_task(dst_db);
  engine::KeyTask& task = kind == PassKind::kPlan         ? static_cast<engine::KeyTask&>(plan_task)
                          : kind == PassKind::kServerCopy ? static_cast<engine::KeyTask&>(server_copy_task)
                                                          : copy_task;
  engine::Engine engine(loop, engine_options, std::move(*sources), std::move(*destination), src_opts,
                        dst_opts, task);
  state.attach(engine);
  report::Progress progress(keys);
  progress.set_pacing(engine_options.rate_limit_keys, engine_options.rate_limit_bytes);
  struct Ticker {
    engine::Engine* engine;
    report::Progress* progress;
  } ticker{&engine, &progress};
  net::Timer progress_timer(loop, &ticker, [](void* p) {
    auto* t = static_cast<Ticker*>(p);
    t->progress->print(t->engine->totals(), t->engine->in_flight(), t->engine->paused_by_destination(),
                       t->engine->rate_limited(), t->engine->node_totals());
  });
  progress_timer.unref();
  net::SignalWatcher signals(loop, [&](int signum) { engine.stop(signum); });
  bool done = false;
  engine.start([&] {
    done = true;
    progress_timer.stop();
    signals.close();
  });
  // On a terminal a bar redrawn about twice a second, elsewhere one line per --progress-interval.
  const uint32_t tick = report::Progress::interval_ms(cmd.progress_interval_ms);
  if (tick > 0 && !done) progress_timer.start(tick, tick);
  PassResult out;
  while (!done) {
    if (uv_run(loop.get(), UV_RUN_ONCE) == 0 && !done) {
      // Nothing left that could finish the run: a bug, reported instead of spinning.
      engine.stop(0);
      return make_error(ExitCode::kKeysFailed,
                        "internal error: the event loop ran dry before the copy ended");
    }
  }
  progress_timer.stop();
  progress.finish();
  out.result = engine.take_result();
  out.plan = plan_task.stats();
  out.big_keys = kind == PassKind::kPlan ? plan_task.big_keys() : copy_task.big_keys();
  out.interrupted = out.result.signal != 0;
  if (state.active()) {
    report::RunReport pass_report;
    pass_report.totals = out.result.total;
    pass_report.fatal = out.result.fatal;
    pass_report.signal = out.result.signal;
    state.end(pass_report, report::copy_exit_code(pass_report.totals, pass_report.fatal, pass_report.signal),
              engine.checkpoint());
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

// Major * 100 + minor of a server's version; 0 when unknown.
int version_number(const resp::ServerFacts& f) {
  const int major = f.version.empty() ? 0 : std::atoi(f.version.c_str());
  const std::size_t dot = f.version.find('.');
  const int minor = dot == std::string::npos ? 0 : std::atoi(f.version.c_str() + dot + 1);
  return major * 100 + minor;
}

// What the rewrite path may use on the destination. Valkey is 7.2 or later; an unknown version is assumed
// current (a refused command then fails the key with the server's message).
engine::DestinationTraits destination_traits(const resp::ServerFacts& dst) {
  const int v = version_number(dst);
  engine::DestinationTraits t;
  t.field_ttls = resp::has_field_ttls(dst);
  if (dst.known && !dst.version.empty()) t.server = resp::server_name(dst);
  if (dst.server == "valkey" || v == 0) return t;
  t.stream_metadata = v >= 700;
  t.create_consumer = v >= 602;
  return t;
}

nlohmann::json server_json(const resp::ServerFacts& f) {
  return {{"server", f.server}, {"version", f.version}, {"rdb_version", resp::rdb_version(f)}};
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
  rep.conflict_policy = name_of(engine::kConflictPolicyNames, cmd.options.conflict);
  rep.cleanup = cmd.options.cleanup;
  auto finish = [&](report::RunReport& r) -> report::RunReport {
    r.duration_s = std::chrono::duration<double>(Clock::now() - started).count();
    r.exit_code = report::copy_exit_code(r.totals, r.fatal, r.signal);
    return std::move(r);
  };
  auto failed = [&](const Error& e) {
    rep.fatal = e;
    return finish(rep);
  };

  net::Loop loop;
  {
    engine::CopyOptions options = cmd.options;
    engine::Selection& sel = options.selection;
    std::vector<std::pair<int, int>> passes;
    bool src_cluster = false, dst_cluster = false;
    PassKind kind = options.dry_run ? PassKind::kPlan : PassKind::kCopy;
    {
      auto src = open(loop, cmd.source);
      if (!src) return failed(src.error());
      auto dst = open(loop, cmd.destination);
      if (!dst) return failed(dst.error());
      auto src_facts = resp::probe_server(loop, **src);
      if (!src_facts) return failed(src_facts.error());
      auto dst_facts = resp::probe_server(loop, **dst);
      if (!dst_facts) return failed(dst_facts.error());
      auto sc = is_cluster(cmd.source_cluster, *src_facts, cmd.source, cmd.source_url);
      if (!sc) return failed(sc.error());
      auto dc = is_cluster(cmd.destination_cluster, *dst_facts, cmd.destination, cmd.destination_url);
      if (!dc) return failed(dc.error());
      src_cluster = *sc;
      dst_cluster = *dc;
      const bool renaming = sel.rename && !sel.rename->empty();
      // Source and destination must be different data, unless keys are renamed in place (a move with
      // --cleanup; keys no rule renames stay where they are).
      auto identity =
          check_identity(loop, engine::IdentityCheck{cmd, **src, **dst, *src_facts, *dst_facts, src_cluster,
                                                     dst_cluster, options.cleanup, false,
                                                     options.cleanup ? "--cleanup"
                                                     : options.conflict == engine::ConflictPolicy::kReplace
                                                         ? "--replace"
                                                         : "--on-conflict merge"});
      if (!identity) return failed(identity.error());
      const bool same_server = identity->same_server;
      if (identity->in_place) sel.renamed_only = true;
      if (!dst_cluster && dst_facts->known && dst_facts->role == "slave") {
        return failed(
            make_error(ExitCode::kDestinationRefused,
                       cmd.destination.label + " is a read-only replica (role: slave" +
                           (dst_facts->primary.empty() ? "" : ", primary at " + dst_facts->primary) +
                           "): point the destination URL at the primary"));
      }
      sel.scan_type_supported =
          !src_facts->known || src_facts->version.empty() || at_least(src_facts->version, 6, 0);
      spdlog::info("source {}{} (version {}), destination {}{} (version {})", cmd.source_url,
                   src_cluster ? " [cluster]" : "", src_facts->version.empty() ? "?" : src_facts->version,
                   cmd.destination_url, dst_cluster ? " [cluster]" : "",
                   dst_facts->version.empty() ? "?" : dst_facts->version);
      options.destination = destination_traits(*dst_facts);
      options.source_field_ttls = resp::has_field_ttls(*src_facts);
      options.source_lfu = src_facts->maxmemory_policy.find("lfu") != std::string::npos;
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
          auto keys = cluster_db_keys(loop, cmd.source, **src);
          if (!keys) return failed(keys.error());
          db_keys = std::move(*keys);
        }
        for (const auto& [db, n] : db_keys) {
          if (n > 0) passes.emplace_back(db, db);
        }
        if (!passes.empty()) {
          if (auto st = check_destination_dbs(loop, **dst, cmd.destination, passes.back().second); !st) {
            return failed(st.error());
          }
        }
      } else {
        passes.emplace_back(cmd.source.db, cmd.destination.db);
      }

      // The server copies by itself when both DBs live on it and nothing is renamed (COPY needs Redis 6.2).
      if (kind == PassKind::kCopy && same_server && !renaming && !src_cluster &&
          at_least(src_facts->version, 6, 2) &&
          (options.conflict == engine::ConflictPolicy::kSkip ||
           options.conflict == engine::ConflictPolicy::kReplace)) {
        auto allowed = server_copy_allowed(loop, **src, options, cmd.destination.db);
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
      }

      if (renaming && kind == PassKind::kCopy) {
        // The pre-scan below is bounded; past its bound, and for keys created meanwhile, the copy checks
        // each destination name as it goes.
        options.detect_rename_collisions = true;
        for (const auto& [src_db, dst_db] : passes) {
          resp::ConnectOptions o = cmd.source;
          o.db = src_db;
          auto seed = open(loop, o);
          if (!seed) return failed(seed.error());
          CopyCommand c = cmd;
          c.source = o;
          c.options = options;  // the selection as decided above (in place: renamed keys only)
          auto nodes = open_sources(loop, c, std::move(*seed), src_cluster);
          if (!nodes) return failed(nodes.error());
          if (auto st = prescan_collisions(loop, c, *nodes, 32u << 20, false); !st) return failed(st.error());
        }
      }
    }

    rep.started = true;
    PlanStats plan;
    std::vector<std::pair<int, uint64_t>> plan_by_db;
    uint64_t keys = 0;
    for (const auto& [src_db, dst_db] : passes) {
      if (passes.size() > 1) spdlog::info("database {}", src_db);
      auto pass = run_pass(loop, cmd, options, src_db, dst_db, src_cluster, dst_cluster, kind, &keys);
      if (!pass) {
        // Stopped before its engine started (a refused command, the lock): nothing moved in this pass, and
        // when it is the first, the error line alone says it all.
        rep.fatal = pass.error();
        if (src_db == passes.front().first) rep.started = false;
        break;
      }
      engine::EngineResult& r = pass->result;
      rep.totals += r.total;
      if (passes.size() > 1) rep.dbs.emplace_back(src_db, r.total);
      for (auto& n : r.nodes) {
        if (passes.size() > 1) n.name += " db " + std::to_string(src_db);
        rep.nodes.push_back(std::move(n));
      }
      for (const auto& g : r.errors.sorted()) {
        for (uint64_t i = 0; i < g.count; ++i)
          rep.errors.add(g.message, g.example_key);
      }
      for (auto& e : r.examples) {
        if (rep.examples.size() < options.examples) rep.examples.push_back(std::move(e));
      }
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

Result<Sides> open_sides(net::Loop& loop, CopyCommand& cmd, bool writes_destination) {
  auto src = open(loop, cmd.source);
  if (!src) return src.error();
  auto dst = open(loop, cmd.destination);
  if (!dst) return dst.error();
  Sides sides;
  auto src_facts = resp::probe_server(loop, **src);
  if (!src_facts) return src_facts.error();
  auto dst_facts = resp::probe_server(loop, **dst);
  if (!dst_facts) return dst_facts.error();
  auto src_cluster = is_cluster(cmd.source_cluster, *src_facts, cmd.source, cmd.source_url);
  if (!src_cluster) return src_cluster.error();
  auto dst_cluster = is_cluster(cmd.destination_cluster, *dst_facts, cmd.destination, cmd.destination_url);
  if (!dst_cluster) return dst_cluster.error();
  // verify reads only; cleanup (options.cleanup) deletes from the source.
  const bool deletes = cmd.options.cleanup;
  auto identity =
      check_identity(loop, engine::IdentityCheck{cmd, **src, **dst, *src_facts, *dst_facts, *src_cluster,
                                                 *dst_cluster, deletes, !deletes, "cleanup"});
  if (!identity) return identity.error();
  if (identity->in_place) cmd.options.selection.renamed_only = true;  // in place: only renamed keys moved
  if (writes_destination && !*dst_cluster && dst_facts->known && dst_facts->role == "slave") {
    return make_error(ExitCode::kDestinationRefused,
                      cmd.destination.label + " is a read-only replica (role: slave" +
                          (dst_facts->primary.empty() ? "" : ", primary at " + dst_facts->primary) +
                          "): point the destination URL at the primary");
  }
  spdlog::info("source {}{} (version {}), destination {}{} (version {})", cmd.source_url,
               *src_cluster ? " [cluster]" : "", src_facts->version.empty() ? "?" : src_facts->version,
               cmd.destination_url, *dst_cluster ? " [cluster]" : "",
               dst_facts->version.empty() ? "?" : dst_facts->version);
  auto sources = open_sources(loop, cmd, std::move(*src), *src_cluster);
  if (!sources) return sources.error();
  if (identity->in_place && deletes) {
    // In place, a swap or chain of rules would let two keys be deleted against each other.
    if (auto st = prescan_collisions(loop, cmd, *sources, 32u << 20, true); !st) return st.error();
  }
  auto destination = open_destination(loop, cmd, std::move(*dst), *dst_facts, *dst_cluster);
  if (!destination) return destination.error();
  CommandNeeds needs;
  needs.source_scripts = cmd.options.cleanup && !cmd.options.dry_run;
  if (auto st = check_commands(loop, *sources, *destination, needs, cmd.options); !st) return st.error();
  sides.sources = std::move(*sources);
  sides.destination = std::move(*destination);
  sides.source_facts = std::move(*src_facts);
  sides.destination_facts = std::move(*dst_facts);
  for (const auto& n : sides.sources)
    sides.source_keys += n.dbsize;
  return sides;
}

}  // namespace rmig::copy
