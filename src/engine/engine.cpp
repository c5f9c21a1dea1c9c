#include "engine/engine.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <csignal>

#include "cluster/topology.hpp"
#include "report/format.hpp"
#include "resp/info.hpp"
#include "resp/server_error.hpp"
#include "select/glob.hpp"
#include "select/rename.hpp"
#include "util/escape.hpp"

namespace rmig::engine {

namespace {

using Clock = std::chrono::steady_clock;
using resp::ServerError;

constexpr uint64_t kRetryTickMs = 50;
constexpr uint64_t kReconnectTickMs = 100;
constexpr uint64_t kClockRefreshMs = 10'000;
constexpr uint32_t kMaxRedirects = 16;
constexpr auto kTopologyRefresh = std::chrono::seconds(1);
constexpr uint64_t kEvictWatchMs = 1'000;
// A deleting run stops when an evicting destination has less than this (or four times the mean payload) left
// below its maxmemory.
constexpr double kEvictHeadroom = 1024.0 * 1024.0;

bool retryable(ServerError e) noexcept {
  return e == ServerError::kLoading || e == ServerError::kBusy || e == ServerError::kTryAgain ||
         e == ServerError::kClusterDown || e == ServerError::kMasterDown;
}

std::chrono::milliseconds backoff(uint32_t attempts) {
  return std::chrono::milliseconds(100u << std::min<uint32_t>(attempts, 6));
}

}  // namespace

std::string_view Job::payload_view() const noexcept {
  const redisReply* r = shared ? shared.get() : payload.get();
  if (r == nullptr) return {};
  return {r->str, r->len};
}

Engine::Engine(net::Loop& loop, const CopyOptions& options, std::vector<SourceNode> sources,
               Destination destination, resp::ConnectOptions source_template,
               resp::ConnectOptions destination_template, KeyTask& task)
    : loop_(loop),
      opts_(options),
      task_(task),
      source_template_(std::move(source_template)),
      destination_template_(std::move(destination_template)),
      seen_(
          [&] {
            uint64_t n = 0;
            for (const auto& s : sources)
              n += s.dbsize;
            return n;
          }(),
          options.seen_filter_bytes),
      retry_timer_(loop, this, &Engine::on_retry_timer),
      clock_timer_(loop, this, &Engine::on_clock_timer),
      reconnect_timer_(loop, this, &Engine::on_reconnect_timer),
      rate_timer_(loop, this, &Engine::on_rate_timer),
      evict_timer_(loop, this, &Engine::on_evict_timer),
      gate_timer_(loop, this, &Engine::on_gate_timer) {
  clock_timer_.unref();
  evict_timer_.unref();
  const Selection& sel = opts_.selection;
  if (opts_.detect_rename_collisions && sel.rename && !sel.rename->empty()) {
    uint64_t expected = 0;
    for (const auto& s : sources)
      expected += s.dbsize;
    targets_ = std::make_unique<select::SeenFilter>(expected, opts_.seen_filter_bytes);
  }
  if (sel.match.size() == 1) scan_match_ = sel.match.front();
  if (sel.types.size() == 1 && sel.scan_type_supported) scan_type_ = sel.types.front();
  // After a resume, keys up to the previous run's in-flight frontier may be done already: at most the window
  // plus the scanned keys waiting for it.
  recheck_budget_ = opts_.window.keys + 4 * opts_.window.scan_count;
  for (auto& s : sources) {
    Node n;
    n.name = s.name;
    n.dbsize = s.dbsize;
    n.dataset_bytes = s.dataset_bytes;
    n.read_link = add_link(std::move(s.conn), s.name, false);
    if (s.writer) {
      std::string name = s.writer->options().endpoint.to_string();
      n.write_link = add_link(std::move(s.writer), std::move(name), false);
    } else {
      n.write_link = n.read_link;
    }
    nodes_.push_back(std::move(n));
  }
  dst_cluster_ = destination.cluster;
  for (auto& d : destination.nodes) {
    std::string name = d.conn->options().endpoint.to_string();
    uint32_t link = add_link(std::move(d.conn), std::move(name), true);
    links_[link]->clock = d.clock;
    dst_links_.push_back(link);
  }
  if (dst_cluster_) {
    slot_link_.assign(cluster::kSlotCount, dst_links_.front());
    for (std::size_t slot = 0; slot < destination.slot_owner.size() && slot < cluster::kSlotCount; ++slot) {
      slot_link_[slot] = dst_links_[destination.slot_owner[slot]];
    }
  } else {
    dst_single_ = dst_links_.front();
  }
  jobs_.resize(std::max<std::size_t>(opts_.window.keys, 1));
  free_.reserve(jobs_.size());
  for (std::size_t i = jobs_.size(); i-- > 0;)
    free_.push_back(static_cast<uint32_t>(i));
}

Engine::~Engine() {
  for (auto& l : links_) {
    if (l->conn) l->conn->set_observer(nullptr);
  }
}

void Engine::start(std::function<void()> on_done) {
  on_done_ = std::move(on_done);
  task_.attach(*this);
  for (auto& l : links_)
    l->conn->set_observer(this);
  if (!opts_.dry_run) clock_timer_.start(kClockRefreshMs, kClockRefreshMs);
  if (opts_.watch_evictions) {
    // The baseline goes first on each destination connection, before any write of this run.
    for (uint32_t l : dst_links_) {
      if (usable(l)) send_evict_base(l);
    }
    evict_timer_.start(kEvictWatchMs, kEvictWatchMs);
  }
  pump();
}

report::Counters Engine::totals() const {
  report::Counters total;
  total.evicted = evicted_;
  for (const auto& n : nodes_) {
    total += n.committed;
    for (const auto& b : n.batches)
      total += b.counters;
  }
  return total;
}

std::vector<report::NodeCounters> Engine::node_totals() const {
  std::vector<report::NodeCounters> out;
  out.reserve(nodes_.size());
  for (const auto& n : nodes_) {
    report::Counters c = n.committed;
    for (const auto& b : n.batches)
      c += b.counters;
    out.push_back(report::NodeCounters{n.name, c});
  }
  return out;
}

report::Counters& Engine::counters(uint32_t j) noexcept {
  Job& job = jobs_[j];
  Node& node = nodes_[job.node];
  Batch* b = batch_of(node, job.batch_);
  return b != nullptr ? b->counters : node.committed;
}

Engine::Batch* Engine::batch_of(Node& node, uint64_t seq) noexcept {
  if (node.batches.empty() || seq < node.batches.front().seq) return nullptr;
  const uint64_t i = seq - node.batches.front().seq;
  return i < node.batches.size() ? &node.batches[i] : nullptr;
}

void Engine::settle(Node& node, uint64_t seq) {
  if (Batch* b = batch_of(node, seq); b != nullptr && b->pending > 0) --b->pending;
  // Batches complete in SCAN order, so the checkpoint cursor never skips a key that is not done.
  bool moved = false;
  while (!node.batches.empty() && node.batches.front().pending == 0) {
    node.committed += node.batches.front().counters;
    node.safe_cursor = node.batches.front().next_cursor;
    // Every key an earlier attempt may have written is past: its record of them is no longer needed.
    if (node.recheck == 0 && node.batches.front().seq >= node.recheck_last_batch) node.written_before.clear();
    node.batches.pop_front();
    moved = true;
  }
  if (moved && on_progress_) on_progress_();
}

uint32_t Engine::key_hash(std::string_view key) noexcept {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : key) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return static_cast<uint32_t>(h ^ (h >> 32));
}

