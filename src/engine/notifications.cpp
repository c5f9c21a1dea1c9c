#include "engine/notifications.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <set>
#include <utility>

#include "cluster/slot.hpp"
#include "cluster/topology.hpp"
#include "resp/server_error.hpp"
#include "util/backoff.hpp"

namespace rmig::engine {

namespace {

using Clock = std::chrono::steady_clock;
using Ranges = std::vector<std::pair<uint16_t, uint16_t>>;

// The canary lives a few minutes and is refreshed on every check: a run that dies leaves nothing for long.
constexpr uint32_t kCanaryTtlMs = 180'000;

std::string keyspace_prefix(int db) { return "__keyspace@" + std::to_string(db) + "__:"; }

std::string user_of(const resp::ConnectOptions& o) { return o.user.empty() ? "default" : o.user; }

bool owns(const Ranges& ranges, uint16_t slot) {
  return std::any_of(ranges.begin(), ranges.end(),
                     [slot](const auto& r) { return slot >= r.first && slot <= r.second; });
}

// `base` plus a hash tag that puts the key in a slot of `ranges` (a cluster primary's); `base` itself when
// there are no ranges (a standalone server) or no tag can do it (base already holds a hash tag).
std::string key_in_ranges(const std::string& base, const Ranges& ranges) {
  if (ranges.empty()) return base;
  for (uint32_t i = 0; i < 100'000; ++i) {
    std::string key = base + "{" + std::to_string(i) + "}";
    if (owns(ranges, cluster::key_hash_slot(key))) return key;
  }
  return base;
}

// What the user needs to subscribe: PSUBSCRIBE checks a channel pattern literally against the user's
// channel rules, so the rule is exactly the pattern (or allchannels).
std::string subscribe_fix(const resp::ConnectOptions& o, int db) {
  const std::string user = user_of(o);
  const std::string pattern = "&" + keyspace_prefix(db) + "*";
  return "add the ACL rules +psubscribe +ping and the channel pattern " + pattern + " to user '" + user +
         "' (ACL SETUSER " + user + " +psubscribe +ping '" + pattern + "'), or allchannels";
}

Error subscribe_refused(const resp::ConnectOptions& o, int db, std::string_view msg) {
  return make_error(ExitCode::kConnect, o.label + ": user '" + user_of(o) +
                                            "' may not subscribe to the keyspace notifications (PSUBSCRIBE " +
                                            keyspace_prefix(db) + "*: " + std::string(msg) +
                                            "); a live run needs them: " + subscribe_fix(o, db));
}

std::string upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::toupper(ch)); });
  return out;
}

std::string seconds(uint32_t ms) {
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

}  // namespace

