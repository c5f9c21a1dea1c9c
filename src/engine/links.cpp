#include "engine/links.hpp"

#include <spdlog/spdlog.h>

#include "cluster/slot.hpp"
#include "cluster/topology.hpp"
#include "engine/retry_policy.hpp"

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

void Links::start() {
  for (auto& l : links_)
    l->conn->set_observer(this);
  if (keep_time_) clock_timer_.start(kClockRefreshMs, kClockRefreshMs);
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
    n += l->down && !l->retired ? 1 : 0;
  return n;
}

void Links::on_connection_ready(resp::Connection& c) {
  const uint32_t l = link_of(c);
  if (l == kNoLink || closed_) return;
  Link& link = *links_[l];
  if (link.down && link.attempts > 0) {
    spdlog::info("{}: reconnected after {} attempt(s)", c.label(), link.attempts);
  }
  link.down = false;
  link.attempts = 0;
  if (link.destination && keep_time_) send_time(l);
  events_.link_up(l);
}

void Links::on_connection_error(resp::Connection& c, const Error& error) {
  const uint32_t l = link_of(c);
  if (l == kNoLink || closed_) return;
  if (!error.transient || retry_timeout_ms_ == 0 || events_.stopping()) return events_.link_failed(error);
  Link& link = *links_[l];
  const auto now = Clock::now();
  if (!link.down) {
    link.down = true;
    link.down_since = now;
    link.attempts = 0;
    spdlog::warn("{}; reconnecting for up to {}s", error.message, (retry_timeout_ms_ + 999) / 1000);
  }
  link.last_error = error.message;
  link.retry_at = now + backoff(link.attempts, kReconnectMaxShift);
  if (!reconnect_timer_.active()) reconnect_timer_.start(kReconnectTickMs, kReconnectTickMs);
  // The handlers of the commands in flight get null replies right after this: the engine parks their jobs.
}

void Links::on_connection_writable(resp::Connection& c) {
  const uint32_t l = link_of(c);
  if (l != kNoLink && links_[l]->destination) events_.destination_writable();
}

void Links::on_reconnect_timer(void* self) { static_cast<Links*>(self)->reconnect_tick(); }

void Links::reconnect_tick() {
  if (closed_) return;
  const auto now = Clock::now();
  bool any_down = false;
  bool destination_down = false;
  for (auto& lp : links_) {
    Link& link = *lp;
    if (!link.down || link.retired) continue;
    any_down = true;
    destination_down |= link.destination;
    const auto state = link.conn->state();
    if (state == resp::Connection::State::kConnecting || state == resp::Connection::State::kSetup) continue;
    if (now - link.down_since > std::chrono::milliseconds(retry_timeout_ms_)) {
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
  if (destination_down && dst_cluster_) refresh_topology();
  if (!any_down) reconnect_timer_.stop();
}

void Links::refresh_topology() {
  const auto now = Clock::now();
  if (topology_in_flight_ || now - topology_asked_at_ < kTopologyRefresh) return;
  for (uint32_t l : dst_links_) {
    if (!usable(l)) continue;
    topology_in_flight_ = true;
    topology_asked_at_ = now;
    links_[l]->conn->send(*this, tag(l, kShards), {"CLUSTER", "SHARDS"});
    return;
  }
}

void Links::on_topology(Op op, const redisReply* r) {
  topology_in_flight_ = false;
  if (resp::is_error(r)) {
    if (op == kShards) {
      // Older servers: CLUSTER SLOTS.
      for (uint32_t l : dst_links_) {
        if (!usable(l)) continue;
        topology_in_flight_ = true;
        links_[l]->conn->send(*this, tag(l, kSlots), {"CLUSTER", "SLOTS"});
        return;
      }
    }
    return;
  }
  auto topo = op == kShards ? cluster::parse_cluster_shards(r, destination_template_.tls != nullptr)
                            : cluster::parse_cluster_slots(r);
  if (!topo || !topo->complete()) return;  // mid-failover: ask again later
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

void Links::send_time(uint32_t l) { links_[l]->conn->send(*this, tag(l, kTime), {"TIME"}); }

void Links::on_clock_timer(void* self_ptr) {
  auto* self = static_cast<Links*>(self_ptr);
  if (self->closed_) return;
  for (uint32_t l : self->dst_links_) {
    if (self->usable(l)) self->send_time(l);
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
      if (!reply) {
        topology_in_flight_ = false;
        return;
      }
      return on_topology(static_cast<Op>(t & 0xff), reply.get());
  }
}

}  // namespace rmig::engine
