#include "report/metrics.hpp"

#include <netinet/in.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <exception>
#include <map>

namespace rmig::report {

namespace {

// Why 0.0.0.0:port cannot be listened on (errno), or 0 when it can. Checked with a socket of our own first,
// so that the refusal names the reason: civetweb only says that it could not start.
int listen_error(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  const int one = 1;
  // As civetweb binds (SO_REUSEADDR): a port left in TIME_WAIT by an earlier run is free, a listening one
  // not.
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  int err = 0;
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 1) != 0)
    err = errno;
  ::close(fd);
  return err;
}

std::string refusal(uint16_t port, int err) {
  const std::string what = "--metrics-port " + std::to_string(port) + ": ";
  switch (err) {
    case EADDRINUSE: return what + "address already in use: choose another port";
    case EACCES:
      return what +
             "permission denied: ports below 1024 need privileges (the image runs unprivileged): choose " +
             "a port from 1024 up";
    default: {
      std::string reason = std::strerror(err);
      if (!reason.empty()) reason[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(reason[0])));
      return what + "cannot listen on 0.0.0.0:" + std::to_string(port) + ": " + reason;
    }
  }
}

}  // namespace

bool Metrics::is_key_outcome(std::string_view name) noexcept {
  return name != "bytes" && name != "would_copy_bytes" && name != "redirects_moved" &&
         name != "redirects_ask";
}

struct Metrics::Impl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::unique_ptr<prometheus::Exposer> exposer;
  uint16_t port = 0;

  // One series per exported counter of report::Counters (kCounterFields order); nullptr: not exported.
  std::vector<prometheus::Counter*> counters;
  prometheus::Counter* errors = nullptr;
  prometheus::Gauge* in_flight = nullptr;
  prometheus::Gauge* links_down = nullptr;
  prometheus::Gauge* paused_destination = nullptr;
  prometheus::Gauge* paused_rate_limit = nullptr;

  // Live runs: created with the first live sample.
  prometheus::Gauge* pending = nullptr;
  prometheus::Gauge* lag = nullptr;
  prometheus::Counter* changes = nullptr;
  prometheus::Family<prometheus::Counter>* resyncs = nullptr;
  prometheus::Family<prometheus::Gauge>* phases = nullptr;
  std::map<std::string, prometheus::Gauge*, std::less<>> phase_series;

  // The current run's values already added to the counters.
  Counters last;
  uint64_t last_changes = 0;
  std::map<std::string, uint64_t, std::less<>> last_resyncs;

  void add(prometheus::Counter* c, uint64_t now, uint64_t& before) {
    // A run's totals may step back (a key given back is no longer counted scanned): a counter only grows,
    // from the highest value seen.
    if (now > before) {
      c->Increment(static_cast<double>(now - before));
      before = now;
    }
  }

  void make_live_metrics() {
    pending = &prometheus::BuildGauge()
                   .Name("redis_migrate_pending_keys")
                   .Help("Live runs: keys waiting to be copied again or deleted on the destination")
                   .Register(*registry)
                   .Add({});
    lag = &prometheus::BuildGauge()
               .Name("redis_migrate_lag_seconds")
               .Help("Live runs: age of the oldest pending change")
               .Register(*registry)
               .Add({});
    changes = &prometheus::BuildCounter()
                   .Name("redis_migrate_changes_total")
                   .Help("Live runs: keyspace notifications received for selected keys")
                   .Register(*registry)
                   .Add({});
    resyncs = &prometheus::BuildCounter()
                   .Name("redis_migrate_resyncs_total")
                   .Help("Live runs: resyncs of a source node (lost notifications), by cause")
                   .Register(*registry);
    phases = &prometheus::BuildGauge()
                  .Name("redis_migrate_phase")
                  .Help("Live runs: 1 for the phase the run is in (subscribing, bulk, live, cutover, done)")
                  .Register(*registry);
  }
};

Metrics& Metrics::process() {
  static Metrics instance;
  return instance;
}

Metrics::Metrics() = default;
Metrics::~Metrics() = default;

uint16_t Metrics::port() const noexcept { return impl_ ? impl_->port : 0; }

Status Metrics::start(uint16_t port, std::string_view command, std::string_view source,
                      std::string_view destination) {
  if (port == 0 || impl_) return {};
  if (const int err = listen_error(port); err != 0) return make_error(ExitCode::kUsage, refusal(port, err));
  auto impl = make_impl(command, source, destination);
  impl->port = port;
  try {
    // Two threads answer scrapes; they only read the registry.
    impl->exposer = std::make_unique<prometheus::Exposer>("0.0.0.0:" + std::to_string(port), 2);
    impl->exposer->RegisterCollectable(impl->registry, "/metrics");
  } catch (const std::exception& e) {
    return make_error(ExitCode::kUsage, "--metrics-port " + std::to_string(port) +
                                            ": cannot serve metrics on 0.0.0.0:" + std::to_string(port) +
                                            ": " + e.what());
  }
  impl_ = std::move(impl);
  return {};
}

void Metrics::start_unexposed(std::string_view command, std::string_view source,
                              std::string_view destination) {
  if (!impl_) impl_ = make_impl(command, source, destination);
}

std::string Metrics::text() const {
  if (!impl_) return {};
  return prometheus::TextSerializer().Serialize(impl_->registry->Collect());
}

