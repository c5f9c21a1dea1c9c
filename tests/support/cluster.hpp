#pragma once
// A local Redis Cluster of real redis-server processes, created with `redis-cli --cluster create`, plus slot
// migration helpers so a test can reshard a cluster while the tool copies into it.

#include <atomic>
#include <chrono>
#include <exception>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/client.hpp"
#include "support/redis_server.hpp"

namespace rmig::test {

struct ClusterOptions {
  int primaries = 3;
  int replicas_per_primary = 0;
  // Template for every node; cluster is forced on, and with tls the cluster bus and replication use TLS too.
  // tls_only is not supported: the test's ClusterClient talks to the plain ports.
  ServerOptions node;
  std::chrono::milliseconds ready_timeout = 30s;
};

struct MoveOptions {
  int keys_per_batch = 100;                         // keys per MIGRATE
  std::chrono::milliseconds delay_per_batch = 0ms;  // pause after each MIGRATE
  std::chrono::milliseconds migrate_timeout = 5s;   // MIGRATE's own timeout
  int db = 0;  // the database whose keys are moved (numbered databases of a Valkey 9 cluster)

  // Small batches with a pause, so that a copy running at the same time sees the slots half-moved.
  static MoveOptions background() {
    MoveOptions o;
    o.keys_per_batch = 10;
    o.delay_per_batch = 5ms;
    return o;
  }
};

// A slot migration running in a background thread. The destructor asks it to stop after the current batch and
// joins (the slot in flight is then left MIGRATING/IMPORTING; the cluster is about to be torn down anyway).
class Reshard {
 public:
  Reshard() = default;
  Reshard(Reshard&&) noexcept = default;
  Reshard& operator=(Reshard&& other) noexcept;
  Reshard(const Reshard&) = delete;
  Reshard& operator=(const Reshard&) = delete;
  ~Reshard();

  // Joins; rethrows what made the migration fail.
  void wait();
  bool done() const;
  // Slots completely moved so far.
  int slots_moved() const;

 private:
  friend class LocalCluster;
  struct State {
    std::atomic<bool> stop{false};
    std::atomic<bool> done{false};
    std::atomic<int> slots_moved{0};
    std::exception_ptr error;
  };
  void halt();
  std::shared_ptr<State> state_;
  std::thread thread_;
};

class LocalCluster {
 public:
  // Starts the nodes, creates the cluster and waits until every node reports cluster_state:ok and all agree
  // on the slot map; throws std::runtime_error with redis-cli's output and node logs otherwise.
  explicit LocalCluster(ClusterOptions options = {});
  LocalCluster(const LocalCluster&) = delete;
  LocalCluster& operator=(const LocalCluster&) = delete;
  // Stops replicas before primaries (a primary's shutdown waits for lagging replicas).
  ~LocalCluster();

  const std::vector<std::unique_ptr<RedisServer>>& nodes() const { return nodes_; }
  // Roles as of the last wait_until_stable().
  std::vector<RedisServer*> primaries() const;
  std::vector<RedisServer*> replicas() const;
  RedisServer& primary(std::size_t i) const { return *primaries().at(i); }

  // redis://127.0.0.1:P of the first primary (the seed the tool gets); rediss://localhost:T with tls.
  std::string url() const;
  // redis://127.0.0.1:P/db (a numbered database of a Valkey 9 cluster).
  std::string url(int db) const { return url() + "/" + std::to_string(db); }
  std::string seed_url() const { return url(); }
  std::string tls_url() const;
  std::string url_as(const std::string& user, const std::string& password) const;

  // A client that routes by slot, seeded with the first primary's plain port and admin credentials; `db`:
  // a numbered database of a Valkey 9 cluster (cluster-databases).
  ClusterClient client(int db = 0) const;

  // CLUSTER MYID of a node.
  std::string node_id(const RedisServer& node) const;
  // The primary owning `slot` and the slots a node owns, from CLUSTER SLOTS of the first primary.
  RedisServer& owner_of_slot(int slot) const;
  std::vector<int> slots_of(const RedisServer& node) const;

  // Polls until every node says cluster_state:ok, knows every node, agrees on the slot map (owners and
  // replicas), and every replica's link to its primary is up; then re-reads the roles.
  void wait_until_stable(std::chrono::milliseconds timeout = 30s);

  // Moves slots from one primary to another the way redis-cli --cluster reshard does: SETSLOT IMPORTING on
  // the target, MIGRATING on the source, GETKEYSINSLOT + MIGRATE ... KEYS in batches, then SETSLOT NODE on
  // the target, the source and every other primary. Returns when done; throws on a failed step.
  void move_slots(RedisServer& from, RedisServer& to, const std::vector<int>& slots,
                  const MoveOptions& options = {});
  // The same in a background thread, so a copy running meanwhile meets -ASK and -MOVED. Keep the Reshard
  // declared after the LocalCluster (destroyed first).
  Reshard reshard_async(RedisServer& from, RedisServer& to, std::vector<int> slots,
                        MoveOptions options = MoveOptions::background());

 private:
  std::size_t index_of(const RedisServer& node) const;
  std::string describe_nodes() const;

  ClusterOptions options_;
  std::vector<std::unique_ptr<RedisServer>> nodes_;
  std::vector<std::string> ids_;
  std::vector<bool> is_primary_;
};

// Slots lo..hi inclusive, for move_slots.
std::vector<int> slot_range(int lo, int hi);

}  // namespace rmig::test