void Engine::wrote(uint32_t j) {
  Job& job = jobs_[j];
  if (Batch* b = batch_of(nodes_[job.node], job.batch_); b != nullptr)
    b->written.push_back(key_hash(job.key));
  // Keys written past the cursor are in no record until the next save: ask for one every 250 ms of writes
  // too, not only when a cursor moves (a batch can take long), so a SIGKILL leaves few of them unrecorded.
  const auto now = std::chrono::steady_clock::now();
  if (on_progress_ && now - written_progress_at_ >= std::chrono::milliseconds(250)) {
    written_progress_at_ = now;
    on_progress_();
  }
}

bool Engine::written_before(uint32_t j) const noexcept {
  const Job& job = jobs_[j];
  const auto& w = nodes_[job.node].written_before;
  return !w.empty() && std::binary_search(w.begin(), w.end(), key_hash(job.key));
}

std::vector<NodeProgress> Engine::checkpoint() const {
  std::vector<NodeProgress> out;
  for (const auto& n : nodes_) {
    NodeProgress p{n.name, n.safe_cursor, n.scan_done && n.batches.empty() && n.queue.empty(), n.committed,
                   n.written_before};
    for (const auto& b : n.batches)
      p.written.insert(p.written.end(), b.written.begin(), b.written.end());
    std::sort(p.written.begin(), p.written.end());
    p.written.erase(std::unique(p.written.begin(), p.written.end()), p.written.end());
    out.push_back(std::move(p));
  }
  return out;
}

void Engine::resume(const std::vector<NodeProgress>& progress) {
  for (std::size_t i = 0; i < nodes_.size() && i < progress.size(); ++i) {
    Node& n = nodes_[i];
    const NodeProgress& p = progress[i];
    n.committed = p.counters;
    n.cursor = p.complete ? "0" : p.cursor;
    n.safe_cursor = n.cursor;
    n.scan_done = p.complete;
    n.recheck = p.complete ? 0 : recheck_budget_;
    n.written_before = p.complete ? std::vector<uint32_t>() : p.written;
    std::sort(n.written_before.begin(), n.written_before.end());
  }
}

void Engine::take_keys(std::vector<std::vector<std::string>> keys) {
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    Node& n = nodes_[i];
    n.scan_done = true;
    n.cursor = "0";
    if (i >= keys.size() || keys[i].empty()) continue;
    Batch batch;
    batch.seq = n.next_batch++;
    batch.next_cursor = "0";
    for (auto& k : keys[i]) {
      n.queue.push_back(QueuedKey{std::move(k), batch.seq});
      ++batch.pending;
    }
    n.batches.push_back(std::move(batch));
  }
}

std::size_t Engine::links_down() const noexcept {
  std::size_t n = 0;
  for (const auto& l : links_)
    n += l->down && !l->retired ? 1 : 0;
  return n;
}

EngineResult Engine::take_result() {
  EngineResult r;
  for (const auto& n : nodes_) {
    report::Counters c = n.committed;
    for (const auto& b : n.batches)
      c += b.counters;
    r.total += c;
    r.nodes.push_back(report::NodeCounters{n.name, c});
  }
  r.total.evicted = evicted_;
  r.errors = std::move(errors_);
  r.fatal = fatal_;
  r.signal = signal_;
  r.examples = std::move(examples_);
  return r;
}

void Engine::stop(int signal) {
  if (finished_) return;
  if (stopping_ && signal_ != 0) {
    spdlog::warn("second signal: stopping now, abandoning {} keys in flight (nothing is deleted)", active_);
    signal_ = signal;
    for (uint32_t j = 0; j < jobs_.size(); ++j) {
      if (jobs_[j].active && !jobs_[j].typing_) --counters(j).scanned;
    }
    finish();
    return;
  }
  signal_ = signal;
  stopping_ = true;
  spdlog::warn("{}: stopping the scan, waiting for {} keys in flight (signal again to abandon them)",
               report::signal_name(signal), active_);
  for (auto& n : nodes_)
    n.queue.clear();
  maybe_finish();
}

// ---- links ----

uint32_t Engine::add_link(std::unique_ptr<resp::Connection> conn, std::string name, bool destination) {
  auto link = std::make_unique<Link>();
  link->conn = std::move(conn);
  link->name = std::move(name);
  link->destination = destination;
  links_.push_back(std::move(link));
  return static_cast<uint32_t>(links_.size() - 1);
}

uint32_t Engine::link_of(const resp::Connection& c) const noexcept {
  for (std::size_t i = 0; i < links_.size(); ++i) {
    if (links_[i]->conn.get() == &c) return static_cast<uint32_t>(i);
  }
  return kNoLink;
}

uint32_t Engine::link_for_address(const std::string& host, int port, bool destination) {
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
  const uint32_t link = add_link(std::move(conn), o.endpoint.to_string(), destination);
  if (destination) dst_links_.push_back(link);
  Link& l = *links_[link];
  l.down = true;
  l.down_since = Clock::now();
  l.retry_at = l.down_since;
  spdlog::info("connecting to {} (cluster redirect)", o.label);
  l.conn->connect();
  if (!reconnect_timer_.active()) reconnect_timer_.start(kReconnectTickMs, kReconnectTickMs);
  return link;
}

bool Engine::usable(uint32_t link) const noexcept { return link != kNoLink && links_[link]->conn->ready(); }

uint32_t Engine::route(std::string_view key) const noexcept {
  return dst_cluster_ ? slot_link_[cluster::key_hash_slot(key)] : dst_single_;
}

uint32_t Engine::link_for(uint32_t j, Side side) {
  Job& job = jobs_[j];
  switch (side) {
    case Side::kSource: return job.read_link;
    case Side::kWriter: return job.write_link;
    case Side::kDestination:
      return job.dst_link = job.ask_link != kNoLink ? job.ask_link : route(job.target());
  }
  return kNoLink;
}

uint32_t Engine::link_for_error(uint32_t j, Side side) const noexcept {
  const Job& job = jobs_[j];
  const uint32_t l = side == Side::kSource   ? job.read_link
                     : side == Side::kWriter ? job.write_link
                                             : job.dst_link;
  return l == kNoLink ? dst_links_.front() : l;
}

const std::string& Engine::label(uint32_t j, Side side) const {
  return links_[link_for_error(j, side)]->conn->label();
}

const ServerClock& Engine::destination_clock(uint32_t j) {
  return links_[link_for(j, Side::kDestination)]->clock;
}

void Engine::park(uint32_t j, uint32_t link) { links_[link]->parked.push_back(j); }

void Engine::unpark(uint32_t link) {
  std::vector<uint32_t> parked;
  parked.swap(links_[link]->parked);
  for (uint32_t j : parked) {
    if (jobs_[j].active) resend_job(j);
  }
}

bool Engine::destination_backed_up() const noexcept {
  for (uint32_t l : dst_links_) {
    if (links_[l]->conn->ready() && links_[l]->conn->queued_bytes() >= opts_.window.destination_queue)
      return true;
  }
  return false;
}

