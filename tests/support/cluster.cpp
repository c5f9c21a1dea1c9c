#include "support/cluster.hpp"

#include <algorithm>
#include <sstream>
#include <stdexcept>

#include "support/certs.hpp"
#include "support/process.hpp"

namespace rmig::test {

namespace {

using Clock = std::chrono::steady_clock;

// What the migration thread needs about a node: plain data, so it never touches a RedisServer.
struct NodeRef {
  ConnectOptions admin;
  std::string id;
  std::string host;
  int migrate_port = 0;  // where MIGRATE connects: the TLS port when the cluster bus uses TLS
  std::string name;      // for messages
};

struct MigrationPlan {
  NodeRef from;
  NodeRef to;
  std::vector<NodeRef> other_primaries;
  std::vector<int> slots;
  MoveOptions options;
};

std::string field(const std::string& info, const std::string& name) {
  std::string prefix = name + ":";
  std::istringstream in(info);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.compare(0, prefix.size(), prefix) == 0) return line.substr(prefix.size());
  }
  return {};
}

void set_slot(Client& c, int slot, const std::string& state, const std::string& node_id) {
  c.checked({"CLUSTER", "SETSLOT", std::to_string(slot), state, node_id});
}

void migrate_slot(const MigrationPlan& plan, Client& src, Client& dst, int slot,
                  const std::atomic<bool>* stop) {
  const NodeRef& to = plan.to;
  set_slot(dst, slot, "IMPORTING", plan.from.id);
  set_slot(src, slot, "MIGRATING", to.id);
  for (;;) {
    if (stop != nullptr && stop->load()) return;
    Reply keys = src.checked(
        {"CLUSTER", "GETKEYSINSLOT", std::to_string(slot), std::to_string(plan.options.keys_per_batch)});
    if (!keys.is_array()) throw std::runtime_error("unexpected GETKEYSINSLOT reply " + keys.to_string());
    if (keys.elements.empty()) break;
    Command migrate = {"MIGRATE",
                       to.host,
                       std::to_string(to.migrate_port),
                       "",
                       std::to_string(plan.options.db),
                       std::to_string(plan.options.migrate_timeout.count())};
    if (!to.admin.password.empty()) {
      if (to.admin.user.empty()) {
        migrate.insert(migrate.end(), {"AUTH", to.admin.password});
      } else {
        migrate.insert(migrate.end(), {"AUTH2", to.admin.user, to.admin.password});
      }
    }
    migrate.emplace_back("KEYS");
    for (auto& k : keys.elements)
      migrate.push_back(std::move(k.str));
    Reply r = src.command(migrate);
    // NOKEY: every key of the batch expired or was deleted meanwhile.
    if (!r.is_status("OK") && !r.is_status("NOKEY")) {
      throw std::runtime_error("MIGRATE of slot " + std::to_string(slot) + " from " + plan.from.name +
                               " to " + to.name + " failed: " + r.to_string());
    }
    if (plan.options.delay_per_batch > 0ms) std::this_thread::sleep_for(plan.options.delay_per_batch);
  }
  // Target first so that it owns the slot before the source starts answering -MOVED to it.
  set_slot(dst, slot, "NODE", to.id);
  set_slot(src, slot, "NODE", to.id);
}

void run_migration(const MigrationPlan& plan, const std::atomic<bool>* stop, std::atomic<int>* moved) {
  ConnectOptions from = plan.from.admin;
  from.db = plan.options.db;  // GETKEYSINSLOT lists the selected database's keys
  Client src(from);
  Client dst(plan.to.admin);
  std::vector<Client> others;
  for (const auto& n : plan.other_primaries)
    others.emplace_back(n.admin);
  for (int slot : plan.slots) {
    if (stop != nullptr && stop->load()) return;
    migrate_slot(plan, src, dst, slot, stop);
    if (stop != nullptr && stop->load()) return;
    for (auto& c : others)
      set_slot(c, slot, "NODE", plan.to.id);
    if (moved != nullptr) ++*moved;
  }
}

}  // namespace

