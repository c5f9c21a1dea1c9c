#include "engine/crew.hpp"

#include <sched.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <numeric>
#include <optional>

#include "engine/drive.hpp"
#include "engine/sides.hpp"
#include "report/format.hpp"
#include "select/rename.hpp"

namespace rmig::engine {

std::vector<std::vector<uint32_t>> spread_nodes(const std::vector<uint64_t>& sizes, uint32_t loops) {
  const auto n = static_cast<uint32_t>(sizes.size());
  loops = std::max<uint32_t>(1, std::min(loops, n));
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return sizes[a] > sizes[b]; });
  std::vector<std::vector<uint32_t>> groups(loops);
  std::vector<uint64_t> load(loops, 0);
  for (uint32_t i : order) {
    uint32_t best = 0;
    for (uint32_t k = 1; k < loops; ++k) {
      if (load[k] < load[best] || (load[k] == load[best] && groups[k].size() < groups[best].size())) best = k;
    }
    groups[best].push_back(i);
    load[best] += sizes[i];
  }
  for (auto& g : groups)
    std::sort(g.begin(), g.end());
  return groups;
}

uint32_t available_cores() {
  uint32_t cores = std::max(1u, std::thread::hardware_concurrency());
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
    cores = std::min(cores, static_cast<uint32_t>(CPU_COUNT(&set)));
  // "max 100000" (no limit) or "QUOTA PERIOD" in microseconds.
  std::ifstream in("/sys/fs/cgroup/cpu.max");
  std::string quota;
  uint64_t period = 0;
  if (in >> quota >> period && quota != "max" && period > 0) {
    char* end = nullptr;
    const uint64_t q = std::strtoull(quota.c_str(), &end, 10);
    if (end != quota.c_str() && q > 0)
      cores = std::min(cores, static_cast<uint32_t>((q + period - 1) / period));
  }
  return std::max(1u, cores);
}

CopyOptions loop_options(const CopyOptions& options, uint32_t loops) {
  CopyOptions o = options;
  if (loops <= 1) return o;
  o.window.bytes = std::max<std::size_t>(options.window.bytes / loops, 1000);
  if (options.rate_limit_keys > 0) o.rate_limit_keys = std::max<uint64_t>(options.rate_limit_keys / loops, 1);
  if (options.rate_limit_bytes > 0)
    o.rate_limit_bytes = std::max<uint64_t>(options.rate_limit_bytes / loops, 1);
  return o;
}

Crew::Crew(net::Loop& loop, const CopyOptions& options, std::vector<SourceNode> sources,
           Destination destination, resp::ConnectOptions source_template,
           resp::ConnectOptions destination_template, uint32_t loops, TaskFactory factory,
           TaskHarvest harvest)
    : loop_(loop),
      options_(options),
      source_template_(std::move(source_template)),
      destination_template_(std::move(destination_template)),
      factory_(std::move(factory)),
      harvest_(std::move(harvest)) {
  uint64_t expected = 0;
  std::vector<uint64_t> sizes;
  for (auto& s : sources) {
    Node n;
    n.conn = s.conn->options();
    if (s.writer) n.writer = std::make_unique<resp::ConnectOptions>(s.writer->options());
    n.name = s.name;
    n.dbsize = s.dbsize;
    n.dataset_bytes = s.dataset_bytes;
    n.slots = s.slots;
    expected += s.dbsize;
    sizes.push_back(s.dbsize);
    nodes_.push_back(std::move(n));
  }
  destination_.cluster = destination.cluster;
  destination_.slot_owner = destination.slot_owner;
  for (const auto& d : destination.nodes) {
    destination_.nodes.push_back(d.conn->options());
    destination_.clocks.push_back(d.clock);
  }
  // The caller's connections are closed now: each loop opens its own.
  sources.clear();
  destination.nodes.clear();

  // One duplicate filter and one rename-target filter for every loop.
  CopyOptions shared = options_;
  shared.shared_seen = std::make_shared<const select::SeenFilter>(expected, options_.seen_filter_bytes, true);
  if (options_.detect_rename_collisions && options_.selection.rename && !options_.selection.rename->empty()) {
    shared.shared_targets =
        std::make_shared<const select::SeenFilter>(expected, options_.seen_filter_bytes, true);
  }
  const auto groups = spread_nodes(sizes, loops);
  for (uint32_t k = 0; k < groups.size(); ++k) {
    auto w = std::make_unique<Worker>();
    w->index = k;
    w->nodes = groups[k];
    w->options = loop_options(shared, static_cast<uint32_t>(groups.size()));
    for (uint32_t i : w->nodes) {
      w->snap.nodes.push_back(report::NodeCounters{nodes_[i].name, {}});
      w->snap.checkpoint.push_back(NodeProgress{nodes_[i].name, "0", false, {}, {}, {}});
    }
    workers_.push_back(std::move(w));
  }
}