// Sends ASKING when a -ASK redirect asked for it; parks the job when the link is down.
bool Engine::before_send(uint32_t j, Side side, uint32_t link) {
  Job& job = jobs_[j];
  if (!usable(link)) {
    park(j, link);
    return false;
  }
  bool* ask = side == Side::kSource ? &job.read_ask : side == Side::kWriter ? &job.write_ask : nullptr;
  const bool asking = side == Side::kDestination ? job.ask_link != kNoLink : *ask;
  if (asking) {
    const std::string_view args[] = {"ASKING"};
    links_[link]->conn->send(*this, job_tag(j, job.generation, side, 0), args, 1);
    if (side == Side::kDestination) {
      job.ask_link = kNoLink;
    } else {
      *ask = false;
    }
  }
  return true;
}

bool Engine::can_send(uint32_t j, Side side) { return usable(link_for(j, side)); }

bool Engine::send(uint32_t j, Side side, const std::string_view* args, std::size_t argc, uint8_t op) {
  const uint32_t link = link_for(j, side);
  if (!before_send(j, side, link)) return false;
  links_[link]->conn->send(*this, job_tag(j, jobs_[j].generation, side, op), args, argc);
  return true;
}

bool Engine::send_ref(uint32_t j, Side side, const std::string_view* args, std::size_t argc,
                      std::size_t ref_index, std::shared_ptr<const void> owner, uint8_t op) {
  const uint32_t link = link_for(j, side);
  if (!before_send(j, side, link)) return false;
  links_[link]->conn->send_ref(*this, job_tag(j, jobs_[j].generation, side, op), args, argc, ref_index,
                               std::move(owner));
  return true;
}

void Engine::on_connection_ready(resp::Connection& c) {
  const uint32_t l = link_of(c);
  if (l == kNoLink || finished_) return;
  Link& link = *links_[l];
  if (link.down && link.attempts > 0) {
    spdlog::info("{}: reconnected after {} attempt(s)", c.label(), link.attempts);
  }
  link.down = false;
  link.attempts = 0;
  if (link.destination && !opts_.dry_run) {
    const std::string_view args[] = {"TIME"};
    c.send(*this, engine_tag(l, kTime), args, 1);
  }
  if (link.destination && opts_.watch_evictions) {
    // A reconnected destination may have restarted: its run_id says so, before the round's reading.
    link.evict_in_flight = false;
    send_evict_base(l);
    if (link.evict_owed) send_evict_stats(l);
  }
  unpark(l);
  pump();
}

void Engine::on_connection_error(resp::Connection& c, const Error& error) {
  const uint32_t l = link_of(c);
  if (l == kNoLink || finished_) return;
  if (!error.transient || opts_.retry_timeout_ms == 0 || stopping_) return fail_run(error);
  Link& link = *links_[l];
  const auto now = Clock::now();
  if (!link.down) {
    link.down = true;
    link.down_since = now;
    link.attempts = 0;
    spdlog::warn("{}; reconnecting for up to {}s", error.message, (opts_.retry_timeout_ms + 999) / 1000);
  }
  link.last_error = error.message;
  link.retry_at = now + backoff(link.attempts);
  if (!reconnect_timer_.active()) reconnect_timer_.start(kReconnectTickMs, kReconnectTickMs);
  // The handlers of the commands in flight get null replies right after this: on_lost parks their jobs.
}

void Engine::on_reconnect_timer(void* self_ptr) {
  auto* self = static_cast<Engine*>(self_ptr);
  if (self->finished_) return;
  const auto now = Clock::now();
  bool any_down = false;
  bool destination_down = false;
  for (auto& lp : self->links_) {
    Link& link = *lp;
    if (!link.down || link.retired) continue;
    any_down = true;
    destination_down |= link.destination;
    const auto state = link.conn->state();
    if (state == resp::Connection::State::kConnecting || state == resp::Connection::State::kSetup) continue;
    if (now - link.down_since > std::chrono::milliseconds(self->opts_.retry_timeout_ms)) {
      return self->fail_run(
          make_error(ExitCode::kConnect, link.conn->label() + " unreachable for " +
                                             std::to_string((self->opts_.retry_timeout_ms + 999) / 1000) +
                                             "s (last error: " + link.last_error +
                                             "): check the server, then run the same command again"));
    }
    if (now >= link.retry_at) {
      ++link.attempts;
      spdlog::debug("{}: reconnect attempt {}", link.conn->label(), link.attempts);
      link.conn->connect();
    }
  }
  // A destination node that stays down may have failed over: ask the others where its slots went.
  if (destination_down && self->dst_cluster_) self->refresh_destination_topology();
  if (!any_down) self->reconnect_timer_.stop();
}

void Engine::refresh_destination_topology() {
  const auto now = Clock::now();
  if (topology_in_flight_ || now - topology_asked_at_ < kTopologyRefresh) return;
  for (uint32_t l : dst_links_) {
    if (!usable(l)) continue;
    topology_in_flight_ = true;
    topology_asked_at_ = now;
    const std::string_view args[] = {"CLUSTER", "SHARDS"};
    links_[l]->conn->send(*this, engine_tag(l, kShards), args, 2);
    return;
  }
}