std::unique_ptr<Metrics::Impl> Metrics::make_impl(std::string_view command, std::string_view source,
                                                  std::string_view destination) {
  auto impl = std::make_unique<Impl>();
  prometheus::Registry& r = *impl->registry;

  prometheus::BuildGauge()
      .Name("redis_migrate_info")
      .Help("The run: command, source and destination URLs (without passwords), version; always 1")
      .Register(r)
      .Add({{"command", std::string(command)},
            {"source", std::string(source)},
            {"destination", std::string(destination)},
            {"version", RM_VERSION}})
      .Set(1);
  auto& keys = prometheus::BuildCounter()
                   .Name("redis_migrate_keys_total")
                   .Help(
                       "Keys by outcome: the counters of the run's report (copied, skipped, failed, expired, "
                       "vanished, recopied, removed, unchanged, checked, equal, missing, ...)")
                   .Register(r);
  auto& redirects = prometheus::BuildCounter()
                        .Name("redis_migrate_redirects_total")
                        .Help("Cluster redirects followed, by kind (moved, ask)")
                        .Register(r);
  impl->counters.assign(kCounterFieldCount, nullptr);
  for (std::size_t i = 0; i < kCounterFieldCount; ++i) {
    const std::string_view name = kCounterFields[i].name;
    if (is_key_outcome(name)) {
      impl->counters[i] = &keys.Add({{"outcome", std::string(name)}});
    } else if (name == "bytes") {
      impl->counters[i] = &prometheus::BuildCounter()
                               .Name("redis_migrate_bytes_total")
                               .Help("DUMP payload bytes restored on the destination")
                               .Register(r)
                               .Add({});
    } else if (name == "would_copy_bytes") {
      impl->counters[i] = &prometheus::BuildCounter()
                               .Name("redis_migrate_would_copy_bytes_total")
                               .Help("Plans and dry runs: DUMP payload bytes a copy would restore")
                               .Register(r)
                               .Add({});
    } else if (name == "redirects_moved") {
      impl->counters[i] = &redirects.Add({{"kind", "moved"}});
    } else if (name == "redirects_ask") {
      impl->counters[i] = &redirects.Add({{"kind", "ask"}});
    }
  }
  impl->errors = &prometheus::BuildCounter()
                      .Name("redis_migrate_errors_total")
                      .Help("Per-key errors (keys failed, and deletions failed in a cleanup)")
                      .Register(r)
                      .Add({});
  impl->in_flight = &prometheus::BuildGauge()
                         .Name("redis_migrate_keys_in_flight")
                         .Help("Keys between their first read and their last write now")
                         .Register(r)
                         .Add({});
  impl->links_down = &prometheus::BuildGauge()
                          .Name("redis_migrate_connections_down")
                          .Help("Connections to the servers that are being reconnected now")
                          .Register(r)
                          .Add({});
  auto& paused =
      prometheus::BuildGauge()
          .Name("redis_migrate_paused")
          .Help("1 while reading is held back: by the destination (back-pressure) or by the rate limit")
          .Register(r);
  impl->paused_destination = &paused.Add({{"reason", "destination"}});
  impl->paused_rate_limit = &paused.Add({{"reason", "rate_limit"}});
  return impl;
}

void Metrics::begin_run() {
  if (!impl_) return;
  impl_->last = Counters{};
  impl_->last_changes = 0;
  impl_->last_resyncs.clear();
}

void Metrics::update(const MetricsSample& s) {
  if (!impl_) return;
  Impl& m = *impl_;
  for (std::size_t i = 0; i < kCounterFieldCount; ++i) {
    if (m.counters[i] == nullptr) continue;
    const auto member = kCounterFields[i].member;
    uint64_t before = m.last.*member;
    // The errors follow failed and cleanup_failed before their own series moves on.
    if (member == &Counters::failed || member == &Counters::cleanup_failed) {
      if (s.totals.*member > before) m.errors->Increment(static_cast<double>(s.totals.*member - before));
    }
    m.add(m.counters[i], s.totals.*member, before);
    m.last.*member = before;
  }
  m.in_flight->Set(static_cast<double>(s.in_flight));
  m.links_down->Set(static_cast<double>(s.links_down));
  m.paused_destination->Set(s.paused_by_destination ? 1 : 0);
  m.paused_rate_limit->Set(s.rate_limited ? 1 : 0);
  if (!s.live) return;

  if (m.pending == nullptr) m.make_live_metrics();
  m.pending->Set(static_cast<double>(s.pending));
  m.lag->Set(static_cast<double>(s.lag_ms) / 1000.0);
  m.add(m.changes, s.changes, m.last_changes);
  std::map<std::string, uint64_t, std::less<>> now;
  for (const std::string& cause : s.resync_causes)
    ++now[cause];
  for (const auto& [cause, n] : now) {
    uint64_t& before = m.last_resyncs[cause];
    m.add(&m.resyncs->Add({{"cause", cause}}), n, before);
  }
  if (!s.phase.empty()) {
    auto it = m.phase_series.find(s.phase);
    if (it == m.phase_series.end())
      it = m.phase_series.emplace(s.phase, &m.phases->Add({{"phase", s.phase}})).first;
    for (auto& [name, gauge] : m.phase_series)
      gauge->Set(name == s.phase ? 1 : 0);
  }
}

}  // namespace rmig::report
