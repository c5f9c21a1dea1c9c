#pragma once
// The engine's connections ("links"): one per source node (and its primary, when reads go to a replica), one
// per destination node, and one per node first met through a redirect. A link that drops is reconnected with
// backoff for up to --retry-timeout; the jobs with commands on it are parked on it and handed back once it is
// up again. Links also route a destination key to the node owning its slot (following MOVED, and asking the
// cluster where the slots of a node that stays down went) and keep each destination node's clock (TIME,
// refreshed every 10 s). What a parked job, a reconnected link or a lost link means for the run is the
// engine's business (LinkEvents).
//
// Source nodes fail over too. The same topology refresh (CLUSTER SHARDS, else CLUSTER SLOTS, asked of any
// source link that is up, at most once a second) runs while a source link of a cluster is down, or after a
// source-side MOVED: once the slots a source node owned at start are served by another primary, the node
// continues there (LinkEvents::source_failed_over) and its old links are retired. And a source link that
// reconnects is first asked for the server's run_id (INFO server): a server other than the one first met
// there (a restart, a name now pointing elsewhere), or one that refuses INFO, is reported the same way
// (cause "new server") before the link is used again.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cluster/slot.hpp"
#include "cluster/topology.hpp"
#include "engine/clock.hpp"
#include "engine/job.hpp"
#include "net/loop.hpp"
#include "resp/connection.hpp"
#include "util/result.hpp"

namespace rmig::engine {

class LinkEvents {
 public:
  // The link is up again (or for the first time); its parked jobs are still parked.
  virtual void link_up(uint32_t link) = 0;
  // The link cannot be used any more (not transient, reconnection timed out, or the run is stopping).
  virtual void link_failed(Error error) = 0;
  // A destination connection drained its output.
  virtual void destination_writable() = 0;
  // A job parked on a destination node that failed over: its slot's new owner is known, send it again.
  virtual void rerouted(uint32_t job) = 0;
  // A destination node failed over (it owns no slots any more while down).
  virtual void destination_failed_over(const std::string& label) = 0;
  // Source node `node` (Links::add_source order) reads from `link` from now on (and writes there, for
  // --cleanup): the primary now serving its slots, or its own link reconnected to a new server. `cause`:
  // "node unreachable", "node demoted to replica" or "new server". Called before the link's link_up.
  virtual void source_failed_over(uint32_t node, uint32_t link, const std::string& cause) = 0;
  // A source link's server said who it is (INFO server's run_id; "" when refused): first met, or after a
  // reconnection, before source_failed_over for a new server.
  virtual void source_identified(uint32_t link, const std::string& run_id) = 0;
  // The run no longer reconnects: a dropped link fails it.
  virtual bool stopping() const noexcept = 0;

 protected:
  ~LinkEvents() = default;
};

struct Link {
  std::unique_ptr<resp::Connection> conn;
  std::string name;  // host:port
  bool destination = false;
  ServerClock clock;
  std::vector<uint32_t> parked;  // jobs to resend when the link is up
  bool down = false;             // lost, being reconnected
  bool retired = false;          // a node that no longer owns slots (failed over): not retried
  bool optional = false;  // only asked for the topology (the source URL's address): its loss fails nothing
  // Source links: the server's run_id (INFO server) when first met ("" when INFO was refused), and whether
  // it is known yet. A reconnected link is checked against it before it is used again (`checking`).
  std::string run_id;
  bool identity_known = false;
  bool identity_refused = false;
  bool checking = false;
  uint32_t attempts = 0;
  std::chrono::steady_clock::time_point down_since{};
  std::chrono::steady_clock::time_point retry_at{};
  std::string last_error;
};

class Links final : private resp::Connection::Observer, private resp::Connection::ReplyHandler {
 public:
  // `retry_timeout_ms`: how long a link may stay down (0: a drop fails the run). `keep_time`: sample the
  // destination nodes' clocks. The templates open connections to nodes first met through a redirect.
  Links(net::Loop& loop, uint32_t retry_timeout_ms, bool keep_time, resp::ConnectOptions source_template,
        resp::ConnectOptions destination_template, LinkEvents& events);
  ~Links() override;
  Links(const Links&) = delete;
  Links& operator=(const Links&) = delete;