Crew::~Crew() {
  // Normally every loop has ended (finish()); otherwise they are stopped and waited for.
  for (auto& w : workers_) {
    if (!w->thread.joinable()) continue;
    post(*w, [](Engine& e) {
      e.stop_run(make_error(ExitCode::kKeysFailed, "internal error: the run was abandoned"));
    });
    w->thread.join();
  }
  wake_.close();
}

std::string Crew::spread_text() const {
  std::string s = std::to_string(workers_.size()) + " event loops (one thread each):";
  for (const auto& w : workers_) {
    s += " loop " + std::to_string(w->index + 1) + ":";
    uint64_t keys = 0;
    for (uint32_t i : w->nodes) {
      s += " " + nodes_[i].name;
      keys += nodes_[i].dbsize;
    }
    s += " (" + report::thousands(keys) + " keys);";
  }
  s.pop_back();
  return s;
}

// ---- the caller's side ----

void Crew::start(std::function<void()> on_done) {
  if (started_) return;
  started_ = true;
  on_done_ = std::move(on_done);
  if (uv_async_init(loop_.get(), wake_.get(), [](uv_async_t* h) {
        if (h->data != nullptr) static_cast<Crew*>(h->data)->on_wake();
      }) != 0) {
    std::abort();
  }
  wake_.mark_initialized();
  wake_.get()->data = this;
  for (auto& w : workers_) {
    Worker* worker = w.get();
    worker->thread = std::thread([this, worker] { run(*worker); });
  }
}

void Crew::post(Worker& w, std::function<void(Engine&)> message) {
  const std::lock_guard<std::mutex> lock(w.mu);
  if (w.done) return;
  w.inbox.push_back(std::move(message));
  if (w.inbox_handle != nullptr) uv_async_send(w.inbox_handle);
}

void Crew::post_all(const std::function<void(Engine&)>& message, const Worker* except) {
  for (auto& w : workers_) {
    if (w.get() != except) post(*w, message);
  }
}

void Crew::stop(int signal) {
  post_all([signal](Engine& e) { e.stop(signal); });
}

void Crew::cutover(CutoverCause cause) {
  post_all([cause](Engine& e) { e.cutover(cause); });
}

void Crew::stop_run(Error error) {
  stop_sent_ = true;
  post_all([error](Engine& e) { e.stop_run(error); });
}

void Crew::destination_lost_keys(std::string why, bool eviction) {
  lost_keys_sent_ = true;
  post_all([why = std::move(why), eviction](Engine& e) { e.destination_lost_keys(why, eviction); });
}

void Crew::resume(const std::vector<NodeProgress>& progress) {
  for (auto& w : workers_) {
    const std::lock_guard<std::mutex> lock(w->mu);
    w->resume.clear();
    for (std::size_t k = 0; k < w->nodes.size(); ++k) {
      const uint32_t i = w->nodes[k];
      if (i >= progress.size()) {
        w->resume.clear();
        break;
      }
      w->resume.push_back(progress[i]);
      w->snap.checkpoint[k] = progress[i];
      w->snap.nodes[k].counters = progress[i].counters;
    }
  }
}

void Crew::on_wake() {
  bool progressed = false;
  for (auto& w : workers_) {
    std::vector<LostKeys> lost;
    bool done = false;
    std::optional<Error> fatal;
    {
      const std::lock_guard<std::mutex> lock(w->mu);
      progressed = progressed || w->progressed;
      w->progressed = false;
      lost.swap(w->lost);
      done = w->done;
      fatal = w->fatal;
    }
    // A loop that fails stops the others at once, as one engine stops all its nodes.
    if (fatal && !stop_sent_) {
      if (!first_fatal_) first_fatal_ = fatal;
      stop_sent_ = true;
      post_all([error = *fatal](Engine& e) { e.stop_run(error); }, w.get());
    }
    for (LostKeys& l : lost) {
      // The first loop that sees the destination lose keys tells the others; theirs add nothing.
      if (lost_keys_sent_) break;
      lost_keys_sent_ = true;
      post_all([l](Engine& e) { e.destination_lost_keys(l.why, l.eviction); }, w.get());
    }
    if (done && !w->joined) {
      w->thread.join();
      w->joined = true;
      // A loop that failed stops the others, as one engine stops all its nodes.
      if (w->result.fatal && !first_fatal_) first_fatal_ = w->result.fatal;
      if (w->result.fatal && !stop_sent_) {
        stop_sent_ = true;
        post_all([error = *w->result.fatal](Engine& e) { e.stop_run(error); }, w.get());
      }
    }
  }
  if (progressed && on_progress_ && !finished_) on_progress_();
  if (!finished_ && std::all_of(workers_.begin(), workers_.end(), [](const auto& w) { return w->joined; }))
    finish();
}