std::vector<int> slot_range(int lo, int hi) {
  std::vector<int> slots;
  for (int s = lo; s <= hi; ++s)
    slots.push_back(s);
  return slots;
}

// ---- Reshard ----

Reshard& Reshard::operator=(Reshard&& other) noexcept {
  if (this != &other) {
    halt();
    state_ = std::move(other.state_);
    thread_ = std::move(other.thread_);
  }
  return *this;
}

Reshard::~Reshard() { halt(); }

void Reshard::halt() {
  if (thread_.joinable()) {
    state_->stop = true;
    thread_.join();
  }
}

void Reshard::wait() {
  if (thread_.joinable()) thread_.join();
  if (state_ && state_->error) std::rethrow_exception(state_->error);
}

bool Reshard::done() const { return !state_ || state_->done.load(); }

int Reshard::slots_moved() const { return state_ ? state_->slots_moved.load() : 0; }

// ---- LocalCluster ----

LocalCluster::LocalCluster(ClusterOptions options) : options_(std::move(options)) {
  ServerOptions& node = options_.node;
  if (node.tls_only) throw std::invalid_argument("LocalCluster: tls_only nodes are not supported");
  if (options_.primaries < 3)
    throw std::invalid_argument("LocalCluster: redis-cli needs at least 3 primaries");
  node.cluster = true;
  node.tls_cluster = node.tls;

  int total = options_.primaries * (1 + options_.replicas_per_primary);
  for (int i = 0; i < total; ++i)
    nodes_.push_back(std::make_unique<RedisServer>(node));

  std::vector<std::string> cli = {"redis-cli"};
  if (!node.acl_users.empty()) {
    cli.insert(cli.end(), {"--user", kAdminUser, "--pass", kAdminPassword, "--no-auth-warning"});
  } else if (!node.requirepass.empty()) {
    cli.insert(cli.end(), {"-a", node.requirepass, "--no-auth-warning"});
  }
  if (node.tls) {
    const TestCerts& certs = test_certs();
    cli.insert(cli.end(), {"--tls", "--cacert", node.ca_file.empty() ? certs.ca_cert : node.ca_file});
    if (node.tls_auth_clients)
      cli.insert(cli.end(), {"--cert", certs.client_cert, "--key", certs.client_key});
  }
  cli.emplace_back("--cluster");
  cli.emplace_back("create");
  for (const auto& n : nodes_) {
    cli.push_back(n->host() + ":" + std::to_string(node.tls ? n->tls_port() : n->port()));
  }
  cli.insert(cli.end(),
             {"--cluster-replicas", std::to_string(options_.replicas_per_primary), "--cluster-yes"});
  RunResult r = run(cli, {}, 60s);
  if (r.exit_code != 0) {
    throw std::runtime_error("redis-cli --cluster create failed: " + r.describe() + "\n" + describe_nodes());
  }
  wait_until_stable(options_.ready_timeout);
}

LocalCluster::~LocalCluster() {
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (i < is_primary_.size() && !is_primary_[i]) nodes_[i]->stop();
  }
  nodes_.clear();
}

std::vector<RedisServer*> LocalCluster::primaries() const {
  std::vector<RedisServer*> out;
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (is_primary_.at(i)) out.push_back(nodes_[i].get());
  }
  return out;
}

std::vector<RedisServer*> LocalCluster::replicas() const {
  std::vector<RedisServer*> out;
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (!is_primary_.at(i)) out.push_back(nodes_[i].get());
  }
  return out;
}

std::string LocalCluster::url() const {
  const RedisServer& p = primary(0);
  return "redis://" + p.host() + ":" + std::to_string(p.port());
}

std::string LocalCluster::tls_url() const {
  const RedisServer& p = primary(0);
  if (p.tls_port() == 0) throw std::logic_error("LocalCluster::tls_url(): the cluster has no TLS");
  return "rediss://localhost:" + std::to_string(p.tls_port());
}

