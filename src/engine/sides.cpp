#include "engine/sides.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <optional>

#include "cluster/slot.hpp"
#include "cluster/topology.hpp"
#include "engine/key_size_bound.hpp"
#include "report/format.hpp"
#include "resp/info.hpp"
#include "resp/server_error.hpp"
#include "scripts/scripts.hpp"
#include "select/glob.hpp"
#include "select/rename.hpp"

namespace rmig::engine {

namespace {

using Clock = std::chrono::steady_clock;

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

Result<uint64_t> dbsize(net::Loop& loop, resp::Connection& c) {
  auto r = resp::call_sync(loop, c, {"DBSIZE"});
  if (!r) return r.error();
  if (resp::is_integer(r->get())) return static_cast<uint64_t>((*r)->integer);
  spdlog::debug("{}: DBSIZE refused ({}); no ETA", c.label(), resp::describe(r->get()));
  return 0;
}

// --shard: the share of a node's DBSIZE that is the shard's, for the progress line, the ETA and `status`. A
// standalone source (no slot ranges): DBSIZE x the shard's slots / 16384. A cluster node: exact with CLUSTER
// COUNTKEYSINSLOT (one call per slot) over the shard's slots of the node, or DBSIZE minus the count of its
// other slots, whichever needs fewer calls, when that is at most kMaxSlotCalls; else, or when the command is
// refused, DBSIZE x the shard's slots of the node / the node's slots.
uint64_t shard_estimate(net::Loop& loop, resp::Connection& c, uint64_t dbsize, const select::Shard& shard,
                        const std::vector<std::pair<uint16_t, uint16_t>>& ranges) {
  constexpr uint32_t kMaxSlotCalls = 64;
  if (!shard.active() || dbsize == 0) return dbsize;
  if (ranges.empty()) return dbsize * (shard.end_slot() - shard.first_slot()) / 16384;
  std::vector<uint32_t> owned, other;
  for (auto [a, b] : ranges) {
    for (uint32_t slot = a; slot <= b; ++slot)
      (shard.owns(slot) ? owned : other).push_back(slot);
  }
  const uint64_t node_slots = owned.size() + other.size();
  if (other.empty()) return dbsize;
  const bool by_owned = owned.size() <= other.size();
  const std::vector<uint32_t>& count = by_owned ? owned : other;
  if (count.size() <= kMaxSlotCalls) {
    uint64_t sum = 0;
    bool exact = true;
    for (uint32_t slot : count) {
      auto r = resp::call_sync(loop, c, {"CLUSTER", "COUNTKEYSINSLOT", std::to_string(slot)});
      if (!r || !resp::is_integer(r->get())) {
        spdlog::debug("{}: CLUSTER COUNTKEYSINSLOT refused ({}); the shard's keys estimated by its slots",
                      c.label(), r ? resp::describe(r->get()) : r.error().message);
        exact = false;
        break;
      }
      sum += static_cast<uint64_t>(std::max<long long>(0, (*r)->integer));
    }
    if (exact) return by_owned ? sum : dbsize - std::min(sum, dbsize);
  }
  return dbsize * owned.size() / node_slots;
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
  // A db other than 0 was SELECTed on the seed already: a cluster that refuses it failed in
  // open_connection().
  const bool cluster = mode == ClusterMode::kOn || (mode == ClusterMode::kAuto && facts.cluster);
  if (mode == ClusterMode::kOn && facts.known && !facts.cluster) {
    return make_error(
        ExitCode::kUsage,
        o.side + " " + url + " is not a cluster node (cluster_enabled:0): drop --" + o.side + "-cluster on");
  }
  return cluster;
}

}  // namespace

Result<ConnectionPtr> open_connection(net::Loop& loop, const resp::ConnectOptions& o) {
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
    const bool valkey9 = facts->version.valkey() && facts->version.at_least(9);
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

namespace {

void sample_clock(net::Loop& loop, engine::DestinationNode& node, const resp::ServerFacts& facts) {
  // ABSTTL needs Redis >= 5 and TIME; without them, relative TTLs are used.
  if (facts.version.known() && !facts.version.at_least(5)) return;
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

Result<cluster::Topology> read_slot_map(net::Loop& loop, const resp::ConnectOptions& base,
                                        const cluster::Topology* known) {
  auto c = open_connection(loop, base);
  Result<cluster::Topology> t = c ? cluster::discover(loop, **c) : Result<cluster::Topology>(c.error());
  if (t || known == nullptr) return t;
  for (const auto& shard : known->shards) {
    std::vector<const cluster::NodeInfo*> nodes{&shard.primary};
    for (const auto& r : shard.replicas)
      nodes.push_back(&r);
    for (const cluster::NodeInfo* n : nodes) {
      auto other = open_connection(loop, node_options(base, *n, false));
      if (!other) continue;
      if (auto again = cluster::discover(loop, **other)) return again;
    }
  }
  return t;
}

Result<std::map<int, uint64_t>> cluster_db_keys(net::Loop& loop, const resp::ConnectOptions& base,
                                                resp::Connection& seed) {
  auto topo = cluster::discover(loop, seed);
  if (!topo) return topo.error();
  std::map<int, uint64_t> out;
  for (const auto& shard : topo->shards) {
    auto c = open_connection(loop, node_options(base, shard.primary, false));
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

Result<std::vector<SourceNode>> open_sources(net::Loop& loop, const RunSpec& spec, ConnectionPtr seed,
                                             bool cluster) {
  std::vector<engine::SourceNode> nodes;
  if (const select::Shard& sh = spec.options.selection.shard; sh.active()) {
    spdlog::info("shard {}: {} of 16384, keys of other slots are left to the other shards{}", sh.text(),
                 sh.slots_text(), cluster ? "" : " (a standalone source: every shard scans every key)");
  }
  if (!cluster) {
    if (spec.read_from_replicas) {
      return make_error(ExitCode::kUsage,
                        "--read-from replicas needs a cluster source; to read from a standalone "
                        "replica, give the replica's URL as the source");
    }
    auto n = dbsize(loop, *seed);
    if (!n) return n.error();
    const uint64_t data = key_size_bound(loop, *seed);
    const uint64_t keys = shard_estimate(loop, *seed, *n, spec.options.selection.shard, {});
    if (spec.options.selection.shard.active()) {
      spdlog::info("shard {}: ~{} of the source's {} keys (its share of the slots)",
                   spec.options.selection.shard.text(), report::thousands(keys), report::thousands(*n));
    }
    nodes.push_back(
        engine::SourceNode{std::move(seed), nullptr, spec.source.endpoint.to_string(), keys, data, {}});
    return nodes;
  }
  auto topo = cluster::discover(loop, *seed);
  if (!topo) return topo.error();
  if (topo->shards.empty())
    return make_error(ExitCode::kConnect, spec.source.label + ": the cluster has no shards");
  const select::Shard& part = spec.options.selection.shard;
  std::size_t skipped = 0;
  uint64_t node_keys = 0, shard_keys = 0;
  for (const auto& shard : topo->shards) {
    // --shard: a node that owns none of this shard's slots holds none of its keys.
    if (part.active() && std::none_of(shard.ranges.begin(), shard.ranges.end(), [&](const auto& r) {
          return r.second >= part.first_slot() && r.first < part.end_slot();
        })) {
      ++skipped;
      continue;
    }
    const cluster::NodeInfo* read = &shard.primary;
    bool replica = false;
    ConnectionPtr conn;
    if (spec.read_from_replicas) {
      for (const auto& r : shard.replicas) {
        if (r.failed) continue;
        auto c = open_connection(loop, node_options(spec.source, r, true));
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
      auto c = open_connection(loop, node_options(spec.source, *read, false));
      if (!c) return c.error();
      conn = std::move(*c);
    }
    ConnectionPtr writer;
    if (replica && spec.options.cleanup && !spec.options.dry_run) {
      auto w = open_connection(loop, node_options(spec.source, shard.primary, false));
      if (!w) return w.error();
      writer = std::move(*w);
    }
    auto n = dbsize(loop, *conn);
    if (!n) return n.error();
    const uint64_t data = key_size_bound(loop, *conn);
    const uint64_t keys = shard_estimate(loop, *conn, *n, part, shard.ranges);
    node_keys += *n;
    shard_keys += keys;
    nodes.push_back(
        engine::SourceNode{std::move(conn), std::move(writer), read->address(), keys, data, shard.ranges});
  }
  if (part.active()) {
    spdlog::info(
        "source cluster: {} of {} shard(s) own slots of --shard {}, reading from {}; ~{} of their {} keys "
        "are the shard's",
        nodes.size(), nodes.size() + skipped, part.text(), spec.read_from_replicas ? "replicas" : "primaries",
        report::thousands(shard_keys), report::thousands(node_keys));
  } else {
    spdlog::info("source cluster: {} shard(s), reading from {}", nodes.size(),
                 spec.read_from_replicas ? "replicas" : "primaries");
  }
  return nodes;
}

Result<Destination> open_destination(net::Loop& loop, const RunSpec& spec, ConnectionPtr seed,
                                     const resp::ServerFacts& facts, bool cluster) {
  engine::Destination d;
  d.cluster = cluster;
  if (!cluster) {
    engine::DestinationNode node{std::move(seed), {}};
    if (!spec.options.dry_run) sample_clock(loop, node, facts);
    d.nodes.push_back(std::move(node));
    return d;
  }
  auto topo = cluster::discover(loop, *seed);
  if (!topo) return topo.error();
  if (!topo->complete()) {
    return make_error(ExitCode::kDestinationRefused,
                      spec.destination.label +
                          ": the cluster does not cover every slot: fix it first "
                          "(redis-cli --cluster check / fix)");
  }
  d.slot_owner.assign(cluster::kSlotCount, 0);
  for (const auto& shard : topo->shards) {
    auto conn = open_connection(loop, node_options(spec.destination, shard.primary, false));
    if (!conn) return conn.error();
    engine::DestinationNode node{std::move(*conn), {}};
    if (!spec.options.dry_run) sample_clock(loop, node, facts);
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

Status prescan_collisions(net::Loop& loop, const RunSpec& spec, const std::vector<engine::SourceNode>& nodes,
                          std::size_t detector_bytes, bool cleanup) {
  const engine::Selection& sel = spec.options.selection;
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
  constexpr std::string_view kLiveWhy =
      " (--live deletes destination keys whose source key is gone, and its resync compares with a script "
      "calling DUMP, RESTORE and UNLINK)";
  auto add_scripts = [&](std::vector<Probe>& probes, std::string_view why) {
    probes.push_back({{"EVAL", scripts::probe().body(), "0"}, why, true});
    probes.push_back({{"UNLINK", key}, why, false});
    probes.push_back({{"DEL", key}, why, false});
  };
  for (auto& node : sources) {
    const bool own_writer = needs.source_scripts && node.writer;
    std::vector<Probe> probes;
    probes.push_back({{"SCAN", "0", "COUNT", "1"}, " (every key is found with SCAN)", true});
    if (needs.dump) {
      // --mode rewrite reads values with each type's own commands: no DUMP (a live run compares with DUMP).
      probes.push_back({{"DUMP", key},
                        needs.live
                            ? " (the dump path reads each key with DUMP)"
                            : " (the dump path reads each key with DUMP; --mode rewrite copies without it)",
                        true});
    }
    if (needs.live) {
      probes.push_back({{"EXISTS", key},
                        " (--live checks with EXISTS whether a destination key's source key is gone)",
                        true});
    }
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
      probes.push_back(
          {{"RESTORE", key, "0", "not a dump payload"},
           needs.live ? " (the dump path writes each key with RESTORE)"
                      : " (the dump path writes each key with RESTORE; --mode rewrite copies without it)",
           true});
    }
    // Strings written with SET (CopyOptions::string_writes): XX on a key that cannot exist writes nothing
    // where MULTI is refused. Refused, they are written with RESTORE.
    const std::size_t set_at = probes.size();
    if (needs.string_writes) probes.push_back({{"SET", key, "", "XX"}, "", false});
    if (needs.live) probes.push_back({{"DUMP", key}, kLiveWhy, true});
    const std::size_t scripts_at = probes.size();
    const bool scripts = needs.destination_scripts || needs.live;
    const std::string_view why = needs.live ? kLiveWhy : kMergeWhy;
    if (scripts) {
      add_scripts(probes, why);
    } else if (needs.destination_delete) {
      probes.push_back({{"UNLINK", key}, "", false});
      probes.push_back({{"DEL", key}, "", false});
    }
    if (probes.empty()) continue;
    auto probed = run_probes(loop, *node.conn, probes);
    if (!probed) return probed.error();
    if (const auto refused = needs.string_writes ? probed->refusal(set_at) : std::nullopt;
        refused && options.string_writes) {
      spdlog::info("{}: SET refused ({}): strings are written with RESTORE", node.conn->label(), *refused);
      options.string_writes = false;
    }
    if (scripts) {
      if (auto st = settle_delete(*node.conn, probed->refusal(scripts_at + 1),
                                  probed->refusal(scripts_at + 2), options.destination_scripts, why, false);
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

Result<CheckedSides> check_sides(net::Loop& loop, RunSpec& spec, const SideChecks& checks) {
  auto src = open_connection(loop, spec.source);
  if (!src) return src.error();
  auto dst = open_connection(loop, spec.destination);
  if (!dst) return dst.error();
  auto src_facts = resp::probe_server(loop, **src);
  if (!src_facts) return src_facts.error();
  auto dst_facts = resp::probe_server(loop, **dst);
  if (!dst_facts) return dst_facts.error();
  auto src_cluster = is_cluster(spec.source_cluster, *src_facts, spec.source, spec.source_url);
  if (!src_cluster) return src_cluster.error();
  auto dst_cluster = is_cluster(spec.destination_cluster, *dst_facts, spec.destination, spec.destination_url);
  if (!dst_cluster) return dst_cluster.error();
  // Source and destination must be different data, unless keys are renamed in place (keys no rule renames
  // stay where they are).
  auto identity = check_identity(
      loop, IdentityCheck{spec, **src, **dst, *src_facts, *dst_facts, *src_cluster, *dst_cluster,
                          checks.deletes, checks.read_only, checks.command_name});
  if (!identity) return identity.error();
  if (identity->in_place) spec.options.selection.renamed_only = true;
  if (checks.writes_destination && !*dst_cluster && dst_facts->known && dst_facts->role == "slave") {
    return make_error(ExitCode::kDestinationRefused,
                      spec.destination.label + " is a read-only replica (role: slave" +
                          (dst_facts->primary.empty() ? "" : ", primary at " + dst_facts->primary) +
                          "): point the destination URL at the primary");
  }
  spdlog::info("source {}{} (version {}), destination {}{} (version {})", spec.source_url,
               *src_cluster ? " [cluster]" : "",
               src_facts->version.text.empty() ? "?" : src_facts->version.text, spec.destination_url,
               *dst_cluster ? " [cluster]" : "",
               dst_facts->version.text.empty() ? "?" : dst_facts->version.text);
  CheckedSides out;
  out.source = std::move(*src);
  out.destination = std::move(*dst);
  out.source_facts = std::move(*src_facts);
  out.destination_facts = std::move(*dst_facts);
  out.source_cluster = *src_cluster;
  out.destination_cluster = *dst_cluster;
  out.identity = *identity;
  return out;
}

Result<Sides> open_sides(net::Loop& loop, RunSpec& spec, const SideChecks& checks) {
  auto checked = check_sides(loop, spec, checks);
  if (!checked) return checked.error();
  auto sources = open_sources(loop, spec, std::move(checked->source), checked->source_cluster);
  if (!sources) return sources.error();
  if (checked->identity.in_place && checks.deletes) {
    // In place, a swap or chain of rules would let two keys be deleted against each other.
    if (auto st = prescan_collisions(loop, spec, *sources, 32u << 20, true); !st) return st.error();
  }
  auto destination = open_destination(loop, spec, std::move(checked->destination), checked->destination_facts,
                                      checked->destination_cluster);
  if (!destination) return destination.error();
  CommandNeeds needs;
  needs.source_scripts = spec.options.cleanup && !spec.options.dry_run;
  if (auto st = check_commands(loop, *sources, *destination, needs, spec.options); !st) return st.error();
  Sides sides;
  sides.sources = std::move(*sources);
  sides.destination = std::move(*destination);
  sides.source_facts = std::move(checked->source_facts);
  sides.destination_facts = std::move(checked->destination_facts);
  for (const auto& n : sides.sources)
    sides.source_keys += n.dbsize;
  return sides;
}

}  // namespace rmig::engine