void Crew::finish() {
  finished_ = true;
  wake_.close();
  EngineResult r;
  r.nodes.resize(nodes_.size());
  for (std::size_t i = 0; i < nodes_.size(); ++i)
    r.nodes[i].name = nodes_[i].name;
  std::optional<Error> fatal;
  for (auto& w : workers_) {
    EngineResult& wr = w->result;
    for (std::size_t k = 0; k < w->nodes.size(); ++k) {
      r.nodes[w->nodes[k]].counters = k < wr.nodes.size()
                                          ? wr.nodes[k].counters
                                          : w->snap.nodes[k].counters;  // a loop that never started
    }
    r.total.evicted = std::max(r.total.evicted, wr.total.evicted);  // every loop watches the same destination
    for (const auto& g : wr.errors.sorted()) {
      r.errors.add(g.message, g.example_key, g.count);
    }
    for (auto& e : wr.examples) {
      if (r.examples.size() < options_.examples) r.examples.push_back(std::move(e));
    }
    r.signal = std::max(r.signal, wr.signal);
    if (wr.fatal && !fatal) fatal = wr.fatal;
    for (auto& f : wr.source_failovers)
      r.source_failovers.push_back(std::move(f));
  }
  const uint64_t evicted = r.total.evicted;
  for (const auto& n : r.nodes)
    r.total += n.counters;
  r.total.evicted = evicted;
  // The loop that failed first (its error stopped the others) names the run's error.
  r.fatal = first_fatal_ ? first_fatal_ : fatal;
  result_ = std::move(r);
  if (on_done_) on_done_();
}

EngineResult Crew::take_result() { return std::move(result_); }

// ---- snapshots ----

std::vector<NodeProgress> Crew::checkpoint() const {
  std::vector<NodeProgress> out(nodes_.size());
  for (const auto& w : workers_) {
    const std::lock_guard<std::mutex> lock(w->mu);
    for (std::size_t k = 0; k < w->nodes.size(); ++k)
      out[w->nodes[k]] = w->snap.checkpoint[k];
  }
  return out;
}

std::vector<report::NodeCounters> Crew::node_totals() const {
  std::vector<report::NodeCounters> out(nodes_.size());
  for (const auto& w : workers_) {
    const std::lock_guard<std::mutex> lock(w->mu);
    for (std::size_t k = 0; k < w->nodes.size(); ++k)
      out[w->nodes[k]] = w->snap.nodes[k];
  }
  return out;
}

report::Counters Crew::totals() const {
  report::Counters total;
  uint64_t evicted = 0;
  for (const auto& w : workers_) {
    const std::lock_guard<std::mutex> lock(w->mu);
    for (const auto& n : w->snap.nodes)
      total += n.counters;
    evicted = std::max(evicted, w->snap.evicted);
  }
  total.evicted = evicted;
  return total;
}

std::size_t Crew::in_flight() const {
  std::size_t n = 0;
  for (const auto& w : workers_) {
    const std::lock_guard<std::mutex> lock(w->mu);
    n += w->snap.in_flight;
  }
  return n;
}

std::size_t Crew::bytes_held() const {
  std::size_t n = 0;
  for (const auto& w : workers_) {
    const std::lock_guard<std::mutex> lock(w->mu);
    n += w->snap.bytes_held;
  }
  return n;
}

std::size_t Crew::links_down() const {
  std::size_t n = 0;
  for (const auto& w : workers_) {
    const std::lock_guard<std::mutex> lock(w->mu);
    n += w->snap.links_down;
  }
  return n;
}

bool Crew::paused_by_destination() const {
  return std::any_of(workers_.begin(), workers_.end(), [](const auto& w) {
    const std::lock_guard<std::mutex> lock(w->mu);
    return w->snap.paused_by_destination;
  });
}

bool Crew::rate_limited() const {
  return std::any_of(workers_.begin(), workers_.end(), [](const auto& w) {
    const std::lock_guard<std::mutex> lock(w->mu);
    return w->snap.rate_limited;
  });
}

uint64_t Crew::evicted() const {
  uint64_t n = 0;
  for (const auto& w : workers_) {
    const std::lock_guard<std::mutex> lock(w->mu);
    n = std::max(n, w->snap.evicted);
  }
  return n;
}

LiveStats Crew::live_stats() const { return LiveStats{}; }

// ---- a loop's thread ----

void Crew::wake_caller() { uv_async_send(wake_.get()); }

void Crew::publish(Worker& w, const Engine& engine) {
  Snapshot s;
  s.nodes = engine.node_totals();
  s.checkpoint = engine.checkpoint();
  s.evicted = engine.evicted();
  s.in_flight = engine.in_flight();
  s.bytes_held = engine.bytes_held();
  s.links_down = engine.links_down();
  s.paused_by_destination = engine.paused_by_destination();
  s.rate_limited = engine.rate_limited();
  const std::lock_guard<std::mutex> lock(w.mu);
  w.snap = std::move(s);
}