std::string LocalCluster::url_as(const std::string& user, const std::string& password) const {
  const RedisServer& p = primary(0);
  return "redis://" + url_encode(user) + ":" + url_encode(password) + "@" + p.host() + ":" +
         std::to_string(p.port());
}

ClusterClient LocalCluster::client(int db) const { return ClusterClient(primary(0).tcp_connect_options(db)); }

std::size_t LocalCluster::index_of(const RedisServer& node) const {
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i].get() == &node) return i;
  }
  throw std::invalid_argument("LocalCluster: server is not a node of this cluster");
}

std::string LocalCluster::node_id(const RedisServer& node) const { return ids_.at(index_of(node)); }

RedisServer& LocalCluster::owner_of_slot(int slot) const {
  Client c = primary(0).client();
  Reply r = c.checked({"CLUSTER", "SLOTS"});
  for (const auto& range : r.elements) {
    if (range.elements.size() < 3 || range.elements[2].elements.size() < 3) continue;
    if (slot < range.elements[0].integer || slot > range.elements[1].integer) continue;
    const std::string& id = range.elements[2].elements[2].str;
    for (std::size_t i = 0; i < ids_.size(); ++i) {
      if (ids_[i] == id) return *nodes_[i];
    }
  }
  throw std::runtime_error("LocalCluster: no node owns slot " + std::to_string(slot));
}

std::vector<int> LocalCluster::slots_of(const RedisServer& node) const {
  std::string id = node_id(node);
  Client c = primary(0).client();
  Reply r = c.checked({"CLUSTER", "SLOTS"});
  std::vector<int> slots;
  for (const auto& range : r.elements) {
    if (range.elements.size() < 3 || range.elements[2].elements.size() < 3) continue;
    if (range.elements[2].elements[2].str != id) continue;
    for (long long s = range.elements[0].integer; s <= range.elements[1].integer; ++s) {
      slots.push_back(static_cast<int>(s));
    }
  }
  std::sort(slots.begin(), slots.end());
  return slots;
}

void LocalCluster::wait_until_stable(std::chrono::milliseconds timeout) {
  const auto total = static_cast<long long>(nodes_.size());
  const auto expected_replicas =
      static_cast<std::size_t>(options_.primaries) * static_cast<std::size_t>(options_.replicas_per_primary);
  std::vector<Client> clients;
  for (const auto& n : nodes_)
    clients.push_back(n->client());
  auto deadline = Clock::now() + timeout;
  std::string problem;
  while (Clock::now() < deadline) {
    problem.clear();
    std::string reference;
    std::vector<std::string> ids;
    std::vector<bool> primary;
    for (std::size_t i = 0; i < clients.size() && problem.empty(); ++i) {
      Client& c = clients[i];
      const std::string name = "node " + nodes_[i]->endpoint();
      std::string info = c.checked({"CLUSTER", "INFO"}).str;
      if (field(info, "cluster_state") != "ok") {
        problem = name + ": cluster_state:" + field(info, "cluster_state");
        break;
      }
      if (field(info, "cluster_known_nodes") != std::to_string(total)) {
        problem = name + ": knows " + field(info, "cluster_known_nodes") + " of " + std::to_string(total) +
                  " nodes";
        break;
      }
      // Canonical slot map: "lo-hi primary-id replica-ids..." per range, sorted.
      Reply slots = c.checked({"CLUSTER", "SLOTS"});
      std::vector<std::string> ranges;
      for (const auto& range : slots.elements) {
        std::vector<std::string> holders;
        for (std::size_t j = 2; j < range.elements.size(); ++j) {
          if (range.elements[j].elements.size() >= 3) holders.push_back(range.elements[j].elements[2].str);
        }
        if (holders.empty()) continue;
        std::sort(holders.begin() + 1, holders.end());
        std::string entry =
            std::to_string(range.elements[0].integer) + "-" + std::to_string(range.elements[1].integer);
        for (const auto& h : holders)
          entry += " " + h;
        ranges.push_back(entry);
      }
      std::sort(ranges.begin(), ranges.end());
      std::string signature;
      for (const auto& e : ranges)
        signature += e + "\n";
      if (i == 0) reference = signature;
      if (signature != reference) {
        problem = name + " disagrees on the slot map";
        break;
      }
      Reply role = c.checked({"ROLE"});
      bool is_primary = !role.elements.empty() && role.elements[0].str == "master";
      if (!is_primary && (role.elements.size() < 4 || role.elements[3].str != "connected")) {
        problem = name + ": replica link not up yet (" + role.to_string() + ")";
        break;
      }
      ids.push_back(c.checked({"CLUSTER", "MYID"}).str);
      primary.push_back(is_primary);
    }
    if (problem.empty()) {
      // Each range is listed once per primary, so count primaries and replicas from the nodes' roles.
      std::size_t primaries = static_cast<std::size_t>(std::count(primary.begin(), primary.end(), true));
      if (primaries != static_cast<std::size_t>(options_.primaries) ||
          primary.size() - primaries != expected_replicas) {
        problem = std::to_string(primaries) + " primaries and " + std::to_string(primary.size() - primaries) +
                  " replicas, expected " + std::to_string(options_.primaries) + " and " +
                  std::to_string(expected_replicas);
      }
    }
    if (problem.empty()) {
      ids_ = std::move(ids);
      is_primary_ = std::move(primary);
      return;
    }
    std::this_thread::sleep_for(50ms);
  }
  throw std::runtime_error("cluster not stable after " + std::to_string(timeout.count()) + " ms: " + problem +
                           "\n" + describe_nodes());
}

