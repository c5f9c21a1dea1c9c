#include "copy/pipeline.hpp"

#include <openssl/sha.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <csignal>

#include "cluster/topology.hpp"
#include "copy/ttl.hpp"
#include "resp/server_error.hpp"
#include "util/escape.hpp"

namespace rmig::copy {

namespace {

using Clock = std::chrono::steady_clock;
using resp::ServerError;

constexpr uint64_t kRetryTickMs = 50;
constexpr uint64_t kReconnectTickMs = 100;
constexpr uint64_t kClockRefreshMs = 10'000;
constexpr uint32_t kMaxRedirects = 16;
constexpr auto kTopologyRefresh = std::chrono::seconds(1);

// Compare-and-delete for --cleanup. KEYS[1] is the source key, ARGV[1] the SHA1 of the DUMP payload that was
// copied, ARGV[2] the PTTL read before the copy (-1: persistent). The key is deleted only if it still holds
// that value and its expiry was not changed meanwhile (a TTL only goes down on its own; a larger TTL or a
// different persistence means somebody wrote the key). Returns 1 when deleted, 0 when kept because it
// changed, -1 when the key is gone.
constexpr const char* kCleanupScript =
    "local t = redis.call('PTTL', KEYS[1])\n"
    "if t == -2 then return -1 end\n"
    "local want = tonumber(ARGV[2])\n"
    "if want < 0 then\n"
    "  if t ~= -1 then return 0 end\n"
    "elseif t < 0 or t > want then\n"
    "  return 0\n"
    "end\n"
    "local v = redis.call('DUMP', KEYS[1])\n"
    "if not v or redis.sha1hex(v) ~= ARGV[1] then return 0 end\n"
    "redis.call('UNLINK', KEYS[1])\n"
    "return 1\n";

std::string sha1_hex(std::string_view data) {
  std::array<unsigned char, SHA_DIGEST_LENGTH> digest{};
  SHA1(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest.data());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(SHA_DIGEST_LENGTH * 2, '0');
  for (std::size_t i = 0; i < digest.size(); ++i) {
    out[2 * i] = kHex[digest[i] >> 4];
    out[2 * i + 1] = kHex[digest[i] & 0xf];
  }
  return out;
}

struct IntText {
  std::array<char, 24> buf{};
  std::size_t len = 0;
  explicit IntText(int64_t v) {
    auto r = std::to_chars(buf.data(), buf.data() + buf.size(), v);
    len = static_cast<std::size_t>(r.ptr - buf.data());
  }
  std::string_view view() const noexcept { return {buf.data(), len}; }
};

bool retryable(ServerError e) noexcept {
  return e == ServerError::kLoading || e == ServerError::kBusy || e == ServerError::kTryAgain ||
         e == ServerError::kClusterDown || e == ServerError::kMasterDown;
}

// A permission error about keys (an ACL key pattern) concerns one key; one about a command dooms them all.
bool key_permission(std::string_view message) noexcept {
  return message.find("access a key") != std::string_view::npos ||
         message.find("one of the keys") != std::string_view::npos;
}

std::chrono::milliseconds backoff(uint32_t attempts) {
  return std::chrono::milliseconds(100u << std::min<uint32_t>(attempts, 6));
}

}  // namespace

const char* Pipeline::cleanup_script() noexcept { return kCleanupScript; }

const std::string& Pipeline::cleanup_sha() noexcept {
  static const std::string sha = sha1_hex(kCleanupScript);
  return sha;
}

std::string_view Pipeline::Job::payload_view() const noexcept {
  const redisReply* r = shared ? shared.get() : payload.get();
  if (r == nullptr) return {};
  return {r->str, r->len};
}

Pipeline::Pipeline(net::Loop& loop, CopyOptions options, std::vector<SourceNode> sources,
                   Destination destination, resp::ConnectOptions source_template,
                   resp::ConnectOptions destination_template)
    : loop_(loop),
      opts_(options),
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
      retry_timer_(loop, this, &Pipeline::on_retry_timer),
      clock_timer_(loop, this, &Pipeline::on_clock_timer),
      reconnect_timer_(loop, this, &Pipeline::on_reconnect_timer) {
  clock_timer_.unref();
  for (auto& s : sources) {
    Node n;
    n.name = s.name;
    n.dbsize = s.dbsize;
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

Pipeline::~Pipeline() {
  for (auto& l : links_) {
    if (l->conn) l->conn->set_observer(nullptr);
  }
}

void Pipeline::start(std::function<void()> on_done) {
  on_done_ = std::move(on_done);
  for (auto& l : links_)
    l->conn->set_observer(this);
  if (!opts_.dry_run) clock_timer_.start(kClockRefreshMs, kClockRefreshMs);
  pump();
}

report::Counters Pipeline::totals() const {
  report::Counters total;
  for (const auto& n : nodes_)
    total += n.counters;
  return total;
}

std::size_t Pipeline::links_down() const noexcept {
  std::size_t n = 0;
  for (const auto& l : links_)
    n += l->down && !l->retired ? 1 : 0;
  return n;
}

PipelineResult Pipeline::take_result() {
  PipelineResult r;
  for (const auto& n : nodes_) {
    r.total += n.counters;
    r.nodes.push_back(report::NodeCounters{n.name, n.counters});
  }
  r.errors = std::move(errors_);
  r.fatal = fatal_;
  r.signal = signal_;
  r.examples = std::move(examples_);
  return r;
}

void Pipeline::stop(int signal) {
  if (finished_) return;
  if (stopping_ && signal_ != 0) {
    spdlog::warn("second signal: stopping now, abandoning {} keys in flight (nothing is deleted)", active_);
    signal_ = signal;
    for (auto& job : jobs_) {
      if (job.stage != Stage::kFree) --counters_of(job).scanned;
    }
    finish();
    return;
  }
  signal_ = signal;
  stopping_ = true;
  spdlog::warn("{}: stopping the scan, waiting for {} keys in flight (signal again to abandon them)",
               signal == SIGTERM ? "SIGTERM" : "SIGINT", active_);
  for (auto& n : nodes_)
    n.queue.clear();
  maybe_finish();
}

// ---- links ----

uint32_t Pipeline::add_link(std::unique_ptr<resp::Connection> conn, std::string name, bool destination) {
  auto link = std::make_unique<Link>();
  link->conn = std::move(conn);
  link->name = std::move(name);
  link->destination = destination;
  links_.push_back(std::move(link));
  return static_cast<uint32_t>(links_.size() - 1);
}

uint32_t Pipeline::link_of(const resp::Connection& c) const noexcept {
  for (std::size_t i = 0; i < links_.size(); ++i) {
    if (links_[i]->conn.get() == &c) return static_cast<uint32_t>(i);
  }
  return kNoLink;
}

uint32_t Pipeline::link_for_address(const std::string& host, int port, bool destination) {
  for (std::size_t i = 0; i < links_.size(); ++i) {
    const auto& ep = links_[i]->conn->options().endpoint;
    if (links_[i]->destination == destination && ep.host == host && ep.port == port) {
      return static_cast<uint32_t>(i);
    }
  }
  // A node first met through a redirect: connect to it like to the others.
  resp::ConnectOptions o = destination ? destination_template_ : source_template_;
  o.endpoint.kind = net::Endpoint::Kind::kTcp;
  o.endpoint.host = host;
  o.endpoint.port = static_cast<uint16_t>(port);
  o.db = 0;
  o.label = o.side + " node " + o.endpoint.to_string();
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

bool Pipeline::usable(uint32_t link) const noexcept { return link != kNoLink && links_[link]->conn->ready(); }

void Pipeline::park(uint32_t j, uint32_t link) {
  links_[link]->parked.push_back(j);
  ++parked_;
}

void Pipeline::unpark(uint32_t link) {
  std::vector<uint32_t> parked;
  parked.swap(links_[link]->parked);
  for (uint32_t j : parked) {
    --parked_;
    switch (jobs_[j].stage) {
      case Stage::kFetch: send_fetch(j); break;
      case Stage::kApply: send_apply(j); break;
      case Stage::kCleanup: send_cleanup(j, false); break;
      case Stage::kFree: break;
    }
  }
}

uint32_t Pipeline::route(std::string_view key) const noexcept {
  return dst_cluster_ ? slot_link_[cluster::key_hash_slot(key)] : dst_single_;
}

bool Pipeline::destination_backed_up() const noexcept {
  for (uint32_t l : dst_links_) {
    if (links_[l]->conn->ready() && links_[l]->conn->queued_bytes() >= opts_.window.destination_queue)
      return true;
  }
  return false;
}

void Pipeline::on_connection_ready(resp::Connection& c) {
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
    c.send(*this, tag(l, kTime), args, 1);
  }
  unpark(l);
  pump();
}

void Pipeline::on_connection_error(resp::Connection& c, const Error& error) {
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

void Pipeline::on_reconnect_timer(void* self_ptr) {
  auto* self = static_cast<Pipeline*>(self_ptr);
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

void Pipeline::refresh_destination_topology() {
  const auto now = Clock::now();
  if (topology_in_flight_ || now - topology_asked_at_ < kTopologyRefresh) return;
  for (uint32_t l : dst_links_) {
    if (!usable(l)) continue;
    topology_in_flight_ = true;
    topology_asked_at_ = now;
    const std::string_view args[] = {"CLUSTER", "SHARDS"};
    links_[l]->conn->send(*this, tag(l, kShards), args, 2);
    return;
  }
}

void Pipeline::on_topology(Op op, resp::Reply reply) {
  topology_in_flight_ = false;
  const redisReply* r = reply.get();
  if (resp::is_error(r)) {
    if (op == kShards) {
      // Older servers: CLUSTER SLOTS.
      for (uint32_t l : dst_links_) {
        if (!usable(l)) continue;
        topology_in_flight_ = true;
        const std::string_view args[] = {"CLUSTER", "SLOTS"};
        links_[l]->conn->send(*this, tag(l, kSlots), args, 2);
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
      --parked_;
      jobs_[j].ask_link = kNoLink;
      send_apply(j);
    }
  }
}

void Pipeline::on_connection_writable(resp::Connection& c) {
  if (!paused_by_destination_) return;
  const uint32_t l = link_of(c);
  if (l != kNoLink && links_[l]->destination) pump();
}

// ---- scheduling ----

void Pipeline::pump() {
  if (finished_) return;
  for (uint32_t i = 0; i < nodes_.size(); ++i)
    maybe_scan(nodes_[i], i);
  dispatch();
  maybe_finish();
}

void Pipeline::maybe_scan(Node& node, uint32_t index) {
  if (stopping_ || node.scanning || node.scan_done || node.queue.size() >= opts_.window.scan_count) return;
  if (!usable(node.read_link)) return;
  node.scanning = true;
  IntText count(static_cast<int64_t>(opts_.window.scan_count));
  const std::string_view args[] = {"SCAN", node.cursor, "COUNT", count.view()};
  links_[node.read_link]->conn->send(*this, tag(index, kScan), args, std::size(args));
}

void Pipeline::dispatch() {
  paused_by_destination_ = false;
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
    const uint32_t j = free_.back();
    free_.pop_back();
    ++active_;
    Job& job = jobs_[j];
    job.key.swap(node->queue.front());
    node->queue.pop_front();
    job.node = node_index;
    job.read_link = node->read_link;
    job.write_link = node->write_link;
    job.dst_link = kNoLink;
    job.ask_link = kNoLink;
    job.maybe_duplicate = seen_.test_and_add(job.key);
    job.probing = false;
    job.duplicate_confirmed = false;
    job.resent = false;
    job.read_ask = false;
    job.write_ask = false;
    job.attempts = 0;
    job.redirects = 0;
    job.first_retry_at = {};
    ++node->counters.scanned;
    send_fetch(j);
    if (node->queue.size() < opts_.window.scan_count) maybe_scan(*node, node_index);
  }
}

void Pipeline::maybe_finish() {
  if (finished_ || active_ != 0 || !retries_.empty()) return;
  if (!stopping_) {
    for (const auto& n : nodes_) {
      if (!n.scan_done || !n.queue.empty() || n.scanning) return;
    }
  }
  finish();
}

void Pipeline::finish() {
  if (finished_) return;
  finished_ = true;
  retry_timer_.stop();
  clock_timer_.stop();
  reconnect_timer_.stop();
  for (auto& l : links_) {
    l->conn->set_observer(nullptr);
    l->conn->close();
  }
  if (on_done_) on_done_();
}

void Pipeline::fail_run(Error error) {
  if (finished_) return;
  if (!fatal_) fatal_ = std::move(error);
  // Stop taking new work, but let the replies already on their way arrive: a cleanup that ran on the source
  // must be counted, and nothing new is written. Keys that cannot finish are given back (abandon()).
  stopping_ = true;
  for (auto& n : nodes_)
    n.queue.clear();
  std::vector<Retry> retries;
  retries.swap(retries_);
  for (const Retry& r : retries)
    abandon(r.job);
  for (auto& l : links_) {
    std::vector<uint32_t> parked;
    parked.swap(l->parked);
    for (uint32_t j : parked) {
      --parked_;
      abandon(j);
    }
    if (l->down) l->conn->close();  // no more reconnect attempts
  }
  maybe_finish();
}

void Pipeline::fail_job(uint32_t j, Error error) {
  fail_run(std::move(error));
  abandon(j);
}

void Pipeline::abandon(uint32_t j) {
  --counters_of(jobs_[j]).scanned;
  release(j);
}

// ---- replies ----

void Pipeline::on_reply(uint64_t t, resp::Reply reply) {
  if (finished_) return;
  const auto index = static_cast<uint32_t>(t >> 8);
  const auto op = static_cast<Op>(t & 0xff);
  if (!reply) return on_lost(index, op);
  switch (op) {
    case kScan: return on_scan(index, std::move(reply));
    case kPttl: return on_pttl(index, std::move(reply));
    case kDump: return on_dump(index, std::move(reply));
    case kRestore: return on_restore(index, std::move(reply));
    case kExists: return on_exists(index, std::move(reply));
    case kCheckBusy: return on_check_busy(index, std::move(reply));
    case kCleanup: return on_cleanup(index, std::move(reply));
    case kTime: return on_time(index, std::move(reply));
    case kAsking: return;  // +OK; the command that follows carries the outcome
    case kShards:
    case kSlots: return on_topology(op, std::move(reply));
  }
}

void Pipeline::on_lost(uint32_t index, Op op) {
  // The connection failed before this reply. Jobs are parked on the link and re-sent when it is back (or
  // abandoned if the run is failing).
  if (op == kScan) {
    nodes_[index].scanning = false;
    return maybe_finish();
  }
  if (op == kShards || op == kSlots) {
    topology_in_flight_ = false;
    return;
  }
  if (op == kTime || op == kAsking || op == kPttl) return;  // the command that follows settles the job
  Job& job = jobs_[index];
  if (fatal_) {
    if (op == kCleanup) {
      ++counters_of(job).cleanup_failed;
      errors_.add(
          "cleanup: connection lost before the reply; the key may still be on the source (its copy is on "
          "the destination)",
          job.key);
      return release(index);
    }
    return abandon(index);
  }
  switch (op) {
    case kDump:
      if (job.held > 0) {
        bytes_held_ -= job.held;
        job.held = 0;
      }
      job.payload.reset();
      job.shared.reset();
      return park(index, job.read_link);
    case kRestore:
    case kCheckBusy: job.resent = true; return park(index, job.dst_link);
    case kExists: return park(index, job.dst_link);
    case kCleanup: job.resent = true; return park(index, job.write_link);
    default: return;
  }
}

void Pipeline::on_time(uint32_t link, resp::Reply reply) {
  const redisReply* r = reply.get();
  if (!resp::is_array(r) || r->elements != 2) return;
  auto secs = resp::to_integer(r->element[0]);
  auto micros = resp::to_integer(r->element[1]);
  if (secs && micros) links_[link]->clock.sample(*secs, *micros, Clock::now());
}

void Pipeline::on_clock_timer(void* self_ptr) {
  auto* self = static_cast<Pipeline*>(self_ptr);
  if (self->finished_) return;
  for (uint32_t l : self->dst_links_) {
    if (!self->usable(l)) continue;
    const std::string_view args[] = {"TIME"};
    self->links_[l]->conn->send(*self, tag(l, kTime), args, 1);
  }
}

void Pipeline::on_scan(uint32_t index, resp::Reply reply) {
  Node& node = nodes_[index];
  node.scanning = false;
  const redisReply* r = reply.get();
  resp::Connection& conn = *links_[node.read_link]->conn;
  if (resp::is_error(r)) {
    std::string_view msg = resp::text(r);
    ServerError kind = resp::classify_error(msg);
    if (retryable(kind)) {
      // Rare (LOADING after a restart, BUSY script): the same cursor again, after the next reply.
      spdlog::warn("{}: SCAN answered {}; retrying", conn.label(), msg);
      return pump();
    }
    std::string fix = kind == ServerError::kNoPerm ? ": add the ACL rule +scan for the source user" : "";
    return fail_run(make_error(kind == ServerError::kNoPerm || kind == ServerError::kNoAuth
                                   ? ExitCode::kConnect
                                   : ExitCode::kKeysFailed,
                               conn.label() + ": SCAN failed (" + std::string(msg) + ")" + fix));
  }
  if (!resp::is_array(r) || r->elements != 2 || !resp::is_string(r->element[0]) ||
      !resp::is_array(r->element[1])) {
    return fail_run(
        make_error(ExitCode::kKeysFailed, conn.label() + ": unexpected SCAN reply " + resp::describe(r)));
  }
  node.cursor.assign(r->element[0]->str, r->element[0]->len);
  const redisReply* keys = r->element[1];
  for (std::size_t i = 0; i < keys->elements; ++i) {
    const redisReply* k = keys->element[i];
    if (!resp::is_string(k)) continue;
    node.queue.emplace_back(k->str, k->len);
  }
  if (node.cursor == "0") node.scan_done = true;
  pump();
}

void Pipeline::send_fetch(uint32_t j) {
  Job& job = jobs_[j];
  job.stage = Stage::kFetch;
  if (!usable(job.read_link)) return park(j, job.read_link);
  job.pttl = 0;
  job.fetch_error.clear();
  job.sent_at = Clock::now();
  resp::Connection& src = *links_[job.read_link]->conn;
  if (job.read_ask) {
    const std::string_view asking[] = {"ASKING"};
    src.send(*this, tag(j, kAsking), asking, 1);
    job.read_ask = false;
  }
  const std::string_view pttl[] = {"PTTL", job.key};
  const std::string_view dump[] = {"DUMP", job.key};
  src.send(*this, tag(j, kPttl), pttl, 2);
  src.send(*this, tag(j, kDump), dump, 2);
}

void Pipeline::on_pttl(uint32_t j, resp::Reply reply) {
  Job& job = jobs_[j];
  const redisReply* r = reply.get();
  if (resp::is_integer(r)) {
    job.pttl = r->integer;
  } else if (resp::is_error(r)) {
    job.fetch_error = "PTTL: " + std::string(resp::text(r));
  } else {
    job.fetch_error = "PTTL: unexpected reply " + resp::describe(r);
  }
}

void Pipeline::on_dump(uint32_t j, resp::Reply reply) {
  Job& job = jobs_[j];
  const redisReply* r = reply.get();
  if (!job.fetch_error.empty()) return source_error(j, job.fetch_error);
  if (resp::is_error(r)) return source_error(j, "DUMP: " + std::string(resp::text(r)));
  if (resp::is_nil(r) || job.pttl == -2) {
    // Deleted (or expired) between SCAN and DUMP: not an error. A DUMP that is not nil after PTTL said -2
    // is a key created meanwhile, which this pass does not promise to copy.
    ++counters_of(job).vanished;
    add_example(job, "vanished");
    return release(j);
  }
  if (r->type != REDIS_REPLY_STRING) return fail_key(j, "DUMP: unexpected reply " + resp::describe(r));
  job.payload = std::move(reply);
  job.held = job.payload->len;
  bytes_held_ += job.held;
  send_apply(j);
}

void Pipeline::send_apply(uint32_t j) {
  if (fatal_) return abandon(j);  // nothing new is written once the run is failing
  Job& job = jobs_[j];
  job.stage = Stage::kApply;
  const TtlPlan plan = plan_ttl(
      job.pttl, std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - job.sent_at).count());
  if (plan.kind == TtlPlan::Kind::kExpired) {
    ++counters_of(job).expired;
    add_example(job, "expired");
    return release(j);
  }
  const uint32_t l = job.ask_link != kNoLink ? job.ask_link : route(job.key);
  job.dst_link = l;
  if (!usable(l)) return park(j, l);
  Link& link = *links_[l];
  resp::Connection& dst = *link.conn;
  if (job.ask_link != kNoLink) {
    const std::string_view asking[] = {"ASKING"};
    dst.send(*this, tag(j, kAsking), asking, 1);
    job.ask_link = kNoLink;
  }
  if (opts_.dry_run) {
    const std::string_view args[] = {"EXISTS", job.key};
    dst.send(*this, tag(j, kExists), args, 2);
    return;
  }
  // With the destination's clock known the expiry is absolute (ABSTTL), computed from the moment the PTTL
  // was sent: waiting in the destination's queue then cannot extend the key's life.
  const bool absolute = plan.kind == TtlPlan::Kind::kExpiring && link.clock.known();
  IntText ttl(absolute ? link.clock.unix_ms_at(job.sent_at + std::chrono::milliseconds(job.pttl))
                       : plan.restore_ttl_ms);
  const std::string_view payload = job.payload_view();
  // A possible duplicate in replace mode is first restored without REPLACE: success proves the key is new
  // (counted copied); BUSYKEY means it is (almost surely) the copy this run already made, restored again
  // with REPLACE and counted as a duplicate. Everything else goes straight to the policy's RESTORE.
  job.probing = job.maybe_duplicate && opts_.conflict == ConflictPolicy::kReplace && !job.duplicate_confirmed;
  const bool replace = opts_.conflict == ConflictPolicy::kReplace && !job.probing;
  std::string_view args[6] = {"RESTORE", job.key, ttl.view(), payload};
  std::size_t argc = 4;
  if (replace) args[argc++] = "REPLACE";
  if (absolute) args[argc++] = "ABSTTL";
  if (payload.size() >= net::OutBuffer::kReferenceThreshold) {
    // Large payload: the write references it instead of copying it.
    if (!job.shared) job.shared = std::shared_ptr<redisReply>(job.payload.release(), resp::ReplyDeleter{});
    dst.send_ref(*this, tag(j, kRestore), args, argc, 3, job.shared);
  } else {
    dst.send(*this, tag(j, kRestore), args, argc);
  }
}

void Pipeline::count_restored(uint32_t j) {
  Job& job = jobs_[j];
  report::Counters& c = counters_of(job);
  if (job.duplicate_confirmed) {
    // The REPLACE that follows a BUSYKEY probe: the key was restored earlier in this run.
    ++c.duplicates;
    --c.scanned;
  } else {
    ++c.copied;
    c.bytes += job.held;
  }
  if (opts_.cleanup) return send_cleanup(j, false);
  release(j);
}

void Pipeline::on_restore(uint32_t j, resp::Reply reply) {
  const redisReply* r = reply.get();
  if (resp::is_status(r, "OK")) return count_restored(j);
  if (resp::is_error(r)) return destination_error(j, resp::text(r));
  fail_key(j, "RESTORE: unexpected reply " + resp::describe(r));
}

void Pipeline::on_check_busy(uint32_t j, resp::Reply reply) {
  // A RESTORE re-sent after a connection loss hit BUSYKEY: if the destination holds exactly the payload, the
  // first send went through before the loss (copied); otherwise the key was there before (skipped).
  Job& job = jobs_[j];
  const redisReply* r = reply.get();
  if (resp::is_string(r) && resp::text(r) == job.payload_view()) return count_restored(j);
  ++counters_of(job).skipped;
  release(j);
}

void Pipeline::on_exists(uint32_t j, resp::Reply reply) {
  Job& job = jobs_[j];
  const redisReply* r = reply.get();
  report::Counters& c = counters_of(job);
  if (resp::is_error(r)) return destination_error(j, resp::text(r));
  if (!resp::is_integer(r)) return fail_key(j, "EXISTS: unexpected reply " + resp::describe(r));
  if (job.maybe_duplicate) {
    ++c.duplicates;
    --c.scanned;
    return release(j);
  }
  const bool exists = r->integer > 0;
  if (exists) ++c.existing;
  if (exists && opts_.conflict == ConflictPolicy::kSkip) {
    ++c.would_skip;
    add_example(job, "skip (exists)");
  } else {
    ++c.would_copy;
    c.would_copy_bytes += job.held;
    add_example(job, exists ? "replace (exists)" : "copy");
  }
  release(j);
}

void Pipeline::send_cleanup(uint32_t j, bool use_eval) {
  Job& job = jobs_[j];
  job.stage = Stage::kCleanup;
  const uint32_t l = job.write_link;
  if (!usable(l)) return park(j, l);
  const std::string sha = sha1_hex(job.payload_view());
  IntText pttl(job.pttl < 0 ? -1 : job.pttl);
  resp::Connection& src = *links_[l]->conn;
  if (job.write_ask) {
    const std::string_view asking[] = {"ASKING"};
    src.send(*this, tag(j, kAsking), asking, 1);
    job.write_ask = false;
  }
  if (use_eval) {
    const std::string_view args[] = {"EVAL", kCleanupScript, "1", job.key, sha, pttl.view()};
    src.send(*this, tag(j, kCleanup), args, std::size(args));
  } else {
    const std::string_view args[] = {"EVALSHA", cleanup_sha(), "1", job.key, sha, pttl.view()};
    src.send(*this, tag(j, kCleanup), args, std::size(args));
  }
}

void Pipeline::on_cleanup(uint32_t j, resp::Reply reply) {
  Job& job = jobs_[j];
  const redisReply* r = reply.get();
  report::Counters& c = counters_of(job);
  if (resp::is_integer(r)) {
    if (r->integer == 1 || (r->integer == -1 && job.resent)) {
      ++c.deleted;  // -1 after a re-send: the first send deleted it before the connection dropped
    } else {
      ++c.cleanup_kept;
      spdlog::debug("cleanup kept \"{}\": it changed or went away on the source during the copy",
                    printable_short(job.key));
    }
    return release(j);
  }
  std::string_view msg = resp::text(r);
  if (resp::is_error(r)) {
    const ServerError kind = resp::classify_error(msg);
    if (kind == ServerError::kNoScript) return send_cleanup(j, true);  // script cache flushed: send the body
    if ((kind == ServerError::kMoved || kind == ServerError::kAsk) && redirect(j, msg, false)) return;
    if (retryable(kind)) return schedule_retry(j, kCleanup, msg);
  }
  ++c.cleanup_failed;
  errors_.add("cleanup: " + (resp::is_error(r) ? std::string(msg) : "unexpected reply " + resp::describe(r)),
              job.key);
  release(j);
}

// ---- errors ----

bool Pipeline::redirect(uint32_t j, std::string_view message, bool destination) {
  const auto target = resp::parse_redirect(message);
  if (!target) return false;
  Job& job = jobs_[j];
  if (++job.redirects > kMaxRedirects) {
    fail_key(j, "too many cluster redirects (last: " + std::string(message) + ")");
    return true;
  }
  const bool ask = resp::classify_error(message) == ServerError::kAsk;
  ++(ask ? counters_of(job).redirects_ask : counters_of(job).redirects_moved);
  const uint32_t l = link_for_address(target->host, target->port, destination);
  if (destination) {
    if (ask) {
      job.ask_link = l;
    } else if (dst_cluster_ && target->slot >= 0 && target->slot < cluster::kSlotCount) {
      slot_link_[static_cast<std::size_t>(target->slot)] = l;
    }
    send_apply(j);
  } else if (job.stage == Stage::kCleanup) {
    job.write_link = l;
    job.write_ask = ask;
    send_cleanup(j, false);
  } else {
    // The source reshards: read the key where it now lives (and delete it there).
    job.read_link = l;
    job.write_link = l;
    job.read_ask = ask;
    send_fetch(j);
  }
  return true;
}

void Pipeline::source_error(uint32_t j, std::string_view message) {
  if (fatal_) return abandon(j);
  Job& job = jobs_[j];
  const std::string_view server_msg = message.substr(message.find(": ") + 2);
  const ServerError kind = resp::classify_error(server_msg);
  const std::string& who = links_[job.read_link]->conn->label();
  if ((kind == ServerError::kMoved || kind == ServerError::kAsk) && redirect(j, server_msg, false)) return;
  if (retryable(kind)) return schedule_retry(j, kPttl, message);
  if (kind == ServerError::kNoPerm && key_permission(server_msg)) return fail_key(j, std::string(message));
  if (kind == ServerError::kNoPerm || kind == ServerError::kNoAuth) {
    const std::string cmd = resp::denied_command(server_msg);
    return fail_job(j, make_error(ExitCode::kConnect,
                                  who + ": " + std::string(message) +
                                      (cmd.empty() ? std::string(": check the source user's ACL rules")
                                                   : ": add the ACL rule +" + cmd + " for the source user")));
  }
  if (kind == ServerError::kUnknownCommand) {
    return fail_job(j, make_error(ExitCode::kConnect, who + ": " + std::string(message) +
                                                          ": the source does not allow this command"));
  }
  fail_key(j, std::string(message));
}

void Pipeline::destination_error(uint32_t j, std::string_view message) {
  if (fatal_) return abandon(j);  // the other RESTOREs in flight when the run failed (e.g. more OOMs)
  Job& job = jobs_[j];
  report::Counters& c = counters_of(job);
  const ServerError kind = resp::classify_error(message);
  const std::string& who = links_[job.dst_link]->conn->label();
  const char* what = opts_.dry_run ? "EXISTS" : "RESTORE";
  switch (kind) {
    case ServerError::kBusyKey:
      if (job.probing) {
        job.duplicate_confirmed = true;
        return send_apply(j);
      }
      if (job.resent) {
        const std::string_view args[] = {"DUMP", job.key};
        links_[job.dst_link]->conn->send(*this, tag(j, kCheckBusy), args, 2);
        return;
      }
      if (job.maybe_duplicate) {
        ++c.duplicates;
        --c.scanned;
      } else {
        ++c.skipped;
      }
      return release(j);
    case ServerError::kMoved:
    case ServerError::kAsk:
      if (redirect(j, message, true)) return;
      break;
    case ServerError::kOom:
      return fail_job(j,
                      make_error(ExitCode::kDestinationRefused,
                                 who + ": out of memory (" + std::string(message) +
                                     "): free memory or raise maxmemory on the destination, then run again "
                                     "(keys already copied are skipped)"));
    case ServerError::kReadOnly:
      return fail_job(j, make_error(ExitCode::kDestinationRefused,
                                    who + " is a read-only replica (" + std::string(message) +
                                        "): point the destination URL at the primary"));
    case ServerError::kMisconf:
      return fail_job(j, make_error(ExitCode::kDestinationRefused,
                                    who + " refuses writes because it cannot persist (" +
                                        std::string(message) + "): fix its disk or RDB settings"));
    case ServerError::kNoPerm:
      if (key_permission(message)) break;  // an ACL key pattern: this key only
      [[fallthrough]];
    case ServerError::kNoAuth: {
      const std::string cmd = resp::denied_command(message);
      return fail_job(
          j, make_error(ExitCode::kConnect,
                        who + ": " + what + " refused (" + std::string(message) + "): add the ACL rule +" +
                            (cmd.empty() ? std::string(opts_.dry_run ? "exists" : "restore") : cmd) +
                            " for the destination user"));
    }
    case ServerError::kUnknownCommand:
      return fail_job(j, make_error(ExitCode::kDestinationRefused,
                                    who + ": " + what + " is not available (" + std::string(message) +
                                        "): the destination must allow " + what));
    default: break;
  }
  if (retryable(kind)) return schedule_retry(j, kRestore, message);
  fail_key(j, std::string(what) + ": " + std::string(message));
}

void Pipeline::schedule_retry(uint32_t j, Op op, std::string_view message) {
  Job& job = jobs_[j];
  const auto now = Clock::now();
  if (job.attempts == 0) job.first_retry_at = now;
  if (now - job.first_retry_at > std::chrono::milliseconds(opts_.retry_timeout_ms)) {
    return fail_key(j, std::string(message) + " (still failing after retrying)");
  }
  const uint32_t shift = std::min<uint32_t>(job.attempts, 5);
  ++job.attempts;
  retries_.push_back(Retry{j, op, now + std::chrono::milliseconds(100u << shift)});
  if (!retry_timer_.active()) retry_timer_.start(kRetryTickMs, kRetryTickMs);
}

void Pipeline::on_retry_timer(void* self_ptr) {
  auto* self = static_cast<Pipeline*>(self_ptr);
  if (self->finished_) return;
  const auto now = Clock::now();
  std::vector<Retry> due;
  auto it = std::partition(self->retries_.begin(), self->retries_.end(),
                           [&](const Retry& r) { return r.due > now; });
  due.assign(it, self->retries_.end());
  self->retries_.erase(it, self->retries_.end());
  if (self->retries_.empty()) self->retry_timer_.stop();
  for (const Retry& r : due) {
    Job& job = self->jobs_[r.job];
    switch (r.op) {
      case kRestore: self->send_apply(r.job); break;
      case kCleanup: self->send_cleanup(r.job, false); break;
      default:
        if (job.held > 0) {
          self->bytes_held_ -= job.held;
          job.held = 0;
        }
        job.payload.reset();
        job.shared.reset();
        self->send_fetch(r.job);
        break;
    }
  }
  self->maybe_finish();
}

void Pipeline::fail_key(uint32_t j, std::string message) {
  Job& job = jobs_[j];
  ++counters_of(job).failed;
  spdlog::debug("key \"{}\" failed: {}", printable_short(job.key), message);
  errors_.add(message, job.key);
  release(j);
}

void Pipeline::add_example(const Job& job, const char* action) {
  if (!opts_.dry_run || examples_.size() >= opts_.examples) return;
  examples_.push_back(report::Example{job.key, action, job.held});
}

void Pipeline::release(uint32_t j) {
  Job& job = jobs_[j];
  bytes_held_ -= job.held;
  job.held = 0;
  job.payload.reset();
  job.shared.reset();
  job.stage = Stage::kFree;
  free_.push_back(j);
  --active_;
  pump();
}

}  // namespace rmig::copy