void Engine::on_topology(EngineOp op, resp::Reply reply) {
  topology_in_flight_ = false;
  const redisReply* r = reply.get();
  if (resp::is_error(r)) {
    if (op == kShards) {
      // Older servers: CLUSTER SLOTS.
      for (uint32_t l : dst_links_) {
        if (!usable(l)) continue;
        topology_in_flight_ = true;
        const std::string_view args[] = {"CLUSTER", "SLOTS"};
        links_[l]->conn->send(*this, engine_tag(l, kSlots), args, 2);
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
    const uint32_t l = link_for_address(shard.primary.host, shard.primary.port, true);
    if (owns.size() < links_.size()) owns.resize(links_.size(), false);
    owns[l] = true;
    for (auto [a, b] : shard.ranges) {
      for (uint32_t slot = a; slot <= b; ++slot)
        slot_link_[slot] = l;
    }
  }
  // A node that is down and owns nothing any more failed over: its parked jobs go to the new owners.
  for (uint32_t l : dst_links_) {
    Link& link = *links_[l];
    if (!link.down || link.retired || (l < owns.size() && owns[l])) continue;
    link.retired = true;
    spdlog::warn("{} no longer owns slots (failed over): its keys go to the new primaries",
                 link.conn->label());
    std::vector<uint32_t> parked;
    parked.swap(link.parked);
    for (uint32_t j : parked) {
      if (!jobs_[j].active) continue;
      jobs_[j].ask_link = kNoLink;
      resend_job(j);
    }
    if (opts_.watch_evictions) {
      // Replication is asynchronous: what the old primary acknowledged may not be on the new one.
      destination_lost_keys(
          link.conn->label() +
              " failed over during the run: copies it acknowledged may not have reached its "
              "replica. Deletions stopped; run `redis-migrate verify` to see which keys are "
              "missing",
          false);
      check_round();
    }
  }
}

void Engine::on_connection_writable(resp::Connection& c) {
  if (!paused_by_destination_) return;
  const uint32_t l = link_of(c);
  if (l != kNoLink && links_[l]->destination) pump();
}

void Engine::on_clock_timer(void* self_ptr) {
  auto* self = static_cast<Engine*>(self_ptr);
  if (self->finished_) return;
  for (uint32_t l : self->dst_links_) {
    if (!self->usable(l)) continue;
    const std::string_view args[] = {"TIME"};
    self->links_[l]->conn->send(*self, engine_tag(l, kTime), args, 1);
  }
}

void Engine::on_time(uint32_t link, resp::Reply reply) {
  const redisReply* r = reply.get();
  if (!resp::is_array(r) || r->elements != 2) return;
  auto secs = resp::to_integer(r->element[0]);
  auto micros = resp::to_integer(r->element[1]);
  if (secs && micros) links_[link]->clock.sample(*secs, *micros, Clock::now());
}

// ---- scheduling ----

void Engine::pump() {
  if (finished_) return;
  // A task that finishes a job synchronously (done() inside start()) calls back in here from dispatch():
  // without this guard every queued key would add a level of recursion.
  if (pumping_) {
    pump_again_ = true;
    return;
  }
  pumping_ = true;
  do {
    pump_again_ = false;
    for (uint32_t i = 0; i < nodes_.size(); ++i)
      maybe_scan(nodes_[i], i);
    dispatch();
    // Dispatching may have emptied a queue by filtering out a whole batch (--match, --exclude, in-place):
    // ask for the next batch now, or nothing would.
    for (uint32_t i = 0; i < nodes_.size(); ++i)
      maybe_scan(nodes_[i], i);
  } while (pump_again_ && !finished_);
  pumping_ = false;
  maybe_finish();
}

void Engine::maybe_scan(Node& node, uint32_t index) {
  if (stopping_ || node.scanning || node.scan_done || node.queue.size() >= opts_.window.scan_count) return;
  if (!usable(node.read_link)) return;
  node.scanning = true;
  std::array<char, 24> count{};
  const auto end = std::to_chars(count.data(), count.data() + count.size(), opts_.window.scan_count).ptr;
  std::string_view args[8] = {"SCAN", node.cursor};
  std::size_t argc = 2;
  if (!scan_match_.empty()) {
    args[argc++] = "MATCH";
    args[argc++] = scan_match_;
  }
  args[argc++] = "COUNT";
  args[argc++] = std::string_view(count.data(), static_cast<std::size_t>(end - count.data()));
  if (!scan_type_.empty()) {
    args[argc++] = "TYPE";
    args[argc++] = scan_type_;
  }
  links_[node.read_link]->conn->send(*this, engine_tag(index, kScan), args, argc);
}

void Engine::on_scan(uint32_t index, resp::Reply reply) {
  Node& node = nodes_[index];
  node.scanning = false;
  const redisReply* r = reply.get();
  resp::Connection& conn = *links_[node.read_link]->conn;
  if (resp::is_error(r)) {
    std::string_view msg = resp::text(r);
    ServerError kind = resp::classify_error(msg);
    if (retryable(kind)) {
      // Rare (LOADING after a restart, BUSY script): the same cursor again.
      spdlog::warn("{}: SCAN answered {}; retrying", conn.label(), msg);
      return pump();
    }
    if (kind == ServerError::kNoPerm || kind == ServerError::kUnknownCommand) {
      return fail_run(resp::refused_command_error(conn.options(), "scan", msg));
    }
    return fail_run(make_error(kind == ServerError::kNoAuth ? ExitCode::kConnect : ExitCode::kKeysFailed,
                               conn.label() + ": SCAN failed (" + std::string(msg) + ")"));
  }
  if (!resp::is_array(r) || r->elements != 2 || !resp::is_string(r->element[0]) ||
      !resp::is_array(r->element[1])) {
    return fail_run(
        make_error(ExitCode::kKeysFailed, conn.label() + ": unexpected SCAN reply " + resp::describe(r)));
  }
  node.cursor.assign(r->element[0]->str, r->element[0]->len);
  const redisReply* keys = r->element[1];
  Batch batch;
  batch.seq = node.next_batch++;
  batch.next_cursor = node.cursor;
  for (std::size_t i = 0; i < keys->elements; ++i) {
    const redisReply* k = keys->element[i];
    if (!resp::is_string(k)) continue;
    node.queue.push_back(QueuedKey{std::string(k->str, k->len), batch.seq});
    ++batch.pending;
  }
  node.batches.push_back(std::move(batch));
  settle(node, ~0ull);  // an empty batch completes at once
  if (node.cursor == "0") node.scan_done = true;
  pump();
}

void Engine::dispatch() {
  paused_by_destination_ = false;
  window_full_ = false;
  rate_limited_ = false;
  task_.room();
  while (!stopping_ && !free_.empty() && bytes_held_ < opts_.window.bytes) {
    if (destination_backed_up()) {
      paused_by_destination_ = true;  // resumed by on_connection_writable
      return;
    }
    // Round-robin over the nodes that have keys waiting.
    Node* node = nullptr;
    uint32_t node_index = 0;
    for (std::size_t k = 0; k < nodes_.size(); ++k) {
      const std::size_t i = (next_node_ + k) % nodes_.size();
      if (!nodes_[i].queue.empty() && usable(nodes_[i].read_link)) {
        node = &nodes_[i];
        node_index = static_cast<uint32_t>(i);
        next_node_ = i + 1;
        break;
      }
    }
    if (node == nullptr) return;
    if (!rate_allows()) return;  // resumed by the rate timer
    const uint32_t j = free_.back();
    QueuedKey q = std::move(node->queue.front());
    node->queue.pop_front();
    if (!select(*node, q, j)) continue;
    free_.pop_back();
    ++active_;
    Job& job = jobs_[j];
    job.node = node_index;
    job.batch_ = q.batch;
    job.stage = 0;
    job.active = true;
    ++job.generation;
    job.resent = false;
    job.recheck = false;
    job.pttl = 0;
    job.type.clear();
    job.read_link = node->read_link;
    job.write_link = node->write_link;
    job.dst_link = kNoLink;
    job.ask_link = kNoLink;
    job.read_ask = false;
    job.write_ask = false;
    job.attempts = 0;
    job.redirects = 0;
    job.first_retry_at = {};
    job.estimate_ = dispatch_estimate();
    bytes_held_ += job.estimate_;
    if (job.estimate_ > 0) ++estimated_keys_;
    if (opts_.rate_limit_bytes > 0) {
      job.reserved_ = avg_payload_;
      job.measuring_ = true;
      byte_tokens_ -= avg_payload_;
      if (avg_payload_ <= 0) ++unmeasured_;
    }
    if (opts_.selection.needs_type_check()) {
      job.typing_ = true;
      send_type(j);
    } else {
      job.typing_ = false;
      begin(j);
    }
    if (node->queue.size() < opts_.window.scan_count) maybe_scan(*node, node_index);
  }
  window_full_ = !stopping_;
}

bool Engine::paused_by_destination() const noexcept {
  if (paused_by_destination_) return true;
  // The window is full (in keys or in bytes): when most of the keys in it have their payload and wait for the
  // destination's answer, the destination holds the scan back.
  return window_full_ && active_ > 0 && (active_ - estimated_keys_) * 2 >= active_;
}

std::size_t Engine::dispatch_estimate() const noexcept {
  if (window_estimate_ > 0) return std::max<std::size_t>(1, static_cast<std::size_t>(window_estimate_));
  // No size known yet: one key at a time until the first payload arrives or a key finishes without one (a
  // task that holds no payloads).
  return any_done_ ? 0 : opts_.window.bytes;
}

void Engine::drop_estimate(Job& job) noexcept {
  if (job.estimate_ == 0) return;
  bytes_held_ -= job.estimate_;
  job.estimate_ = 0;
  --estimated_keys_;
}

bool Engine::select(Node& node, QueuedKey& q, uint32_t j) {
  const Selection& sel = opts_.selection;
  const std::string_view key = q.key;
  bool selected = sel.own_prefix.empty() || key.compare(0, sel.own_prefix.size(), sel.own_prefix) != 0;
  if (selected && sel.match.size() > 1) {
    selected = std::any_of(sel.match.begin(), sel.match.end(),
                           [&](const std::string& p) { return select::glob_match(p, key); });
  }
  if (selected) {
    selected = std::none_of(sel.exclude.begin(), sel.exclude.end(),
                            [&](const std::string& p) { return select::glob_match(p, key); });
  }
  if (!selected) {
    settle(node, q.batch);
    return false;
  }
  Job& job = jobs_[j];
  job.key = std::move(q.key);
  job.renamed_ = false;
  job.rule_ = -1;
  if (sel.rename) {
    job.rule_ = sel.rename->apply_into(job.key, job.renamed_to_);
    job.renamed_ = job.rule_ >= 0 && job.renamed_to_ != job.key;
  }
  if (sel.renamed_only && !job.renamed_) {
    // In place, a key no rule renames stays where it is: its name is taken all the same.
    if (targets_ && sel.rename->may_produce(job.key)) targets_->test_and_add(job.key);
    settle(node, q.batch);
    return false;
  }
  return true;
}

std::string Engine::take_target(uint32_t j) {
  const Job& job = jobs_[j];
  // Only names a rule can produce can collide: a renamed key's new name, or a kept key a rule could hit.
  if (!job.renamed_ && !opts_.selection.rename->may_produce(job.key)) return {};
  // The same key again from SCAN finds its own name: not a collision. The seen filter's "not seen" is exact,
  // so a hit here for a key seen for the first time is another key's (or, rarely, a false alarm of the
  // filter, which fails the key and never writes over anything).
  if (!targets_->test_and_add(job.target()) || job.maybe_duplicate) return {};
  const std::string fix =
      ": not written (a rename collision found while copying; change the rules or the selection, or copy "
      "this key alone)";
  if (job.renamed_) {
    return "rename rule " + std::to_string(job.rule_ + 1) + " (" +
           opts_.selection.rename->describe(job.rule_) + ") sends the key to \"" +
           printable_short(job.renamed_to_, 200) + "\", a name another selected key already took" + fix;
  }
  return "the key keeps its name \"" + printable_short(job.key, 200) +
         "\", which a rename rule already gave another selected key" + fix;
}

// The key is selected (and of a selected type): it counts as scanned and goes to the task.
void Engine::begin(uint32_t j) {
  Job& job = jobs_[j];
  Node& node = nodes_[job.node];
  job.typing_ = false;
  ++counters(j).scanned;
  job.maybe_duplicate = seen_.test_and_add(job.key);
  if (node.recheck > 0) {
    // Resumed run: the previous one may have written this key already.
    --node.recheck;
    job.recheck = true;
    node.recheck_last_batch = job.batch_;
  }
  if (job.renamed_ && job.renamed_to_.empty()) {
    return fail_key(j, "rename rule " + std::to_string(job.rule_ + 1) + " gives an empty key name");
  }
  if (targets_) {
    if (std::string collision = take_target(j); !collision.empty()) return fail_key(j, std::move(collision));
  }
  task_.start(j);
}

void Engine::send_type(uint32_t j) {
  Job& job = jobs_[j];
  const std::string_view args[] = {"TYPE", job.key};
  if (!before_send(j, Side::kSource, job.read_link)) return;
  links_[job.read_link]->conn->send(*this, job_tag(j, job.generation, Side::kSource, kTypeCheck), args, 2);
}

void Engine::on_type(uint32_t j, resp::Reply reply) {
  Job& job = jobs_[j];
  const redisReply* r = reply.get();
  if (resp::is_error(r)) {
    const std::string msg(resp::text(r));
    if (handle_error(j, Side::kSource, "TYPE", msg)) return;
    ++counters(j).scanned;
    return fail_key(j, "TYPE: " + msg);
  }
  const std::string_view type = resp::text(r);
  const auto& types = opts_.selection.types;
  if (std::find(types.begin(), types.end(), type) == types.end()) return done(j);  // not selected
  job.type = std::string(type);
  begin(j);
}

void Engine::resend_job(uint32_t j) {
  if (jobs_[j].typing_) return send_type(j);
  task_.resend(j);
}

void Engine::give_up_job(uint32_t j) {
  if (jobs_[j].typing_) return done(j);  // not counted yet
  task_.give_up(j);
}

bool Engine::rate_allows() {
  if (opts_.rate_limit_keys == 0 && opts_.rate_limit_bytes == 0) return true;
  const auto now = Clock::now();
  const double dt =
      tokens_at_ == Clock::time_point{} ? 0.0 : std::chrono::duration<double>(now - tokens_at_).count();
  tokens_at_ = now;
  // Buckets hold at most a tenth of a second's worth, so a pause is never followed by a burst.
  if (opts_.rate_limit_keys > 0) {
    const double rate = static_cast<double>(opts_.rate_limit_keys);
    key_tokens_ = std::min(std::max(rate / 10.0, 1.0), key_tokens_ + dt * rate);
  }
  if (opts_.rate_limit_bytes > 0) {
    const double rate = static_cast<double>(opts_.rate_limit_bytes);
    byte_tokens_ = std::min(rate / 10.0, byte_tokens_ + dt * rate);
  }
  const bool keys_ok = opts_.rate_limit_keys == 0 || key_tokens_ >= 1.0;
  // Sizes are known only once the DUMP is in: each key is charged the mean size when it is dispatched and
  // the difference when its payload arrives, so a burst of dispatches cannot overdraw the bucket. Until a
  // first size is known, one key at a time.
  const bool bytes_ok =
      opts_.rate_limit_bytes == 0 || (byte_tokens_ > 0.0 && (avg_payload_ > 0 || unmeasured_ == 0));
  if (keys_ok && bytes_ok) {
    if (opts_.rate_limit_keys > 0) key_tokens_ -= 1.0;
    return true;
  }
  rate_limited_ = true;
  if (!rate_timer_.active()) rate_timer_.start(5, 0);
  return false;
}

void Engine::on_rate_timer(void* self_ptr) { static_cast<Engine*>(self_ptr)->pump(); }

void Engine::maybe_finish() {
  if (finished_ || active_ != 0) return;
  if (!stopping_) {
    for (const auto& n : nodes_) {
      if (!n.scan_done || !n.queue.empty() || n.scanning) return;
    }
  }
  if (opts_.watch_evictions && !fatal_) {
    // A last reading after every write of the run: evictions up to its end are counted.
    if (final_round_ == 0) {
      final_round_ = round_id_ + 1;
      if (!round_open_) evict_round();
    }
    if (round_done_ < final_round_ && !finished_) return;  // check_round() comes back here
  }
  finish();
}

void Engine::finish() {
  if (finished_) return;
  finished_ = true;
  retry_timer_.stop();
  clock_timer_.stop();
  reconnect_timer_.stop();
  rate_timer_.stop();
  evict_timer_.stop();
  gate_timer_.stop();
  if (lost_keys_ && !fatal_) fatal_ = lost_keys_;
  for (auto& l : links_) {
    l->conn->set_observer(nullptr);
    l->conn->close();
  }
  if (on_done_) on_done_();
}

void Engine::fail_run(Error error) {
  if (finished_) return;
  if (!fatal_) fatal_ = std::move(error);
  // Stop taking new work, but let the replies already on their way arrive: a cleanup that ran on the source
  // must be counted, and nothing new is written. Keys that cannot finish are given back (abandon()).
  stopping_ = true;
  for (auto& n : nodes_)
    n.queue.clear();
  std::vector<Retry> retries;
  retries.swap(retries_);
  for (const Retry& r : retries) {
    if (jobs_[r.job].active && jobs_[r.job].generation == r.generation) give_up_job(r.job);
  }
  for (auto& l : links_) {
    std::vector<uint32_t> parked;
    parked.swap(l->parked);
    for (uint32_t j : parked) {
      if (jobs_[j].active) give_up_job(j);
    }
    if (l->down) l->conn->close();  // no more reconnect attempts
  }
  release_gate();  // deletions waiting at the gate do not happen: their keys stay on the source
  maybe_finish();
}

void Engine::fail_job(uint32_t j, Error error) {
  fail_run(std::move(error));
  if (jobs_[j].active) give_up_job(j);
}

void Engine::abandon(uint32_t j) {
  --counters(j).scanned;
  done(j);
}

void Engine::done(uint32_t j) {
  Job& job = jobs_[j];
  if (!job.active) return;
  job.gate_round_ = 0;
  task_.finished(j);
  if (job.measuring_) {
    // Never dumped (vanished, failed): its estimate stays charged.
    if (job.reserved_ <= 0) --unmeasured_;
    job.measuring_ = false;
  }
  drop_estimate(job);
  any_done_ = true;
  bytes_held_ -= job.held;
  job.held = 0;
  job.payload.reset();
  job.shared.reset();
  job.active = false;
  job.typing_ = false;
  ++job.generation;  // replies still on their way for this slot are stale
  free_.push_back(j);
  --active_;
  settle(nodes_[job.node], job.batch_);
  pump();
}

void Engine::hold(uint32_t j, resp::Reply payload) {
  Job& job = jobs_[j];
  const bool first = job.estimate_ > 0;
  drop_estimate(job);
  bytes_held_ -= job.held;
  job.shared.reset();
  job.payload = std::move(payload);
  job.held = job.payload ? job.payload->len : 0;
  bytes_held_ += job.held;
  if (first && job.payload) {
    const auto size = std::max(static_cast<double>(job.held), 1.0);
    window_estimate_ = window_estimate_ <= 0 ? size : 0.9 * window_estimate_ + 0.1 * size;
  }
  if (opts_.rate_limit_bytes > 0) {
    const auto held = static_cast<double>(job.held);
    if (job.measuring_) {
      byte_tokens_ -= held - job.reserved_;
      if (job.reserved_ <= 0) --unmeasured_;
      job.measuring_ = false;
      avg_payload_ = avg_payload_ <= 0 ? std::max(held, 1.0) : 0.9 * avg_payload_ + 0.1 * std::max(held, 1.0);
    } else {
      byte_tokens_ -= held;
    }
  }
}

void Engine::hold_bytes(uint32_t j, std::size_t bytes) {
  Job& job = jobs_[j];
  drop_estimate(job);
  job.payload.reset();
  job.shared.reset();
  bytes_held_ -= job.held;
  job.held = bytes;
  bytes_held_ += bytes;
}

const std::shared_ptr<redisReply>& Engine::share_payload(uint32_t j) {
  Job& job = jobs_[j];
  if (!job.shared && job.payload)
    job.shared = std::shared_ptr<redisReply>(job.payload.release(), resp::ReplyDeleter{});
  return job.shared;
}

void Engine::fail_key(uint32_t j, std::string message) {
  Job& job = jobs_[j];
  ++counters(j).failed;
  spdlog::debug("key \"{}\" failed: {}", printable_short(job.key), message);
  errors_.add(message, job.key);
  done(j);
}

void Engine::add_example(uint32_t j, const char* action) {
  if (!opts_.dry_run || examples_.size() >= opts_.examples) return;
  const Job& job = jobs_[j];
  examples_.push_back(
      report::Example{job.key, job.renamed_ ? job.renamed_to_ : std::string(), action, job.held});
}

// ---- replies ----

void Engine::on_reply(uint64_t t, resp::Reply reply) {
  if (finished_) return;
  const auto index = static_cast<uint32_t>(t >> 32);
  const auto op = static_cast<uint8_t>(t & 0xff);
  if (((t >> 8) & 0xff) == kEngineSide) {
    switch (static_cast<EngineOp>(op)) {
      case kScan:
        if (!reply) {
          nodes_[index].scanning = false;
          return maybe_finish();
        }
        return on_scan(index, std::move(reply));
      case kTime:
        if (reply) on_time(index, std::move(reply));
        return;
      case kEvictBase:
      case kEvictStats: return on_evict_reply(index, static_cast<EngineOp>(op), std::move(reply));
      case kShards:
      case kSlots:
        if (!reply) {
          topology_in_flight_ = false;
          return;
        }
        return on_topology(static_cast<EngineOp>(op), std::move(reply));
    }
    return;
  }
  Job& job = jobs_[index];
  const auto generation = static_cast<uint16_t>(t >> 16);
  if (!job.active || job.generation != generation) return;  // a stale reply (the job moved on)
  if (op == kAsking) return;                                // ASKING's +OK
  const auto side = static_cast<Side>((t >> 8) & 0xff);
  if (!reply) return on_lost(index, side);
  if (op == kTypeCheck) return on_type(index, std::move(reply));
  task_.on_reply(index, op, std::move(reply));
}

void Engine::on_lost(uint32_t j, Side side) {
  // The connection failed before this reply: the job waits for the link and is sent again (or is given back
  // when the run is failing). Its other replies still on their way become stale.
  Job& job = jobs_[j];
  ++job.generation;
  if (fatal_) return give_up_job(j);
  job.resent = true;
  const uint32_t link = side == Side::kSource   ? job.read_link
                        : side == Side::kWriter ? job.write_link
                                                : job.dst_link;
  park(j, link);
}

bool Engine::redirect(uint32_t j, Side side, std::string_view message) {
  const auto target = resp::parse_redirect(message);
  if (!target) return false;
  Job& job = jobs_[j];
  if (++job.redirects > kMaxRedirects) {
    fail_key(j, "too many cluster redirects (last: " + std::string(message) + ")");
    return true;
  }
  const bool ask = resp::classify_error(message) == ServerError::kAsk;
  ++(ask ? counters(j).redirects_ask : counters(j).redirects_moved);
  const uint32_t l = link_for_address(target->host, target->port, side == Side::kDestination);
  switch (side) {
    case Side::kDestination:
      if (ask) {
        job.ask_link = l;
      } else if (dst_cluster_ && target->slot >= 0 && target->slot < cluster::kSlotCount) {
        slot_link_[static_cast<std::size_t>(target->slot)] = l;
      }
      break;
    case Side::kWriter:
      job.write_link = l;
      job.write_ask = ask;
      break;
    case Side::kSource:
      // The source reshards: read the key where it now lives (and delete it there).
      job.read_link = l;
      job.write_link = l;
      job.read_ask = ask;
      break;
  }
  ++job.generation;
  resend_job(j);
  return true;
}

bool Engine::handle_error(uint32_t j, Side side, std::string_view command, std::string_view message) {
  if (fatal_) {
    give_up_job(j);  // the other commands in flight when the run failed (e.g. more OOMs)
    return true;
  }
  const ServerError kind = resp::classify_error(message);
  const std::string& who = label(j, side);
  const bool dst = side == Side::kDestination;
  const std::string who_user = dst ? "the destination user" : "the source user";
  switch (kind) {
    case ServerError::kMoved:
    case ServerError::kAsk: return redirect(j, side, message);
    case ServerError::kOom:
      if (!dst) break;
      fail_job(j, make_error(ExitCode::kDestinationRefused,
                             who + ": out of memory (" + std::string(message) +
                                 "): free memory or raise maxmemory on the destination, then run again (keys "
                                 "already copied are skipped)"));
      return true;
    case ServerError::kReadOnly:
      fail_job(j, make_error(dst ? ExitCode::kDestinationRefused : ExitCode::kConnect,
                             who + " is a read-only replica (" + std::string(message) + "): point the " +
                                 (dst ? "destination" : "source") + " URL at the primary"));
      return true;
    case ServerError::kMisconf:
      fail_job(j, make_error(ExitCode::kDestinationRefused,
                             who + " refuses writes because it cannot persist (" + std::string(message) +
                                 "): fix its disk or RDB settings"));
      return true;
    case ServerError::kNoPermKey:
      // Only this key is out of the user's reach: it fails, the others go on.
      fail_key(j, std::string(command) + ": " + std::string(message) + ": " + who_user +
                      "'s key patterns (~...) exclude the key");
      return true;
    case ServerError::kNoPerm: {
      std::string cmd = resp::denied_command(message);
      if (cmd.empty()) {
        cmd = std::string(command);
        std::transform(cmd.begin(), cmd.end(), cmd.begin(), [](unsigned char c) { return std::tolower(c); });
      }
      fail_job(j, resp::permission_error(links_[link_for_error(j, side)]->conn->options(), cmd, message));
      return true;
    }
    case ServerError::kNoAuth:
      fail_job(j, make_error(ExitCode::kConnect,
                             who + ": " + std::string(command) + " refused (" + std::string(message) +
                                 "): the server now requires a password; put it in the URL or "
                                 "use --" +
                                 (dst ? "destination" : "source") + "-password-file"));
      return true;
    case ServerError::kUnknownCommand: {
      // Renamed or disabled (rename-command): the same answer as a refusal found by the probes at start.
      std::string cmd = resp::denied_command(message);
      if (cmd.empty()) cmd = std::string(command);
      fail_job(j,
               resp::refused_command_error(links_[link_for_error(j, side)]->conn->options(), cmd, message));
      return true;
    }
    default: break;
  }
  if (retryable(kind)) {
    retry(j, message);
    return true;
  }
  return false;
}

void Engine::retry(uint32_t j, std::string_view message) {
  Job& job = jobs_[j];
  const auto now = Clock::now();
  if (job.attempts == 0) job.first_retry_at = now;
  if (now - job.first_retry_at > std::chrono::milliseconds(opts_.retry_timeout_ms)) {
    return fail_key(j, std::string(message) + " (still failing after retrying)");
  }
  const uint32_t shift = std::min<uint32_t>(job.attempts, 5);
  ++job.attempts;
  ++job.generation;
  retries_.push_back(Retry{j, job.generation, now + std::chrono::milliseconds(100u << shift)});
  if (!retry_timer_.active()) retry_timer_.start(kRetryTickMs, kRetryTickMs);
}

void Engine::on_retry_timer(void* self_ptr) {
  auto* self = static_cast<Engine*>(self_ptr);
  if (self->finished_) return;
  const auto now = Clock::now();
  std::vector<Retry> due;
  auto it = std::partition(self->retries_.begin(), self->retries_.end(),
                           [&](const Retry& r) { return r.due > now; });
  due.assign(it, self->retries_.end());
  self->retries_.erase(it, self->retries_.end());
  if (self->retries_.empty()) self->retry_timer_.stop();
  for (const Retry& r : due) {
    if (self->jobs_[r.job].active && self->jobs_[r.job].generation == r.generation) self->resend_job(r.job);
  }
  self->maybe_finish();
}

// ---- eviction watch and deletion gate ----

namespace {

int64_t info_int(const std::map<std::string, std::string, std::less<>>& info, std::string_view field) {
  auto it = info.find(field);
  if (it == info.end()) return -1;
  int64_t v = -1;
  std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
  return v;
}

}  // namespace

void Engine::rebase(Link& link, int64_t evicted) {
  if (link.evicted_base >= 0 && link.evicted_last > link.evicted_base)
    link.evicted_carried += static_cast<uint64_t>(link.evicted_last - link.evicted_base);
  link.evicted_base = evicted;
  link.evicted_last = evicted;
}

void Engine::send_evict_base(uint32_t l) {
  const std::string_view args[] = {"INFO"};
  links_[l]->conn->send(*this, engine_tag(l, kEvictBase), args, 1);
}

void Engine::send_evict_stats(uint32_t l) {
  Link& link = *links_[l];
  if (!usable(l) || link.evict_in_flight) return;
  link.evict_in_flight = true;
  // The default sections: stats (evicted_keys) and memory (used_memory, maxmemory, the policy) in one reply,
  // on every server version.
  const std::string_view args[] = {"INFO"};
  link.conn->send(*this, engine_tag(l, kEvictStats), args, 1);
}

void Engine::on_evict_reply(uint32_t l, EngineOp op, resp::Reply reply) {
  Link& link = *links_[l];
  if (op == kEvictStats) link.evict_in_flight = false;
  if (!reply) return;  // the link dropped: its reading is sent again once it is back
  const redisReply* r = reply.get();
  if (!resp::is_string(r)) {
    // INFO worked at the start: without it now, evictions can no longer be seen.
    destination_lost_keys(link.conn->label() +
                              ": cannot read evicted_keys any more (INFO: " + resp::describe(r) +
                              "): deletions stopped, since evictions can no longer be seen",
                          false);
    link.evict_owed = false;
    return check_round();
  }
  const auto info = resp::parse_info(resp::text(r));
  const int64_t evicted = info_int(info, "evicted_keys");
  if (op == kEvictBase) {
    auto it = info.find("run_id");
    const std::string run_id = it == info.end() ? std::string() : it->second;
    if (link.run_id.empty()) {
      link.run_id = run_id;
      link.evicted_base = evicted;
      link.evicted_last = evicted;
      spdlog::debug("{}: evicted_keys {} at the start", link.conn->label(), evicted);
    } else if (run_id != link.run_id) {
      link.run_id = run_id;
      rebase(link, evicted);
      destination_lost_keys(
          link.conn->label() +
              " restarted during the run (its run_id changed): the copies written before may "
              "be gone. Deletions stopped; run `redis-migrate verify` to see which keys are "
              "missing",
          false);
    }
    return;
  }
  link.evict_owed = false;
  if (opts_.cleanup && !deletions_stopped_) {
    // An evicting destination close to its maxmemory: the next writes would evict keys, possibly copies whose
    // source keys are already deleted. Stop before that happens.
    auto policy = info.find("maxmemory_policy");
    const int64_t max = info_int(info, "maxmemory");
    const int64_t used = info_int(info, "used_memory");
    const auto headroom = static_cast<int64_t>(std::max(kEvictHeadroom, 4 * window_estimate_));
    // An eviction in this same reading is reported below, as one.
    const bool evicted_now = evicted >= 0 && link.evicted_base >= 0 && evicted > link.evicted_last;
    if (!evicted_now && policy != info.end() && policy->second != "noeviction" && max > 0 && used >= 0 &&
        used + headroom > max) {
      // This run writes nothing more; other clients' writes may still make it evict, and what it evicts
      // first are the oldest copies: those of keys already deleted.
      destination_lost_keys(link.conn->label() + " is about to evict keys (used_memory " +
                                std::to_string(used) + " of maxmemory " + std::to_string(max) +
                                ", maxmemory-policy " + policy->second +
                                "): deletions stopped. If it evicts (other clients' writes), the copies of "
                                "keys already deleted from the source may be gone, and nothing else holds "
                                "them: give the destination more memory or set noeviction now, and next "
                                "time copy without --cleanup, verify, then clean up",
                            false);
    }
  }
  if (evicted >= 0 && link.evicted_base >= 0) {
    if (evicted < link.evicted_last) {
      const std::string from = std::to_string(link.evicted_last);
      rebase(link, evicted);
      destination_lost_keys(link.conn->label() + ": evicted_keys went back from " + from + " to " +
                                std::to_string(evicted) +
                                " (a restart or CONFIG RESETSTAT): the copies written before may be gone. "
                                "Deletions stopped; run `redis-migrate verify` to see which keys are missing",
                            false);
    } else if (evicted > link.evicted_last) {
      link.evicted_last = evicted;
      uint64_t total = 0;
      for (uint32_t d : dst_links_) {
        const Link& o = *links_[d];
        total += o.evicted_carried;
        if (o.evicted_base >= 0 && o.evicted_last > o.evicted_base)
          total += static_cast<uint64_t>(o.evicted_last - o.evicted_base);
      }
      evicted_ = total;
      auto policy = info.find("maxmemory_policy");
      destination_lost_keys(
          link.conn->label() + " evicted " + std::to_string(evicted_) +
              " keys during the run (evicted_keys " + std::to_string(link.evicted_base) + " -> " +
              std::to_string(evicted) + (policy == info.end() ? "" : ", maxmemory-policy " + policy->second) +
              (opts_.cleanup ? "): deletions stopped; the keys not yet deleted stay on the source "
                               "(`redis-migrate verify` names those whose copy is missing), but "
                               "the copies of keys already deleted from the source may be gone, "
                               "and nothing else holds them"
                             : "): copies of keys written in this run may be missing, and their "
                               "source keys were kept. Run `redis-migrate verify` to name them"),
          true);
    }
  }
  check_round();
}

void Engine::evict_round() {
  if (!opts_.watch_evictions || finished_ || round_open_) return;
  round_open_ = true;
  ++round_id_;
  round_sent_at_ = Clock::now();
  for (uint32_t l : dst_links_) {
    Link& link = *links_[l];
    if (link.retired) continue;
    link.evict_owed = true;
    send_evict_stats(l);
  }
  check_round();
}

void Engine::check_round() {
  if (!round_open_) return;
  for (uint32_t l : dst_links_) {
    if (links_[l]->evict_owed && !links_[l]->retired) return;
  }
  round_open_ = false;
  round_done_ = round_id_;
  release_gate();
  if (finished_) return;
  if (gate_.empty() && final_round_ <= round_done_) {
    if (final_round_ != 0) maybe_finish();
    return;
  }
  const auto since = Clock::now() - round_sent_at_;
  if (since >= gate_every()) return evict_round();
  if (!gate_timer_.active()) {
    gate_timer_.start(
        static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::milliseconds>(gate_every() - since).count()) +
            1,
        0);
  }
}

void Engine::release_gate() {
  if (gate_.empty()) return;
  std::vector<uint32_t> waiting;
  waiting.swap(gate_);
  for (uint32_t j : waiting) {
    Job& job = jobs_[j];
    if (!job.active || job.gate_round_ == 0) continue;
    if (job.gate_round_ <= round_done_ || deletions_stopped_ || fatal_) {
      resend_job(j);  // the task asks the gate again: go, or stopped
    } else {
      gate_.push_back(j);
    }
  }
}

Engine::Gate Engine::deletion_gate(uint32_t j) {
  Job& job = jobs_[j];
  if (deletions_stopped_ || fatal_) {
    job.gate_round_ = 0;
    return Gate::kStopped;
  }
  if (!opts_.watch_evictions) return Gate::kGo;
  if (job.gate_round_ != 0 && job.gate_round_ <= round_done_) {
    job.gate_round_ = 0;
    return Gate::kGo;
  }
  if (job.gate_round_ == 0) {
    // A round sent from now on runs after this key's copy (or comparison) was acknowledged.
    job.gate_round_ = round_id_ + 1;
    gate_.push_back(j);
  }
  if (!round_open_) {
    const auto since = Clock::now() - round_sent_at_;
    if (since >= gate_every()) {
      evict_round();
    } else if (!gate_timer_.active()) {
      gate_timer_.start(
          static_cast<uint64_t>(
              std::chrono::duration_cast<std::chrono::milliseconds>(gate_every() - since).count()) +
              1,
          0);
    }
  }
  return Gate::kWait;
}

void Engine::destination_lost_keys(std::string why, bool eviction) {
  if (deletions_stopped_ || finished_) return;
  if (!eviction && !opts_.cleanup) {
    // A run that deletes nothing loses nothing: a restart or failover only leaves copies to check.
    spdlog::warn("{}", why);
    return;
  }
  deletions_stopped_ = true;
  spdlog::error("{}", why);
  lost_keys_ = make_error(ExitCode::kDestinationRefused, std::move(why));
  if (opts_.cleanup) return fail_run(*lost_keys_);  // nothing more is written or deleted
  release_gate();
}

void Engine::on_evict_timer(void* self) { static_cast<Engine*>(self)->evict_round(); }

void Engine::on_gate_timer(void* self) { static_cast<Engine*>(self)->evict_round(); }

}  // namespace rmig::engine
