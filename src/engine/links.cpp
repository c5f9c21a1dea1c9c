#include "engine/links.hpp"

#include <spdlog/spdlog.h>

#include "cluster/slot.hpp"
#include "cluster/topology.hpp"
#include "engine/retry_policy.hpp"
#include "resp/info.hpp"
#include "util/backoff.hpp"

namespace rmig::engine {

namespace {

using Clock = std::chrono::steady_clock;

constexpr uint64_t kReconnectTickMs = 100;
constexpr uint64_t kClockRefreshMs = 10'000;
constexpr auto kTopologyRefresh = std::chrono::seconds(1);

}  // namespace

Links::Links(net::Loop& loop, uint32_t retry_timeout_ms, bool keep_time, resp::ConnectOptions source_template,
             resp::ConnectOptions destination_template, LinkEvents& events)
    : loop_(loop),
      retry_timeout_ms_(retry_timeout_ms),
      keep_time_(keep_time),
      source_template_(std::move(source_template)),
      destination_template_(std::move(destination_template)),
      events_(events),
      reconnect_timer_(loop, this, &Links::on_reconnect_timer),
      clock_timer_(loop, this, &Links::on_clock_timer) {
  clock_timer_.unref();
}

Links::~Links() {
  for (auto& l : links_) {
    if (l->conn) l->conn->set_observer(nullptr);
  }
}

uint32_t Links::add(std::unique_ptr<resp::Connection> conn, std::string name, bool destination) {
  auto link = std::make_unique<Link>();
  link->conn = std::move(conn);
  link->name = std::move(name);
  link->destination = destination;
  links_.push_back(std::move(link));
  const auto l = static_cast<uint32_t>(links_.size() - 1);
  if (destination) dst_links_.push_back(l);
  return l;
}

void Links::set_destination(bool cluster, const std::vector<uint16_t>& slot_owner) {
  dst_cluster_ = cluster;
  if (cluster) {
    slot_link_.assign(cluster::kSlotCount, dst_links_.front());
    for (std::size_t slot = 0; slot < slot_owner.size() && slot < cluster::kSlotCount; ++slot)
      slot_link_[slot] = dst_links_[slot_owner[slot]];
  } else {
    dst_single_ = dst_links_.front();
  }
}

void Links::add_source(uint32_t read, uint32_t writer, std::vector<std::pair<uint16_t, uint16_t>> slots) {
  if (!slots.empty()) src_cluster_ = true;
  sources_.push_back(SourceWatch{read, writer, std::move(slots)});
}

void Links::source_redirected() {
  if (src_cluster_) refresh_topology(false);
}

void Links::start() {
  for (auto& l : links_)
    l->conn->set_observer(this);
  if (keep_time_) clock_timer_.start(kClockRefreshMs, kClockRefreshMs);
  // The source servers' identities, to tell a reconnection to the same server from one to a new server.
  for (uint32_t l = 0; l < links_.size(); ++l) {
    if (!links_[l]->destination && links_[l]->conn->ready()) send_info(l, kInfo);
  }
}

void Links::send_info(uint32_t l, Op op) {
  Link& link = *links_[l];
  if (!link.conn->send(*this, tag(l, op), {"INFO", "server"})) return;
  link.checking = op == kCheck;
}

void Links::on_info(uint32_t l, Op op, const redisReply* r) {
  Link& link = *links_[l];
  if (r == nullptr) {  // the connection dropped first: checked again once it is back
    link.checking = false;
    return;
  }
  std::string run_id;
  if (resp::is_string(r)) run_id = resp::parse_info(resp::text(r))["run_id"];
  const bool refused = run_id.empty();
  if (op == kInfo || !link.identity_known) {
    link.run_id = std::move(run_id);
    link.identity_known = true;
    link.identity_refused = refused;
    events_.source_identified(l, link.run_id);
    if (op == kInfo) return;
  } else if (refused || link.identity_refused || run_id != link.run_id) {
    // Another server (or one that cannot say): the node's scan position means nothing there.
    spdlog::info("{}: reconnected to {}", link.conn->label(),
                 refused ? "a server that refuses INFO (taken as a new server)"
                         : "a new server (run_id " + run_id + ", was " + link.run_id + ")");
    link.run_id = std::move(run_id);
    link.identity_refused = refused;
    events_.source_identified(l, link.run_id);
    for (uint32_t n = 0; n < sources_.size(); ++n) {
      if (sources_[n].read == l) events_.source_failed_over(n, l, "new server");
    }
  }
  link.checking = false;
  if (!closed_ && link.conn->ready()) events_.link_up(l);
}

void Links::retire(uint32_t l) {
  Link& link = *links_[l];
  if (link.retired) return;
  link.retired = true;
  link.checking = false;
  // A link that is down stops reconnecting; one that is up (a demoted primary) keeps answering what was sent
  // to it (MOVED), and is closed with the others at the end.
  if (link.down) link.conn->close();
}

void Links::close() {
  closed_ = true;
  reconnect_timer_.stop();
  clock_timer_.stop();
  for (auto& l : links_) {
    l->conn->set_observer(nullptr);
    l->conn->close();
  }
}

void Links::close_down() {
  for (auto& l : links_) {
    if (l->down) l->conn->close();  // no more reconnect attempts
  }
}

uint32_t Links::link_of(const resp::Connection& c) const noexcept {
  for (std::size_t i = 0; i < links_.size(); ++i) {
    if (links_[i]->conn.get() == &c) return static_cast<uint32_t>(i);
  }
  return kNoLink;
}

uint32_t Links::at_address(const std::string& host, int port, bool destination) {
  for (std::size_t i = 0; i < links_.size(); ++i) {
    const auto& ep = links_[i]->conn->options().endpoint;
    // A retired link (a node the run left after a failover) is never reused: the node may be back as a
    // primary later, and is then connected to afresh.
    if (links_[i]->retired) continue;
    if (links_[i]->destination == destination && ep.host == host && ep.port == port) {
      return static_cast<uint32_t>(i);
    }
  }
  // A node first met through a redirect: connect to it like to the others.
  resp::ConnectOptions o =
      resp::cluster_node_options(destination ? destination_template_ : source_template_, host, port);
  resp::Connection::Observer* observer = this;
  auto conn = std::make_unique<resp::Connection>(loop_, o, observer);
  const uint32_t link = add(std::move(conn), o.endpoint.to_string(), destination);
  Link& l = *links_[link];
  l.down = true;
  l.down_since = Clock::now();
  l.retry_at = l.down_since;
  spdlog::info("connecting to {} (cluster redirect)", o.label);
  l.conn->connect();
  if (!reconnect_timer_.active()) reconnect_timer_.start(kReconnectTickMs, kReconnectTickMs);
  return link;
}

void Links::moved(int slot, uint32_t link) noexcept {
  if (dst_cluster_ && slot >= 0 && slot < cluster::kSlotCount)
    slot_link_[static_cast<std::size_t>(slot)] = link;
}

bool Links::destination_backed_up(std::size_t limit) const noexcept {
  for (uint32_t l : dst_links_) {
    if (links_[l]->conn->ready() && links_[l]->conn->queued_bytes() >= limit) return true;
  }
  return false;
}

std::size_t Links::down() const noexcept {
  std::size_t n = 0;
  for (const auto& l : links_)
    n += l->down && !l->retired && !l->optional ? 1 : 0;
  return n;
}

void Links::on_connection_ready(resp::Connection& c) {
  const uint32_t l = link_of(c);
  if (l == kNoLink || closed_) return;
  Link& link = *links_[l];
  if (link.down && link.attempts > 0) {
    spdlog::info("{}: reconnected after {} attempt(s)", c.label(), link.attempts);
  }
  const bool reconnected = link.down;
  link.down = false;
  link.attempts = 0;
  if (link.destination && keep_time_) send_time(l);
  if (!link.destination && reconnected && link.identity_known) {
    // The same server, or a new one? Nothing is sent on the link before the answer (usable() is false).
    send_info(l, kCheck);
    if (link.checking) return;
  } else if (!link.destination && !link.identity_known) {
    send_info(l, kInfo);  // first met: its identity, in order before anything else sent on it
  }
  events_.link_up(l);
}

void Links::on_connection_error(resp::Connection& c, const Error& error) {
  const uint32_t l = link_of(c);
  if (l == kNoLink || closed_) return;
  if (links_[l]->retired) return;  // a node the run left (failed over): nothing goes there any more
  if (!links_[l]->optional && (!error.transient || retry_timeout_ms_ == 0 || events_.stopping()))
    return events_.link_failed(error);
  Link& link = *links_[l];
  const auto now = Clock::now();
  if (!link.down) {
    link.down = true;
    link.down_since = now;
    link.attempts = 0;
    spdlog::warn("{}; reconnecting for up to {}s", error.message, (retry_timeout_ms_ + 999) / 1000);
  }
  link.last_error = error.message;
  link.retry_at = now + kLinkBackoff.delay(link.attempts);
  if (!reconnect_timer_.active()) reconnect_timer_.start(kReconnectTickMs, kReconnectTickMs);
  // The handlers of the commands in flight get null replies right after this: the engine parks their jobs.
}

void Links::on_connection_writable(resp::Connection& c) {
  const uint32_t l = link_of(c);
  if (l != kNoLink && links_[l]->destination) events_.destination_writable();
}

void Links::on_reconnect_timer() { reconnect_tick(); }

void Links::reconnect_tick() {
  if (closed_) return;
  const auto now = Clock::now();
  bool any_down = false;
  bool destination_down = false;
  bool source_down = false;
  for (auto& lp : links_) {
    Link& link = *lp;
    if (!link.down || link.retired) continue;
    any_down = true;
    destination_down |= link.destination;
    source_down |= !link.destination && !link.optional;
    const auto state = link.conn->state();
    if (state == resp::Connection::State::kConnecting || state == resp::Connection::State::kSetup) continue;
    if (now - link.down_since > std::chrono::milliseconds(retry_timeout_ms_) && !link.optional) {
      return events_.link_failed(make_error(
          ExitCode::kConnect,
          link.conn->label() + " unreachable for " + std::to_string((retry_timeout_ms_ + 999) / 1000) +
              "s (last error: " + link.last_error + "): check the server, then run the same command again"));
    }
    if (now >= link.retry_at) {
      ++link.attempts;
      spdlog::debug("{}: reconnect attempt {}", link.conn->label(), link.attempts);
      link.conn->connect();
    }
  }
  // A destination node that stays down may have failed over: ask the others where its slots went.
  if (destination_down && dst_cluster_) refresh_topology(true);
  // So may a source node: ask where the slots it owned at start are served now.
  if (source_down && src_cluster_) refresh_topology(false);
  if (!any_down) reconnect_timer_.stop();
}

void Links::refresh_topology(bool destination) {
  TopologyAsk& ask = topology_[destination ? 1 : 0];
  const auto now = Clock::now();
  if (ask.in_flight || now - ask.asked_at < kTopologyRefresh) return;
  // Any node of the side that is up can answer (a destination node, a source node's links).
  std::vector<uint32_t> candidates = dst_links_;
  if (!destination) {
    candidates.clear();
    for (const auto& s : sources_) {
      candidates.push_back(s.read);
      candidates.push_back(s.writer);
    }
  }
  if (!destination && seed_link_ != kNoLink) candidates.push_back(seed_link_);
  for (uint32_t l : candidates) {
    if (!usable(l) || links_[l]->retired) continue;
    if (!links_[l]->conn->send(*this, tag(l, destination ? kShards : kSourceShards), {"CLUSTER", "SHARDS"}))
      continue;
    ask.in_flight = true;
    ask.asked_at = now;
    return;
  }
  // No source node can answer: the source URL's address (a configuration endpoint, another node) can.
  const auto& seed = source_template_.endpoint;
  if (!destination && seed_link_ == kNoLink && seed.kind == net::Endpoint::Kind::kTcp) {
    const std::size_t before = links_.size();
    seed_link_ = at_address(seed.host, seed.port, false);
    if (links_.size() > before) links_[seed_link_]->optional = true;  // a new link: only asked, never needed
  }
}

void Links::on_topology(Op op, const redisReply* r) {
  const bool destination = op == kShards || op == kSlots;
  TopologyAsk& ask = topology_[destination ? 1 : 0];
  ask.in_flight = false;
  if (resp::is_error(r)) {
    if (op == kShards || op == kSourceShards) {
      // Older servers: CLUSTER SLOTS.
      std::vector<uint32_t> candidates = dst_links_;
      if (!destination) {
        candidates.clear();
        for (const auto& s : sources_)
          candidates.push_back(s.read);
        if (seed_link_ != kNoLink) candidates.push_back(seed_link_);
      }
      for (uint32_t l : candidates) {
        if (!usable(l) || links_[l]->retired) continue;
        if (!links_[l]->conn->send(*this, tag(l, destination ? kSlots : kSourceSlots), {"CLUSTER", "SLOTS"}))
          continue;
        ask.in_flight = true;
        return;
      }
    }
    return;
  }
  const bool tls = (destination ? destination_template_ : source_template_).tls != nullptr;
  auto topo = op == kShards || op == kSourceShards ? cluster::parse_cluster_shards(r, tls)
                                                   : cluster::parse_cluster_slots(r);
  if (!topo || !topo->complete()) return;  // mid-failover: ask again later
  if (!destination) return on_source_topology(*topo);
  std::vector<bool> owns(links_.size(), false);
  for (const auto& shard : topo->shards) {
    const uint32_t l = at_address(shard.primary.host, shard.primary.port, true);
    if (owns.size() < links_.size()) owns.resize(links_.size(), false);
    owns[l] = true;
    for (auto [a, b] : shard.ranges) {
      for (uint32_t slot = a; slot <= b; ++slot)
        slot_link_[slot] = l;
    }
  }
  // A node that is down and owns nothing any more failed over: its parked jobs go to the new owners.
  for (std::size_t i = 0; i < dst_links_.size(); ++i) {
    const uint32_t l = dst_links_[i];
    Link& link = *links_[l];
    if (!link.down || link.retired || (l < owns.size() && owns[l])) continue;
    link.retired = true;
    spdlog::warn("{} no longer owns slots (failed over): its keys go to the new primaries",
                 link.conn->label());
    for (uint32_t j : take_parked(l))
      events_.rerouted(j);
    events_.destination_failed_over(link.conn->label());
  }
}

void Links::on_source_topology(const cluster::Topology& topo) {
  std::vector<int> shard_of(cluster::kSlotCount, -1);
  for (std::size_t i = 0; i < topo.shards.size(); ++i) {
    for (auto [a, b] : topo.shards[i].ranges) {
      for (uint32_t slot = a; slot <= b && slot < cluster::kSlotCount; ++slot)
        shard_of[slot] = static_cast<int>(i);
    }
  }
  for (uint32_t n = 0; n < sources_.size() && !closed_; ++n) {  // a node's move may end the run
    SourceWatch& w = sources_[n];
    if (w.slots.empty()) continue;
    // The slots the node owned at start, all served by one primary now (a failover moves a shard whole; a
    // resharding in progress is followed key by key through MOVED instead).
    int shard = -1;
    bool one = true;
    for (auto [a, b] : w.slots) {
      for (uint32_t slot = a; slot <= b && slot < cluster::kSlotCount && one; ++slot) {
        if (shard == -1) shard = shard_of[slot];
        one = shard_of[slot] == shard;
      }
    }
    if (!one || shard < 0) continue;
    const cluster::NodeInfo& primary = topo.shards[static_cast<std::size_t>(shard)].primary;
    if (primary.failed) continue;
    // Reads from a replica (--read-from replicas) with no link to the primary: the replica is the node's only
    // server, and goes on serving while it is up; only a replica that is down moves the node to the primary.
    if (w.writer == w.read && links_[w.read]->conn->options().readonly && !links_[w.read]->down) continue;
    const auto& ep = links_[w.writer]->conn->options().endpoint;
    if (ep.host == primary.host && ep.port == primary.port) continue;  // still its primary
    const uint32_t l = at_address(primary.host, primary.port, false);
    links_[l]->optional = false;  // the node's link now (perhaps the one opened only to ask for the topology)
    const std::string cause =
        links_[w.writer]->down || links_[w.read]->down ? "node unreachable" : "node demoted to replica";
    const uint32_t old_read = w.read;
    const uint32_t old_writer = w.writer;
    w.read = l;
    w.writer = l;
    if (old_read != l) retire(old_read);
    if (old_writer != l) retire(old_writer);
    events_.source_failed_over(n, l, cause);
  }
}

void Links::send_time(uint32_t l) {
  if (!links_[l]->conn->send(*this, tag(l, kTime), {"TIME"}))
    spdlog::debug("{}: TIME not sent", links_[l]->conn->label());
}

void Links::on_clock_timer() {
  if (closed_) return;
  for (uint32_t l : dst_links_) {
    if (usable(l)) send_time(l);
  }
}

void Links::on_time(uint32_t link, const redisReply* r) {
  if (!resp::is_array(r) || r->elements != 2) return;
  auto secs = resp::to_integer(r->element[0]);
  auto micros = resp::to_integer(r->element[1]);
  if (secs && micros) links_[link]->clock.sample(*secs, *micros, Clock::now());
}

void Links::on_reply(uint64_t t, resp::Reply reply) {
  if (closed_) return;
  const auto l = static_cast<uint32_t>(t >> 32);
  switch (static_cast<Op>(t & 0xff)) {
    case kTime:
      if (reply) on_time(l, reply.get());
      return;
    case kShards:
    case kSlots:
    case kSourceShards:
    case kSourceSlots: {
      const auto op = static_cast<Op>(t & 0xff);
      if (!reply) {
        topology_[op == kShards || op == kSlots ? 1 : 0].in_flight = false;
        return;
      }
      return on_topology(op, reply.get());
    }
    case kInfo:
    case kCheck: return on_info(l, static_cast<Op>(t & 0xff), reply.get());
  }
}

}  // namespace rmig::engine