std::optional<std::string_view> keyspace_channel_key(std::string_view channel, int db) {
  const std::string prefix = keyspace_prefix(db);
  if (channel.size() < prefix.size() || channel.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  return channel.substr(prefix.size());
}

// ---------------------------------------------------------------------------------------------------------
// The feed.

class NotificationFeed::Impl {
 public:
  Impl(net::Loop& loop, FeedOptions options, FeedEvents& events)
      : loop_(loop),
        opts_(std::move(options)),
        events_(events),
        prefix_(keyspace_prefix(opts_.db)),
        pattern_(prefix_ + "*"),
        tick_(loop, this, &Impl::on_tick) {}

  ~Impl() {
    tick_.stop();
    // Connections close without calling back (their destructors); timers stop with their links.
  }

  void start();
  void barrier();
  void stop();
  std::vector<std::string> nodes() const {
    std::vector<std::string> out;
    for (const auto& n : nodes_) {
      if (!n->retired) out.push_back(n->address);
    }
    return out;
  }

 private:
  struct Node;
  enum Tag : uint64_t {
    kSubscribe,
    kPing,
    kCanarySet,
    kCanaryGet,
    kCanaryExpire,
    kCanaryDel,
    kShards,
    kSlots,
  };
  static uint64_t tag(Tag t, uint64_t generation = 0) { return (generation << 8) | t; }

  // One connection of a node (its subscriber or its control connection), or the seed connection that reads
  // a cluster's first topology; it reconnects with the backoff after a drop.
  struct Link final : resp::Connection::Observer,
                      resp::Connection::ReplyHandler,
                      resp::Connection::PushHandler {
    Link(Impl& f, Node* n, bool sub, const resp::ConnectOptions& o)
        : feed(f),
          node(n),
          subscriber(sub),
          conn(std::make_unique<resp::Connection>(f.loop_, o, this)),
          retry(f.loop_, [this] { feed.reconnect(*this); }) {
      if (subscriber) conn->set_push_handler(this);
    }
    void on_connection_ready(resp::Connection&) override { feed.on_ready(*this); }
    void on_connection_error(resp::Connection&, const Error& e) override { feed.on_error(*this, e); }
    void on_reply(uint64_t t, resp::Reply r) override { feed.on_reply(*this, t, std::move(r)); }
    void on_push(resp::Connection&, resp::Reply m) override { feed.on_message(*this, std::move(m)); }

    Impl& feed;
    Node* node;  // null: the seed
    const bool subscriber;
    std::unique_ptr<resp::Connection> conn;
    net::Timer retry;
    uint32_t failures = 0;
    Clock::time_point down_since{};
    std::string last_error;
  };

  // One primary.
  struct Node {
    std::string address;
    resp::ConnectOptions options;
    Ranges ranges;
    std::string canary;       // empty: no canary
    bool subscribed = false;  // the PSUBSCRIBE of the current subscriber connection is confirmed
    bool canary_set = false;  // the canary holds the run id (written by this feed, not found missing)
    bool check_in_flight = false;
    bool check_vanished = false;
    bool check_is_barrier = false;  // the check in flight was sent after the barrier's start
    bool recheck = false;           // a check is due as soon as the one in flight is answered
    bool barrier_check = false;     // barrier: waits for a canary check sent after its start
    bool retired = false;           // no longer a primary: closed, dropped on the next tick
    bool pinged = false;            // barrier: PING sent on the current subscriber connection
    bool answered = false;          // barrier: its answer arrived
    std::string lost_cause;         // reported through lost() once the node is ready again
    std::unique_ptr<Link> sub;
    std::unique_ptr<Link> ctl;
  };

  bool node_ready(const Node& n) const { return n.subscribed && (n.canary.empty() || n.canary_set); }
  bool active() const { return started_ && !stopping_ && !failed_; }

  Node& add_node(const std::string& address, const resp::ConnectOptions& o, const Ranges& ranges);
  void retire(Node& n);
  void connect(Link& l);
  void on_ready(Link& l);
  void on_error(Link& l, const Error& e);
  void reconnect(Link& l);
  void on_reply(Link& l, uint64_t t, resp::Reply r);
  void on_message(Link& l, resp::Reply m);
  void on_tick();

  void on_subscribe_reply(Node& n, const redisReply* r);
  void on_ping_reply(Node& n, uint64_t generation, const redisReply* r);
  void set_canary(Node& n);
  void check_canary(Node& n);
  void on_canary_reply(Node& n, Tag t, const redisReply* r);
  Status canary_error(const Node& n, std::string_view command, const redisReply* r);

  void read_topology();
  Link* topology_link();
  void on_topology_reply(Link& l, Tag t, const redisReply* r);
  void apply_topology(const cluster::Topology& t);

  void maybe_ready(Node& n);
  void send_pings();
  void check_barrier();
  void start_barrier_pings();
  void after_check(Node& n);
  void fail(Error e);
  // Closes every connection; with `delete_canaries`, a control connection that is up first deletes its
  // primary's canary and closes on the answer.
  void close_all(bool delete_canaries = false);

  net::Loop& loop_;
  FeedOptions opts_;
  FeedEvents& events_;
  const std::string prefix_;
  const std::string pattern_;
  net::Timer tick_;
  std::unique_ptr<Link> seed_;
  std::vector<std::unique_ptr<Node>> nodes_;
  bool started_ = false;
  bool stopping_ = false;
  bool failed_ = false;
  bool subscribed_reported_ = false;
  bool topology_known_ = false;  // a cluster's first topology was read
  bool topology_in_flight_ = false;
  bool topology_again_ = false;    // read again once the read in flight is answered (a barrier asked)
  std::string topology_cause_;     // lost("*") once every new primary is ready
  bool barrier_topology_ = false;  // the barrier waits for a topology read
  bool barrier_pinging_ = false;   // the barrier's PINGs are being sent and answered
  uint64_t barrier_generation_ = 0;
};

NotificationFeed::Impl::Node& NotificationFeed::Impl::add_node(const std::string& address,
                                                               const resp::ConnectOptions& o,
                                                               const Ranges& ranges) {
  auto node = std::make_unique<Node>();
  node->address = address;
  node->options = o;
  node->ranges = ranges;
  if (!opts_.canary_key.empty()) node->canary = key_in_ranges(opts_.canary_key, ranges);
  node->sub = std::make_unique<Link>(*this, node.get(), true, o);
  node->ctl = std::make_unique<Link>(*this, node.get(), false, o);
  Node& n = *node;
  nodes_.push_back(std::move(node));
  connect(*n.sub);
  connect(*n.ctl);
  return n;
}

void NotificationFeed::Impl::retire(Node& n) {
  n.retired = true;
  n.sub->retry.stop();
  n.ctl->retry.stop();
  n.sub->conn->close();
  n.ctl->conn->close();
}

void NotificationFeed::Impl::connect(Link& l) { l.conn->connect(); }

void NotificationFeed::Impl::start() {
  if (started_) return;
  started_ = true;
  tick_.start(opts_.check_interval_ms, opts_.check_interval_ms);
  if (!opts_.cluster) {
    add_node(opts_.seed.endpoint.to_string(), opts_.seed, {});
    return;
  }
  seed_ = std::make_unique<Link>(*this, nullptr, false, opts_.seed);
  connect(*seed_);
}

void NotificationFeed::Impl::on_ready(Link& l) {
  if (!active()) return;
  if (l.node == nullptr) {
    l.failures = 0;
    l.down_since = {};
    read_topology();
    return;
  }
  Node& n = *l.node;
  if (l.subscriber) {
    // Confirmed in on_subscribe_reply; the backoff is reset there.
    const std::string_view args[] = {"PSUBSCRIBE", pattern_};
    (void)l.conn->send(l, tag(kSubscribe), args, 2);
    return;
  }
  l.failures = 0;
  l.down_since = {};
  if (n.canary.empty()) return maybe_ready(n);
  if (!n.canary_set) return set_canary(n);
  // Reconnected: the canary may have vanished meanwhile (a flush, or a restart without persistence).
  check_canary(n);
}

void NotificationFeed::Impl::on_error(Link& l, const Error& e) {
  if (!active()) return;
  if (l.node != nullptr) {
    Node& n = *l.node;
    if (n.retired) return;
    if (l.subscriber) {
      n.subscribed = false;
      n.pinged = false;
      n.answered = false;
      if (subscribed_reported_) {
        // CLIENT KILL, client-output-buffer-limit pubsub, a restart or the network all look the same from
        // here: the server closed the connection. Whatever was published meanwhile is gone.
        const std::string cause =
            "subscriber disconnected: " + e.message +
            " (the server or the network closed the subscriber connection: CLIENT KILL, "
            "client-output-buffer-limit pubsub, a restart, a failover or a network failure)";
        if (n.lost_cause.empty()) n.lost_cause = cause;
      }
      spdlog::warn("{}: keyspace notification subscriber lost ({}); resubscribing", n.options.label,
                   e.message);
    } else {
      n.check_in_flight = false;
      spdlog::warn("{}: notification control connection lost ({}); reconnecting", n.options.label, e.message);
    }
  }
  if (!e.transient) return fail(e);
  l.last_error = e.message;
  if (l.down_since == Clock::time_point{}) l.down_since = Clock::now();
  l.retry.start(static_cast<uint64_t>(kLinkBackoff.delay(l.failures++).count()));
}

void NotificationFeed::Impl::reconnect(Link& l) {
  if (!active() || (l.node != nullptr && l.node->retired)) return;
  const auto down = Clock::now() - l.down_since;
  if (down > std::chrono::milliseconds(opts_.retry_timeout_ms)) {
    const std::string who = l.node != nullptr ? l.node->options.label : opts_.seed.label;
    return fail(make_error(ExitCode::kConnect,
                           who + ": unreachable for more than " + seconds(opts_.retry_timeout_ms) +
                               " (last error: " + l.last_error +
                               "): the keyspace notifications of this primary cannot be followed; check the "
                               "server and the network, then run again"));
  }
  connect(l);
}

void NotificationFeed::Impl::on_reply(Link& l, uint64_t t, resp::Reply r) {
  if (!r) {
    // The connection failed before the answer (its error is handled in on_error).
    const auto kind = static_cast<Tag>(t & 0xff);
    if (l.node != nullptr && !l.subscriber) l.node->check_in_flight = false;
    if (kind == kShards || kind == kSlots) {
      topology_in_flight_ = false;
      // Asked by a barrier, or due: read again from another node.
      if (active() && (barrier_topology_ || topology_again_)) read_topology();
    }
    return;
  }
  const auto kind = static_cast<Tag>(t & 0xff);
  if (kind == kCanaryDel) {
    l.conn->close();
    return;
  }
  if (!active()) return;
  if (kind == kShards || kind == kSlots) return on_topology_reply(l, kind, r.get());
  if (l.node == nullptr || l.node->retired) return;
  Node& n = *l.node;
  switch (kind) {
    case kSubscribe: return on_subscribe_reply(n, r.get());
    case kPing: return on_ping_reply(n, t >> 8, r.get());
    case kCanarySet:
    case kCanaryGet:
    case kCanaryExpire: return on_canary_reply(n, kind, r.get());
    default: return;
  }
}

void NotificationFeed::Impl::on_message(Link& l, resp::Reply m) {
  if (!active() || l.node == nullptr || l.node->retired) return;
  const redisReply* r = m.get();
  const bool pattern = resp::text(r->element[0]) == "pmessage";
  const redisReply* channel = r->element[pattern ? 2 : 1];
  const redisReply* payload = r->element[r->elements - 1];
  auto key = keyspace_channel_key(resp::text(channel), opts_.db);
  if (!key) {
    spdlog::debug("{}: message on an unexpected channel ignored ({})", l.node->options.label,
                  resp::describe(channel));
    return;
  }
  if (!l.node->canary.empty() && *key == l.node->canary) return;  // the feed's own refreshes
  events_.changed(*key, resp::text(payload));
}

void NotificationFeed::Impl::on_subscribe_reply(Node& n, const redisReply* r) {
  if (resp::is_error(r)) {
    const std::string_view msg = resp::text(r);
    const auto kind = resp::classify_error(msg);
    if (kind == resp::ServerError::kNoPerm || kind == resp::ServerError::kNoPermKey ||
        msg.find("NOPERM") != std::string_view::npos) {
      return fail(subscribe_refused(n.options, opts_.db, msg));
    }
    return fail(make_error(ExitCode::kConnect, n.options.label + ": PSUBSCRIBE " + pattern_ + " refused (" +
                                                   std::string(msg) +
                                                   "): a live run needs keyspace notifications "
                                                   "(PSUBSCRIBE allowed; not renamed or disabled)"));
  }
  if (!resp::is_array(r) || r->elements < 1 || resp::text(r->element[0]) != "psubscribe") {
    return fail(make_error(ExitCode::kConnect, n.options.label + ": unexpected answer to PSUBSCRIBE (" +
                                                   resp::describe(r) + ")"));
  }
  n.subscribed = true;
  n.sub->failures = 0;
  n.sub->down_since = {};
  maybe_ready(n);
  if (barrier_pinging_ && !n.pinged) send_pings();
}

void NotificationFeed::Impl::on_ping_reply(Node& n, uint64_t generation, const redisReply* r) {
  if (generation != barrier_generation_ || !barrier_pinging_) return;
  if (resp::is_error(r)) {
    // A subscribed connection accepts PING; an ACL user without +ping does not. Said once, then the run
    // stops: without a barrier the cut-over promise cannot be kept.
    const std::string_view msg = resp::text(r);
    return fail(make_error(ExitCode::kConnect,
                           n.options.label + ": PING refused on the subscriber connection (" +
                               std::string(msg) +
                               "): the cut-over barrier needs it: " + subscribe_fix(n.options, opts_.db)));
  }
  n.answered = true;
  check_barrier();
}

void NotificationFeed::Impl::set_canary(Node& n) {
  if (!n.ctl->conn->ready()) return;
  const std::string ttl = std::to_string(std::max(kCanaryTtlMs, opts_.check_interval_ms * 10));
  const std::string_view args[] = {"SET", n.canary, opts_.run_id, "PX", ttl};
  (void)n.ctl->conn->send(*n.ctl, tag(kCanarySet), args, 5);
}

void NotificationFeed::Impl::check_canary(Node& n) {
  if (n.retired || n.canary.empty() || !n.canary_set || n.check_in_flight || !n.ctl->conn->ready()) return;
  // GET and PEXPIRE pipelined: a flush before the GET leaves nothing to get, one between them leaves
  // nothing to expire (0), one after is the next check's. PEXPIRE refreshes the TTL.
  const std::string ttl = std::to_string(std::max(kCanaryTtlMs, opts_.check_interval_ms * 10));
  const std::string_view get[] = {"GET", n.canary};
  const std::string_view expire[] = {"PEXPIRE", n.canary, ttl};
  n.check_vanished = false;
  if (!n.ctl->conn->send(*n.ctl, tag(kCanaryGet), get, 2)) return;
  (void)n.ctl->conn->send(*n.ctl, tag(kCanaryExpire), expire, 3);
  n.check_in_flight = true;
  n.check_is_barrier = n.barrier_check;
  n.recheck = false;
}

void NotificationFeed::Impl::after_check(Node& n) {
  if (n.recheck) check_canary(n);
}

Status NotificationFeed::Impl::canary_error(const Node& n, std::string_view command, const redisReply* r) {
  const std::string_view msg = resp::text(r);
  const auto kind = resp::classify_error(msg);
  if (kind == resp::ServerError::kMoved || kind == resp::ServerError::kAsk ||
      kind == resp::ServerError::kTryAgain || kind == resp::ServerError::kClusterDown ||
      kind == resp::ServerError::kLoading || kind == resp::ServerError::kBusy ||
      kind == resp::ServerError::kMasterDown) {
    return {};  // the slot moved (the topology read re-places the canary) or the server is busy: retried
  }
  if (kind == resp::ServerError::kNoPerm || kind == resp::ServerError::kNoPermKey) {
    const std::string user = user_of(n.options);
    return make_error(ExitCode::kConnect,
                      n.options.label + ": user '" + user + "' may not " + std::string(command) +
                          " the canary key " + n.canary + " (" + std::string(msg) +
                          "): a live run keeps a canary key under the state prefix on every source primary "
                          "to notice FLUSHDB, FLUSHALL and SWAPDB: add the ACL rules +get +set +pexpire +del "
                          "and the key pattern of the state prefix to user '" +
                          user + "'");
  }
  if (kind == resp::ServerError::kOom || kind == resp::ServerError::kReadOnly ||
      kind == resp::ServerError::kMisconf) {
    spdlog::warn("{}: the canary key cannot be written ({}); retrying", n.options.label, msg);
    return {};
  }
  return make_error(ExitCode::kConnect, n.options.label + ": " + upper(command) + " of the canary key " +
                                            n.canary + " refused (" + std::string(msg) + ")");
}

void NotificationFeed::Impl::on_canary_reply(Node& n, Tag t, const redisReply* r) {
  if (resp::is_error(r)) {
    if (t == kCanaryExpire) n.check_in_flight = false;
    if (auto st = canary_error(n, t == kCanarySet ? "write" : "read", r); !st) return fail(st.error());
    if (t == kCanaryExpire) after_check(n);
    const auto kind = resp::classify_error(resp::text(r));
    if (opts_.cluster && (kind == resp::ServerError::kMoved || kind == resp::ServerError::kAsk)) {
      read_topology();
    }
    return;
  }
  switch (t) {
    case kCanarySet:
      n.canary_set = true;
      maybe_ready(n);
      // Set again after it vanished during a barrier: the barrier waits for a check made after this.
      if (active() && n.barrier_check) check_canary(n);
      return;
    case kCanaryGet:
      if (!resp::is_string(r) || resp::text(r) != opts_.run_id) n.check_vanished = true;
      return;
    case kCanaryExpire:
      n.check_in_flight = false;
      if (resp::is_integer(r) && r->integer == 0) n.check_vanished = true;
      if (!n.check_vanished) {
        if (n.check_is_barrier) {
          n.barrier_check = false;
          check_barrier();
          if (!active()) return;
        }
        return after_check(n);
      }
      // The keyspace was flushed or swapped under the subscription: no per-key event says which keys went.
      spdlog::warn("{}: the canary key {} vanished (FLUSHDB, FLUSHALL or SWAPDB)", n.options.label, n.canary);
      n.canary_set = false;
      // Before subscribed() nothing was promised yet: the scan starts after it.
      if (n.lost_cause.empty() && subscribed_reported_)
        n.lost_cause = "the canary key vanished: FLUSHDB, FLUSHALL or SWAPDB on the source";
      set_canary(n);
      return;
    default: return;
  }
}

void NotificationFeed::Impl::maybe_ready(Node& n) {
  if (!active() || n.retired || !node_ready(n)) return;
  if (!n.lost_cause.empty()) {
    // Subscribed again (and the canary is back): a resync started now misses nothing.
    const std::string cause = std::move(n.lost_cause);
    n.lost_cause.clear();
    spdlog::warn("{}: keyspace notifications may have been lost: {}", n.options.label, cause);
    events_.lost(n.address, cause);
    if (!active()) return;
  }
  const bool all_ready = std::all_of(nodes_.begin(), nodes_.end(),
                                     [this](const auto& x) { return x->retired || node_ready(*x); });
  if (!all_ready) return;
  if (!topology_cause_.empty()) {
    const std::string cause = std::move(topology_cause_);
    topology_cause_.clear();
    spdlog::warn("source cluster: {} (every primary is subscribed)", cause);
    events_.lost("*", cause);
    if (!active()) return;
  }
  if (!subscribed_reported_ && (!opts_.cluster || topology_known_)) {
    subscribed_reported_ = true;
    spdlog::info("keyspace notifications: subscribed to {} primary(ies)", nodes().size());
    events_.subscribed();
  }
}

NotificationFeed::Impl::Link* NotificationFeed::Impl::topology_link() {
  for (auto& n : nodes_) {
    if (!n->retired && n->ctl->conn->ready()) return n->ctl.get();
  }
  if (seed_ && seed_->conn->ready()) return seed_.get();
  return nullptr;
}

void NotificationFeed::Impl::read_topology() {
  if (!opts_.cluster || !active()) return;
  if (topology_in_flight_) {
    topology_again_ = true;
    return;
  }
  Link* l = topology_link();
  if (l == nullptr) {
    // Every node is reconnecting, or the seed is: retried on their ready, and on the next tick.
    if (seed_ && !topology_known_ && seed_->conn->state() == resp::Connection::State::kIdle) connect(*seed_);
    return;
  }
  const std::string_view args[] = {"CLUSTER", "SHARDS"};
  if (!l->conn->send(*l, tag(kShards), args, 2)) return;
  topology_in_flight_ = true;
  topology_again_ = false;
}

void NotificationFeed::Impl::on_topology_reply(Link& l, Tag t, const redisReply* r) {
  topology_in_flight_ = false;
  if (t == kShards && resp::is_error(r)) {
    // Redis < 7: CLUSTER SLOTS.
    const std::string_view args[] = {"CLUSTER", "SLOTS"};
    if (l.conn->send(l, tag(kSlots), args, 2)) topology_in_flight_ = true;
    return;
  }
  const std::string who = l.node != nullptr ? l.node->options.label : opts_.seed.label;
  if (resp::is_error(r)) {
    const std::string_view msg = resp::text(r);
    if (resp::classify_error(msg) == resp::ServerError::kLoading) return;  // the next tick asks again
    return fail(make_error(ExitCode::kConnect,
                           who + ": cannot read the cluster topology (" + std::string(msg) +
                               "): a live run follows the primaries; the user needs +cluster|shards or "
                               "+cluster|slots"));
  }
  const bool tls = l.conn->options().tls != nullptr;
  auto topo = t == kShards ? cluster::parse_cluster_shards(r, tls) : cluster::parse_cluster_slots(r);
  if (!topo) {
    spdlog::warn("{}: {}; reading the topology again on the next check", who, topo.error().message);
    return;
  }
  if (topo->shards.empty()) {
    if (!topology_known_) {
      return fail(make_error(ExitCode::kConnect, who + ": the cluster has no shards"));
    }
    return;  // a node that just left the cluster: ask another one next time
  }
  apply_topology(*topo);
  if (!active()) return;
  if (topology_again_) {
    read_topology();
    return;
  }
  if (barrier_topology_) {
    barrier_topology_ = false;
    start_barrier_pings();
  }
}

void NotificationFeed::Impl::apply_topology(const cluster::Topology& t) {
  std::vector<std::string> changes;
  std::set<std::string> now;
  for (const auto& shard : t.shards) {
    const std::string address = shard.primary.address();
    now.insert(address);
    auto it = std::find_if(nodes_.begin(), nodes_.end(),
                           [&](const auto& n) { return !n->retired && n->address == address; });
    if (it == nodes_.end()) {
      if (topology_known_) changes.push_back("new primary " + address);
      add_node(address, resp::cluster_node_options(opts_.seed, shard.primary.host, shard.primary.port),
               shard.ranges);
      continue;
    }
    Node& n = **it;
    if (n.ranges == shard.ranges) continue;
    n.ranges = shard.ranges;
    // Slots moved (resharding): MIGRATE sends per-key events, so nothing is lost, but the canary must stay
    // on a slot this primary owns.
    if (!n.canary.empty() && !owns(n.ranges, cluster::key_hash_slot(n.canary))) {
      n.canary = key_in_ranges(opts_.canary_key, n.ranges);
      n.canary_set = false;
      set_canary(n);
    }
  }
  for (auto& n : nodes_) {
    if (n->retired || now.count(n->address) != 0) continue;
    changes.push_back("primary " + n->address + " left");
    retire(*n);
  }
  const bool first = !topology_known_;
  topology_known_ = true;
  if (first) {
    if (seed_) seed_->conn->close();  // the primaries' control connections read the topology from now on
    spdlog::info("keyspace notifications: source cluster with {} primary(ies)", nodes().size());
    return;
  }
  if (changes.empty()) return;
  std::string cause = "topology changed: ";
  for (std::size_t i = 0; i < changes.size(); ++i)
    cause += (i == 0 ? "" : ", ") + changes[i];
  spdlog::warn("source cluster {}", cause);
  if (subscribed_reported_) {
    topology_cause_ = topology_cause_.empty() ? cause : topology_cause_ + "; " + cause.substr(18);
  }
  // A change before subscribed() needs no report: the scan starts after it. Report (or finish) now when
  // every node is ready already (a primary left, none came).
  for (auto& n : nodes_) {
    if (!n->retired && node_ready(*n)) return maybe_ready(*n);
  }
}

void NotificationFeed::Impl::barrier() {
  if (!active()) return;
  ++barrier_generation_;
  for (auto& n : nodes_) {
    n->pinged = false;
    n->answered = false;
    n->barrier_check = false;
  }
  barrier_pinging_ = false;
  if (opts_.cluster) {
    // A primary that appeared since the last check is subscribed (and pinged) before the barrier is done.
    barrier_topology_ = true;
    if (topology_in_flight_) {
      topology_again_ = true;
    } else {
      read_topology();
    }
    return;
  }
  start_barrier_pings();
}

void NotificationFeed::Impl::start_barrier_pings() {
  barrier_pinging_ = true;
  // A FLUSHDB, FLUSHALL or SWAPDB acknowledged before the barrier must be reported (lost()) before
  // barrier_done(): every canary is checked once more, by a check sent now.
  for (auto& n : nodes_) {
    if (n->retired || n->canary.empty()) continue;
    n->barrier_check = true;
    if (n->check_in_flight) {
      n->recheck = true;
    } else {
      check_canary(*n);
    }
  }
  send_pings();
}

void NotificationFeed::Impl::send_pings() {
  if (!barrier_pinging_ || !active()) return;
  for (auto& n : nodes_) {
    if (n->retired || n->pinged || !n->subscribed) continue;
    const std::string_view args[] = {"PING"};
    if (n->sub->conn->send(*n->sub, tag(kPing, barrier_generation_), args, 1)) n->pinged = true;
  }
  check_barrier();
}

void NotificationFeed::Impl::check_barrier() {
  if (!barrier_pinging_ || !active()) return;
  const bool done = std::all_of(nodes_.begin(), nodes_.end(), [](const auto& n) {
    return n->retired || (n->answered && !n->barrier_check);
  });
  if (!done) return;
  barrier_pinging_ = false;
  events_.barrier_done();
}

void NotificationFeed::Impl::on_tick() {
  if (!active()) return;
  // Retired nodes are dropped here, outside any of their connections' callbacks.
  nodes_.erase(std::remove_if(nodes_.begin(), nodes_.end(), [](const auto& n) { return n->retired; }),
               nodes_.end());
  if (seed_ && topology_known_) seed_.reset();
  for (auto& n : nodes_) {
    check_canary(*n);
    if (!n->canary.empty() && !n->canary_set && n->ctl->conn->ready()) set_canary(*n);
  }
  if (opts_.cluster) read_topology();
}

void NotificationFeed::Impl::fail(Error e) {
  if (failed_ || stopping_) return;
  failed_ = true;
  spdlog::error("keyspace notifications: {}", e.message);
  close_all();
  events_.failed(std::move(e));
}

void NotificationFeed::Impl::close_all(bool delete_canaries) {
  tick_.stop();
  if (seed_) {
    seed_->retry.stop();
    seed_->conn->close();
  }
  for (auto& n : nodes_) {
    n->sub->retry.stop();
    n->ctl->retry.stop();
    n->sub->conn->close();
    // The canary goes first where the control connection is up; the connection closes on the answer.
    const std::string_view args[] = {"DEL", n->canary};
    if (delete_canaries && !n->retired && !n->canary.empty() && n->ctl->conn->ready() &&
        n->ctl->conn->send(*n->ctl, tag(kCanaryDel), args, 2)) {
      continue;
    }
    n->ctl->conn->close();
  }
}

void NotificationFeed::Impl::stop() {
  if (stopping_) return;
  const bool was_active = active();
  stopping_ = true;
  close_all(was_active);
}

NotificationFeed::NotificationFeed(net::Loop& loop, FeedOptions options, FeedEvents& events)
    : impl_(std::make_unique<Impl>(loop, std::move(options), events)) {}
NotificationFeed::~NotificationFeed() = default;
void NotificationFeed::start() { impl_->start(); }
void NotificationFeed::barrier() { impl_->barrier(); }
void NotificationFeed::stop() { impl_->stop(); }
std::vector<std::string> NotificationFeed::nodes() const { return impl_->nodes(); }

// ---------------------------------------------------------------------------------------------------------
// The proof.

namespace {

// One probe: a key written so that the server sends `event`, of notification class `cls`.
struct ProbeKey {
  char cls;
  std::string_view suffix;
  std::string_view event;
};
// Redis's A is "g$lshzxet"; e (evicted) cannot be provoked without filling the server, so it is assumed
// with the others (KEA sets it).
constexpr ProbeKey kProbes[] = {
    {'g', "generic", "del"}, {'$', "string", "set"}, {'l', "list", "lpush"},     {'s', "set", "sadd"},
    {'h', "hash", "hset"},   {'z', "zset", "zadd"},  {'x', "expiry", "expired"}, {'t', "stream", "xadd"},
};
constexpr std::string_view kProbeTtlMs = "10000";

struct Collector final : resp::Connection::PushHandler {
  std::string prefix;                                  // "__keyspace@<db>__:" + the probe keys' common start
  std::set<std::pair<std::string, std::string>> seen;  // (key, event)
  void on_push(resp::Connection&, resp::Reply m) override {
    const redisReply* r = m.get();
    const bool pattern = resp::text(r->element[0]) == "pmessage";
    const std::string_view channel = resp::text(r->element[pattern ? 2 : 1]);
    if (channel.compare(0, prefix.size(), prefix) != 0) return;
    seen.emplace(std::string(channel.substr(prefix.size())),
                 std::string(resp::text(r->element[r->elements - 1])));
  }
};

// Runs the loop until `done` or `ms` passed.
template <class Done>
void run_until(net::Loop& loop, uint32_t ms, Done done) {
  bool expired = false;
  net::Timer timer(loop, [&expired] { expired = true; });
  timer.start(ms);
  while (!expired && !done())
    loop.run_once();
  timer.stop();
}

std::string probe_refused(const resp::ConnectOptions& o, std::string_view command, std::string_view msg,
                          const std::string& pattern) {
  const std::string user = user_of(o);
  return o.label + ": user '" + user + "' may not run " + upper(command) + " on the probe keys (" +
         std::string(msg) + "): proving keyspace notifications writes short-lived probe keys matching " +
         pattern +
         "; add the ACL rules +set +del +lpush +sadd +zadd +hset +xadd +pexpire +get and the key pattern ~" +
         pattern + " to user '" + user +
         "', or pass --assume-notifications when notify-keyspace-events is "
         "known to be KEA";
}

Status prove_node(net::Loop& loop, const resp::ConnectOptions& o, const Ranges& ranges,
                  const FeedOptions& options, const std::string& probe_prefix, uint32_t timeout_ms) {
  const std::string prefix = keyspace_prefix(options.db);
  const std::string start = probe_prefix + "probe:" + options.run_id + ":";
  const std::string base = key_in_ranges(start, ranges) + ":";
  resp::Connection sub(loop, o, nullptr);
  if (auto st = resp::open_sync(loop, sub); !st) return st;
  Collector collector;
  collector.prefix = prefix + base;
  sub.set_push_handler(&collector);
  // PSUBSCRIBE checks a pattern literally against the user's channel rules: a user allowed only the feed's
  // own pattern is refused the narrower one, and is subscribed to the feed's pattern instead.
  for (const std::string& pattern : {prefix + start + "*", prefix + "*"}) {
    auto r = resp::call_sync(loop, sub, {"PSUBSCRIBE", pattern});
    if (!r) return r.error();
    if (!resp::is_error(r->get())) break;
    const std::string_view msg = resp::text(r->get());
    const bool noperm = msg.find("NOPERM") != std::string_view::npos;
    if (noperm && pattern != prefix + "*") continue;
    if (noperm) return subscribe_refused(o, options.db, msg);
    return make_error(ExitCode::kConnect, o.label + ": PSUBSCRIBE refused (" + std::string(msg) +
                                              "): a live run needs keyspace notifications");
  }
  resp::Connection writer(loop, o, nullptr);
  if (auto st = resp::open_sync(loop, writer); !st) return st;

  std::vector<std::string> keys;
  for (const auto& p : kProbes)
    keys.push_back(base + std::string(p.suffix));
  auto key = [&](std::size_t i) -> const std::string& { return keys[i]; };
  const std::vector<resp::Args> writes = {
      {"SET", key(0), "1", "PX", kProbeTtlMs}, {"DEL", key(0)},
      {"SET", key(1), "1", "PX", kProbeTtlMs}, {"LPUSH", key(2), "1"},
      {"PEXPIRE", key(2), kProbeTtlMs},        {"SADD", key(3), "1"},
      {"PEXPIRE", key(3), kProbeTtlMs},        {"HSET", key(4), "1", "1"},
      {"PEXPIRE", key(4), kProbeTtlMs},        {"ZADD", key(5), "1", "1"},
      {"PEXPIRE", key(5), kProbeTtlMs},        {"SET", key(6), "1", "PX", "1"},
      {"XADD", key(7), "*", "1", "1"},         {"PEXPIRE", key(7), kProbeTtlMs},
  };
  auto cleanup = [&] {
    resp::Args del = {"DEL"};
    del.insert(del.end(), keys.begin(), keys.end());
    (void)resp::call_sync(loop, writer, del);
  };
  for (const auto& args : writes) {
    auto r = resp::call_sync(loop, writer, args);
    if (!r) return r.error();
    if (!resp::is_error(r->get())) continue;
    const std::string_view msg = resp::text(r->get());
    cleanup();
    const auto kind = resp::classify_error(msg);
    if (kind == resp::ServerError::kNoPerm || kind == resp::ServerError::kNoPermKey) {
      return make_error(ExitCode::kUsage, probe_refused(o, args.front(), msg, start + "*"));
    }
    return make_error(ExitCode::kUsage, o.label + ": the probe write " + upper(args.front()) + " " + base +
                                            "... was refused (" + std::string(msg) +
                                            "): keyspace notifications cannot be proven; fix the cause, or "
                                            "pass --assume-notifications when notify-keyspace-events is "
                                            "known to be KEA");
  }
  // The expiry probe: a read after its 1 ms TTL removes it, which sends "expired" (if the active expiry
  // cycle has not already).
  run_until(loop, 50, [] { return false; });
  (void)resp::call_sync(loop, writer, {"GET", key(6)});

  auto arrived = [&](std::size_t i) {
    return collector.seen.count({std::string(kProbes[i].suffix), std::string(kProbes[i].event)}) != 0;
  };
  auto all = [&] {
    for (std::size_t i = 0; i < std::size(kProbes); ++i) {
      if (!arrived(i)) return false;
    }
    return true;
  };
  run_until(loop, timeout_ms, all);
  cleanup();
  sub.close();
  writer.close();

  std::string seen;
  std::string missing;
  for (std::size_t i = 0; i < std::size(kProbes); ++i)
    (arrived(i) ? seen : missing) += kProbes[i].cls;
  if (missing.empty()) {
    spdlog::info("{}: keyspace notifications proven (classes {}; e assumed with them)", o.label, seen);
    return {};
  }
  const std::string fix =
      ": a live run needs notify-keyspace-events KEA (K for keyspace channels, A = g$lshzxet; e, evictions, "
      "cannot be provoked and is assumed with A): set it on every primary (CONFIG SET notify-keyspace-events "
      "KEA; managed services: the parameter group or console, see README 'Keyspace notifications')";
  if (seen.empty()) {
    return make_error(ExitCode::kUsage, o.label + ": no keyspace notification arrived within " +
                                            seconds(timeout_ms) +
                                            " for the probe keys: notify-keyspace-events is off or lacks K "
                                            "(classes seen: none; missing: " +
                                            missing + ")" + fix);
  }
  return make_error(ExitCode::kUsage, o.label + ": keyspace notifications are incomplete: within " +
                                          seconds(timeout_ms) + " the probe keys sent the classes " + seen +
                                          " but not " + missing + fix);
}

}  // namespace

Status prove_notifications(net::Loop& loop, const FeedOptions& options, const std::string& probe_prefix,
                           uint32_t timeout_ms) {
  if (!options.cluster) return prove_node(loop, options.seed, {}, options, probe_prefix, timeout_ms);
  resp::Connection seed(loop, options.seed, nullptr);
  if (auto st = resp::open_sync(loop, seed); !st) return st;
  auto topo = cluster::discover(loop, seed);
  seed.close();
  if (!topo) return topo.error();
  if (topo->shards.empty())
    return make_error(ExitCode::kConnect, options.seed.label + ": the cluster has no shards");
  for (const auto& shard : topo->shards) {
    const auto o = resp::cluster_node_options(options.seed, shard.primary.host, shard.primary.port);
    if (auto st = prove_node(loop, o, shard.ranges, options, probe_prefix, timeout_ms); !st) return st;
  }
  return {};
}

}  // namespace rmig::engine
