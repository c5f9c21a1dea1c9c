#include "cluster/topology.hpp"

#include <algorithm>
#include <array>
#include <charconv>

#include "cluster/slot.hpp"
#include "resp/reply.hpp"

namespace rmig::cluster {

namespace {

Error bad(std::string_view what) {
  return make_error(ExitCode::kConnect, "unexpected cluster topology reply (" + std::string(what) + ")");
}

std::string_view str(const redisReply* r) { return resp::text(r); }

// A RESP2 map is an array of alternating keys and values.
const redisReply* field(const redisReply* map, std::string_view name) {
  if (!resp::is_array(map)) return nullptr;
  for (std::size_t i = 0; i + 1 < map->elements; i += 2) {
    if (str(map->element[i]) == name) return map->element[i + 1];
  }
  return nullptr;
}

std::optional<long long> number(const redisReply* r) { return resp::to_integer(r); }

}  // namespace

std::string NodeInfo::address() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

bool Topology::complete() const {
  std::vector<bool> owned(kSlotCount, false);
  for (const auto& s : shards) {
    for (auto [a, b] : s.ranges) {
      for (uint32_t slot = a; slot <= b && slot < kSlotCount; ++slot)
        owned[slot] = true;
    }
  }
  return std::all_of(owned.begin(), owned.end(), [](bool b) { return b; });
}

Result<Topology> parse_cluster_shards(const redisReply* reply, bool tls) {
  if (!resp::is_array(reply)) return bad("CLUSTER SHARDS is not an array");
  Topology t;
  for (std::size_t i = 0; i < reply->elements; ++i) {
    const redisReply* shard = reply->element[i];
    const redisReply* slots = field(shard, "slots");
    const redisReply* nodes = field(shard, "nodes");
    if (!resp::is_array(slots) || !resp::is_array(nodes)) return bad("shard without slots or nodes");
    Shard s;
    for (std::size_t k = 0; k + 1 < slots->elements; k += 2) {
      auto a = number(slots->element[k]);
      auto b = number(slots->element[k + 1]);
      if (!a || !b || *a < 0 || *b >= kSlotCount || *a > *b) return bad("slot range");
      s.ranges.emplace_back(static_cast<uint16_t>(*a), static_cast<uint16_t>(*b));
    }
    bool have_primary = false;
    for (std::size_t k = 0; k < nodes->elements; ++k) {
      const redisReply* n = nodes->element[k];
      NodeInfo info;
      info.id = std::string(str(field(n, "id")));
      std::string endpoint(str(field(n, "endpoint")));
      std::string ip(str(field(n, "ip")));
      std::string hostname(str(field(n, "hostname")));
      // The preferred endpoint is what clients are told to use; "?" means unknown.
      info.host = !endpoint.empty() && endpoint != "?" ? endpoint : (!hostname.empty() ? hostname : ip);
      auto port =
          tls && field(n, "tls-port") != nullptr ? number(field(n, "tls-port")) : number(field(n, "port"));
      if (!port || *port <= 0 || *port > 65535 || info.host.empty()) continue;
      info.port = static_cast<uint16_t>(*port);
      info.failed = str(field(n, "health")) == "fail";
      const std::string_view role = str(field(n, "role"));
      if (role == "master" || role == "primary") {
        if (have_primary) continue;
        s.primary = std::move(info);
        have_primary = true;
      } else {
        s.replicas.push_back(std::move(info));
      }
    }
    // Shards without slots (an empty primary being added) hold no keys.
    if (!have_primary || s.ranges.empty()) continue;
    t.shards.push_back(std::move(s));
  }
  return t;
}

Result<Topology> parse_cluster_slots(const redisReply* reply) {
  if (!resp::is_array(reply)) return bad("CLUSTER SLOTS is not an array");
  Topology t;
  for (std::size_t i = 0; i < reply->elements; ++i) {
    const redisReply* range = reply->element[i];
    if (!resp::is_array(range) || range->elements < 3) return bad("slot range entry");
    auto a = number(range->element[0]);
    auto b = number(range->element[1]);
    if (!a || !b || *a < 0 || *b >= kSlotCount || *a > *b) return bad("slot range");
    auto node = [&](const redisReply* n) -> std::optional<NodeInfo> {
      if (!resp::is_array(n) || n->elements < 2) return std::nullopt;
      NodeInfo info;
      info.host = std::string(str(n->element[0]));
      auto port = number(n->element[1]);
      if (!port || *port <= 0 || *port > 65535) return std::nullopt;
      info.port = static_cast<uint16_t>(*port);
      if (n->elements > 2) info.id = std::string(str(n->element[2]));
      return info;
    };
    auto primary = node(range->element[2]);
    if (!primary) return bad("slot owner");
    // Group ranges by primary into one shard.
    auto it = std::find_if(t.shards.begin(), t.shards.end(), [&](const Shard& s) {
      return (!primary->id.empty() && s.primary.id == primary->id) ||
             s.primary.address() == primary->address();
    });
    if (it == t.shards.end()) {
      Shard s;
      s.primary = *primary;
      for (std::size_t k = 3; k < range->elements; ++k) {
        if (auto r = node(range->element[k])) s.replicas.push_back(*r);
      }
      t.shards.push_back(std::move(s));
      it = t.shards.end() - 1;
    }
    it->ranges.emplace_back(static_cast<uint16_t>(*a), static_cast<uint16_t>(*b));
  }
  return t;
}

namespace {
std::string identity(const NodeInfo& n) { return n.id.empty() ? n.address() : n.id; }

// Per slot, the index of the shard serving it (-1: none).
std::vector<int> owners(const Topology& t) {
  std::vector<int> out(16384, -1);
  for (std::size_t i = 0; i < t.shards.size(); ++i) {
    for (const auto& [a, b] : t.shards[i].ranges) {
      for (uint32_t s = a; s <= b && s < 16384; ++s)
        out[s] = static_cast<int>(i);
    }
  }
  return out;
}
}  // namespace

std::vector<uint16_t> slots_moved(const Topology& before, const Topology& after, uint16_t first, uint32_t end,
                                  const std::vector<std::string>& continued_on) {
  const std::vector<int> was = owners(before);
  const std::vector<int> now = owners(after);
  const auto members = [](const Shard& s) {
    std::vector<std::string> ids{identity(s.primary)};
    for (const NodeInfo& r : s.replicas)
      ids.push_back(identity(r));
    return ids;
  };
  std::vector<uint16_t> moved;
  for (uint32_t s = first; s < end && s < 16384; ++s) {
    if (was[s] < 0) continue;
    if (now[s] < 0) {
      moved.push_back(static_cast<uint16_t>(s));
      continue;
    }
    const Shard& old_shard = before.shards[static_cast<std::size_t>(was[s])];
    const Shard& new_shard = after.shards[static_cast<std::size_t>(now[s])];
    const std::vector<std::string> old_ids = members(old_shard);
    bool same = std::find(continued_on.begin(), continued_on.end(), new_shard.primary.address()) !=
                continued_on.end();
    for (const std::string& id : members(new_shard))
      same = same || std::find(old_ids.begin(), old_ids.end(), id) != old_ids.end();
    if (!same) moved.push_back(static_cast<uint16_t>(s));
  }
  return moved;
}

std::string slot_ranges_text(const std::vector<uint16_t>& slots, std::size_t max) {
  std::string out;
  std::size_t ranges = 0;
  for (std::size_t i = 0; i < slots.size();) {
    std::size_t j = i;
    while (j + 1 < slots.size() && slots[j + 1] == slots[j] + 1)
      ++j;
    if (ranges < max) {
      if (!out.empty()) out += ", ";
      out += std::to_string(slots[i]);
      if (j > i) out += "-" + std::to_string(slots[j]);
    }
    ++ranges;
    i = j + 1;
  }
  if (ranges > max) out += " and " + std::to_string(ranges - max) + " more";
  return out;
}

Result<Topology> discover(net::Loop& loop, resp::Connection& conn) {
  const bool tls = conn.options().tls != nullptr;
  auto shards = resp::call_sync(loop, conn, {"CLUSTER", "SHARDS"});
  if (!shards) return shards.error();
  if (!resp::is_error(shards->get())) return parse_cluster_shards(shards->get(), tls);
  auto slots = resp::call_sync(loop, conn, {"CLUSTER", "SLOTS"});
  if (!slots) return slots.error();
  if (resp::is_error(slots->get())) {
    return make_error(ExitCode::kConnect, conn.label() + ": cannot read the cluster topology (" +
                                              std::string(resp::text(slots->get())) +
                                              "): the user needs +cluster|shards or +cluster|slots");
  }
  return parse_cluster_slots(slots->get());
}

}  // namespace rmig::cluster