std::string LocalCluster::describe_nodes() const {
  std::string s;
  for (const auto& n : nodes_) {
    s += "--- node " + n->endpoint() + " (dir " + n->dir() + ") ---\n";
    try {
      Client c = n->client();
      s += c.checked({"CLUSTER", "NODES"}).str;
    } catch (const std::exception& e) {
      s += std::string("CLUSTER NODES failed: ") + e.what() + "\n";
    }
    s += n->log_tail(15) + "\n";
  }
  return s;
}

namespace {

NodeRef node_ref(const LocalCluster& cluster, const RedisServer& node) {
  NodeRef r;
  r.admin = node.connect_options();
  r.id = cluster.node_id(node);
  r.host = node.host();
  r.migrate_port = node.options().tls_cluster ? node.tls_port() : node.port();
  r.name = node.endpoint();
  return r;
}

MigrationPlan make_plan(const LocalCluster& cluster, const RedisServer& from, const RedisServer& to,
                        std::vector<int> slots, const MoveOptions& options) {
  if (&from == &to) throw std::invalid_argument("move_slots: source and target are the same node");
  MigrationPlan plan;
  plan.from = node_ref(cluster, from);
  plan.to = node_ref(cluster, to);
  for (RedisServer* p : cluster.primaries()) {
    if (p != &from && p != &to) plan.other_primaries.push_back(node_ref(cluster, *p));
  }
  plan.slots = std::move(slots);
  plan.options = options;
  return plan;
}

}  // namespace

void LocalCluster::move_slots(RedisServer& from, RedisServer& to, const std::vector<int>& slots,
                              const MoveOptions& options) {
  run_migration(make_plan(*this, from, to, slots, options), nullptr, nullptr);
}

Reshard LocalCluster::reshard_async(RedisServer& from, RedisServer& to, std::vector<int> slots,
                                    MoveOptions options) {
  MigrationPlan plan = make_plan(*this, from, to, std::move(slots), options);
  Reshard r;
  r.state_ = std::make_shared<Reshard::State>();
  r.thread_ = std::thread([state = r.state_, plan = std::move(plan)] {
    try {
      run_migration(plan, &state->stop, &state->slots_moved);
    } catch (...) {
      state->error = std::current_exception();
    }
    state->done = true;
  });
  return r;
}

}  // namespace rmig::test
