#pragma once
// Keyspace notifications of the source, for a live run (--live): one subscriber connection per source
// primary (`PSUBSCRIBE __keyspace@<db>__:*`), and one control connection per primary for the canary key and,
// on a cluster, the topology. The feed reports every notification, and every way notifications may have been
// lost, so the run can repair by a resync; it never drops an event silently.
//
//   changed(key, event): a notification arrived ("set", "del", "expired", "evicted", "rename_from", ...), in
//     the order the server sent them. The key is the raw name taken from the channel after
//     "__keyspace@<db>__:" (binary safe).
//   lost(node, cause): events of that primary may have been lost since it was subscribed: its subscriber
//     connection dropped (network, failover, CLIENT KILL, client-output-buffer-limit pubsub), or its canary
//     key vanished (FLUSHDB, FLUSHALL, SWAPDB send no per-key events), or (cluster) the set of primaries
//     changed (a failover, a node added: the new primary is subscribed first). The feed resubscribes by
//     itself (util/backoff.hpp) and reports lost() once the subscription is back, so a resync started then
//     misses nothing; `node` is the primary's host:port, or "*" when every node is affected.
//   barrier_done(): every subscriber answered the PING sent by barrier(): every notification queued on the
//     servers before the barrier was delivered through changed() before this call.
//   subscribed(): every primary's subscription is confirmed (start() was asked): from now on no change is
//     missed. Called once.
//   failed(error): the feed cannot go on (a subscription refused by an ACL, the retry timeout passed): the
//     run stops with this error.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/loop.hpp"
#include "resp/connection.hpp"
#include "util/result.hpp"

namespace rmig::engine {

class FeedEvents {
 public:
  virtual void changed(std::string_view key, std::string_view event) = 0;
  virtual void lost(const std::string& node, const std::string& cause) = 0;
  virtual void barrier_done() = 0;
  virtual void subscribed() = 0;
  virtual void failed(Error error) = 0;

 protected:
  ~FeedEvents() = default;
};

struct FeedOptions {
  // The source as the run connects to it (a standalone server, or any node of a cluster).
  resp::ConnectOptions seed;
  bool cluster = false;
  int db = 0;
  // The canary key on each primary (under the state prefix, with the run id; a value that is the run id):
  // its absence means the keyspace was flushed or swapped. Empty: no canary (--assume-notifications users
  // may not write keys on the source).
  std::string canary_key;
  std::string run_id;
  uint32_t check_interval_ms = 1'000;  // canary and topology checks
  uint32_t retry_timeout_ms = 60'000;  // a primary unreachable for longer fails the run
};

class NotificationFeed {
 public:
  NotificationFeed(net::Loop& loop, FeedOptions options, FeedEvents& events);
  ~NotificationFeed();
  NotificationFeed(const NotificationFeed&) = delete;
  NotificationFeed& operator=(const NotificationFeed&) = delete;

  // Connects and subscribes to every primary; FeedEvents::subscribed() once all are.
  void start();
  // A PING on every subscriber connection of the current primaries (on a cluster, the topology is read
  // again first, so a primary that appeared since is subscribed and included); barrier_done() once every
  // one answered. A subscriber that drops before answering is resubscribed and reported lost(): the barrier
  // then waits for the new subscription's answer.
  void barrier();
  // Unsubscribes and closes every connection (the canary keys are deleted first when reachable).
  void stop();
  // The primaries subscribed now (host:port).
  std::vector<std::string> nodes() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// Proves before a live run that every primary of the source sends the keyspace notifications it needs
// (notify-keyspace-events with K and the classes g$lshzxet): on each primary, a subscriber on
// `__keyspace@<db>__:<prefix>probe:<run_id>:*`, then one probe key per class a probe can provoke (generic,
// string, list, set, zset, hash, stream, expiry), each with a short TTL, whose notifications must arrive
// within `timeout_ms`. CONFIG is never sent. Fails with exit code 2 naming the node, the classes seen, the
// classes missing and the setting needed (README: the recipe per managed service).
Status prove_notifications(net::Loop& loop, const FeedOptions& options, const std::string& probe_prefix,
                           uint32_t timeout_ms = 3'000);

// The key a keyspace notification is about: the rest of its channel after "__keyspace@<db>__:" (binary safe:
// any byte, ':' included), or nullopt when the channel is not a keyspace channel of database `db`.
std::optional<std::string_view> keyspace_channel_key(std::string_view channel, int db);

}  // namespace rmig::engine