void Crew::run(Worker& w) {
  {
    net::Loop loop;
    run_engine(w, loop);
  }
  {
    const std::lock_guard<std::mutex> lock(w.mu);
    w.done = true;
    w.inbox.clear();
  }
  wake_caller();
}

namespace {

// A loop's inbox: the messages the caller's thread queued, run on the loop's engine.
struct Inbox {
  std::mutex* mu;
  std::vector<std::function<void(Engine&)>>* queue;
  Engine* engine;
  void drain() const {
    std::vector<std::function<void(Engine&)>> messages;
    {
      const std::lock_guard<std::mutex> lock(*mu);
      messages.swap(*queue);
    }
    for (auto& m : messages)
      m(*engine);
  }
};

}  // namespace

void Crew::run_engine(Worker& w, net::Loop& loop) {
  auto fail = [&](Error e) {
    const std::lock_guard<std::mutex> lock(w.mu);
    w.result.fatal = std::move(e);
  };
  // This loop's own connections: its source nodes (and their primaries for --cleanup), every destination
  // node.
  std::vector<SourceNode> sources;
  for (uint32_t i : w.nodes) {
    const Node& n = nodes_[i];
    auto conn = open_connection(loop, n.conn);
    if (!conn) return fail(conn.error());
    ConnectionPtr writer;
    if (n.writer) {
      auto c = open_connection(loop, *n.writer);
      if (!c) return fail(c.error());
      writer = std::move(*c);
    }
    sources.push_back(
        SourceNode{std::move(*conn), std::move(writer), n.name, n.dbsize, n.dataset_bytes, n.slots});
  }
  Destination destination;
  destination.cluster = destination_.cluster;
  destination.slot_owner = destination_.slot_owner;
  for (std::size_t d = 0; d < destination_.nodes.size(); ++d) {
    auto conn = open_connection(loop, destination_.nodes[d]);
    if (!conn) return fail(conn.error());
    destination.nodes.push_back(DestinationNode{std::move(*conn), destination_.clocks[d]});
  }

  std::unique_ptr<KeyTask> task = factory_();
  Engine engine(loop, w.options, std::move(sources), std::move(destination), source_template_,
                destination_template_, *task);
  if (!w.resume.empty()) engine.resume(w.resume);
  engine.on_progress([&] {
    publish(w, engine);
    {
      const std::lock_guard<std::mutex> lock(w.mu);
      w.progressed = true;
    }
    wake_caller();
  });
  engine.on_fatal([&](const Error& error) {
    {
      const std::lock_guard<std::mutex> lock(w.mu);
      if (!w.fatal) w.fatal = error;
    }
    wake_caller();
  });
  engine.on_lost_keys([&](const std::string& why, bool eviction) {
    {
      const std::lock_guard<std::mutex> lock(w.mu);
      w.lost.push_back(LostKeys{why, eviction});
    }
    wake_caller();
  });
  Inbox inbox{&w.mu, &w.inbox, &engine};
  net::UvHandle<uv_async_t> inbox_handle;
  if (uv_async_init(loop.get(), inbox_handle.get(), [](uv_async_t* h) {
        if (h->data != nullptr) static_cast<const Inbox*>(h->data)->drain();
      }) != 0) {
    std::abort();
  }
  inbox_handle.mark_initialized();
  inbox_handle.get()->data = &inbox;
  uv_unref(inbox_handle.handle());  // a loop with nothing else to do has run dry (drive's check below)
  net::Timer snapshots(loop, [&] { publish(w, engine); });
  snapshots.unref();

  bool done = false;
  engine.start([&] { done = true; });
  {
    const std::lock_guard<std::mutex> lock(w.mu);
    w.inbox_handle = inbox_handle.get();
  }
  inbox.drain();  // what was queued before the loop took messages (an early signal)
  publish(w, engine);
  if (!done) snapshots.start(100, 100);
  const std::optional<Error> stalled = run_until_done(loop, done, [&] { engine.stop(0); });
  {
    const std::lock_guard<std::mutex> lock(w.mu);
    w.inbox_handle = nullptr;
  }
  inbox_handle.close();
  snapshots.stop();
  publish(w, engine);
  EngineResult r = engine.take_result();
  if (stalled && !r.fatal) r.fatal = stalled;
  if (harvest_) {
    const std::lock_guard<std::mutex> lock(harvest_mu_);
    harvest_(*task);
  }
  const std::lock_guard<std::mutex> lock(w.mu);
  w.result = std::move(r);
}

}  // namespace rmig::engine