  uint32_t add(std::unique_ptr<resp::Connection> conn, std::string name, bool destination);
  // The destination: one node (`cluster` false), or the nodes of a cluster and slot -> node (index into the
  // destination links, in the order added).
  void set_destination(bool cluster, const std::vector<uint16_t>& slot_owner);
  // A source node of the run (in the engine's node order): the link it reads from, the one it deletes
  // through (the same without a separate writer), and for a cluster source the slots its shard owned at start
  // (empty: a standalone source). Call before start().
  void add_source(uint32_t read, uint32_t writer, std::vector<std::pair<uint16_t, uint16_t>> slots);
  // A source command was redirected with MOVED: the node may have been demoted (a failover); the cluster is
  // asked where the node's slots are served now.
  void source_redirected();
  // Starts observing the connections and sampling the clocks (and reading the source servers' run_id).
  void start();
  // Closes every connection; no event is reported after this.
  void close();
  // Stops reconnecting: the links that are down are closed.
  void close_down();

  Link& operator[](uint32_t link) noexcept { return *links_[link]; }
  const Link& operator[](uint32_t link) const noexcept { return *links_[link]; }
  std::size_t size() const noexcept { return links_.size(); }
  bool usable(uint32_t link) const noexcept {
    return link != kNoLink && links_[link]->conn->ready() && !links_[link]->checking;
  }
  // The link of a node, connecting to it when it is new.
  uint32_t at_address(const std::string& host, int port, bool destination);
  const std::vector<uint32_t>& destinations() const noexcept { return dst_links_; }
  bool destination_cluster() const noexcept { return dst_cluster_; }
  // The destination node owning the key's slot.
  uint32_t route(std::string_view key) const noexcept {
    return dst_cluster_ ? slot_link_[cluster::key_hash_slot(key)] : dst_single_;
  }
  // MOVED: the slot now lives on `link`.
  void moved(int slot, uint32_t link) noexcept;
  // Some destination connection has `limit` bytes or more waiting to be sent.
  bool destination_backed_up(std::size_t limit) const noexcept;
  std::size_t down() const noexcept;

  void park(uint32_t job, uint32_t link) { links_[link]->parked.push_back(job); }
  std::vector<uint32_t> take_parked(uint32_t link) {
    std::vector<uint32_t> parked;
    parked.swap(links_[link]->parked);
    return parked;
  }

 private:
  // kShards/kSlots: the destination's topology; kSourceShards/kSourceSlots: the source's; kInfo: a source
  // server's run_id when first met; kCheck: the same after a reconnection.
  enum Op : uint8_t { kTime = 1, kShards, kSlots, kSourceShards, kSourceSlots, kInfo, kCheck };
  struct SourceWatch {
    uint32_t read = kNoLink;
    uint32_t writer = kNoLink;
    std::vector<std::pair<uint16_t, uint16_t>> slots;
  };
  struct TopologyAsk {
    bool in_flight = false;
    std::chrono::steady_clock::time_point asked_at{};
  };
  static uint64_t tag(uint32_t link, Op op) noexcept { return (uint64_t{link} << 32) | op; }

  void on_reply(uint64_t tag, resp::Reply reply) override;
  void on_connection_ready(resp::Connection& c) override;
  void on_connection_error(resp::Connection& c, const Error& error) override;
  void on_connection_writable(resp::Connection& c) override;

  uint32_t link_of(const resp::Connection& c) const noexcept;
  void send_time(uint32_t link);
  void on_time(uint32_t link, const redisReply* r);
  // `destination`: the destination's topology, else the source's.
  void refresh_topology(bool destination);
  void on_topology(Op op, const redisReply* r);
  void on_source_topology(const cluster::Topology& topo);
  void send_info(uint32_t link, Op op);
  void on_info(uint32_t link, Op op, const redisReply* r);
  void retire(uint32_t link);
  void reconnect_tick();
  void on_reconnect_timer();
  void on_clock_timer();

  net::Loop& loop_;
  uint32_t retry_timeout_ms_;
  bool keep_time_;
  resp::ConnectOptions source_template_;
  resp::ConnectOptions destination_template_;
  LinkEvents& events_;
  std::vector<std::unique_ptr<Link>> links_;
  bool dst_cluster_ = false;
  uint32_t dst_single_ = kNoLink;
  std::vector<uint32_t> dst_links_;
  std::vector<uint32_t> slot_link_;  // cluster destination: slot -> link
  TopologyAsk topology_[2];          // [1]: the destination's, [0]: the source's
  std::vector<SourceWatch> sources_;
  bool src_cluster_ = false;
  uint32_t seed_link_ = kNoLink;  // the source URL's address, asked for the topology when no node can be
  net::Timer reconnect_timer_;
  net::Timer clock_timer_;
  bool closed_ = false;
};

}  // namespace rmig::engine
