#include "copy/copy_command.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <random>

#include "cluster/slot.hpp"
#include "cluster/topology.hpp"
#include "copy/copy_task.hpp"
#include "copy/engine.hpp"
#include "copy/plan_task.hpp"
#include "net/loop.hpp"
#include "net/signals.hpp"
#include "report/format.hpp"
#include "report/progress.hpp"
#include "resp/info.hpp"
#include "resp/probe.hpp"

namespace rmig::copy {

namespace {

using Clock = std::chrono::steady_clock;
using ConnectionPtr = std::unique_ptr<resp::Connection>;

const char* policy_name(ConflictPolicy p) { return p == ConflictPolicy::kReplace ? "replace" : "skip"; }

// The options of one cluster node, derived from the side's URL options (TLS, credentials, timeouts).
resp::ConnectOptions node_options(const resp::ConnectOptions& base, const cluster::NodeInfo& n,
                                  bool readonly) {
  resp::ConnectOptions o = base;
  o.endpoint.kind = net::Endpoint::Kind::kTcp;
  o.endpoint.host = n.host;
  o.endpoint.port = n.port;
  o.db = 0;
  o.readonly = readonly;
  o.label = base.side + " node " + n.address();
  return o;
}

Result<ConnectionPtr> open(net::Loop& loop, const resp::ConnectOptions& o) {
  auto c = std::make_unique<resp::Connection>(loop, o, nullptr);
  if (auto st = resp::open_sync(loop, *c); !st) return st.error();
  return c;
}

Result<uint64_t> dbsize(net::Loop& loop, resp::Connection& c) {
  auto r = resp::call_sync(loop, c, {"DBSIZE"});
  if (!r) return r.error();
  return resp::is_integer(r->get()) ? static_cast<uint64_t>((*r)->integer) : 0;  // refused: no ETA
}

// INFO memory's used_memory_dataset (Redis >= 4), or 0 when refused or absent.
uint64_t dataset_bytes(net::Loop& loop, resp::Connection& c) {
  auto r = resp::call_sync(loop, c, {"INFO", "memory"});
  if (!r || !resp::is_string(r->get())) return 0;
  auto info = resp::parse_info(resp::text(r->get()));
  return std::strtoull(info["used_memory_dataset"].c_str(), nullptr, 10);
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
  const bool cluster = mode == ClusterMode::kOn || (mode == ClusterMode::kAuto && facts.cluster);
  if (cluster && o.db != 0) {
    return make_error(ExitCode::kUsage, o.side + " " + url +
                                            " is a Redis Cluster, which has only db 0: remove /" +
                                            std::to_string(o.db) + " from the URL");
  }
  if (mode == ClusterMode::kOn && facts.known && !facts.cluster) {
    return make_error(
        ExitCode::kUsage,
        o.side + " " + url + " is not a cluster node (cluster_enabled:0): drop --" + o.side + "-cluster on");
  }
  return cluster;
}

// Source: one node per shard of a cluster (its primary, or a replica with --read-from replicas), or the
// server.
Result<std::vector<SourceNode>> open_sources(net::Loop& loop, const CopyCommand& cmd, ConnectionPtr seed,
                                             bool cluster) {
  std::vector<SourceNode> nodes;
  if (!cluster) {
    if (cmd.read_from_replicas) {
      return make_error(ExitCode::kUsage,
                        "--read-from replicas needs a cluster source; to read from a standalone "
                        "replica, give the replica's URL as the source");
    }
    auto n = dbsize(loop, *seed);
    if (!n) return n.error();
    const uint64_t data = dataset_bytes(loop, *seed);
    nodes.push_back(SourceNode{std::move(seed), nullptr, cmd.source.endpoint.to_string(), *n, data});
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
    const uint64_t data = dataset_bytes(loop, *conn);
    nodes.push_back(SourceNode{std::move(conn), std::move(writer), read->address(), *n, data});
  }
  spdlog::info("source cluster: {} shard(s), reading from {}", nodes.size(),
               cmd.read_from_replicas ? "replicas" : "primaries");
  return nodes;
}

void sample_clock(net::Loop& loop, DestinationNode& node, const resp::ServerFacts& facts) {
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
Result<Destination> open_destination(net::Loop& loop, const CopyCommand& cmd, ConnectionPtr seed,
                                     const resp::ServerFacts& facts, bool cluster) {
  Destination d;
  d.cluster = cluster;
  if (!cluster) {
    DestinationNode node{std::move(seed), {}};
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
    DestinationNode node{std::move(*conn), {}};
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

// Checks that only need the two seed connections.
Status check_servers(const CopyCommand& cmd, const resp::ServerFacts& src, const resp::ServerFacts& dst,
                     bool dst_cluster) {
  if (src.known && dst.known && !src.run_id.empty() && src.run_id == dst.run_id &&
      cmd.source.db == cmd.destination.db) {
    return make_error(ExitCode::kUsage,
                      "source and destination are the same database (" + cmd.destination.label +
                          "): every key would land on itself; choose another destination db "
                          "(e.g. /0 vs /1)");
  }
  if (!dst_cluster && dst.known && dst.role == "slave") {
    return make_error(ExitCode::kDestinationRefused,
                      cmd.destination.label + " is a read-only replica (role: slave" +
                          (dst.primary.empty() ? "" : ", primary at " + dst.primary) +
                          "): point the destination URL at the primary");
  }
  return {};
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
DestinationTraits destination_traits(const resp::ServerFacts& dst) {
  const int v = version_number(dst);
  DestinationTraits t;
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
void plan_path(report::RunReport& rep, const CopyOptions& o, const resp::ServerFacts& src,
               const resp::ServerFacts& dst) {
  const int src_rdb = resp::rdb_version(src);
  const int dst_rdb = resp::rdb_version(dst);
  auto side = [](const resp::ServerFacts& f, int rdb) {
    return resp::server_name(f) + ", RDB " + (rdb > 0 ? std::to_string(rdb) : std::string("unknown"));
  };
  const std::string dst_text = "the destination (" + side(dst, dst_rdb) + ")";
  const std::string src_text = "the source (" + side(src, src_rdb) + ")";
  const bool known = src_rdb > 0 && dst_rdb > 0;
  const bool readable = known && src_rdb <= dst_rdb;
  std::string expected;
  std::string text;
  switch (o.mode) {
    case CopyMode::kRewrite:
      expected = "rewrite";
      text = "rewrite path for every key (--mode rewrite)";
      break;
    case CopyMode::kDump:
      expected = "dump";
      text = "dump path for every key (--mode dump)";
      if (known && !readable) {
        text += "; " + dst_text + " cannot read DUMP payloads of " + src_text +
                ": keys will fail, use --mode auto";
      }
      break;
    case CopyMode::kAuto:
      if (!known) {
        expected = "dump";
        text =
            "dump path, switching to the rewrite path if the destination refuses a payload (versions "
            "not known: " +
            side(src, src_rdb) + " -> " + side(dst, dst_rdb) + ")";
      } else if (!readable) {
        expected = "rewrite";
        text = "rewrite path: " + dst_text + " cannot read DUMP payloads of " + src_text;
      } else {
        expected = "dump";
        text = "dump path: " + dst_text + " reads DUMP payloads of " + src_text;
      }
      if (o.big_key_threshold > 0) {
        text += "; big keys over the threshold (" + report::human_bytes(o.big_key_threshold) + "): rewrite";
      }
      break;
  }
  rep.path = text;
  rep.path_detail = {{"mode", o.mode == CopyMode::kAuto   ? "auto"
                              : o.mode == CopyMode::kDump ? "dump"
                                                          : "rewrite"},
                     {"expected", expected},
                     {"big_key_threshold", o.mode == CopyMode::kAuto ? o.big_key_threshold : 0},
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
  rep.command = "copy";
  rep.source = cmd.source_url;
  rep.destination = cmd.destination_url;
  rep.dry_run = cmd.options.dry_run;
  rep.conflict_policy = policy_name(cmd.options.conflict);
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
    auto src = open(loop, cmd.source);
    if (!src) return failed(src.error());
    auto dst = open(loop, cmd.destination);
    if (!dst) return failed(dst.error());
    auto src_facts = resp::probe_server(loop, **src);
    if (!src_facts) return failed(src_facts.error());
    auto dst_facts = resp::probe_server(loop, **dst);
    if (!dst_facts) return failed(dst_facts.error());
    auto src_cluster = is_cluster(cmd.source_cluster, *src_facts, cmd.source, cmd.source_url);
    if (!src_cluster) return failed(src_cluster.error());
    auto dst_cluster = is_cluster(cmd.destination_cluster, *dst_facts, cmd.destination, cmd.destination_url);
    if (!dst_cluster) return failed(dst_cluster.error());
    if (auto ok = check_servers(cmd, *src_facts, *dst_facts, *dst_cluster); !ok) return failed(ok.error());
    spdlog::info("source {}{} (version {}), destination {}{} (version {})", cmd.source_url,
                 *src_cluster ? " [cluster]" : "", src_facts->version.empty() ? "?" : src_facts->version,
                 cmd.destination_url, *dst_cluster ? " [cluster]" : "",
                 dst_facts->version.empty() ? "?" : dst_facts->version);

    CopyOptions options = cmd.options;
    options.destination = destination_traits(*dst_facts);
    options.run_id = random_run_id();
    plan_path(rep, options, *src_facts, *dst_facts);

    auto sources = open_sources(loop, cmd, std::move(*src), *src_cluster);
    if (!sources) return failed(sources.error());
    auto destination = open_destination(loop, cmd, std::move(*dst), *dst_facts, *dst_cluster);
    if (!destination) return failed(destination.error());
    uint64_t keys = 0;
    for (const auto& n : *sources)
      keys += n.dbsize;
    rep.source_keys = keys;

    CopyTask copy_task;
    PlanTask plan_task;
    KeyTask& task = cmd.options.dry_run ? static_cast<KeyTask&>(plan_task) : copy_task;
    Engine pipeline(loop, options, std::move(*sources), std::move(*destination), cmd.source, cmd.destination,
                    task);
    report::Progress progress(keys);
    struct Ticker {
      Engine* pipeline;
      report::Progress* progress;
    } ticker{&pipeline, &progress};
    net::Timer progress_timer(loop, &ticker, [](void* p) {
      auto* t = static_cast<Ticker*>(p);
      t->progress->print(t->pipeline->totals(), t->pipeline->in_flight(),
                         t->pipeline->paused_by_destination());
    });
    progress_timer.unref();
    net::SignalWatcher signals(loop, [&](int signum) { pipeline.stop(signum); });
    bool done = false;
    pipeline.start([&] {
      done = true;
      progress_timer.stop();
      signals.close();
    });
    if (cmd.progress_interval_ms > 0 && !done) {
      progress_timer.start(cmd.progress_interval_ms, cmd.progress_interval_ms);
    }
    while (!done) {
      if (uv_run(loop.get(), UV_RUN_ONCE) == 0 && !done) {
        // Nothing left that could finish the run: a bug, reported instead of spinning.
        pipeline.stop(0);
        rep.fatal =
            make_error(ExitCode::kKeysFailed, "internal error: the event loop ran dry before the copy ended");
        break;
      }
    }
    progress_timer.stop();

    EngineResult result = pipeline.take_result();
    rep.totals = result.total;
    rep.nodes = std::move(result.nodes);
    rep.errors = std::move(result.errors);
    rep.examples = std::move(result.examples);
    rep.big_keys = cmd.options.dry_run ? plan_task.big_keys() : copy_task.big_keys();
    if (!rep.fatal) rep.fatal = std::move(result.fatal);
    rep.signal = result.signal;
  }
  if (int rc = loop.close(); rc != 0) spdlog::debug("event loop closed with handles still open ({})", rc);
  return finish(rep);
}

}  // namespace rmig::copy
