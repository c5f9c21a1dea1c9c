#include "engine/safety.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <random>
#include <set>
#include <vector>

#include "cluster/topology.hpp"
#include "resp/info.hpp"
#include "resp/server_error.hpp"
#include "select/rename.hpp"
#include "state/lock.hpp"
#include "state/state_store.hpp"

namespace rmig::engine {

namespace {

std::string lower(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool loopback(const std::string& host) {
  const std::string h = lower(host);
  return h == "localhost" || h == "::1" || h.rfind("127.", 0) == 0;
}

// Two TCP addresses that name one listener as far as the names tell (no DNS lookup).
bool same_address(const std::string& host_a, int port_a, const std::string& host_b, int port_b) {
  if (port_a != port_b || port_a == 0) return false;
  return lower(host_a) == lower(host_b) || (loopback(host_a) && loopback(host_b));
}

bool same_endpoint(const net::Endpoint& a, const net::Endpoint& b) {
  if (a.kind != b.kind) return false;
  if (a.kind == net::Endpoint::Kind::kUnix) return a.path == b.path;
  return same_address(a.host, a.port, b.host, b.port);
}

// Two "host:port" texts that name one listener.
bool same_host_port(const std::string& a, const std::string& b) {
  const std::size_t ca = a.rfind(':'), cb = b.rfind(':');
  if (ca == std::string::npos || cb == std::string::npos) return false;
  return same_address(a.substr(0, ca), std::atoi(a.c_str() + ca + 1), b.substr(0, cb),
                      std::atoi(b.c_str() + cb + 1));
}

// "host:port" -> whether it names the endpoint (or the server's own tcp_port on the endpoint's host).
bool names(const std::string& address, const net::Endpoint& ep, int server_port) {
  const std::size_t colon = address.rfind(':');
  if (colon == std::string::npos || ep.kind != net::Endpoint::Kind::kTcp) return false;
  const std::string host = address.substr(0, colon);
  const int port = std::atoi(address.c_str() + colon + 1);
  return same_address(host, port, ep.host, ep.port) ||
         (server_port != 0 && same_address(host, port, ep.host, server_port));
}

std::string random_hex(std::size_t n) {
  std::random_device rd;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s(n, '0');
  for (auto& c : s)
    c = kHex[rd() % 16];
  return s;
}

// A cluster node's own id and the ids of every node it knows; empty when CLUSTER is refused or disabled.
struct ClusterIds {
  std::string self;
  std::set<std::string> all;
  std::vector<std::string> addresses;  // "host:port" of every node, as the cluster announces them
  std::string refused;                 // why the ids are unknown
};

ClusterIds cluster_ids(net::Loop& loop, resp::Connection& c) {
  ClusterIds out;
  auto myid = resp::call_sync(loop, c, {"CLUSTER", "MYID"});
  if (myid && resp::is_string(myid->get())) out.self = std::string(resp::text(myid->get()));
  auto nodes = resp::call_sync(loop, c, {"CLUSTER", "NODES"});
  if (nodes && resp::is_string(nodes->get())) {
    std::string_view text = resp::text(nodes->get());
    while (!text.empty()) {
      const std::size_t eol = text.find('\n');
      std::string_view line = text.substr(0, eol);
      text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
      const std::size_t space = line.find(' ');
      if (space != std::string_view::npos && space > 0) {
        out.all.emplace(line.substr(0, space));
        // "<id> <host>:<port>@<cport>[,<hostname>] <flags> ..."
        const std::string_view rest = line.substr(space + 1);
        const std::size_t end = rest.find_first_of("@ ,");
        out.addresses.emplace_back(rest.substr(0, end));
        if (out.self.empty() && line.find("myself") != std::string_view::npos)
          out.self = std::string(line.substr(0, space));
      }
    }
  } else {
    // CLUSTER NODES refused: CLUSTER SHARDS / SLOTS name the nodes too.
    auto topo = cluster::discover(loop, c);
    if (topo) {
      for (const auto& s : topo->shards) {
        if (!s.primary.id.empty()) out.all.insert(s.primary.id);
        out.addresses.push_back(s.primary.address());
        for (const auto& r : s.replicas) {
          if (!r.id.empty()) out.all.insert(r.id);
          out.addresses.push_back(r.address());
        }
      }
    }
    if (out.all.empty()) {
      out.refused = nodes ? std::string(resp::describe(nodes->get())) : nodes.error().message;
    }
  }
  if (!out.self.empty()) out.all.insert(out.self);
  return out;
}

enum class Probe { kDistinct, kSame, kUnknown };

// Writes <prefix>identity-probe:<random> on the destination (60 s TTL) and looks it up on the source. The
// key is deleted afterwards. WAIT gives a replica of the destination the time to receive it.
Result<Probe> probe_key(net::Loop& loop, const IdentityCheck& c, std::string* key_out, std::string* why) {
  const std::string key = c.cmd.state.prefix + "identity-probe:" + random_hex(16);
  *key_out = key;
  state::StateClient dst(loop, c.cmd.destination);
  auto set = dst.call(key, {"SET", key, "redis-migrate identity probe", "PX", "60000"});
  if (!set) return set.error();
  if (resp::is_error(set->get())) {
    const std::string_view msg = resp::text(set->get());
    if (resp::classify_error(msg) == resp::ServerError::kReadOnly) {
      return make_error(ExitCode::kDestinationRefused, c.cmd.destination.label + " is a read-only replica (" +
                                                           std::string(msg) +
                                                           "): point the destination URL at the primary");
    }
    *why = "the destination refused to write " + key + " (" + std::string(msg) + ")";
    return Probe::kUnknown;
  }
  auto wait = dst.call(key, {"WAIT", "1", "250"});
  (void)wait;  // refused or 0 replicas: the lookup below is the evidence either way
  state::StateClient src(loop, c.cmd.source);
  auto exists = src.call(key, {"EXISTS", key});
  auto del = dst.call(key, {"DEL", key});
  if (!del || resp::is_error(del->get()))
    spdlog::debug("could not delete the probe key {}; it expires in 60s", key);
  if (!exists) return exists.error();
  const redisReply* r = exists->get();
  if (!resp::is_integer(r)) {
    *why = "the source refused EXISTS " + key + " (" + resp::describe(r) + ")";
    return Probe::kUnknown;
  }
  return r->integer > 0 ? Probe::kSame : Probe::kDistinct;
}

std::string who(const resp::ConnectOptions& o) { return o.endpoint.to_string(); }

}  // namespace

bool evicting_policy(const std::string& policy) noexcept { return policy != "noeviction"; }

Result<Identity> check_identity(net::Loop& loop, const IdentityCheck& c) {
  const copy::CopyCommand& cmd = c.cmd;
  const resp::ServerFacts& s = c.source_facts;
  const resp::ServerFacts& d = c.destination_facts;
  const Selection& sel = cmd.options.selection;
  const bool renaming = sel.rename && !sel.rename->empty();
  const bool overwrites =
      cmd.options.conflict == ConflictPolicy::kReplace || cmd.options.conflict == ConflictPolicy::kMerge;
  const bool destructive = c.deletes || overwrites;
  const bool same_db = cmd.all_dbs || cmd.source.db == cmd.destination.db;
  Identity id;

  // One keyspace: allowed only as an in-place rename.
  auto one_keyspace = [&](const std::string& evidence) -> Result<Identity> {
    if (renaming) {
      spdlog::info("{}: keys are renamed in place", evidence);
      id.in_place = true;
      return id;
    }
    std::string what = c.deletes    ? c.command_name + " would delete the only copy of every key"
                       : overwrites ? c.command_name + " would write every key over itself"
                                    : "every key would land on itself";
    return make_error(ExitCode::kUsage,
                      evidence + ": " + what +
                          ". Give the other server's URL as destination (or another "
                          "db, e.g. /0 vs /1), or rename keys in place with --rename-prefix "
                          "/ --rename");
  };

  // 1. The same server: the same endpoint in both URLs, or one run_id.
  std::string server_evidence;
  if (same_endpoint(cmd.source.endpoint, cmd.destination.endpoint)) {
    server_evidence = "both URLs name the server " + who(cmd.destination);
  } else if (s.known && d.known && !s.run_id.empty() && s.run_id == d.run_id) {
    server_evidence = "both URLs reach the server with run_id " + s.run_id;
  }
  if (!server_evidence.empty()) {
    id.same_server = true;
    if (!same_db) return id;  // two databases of one server: different keys
    return one_keyspace("source and destination are the same database (" + cmd.destination.label + "; " +
                        server_evidence + ")");
  }

  // 2. One cluster: the node ids either side knows overlap.
  std::string unknown;  // why identity could not be established, empty when it was
  // A cluster node is one whatever mode the run treats it in (--source-cluster off reads one node of it).
  const bool src_cluster = c.source_cluster || (s.known && s.cluster);
  const bool dst_cluster = c.destination_cluster || (d.known && d.cluster);
  const bool maybe_cluster = (src_cluster || !s.known) && (dst_cluster || !d.known);
  if (maybe_cluster && (src_cluster || dst_cluster || destructive)) {
    ClusterIds a = cluster_ids(loop, c.source);
    ClusterIds b = cluster_ids(loop, c.destination);
    std::string shared;
    for (const auto& n : a.all) {
      if (b.all.count(n) != 0) {
        shared = n;
        break;
      }
    }
    if (!shared.empty()) {
      std::set<std::string> every = a.all;
      every.insert(b.all.begin(), b.all.end());
      const std::string cluster = *every.begin();  // the lowest node id names the cluster
      return one_keyspace("both URLs reach cluster " + cluster + ": " + who(cmd.source) +
                          (a.self.empty() ? "" : " (node " + a.self + ")") + " and " + who(cmd.destination) +
                          (b.self.empty() ? "" : " (node " + b.self + ")") + " are nodes of one cluster");
    }
    if (src_cluster && dst_cluster && (a.all.empty() || b.all.empty())) {
      unknown = "CLUSTER NODES and CLUSTER SHARDS refused (" + (a.all.empty() ? a.refused : b.refused) + ")";
    }
  }

  // 3. A primary and its replica, in either direction, or two replicas of one primary.
  if (s.known && d.known) {
    std::string evidence;
    // Every replica reports its primary's replication id (a promoted replica takes a new one).
    if (!s.replid.empty() && s.replid == d.replid) evidence = "both report the replication id " + s.replid;
    if (d.role == "slave" && names(d.primary, cmd.source.endpoint, s.port)) {
      evidence = "the destination's primary is " + d.primary + ", the source";
    } else if (s.role == "slave" && names(s.primary, cmd.destination.endpoint, d.port)) {
      evidence = "the source's primary is " + s.primary + ", the destination";
    }
    // A standalone replica of one node of a cluster on the other side: its primary is any of the cluster's
    // nodes, not only the one the URL names.
    std::string node_side;
    if (evidence.empty() && d.role == "slave" && src_cluster && !dst_cluster) {
      for (const auto& a : cluster_ids(loop, c.source).addresses) {
        if (same_host_port(d.primary, a)) {
          evidence = "the destination's primary is " + d.primary + ", a node of the source cluster";
          node_side =
              "the destination " + who(cmd.destination) + " is a replica of the source cluster's node " + a;
          break;
        }
      }
    } else if (evidence.empty() && s.role == "slave" && dst_cluster && !src_cluster) {
      for (const auto& a : cluster_ids(loop, c.destination).addresses) {
        if (same_host_port(s.primary, a)) {
          evidence = "the source's primary is " + s.primary + ", a node of the destination cluster";
          node_side =
              "the source " + who(cmd.source) + " is a replica of the destination cluster's node " + a;
          break;
        }
      }
    }
    if (!evidence.empty()) {
      if (c.read_only) return id;  // verify may compare a replica with its primary
      const std::string relation =
          !node_side.empty() ? node_side
          : d.role == "slave" && s.role != "slave"
              ? "the destination " + who(cmd.destination) + " is a replica of the source " + who(cmd.source)
          : s.role == "slave" && d.role != "slave"
              ? "the source " + who(cmd.source) + " is a replica of the destination " + who(cmd.destination)
              : "the source " + who(cmd.source) + " and the destination " + who(cmd.destination) +
                    " are replicas of one primary";
      return make_error(ExitCode::kUsage, relation + " (" + evidence +
                                              "): both URLs reach the same data, so a copy would land "
                                              "on itself and a deletion would delete the only copy. "
                                              "Give the URL of a server outside this replication group");
    }
  }

  if (!s.known || !d.known || s.run_id.empty() || d.run_id.empty()) {
    unknown +=
        std::string(unknown.empty() ? "" : "; ") +
        (!s.known || s.run_id.empty() ? "INFO refused on the source" : "INFO refused on the destination");
  }
  if (unknown.empty() || !destructive || c.read_only) {
    if (!unknown.empty()) spdlog::debug("identity of source and destination not established: {}", unknown);
    return id;
  }

  // 4. INFO or CLUSTER refused: a probe key written on the destination, looked up on the source.
  if (!cmd.options.dry_run) {
    std::string key, why;
    auto probe = probe_key(loop, c, &key, &why);
    if (!probe) return probe.error();
    if (*probe == Probe::kSame) {
      return one_keyspace("source and destination are the same data (" + unknown + "; the probe key " + key +
                          " written on the destination is visible on the source)");
    }
    if (*probe == Probe::kDistinct) {
      spdlog::info(
          "source and destination are different data ({}; the probe key {} written on the "
          "destination is not on the source)",
          unknown, key);
      return id;
    }
    unknown += "; " + why;
  }
  if (!c.deletes) {
    spdlog::warn("cannot tell whether source and destination are the same data ({}): {} goes ahead", unknown,
                 c.command_name);
    return id;
  }
  if (cmd.assume_distinct) {
    spdlog::warn(
        "cannot tell whether source and destination are the same data ({}): going ahead because of "
        "--assume-distinct",
        unknown);
    return id;
  }
  if (cmd.options.dry_run) {
    spdlog::warn(
        "cannot tell whether source and destination are the same data without INFO ({}); the real "
        "run writes a probe key under {} to find out",
        unknown, cmd.state.prefix);
    return id;
  }
  return make_error(
      ExitCode::kUsage,
      "cannot tell whether source and destination are the same data (" + unknown + "), and " +
          c.command_name +
          " would delete the only copy of every key if they are: grant +info to both users (ACL SETUSER "
          "<user> +info), or the tool's keys under the state prefix (" +
          state::tool_keys_acl(cmd.state.prefix) + " on the destination, ~" + cmd.state.prefix +
          "* +exists on the source), or pass --assume-distinct (ASSUME_DISTINCT=1) if you know they are "
          "different servers or databases");
}

Result<std::string> check_eviction_policy(net::Loop& loop, Destination& destination,
                                          const copy::CopyCommand& cmd, const std::string& command_name) {
  for (auto& node : destination.nodes) {
    auto r = resp::call_sync(loop, *node.conn, {"INFO", "memory"});
    if (!r) return r.error();
    std::string policy;
    if (resp::is_string(r->get())) {
      auto info = resp::parse_info(resp::text(r->get()));
      auto it = info.find("maxmemory_policy");
      if (it != info.end()) policy = it->second;
    }
    const std::string where = node.conn->label();
    if (policy.empty()) {
      if (cmd.allow_evicting_destination) {
        spdlog::warn(
            "{}: maxmemory_policy unknown (INFO memory refused); going ahead because of "
            "--allow-evicting-destination",
            where);
        continue;
      }
      std::string why = where;
      why += ": cannot read maxmemory_policy (INFO memory: ";
      why += resp::is_string(r->get()) ? std::string("no such field") : resp::describe(r->get());
      why += "), and ";
      why += command_name;
      why +=
          " must not delete source keys whose copies the destination may evict: grant the destination user "
          "+info, or pass --allow-evicting-destination";
      return make_error(ExitCode::kDestinationRefused, std::move(why));
    }
    if (!evicting_policy(policy)) continue;
    if (cmd.allow_evicting_destination) {
      spdlog::warn(
          "{} evicts keys (maxmemory-policy {}): deleting anyway because of "
          "--allow-evicting-destination; an eviction seen during the run stops every deletion",
          where, policy);
      return policy;
    }
    std::string why = where;
    why += " evicts keys (maxmemory-policy ";
    why += policy;
    why += "): ";
    why += command_name;
    why +=
        " would delete source keys whose only copy the destination may evict. Set maxmemory-policy "
        "noeviction on the destination, or copy without --cleanup, verify, then clean up after the copy is "
        "safe (or pass --allow-evicting-destination)";
    return make_error(ExitCode::kDestinationRefused, std::move(why));
  }
  return std::string();
}

}  // namespace rmig::engine
