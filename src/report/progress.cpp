#include "report/progress.hpp"

#include <algorithm>
#include <cstdio>
#include <string>

#include "report/format.hpp"
#include "report/log.hpp"

namespace rmig::report {

Progress::Progress(uint64_t total_estimate) : total_(total_estimate), start_(Clock::now()), last_(start_) {}

bool Progress::live() noexcept { return status_line_enabled(); }

uint32_t Progress::interval_ms(uint32_t progress_interval_ms) noexcept {
  if (progress_interval_ms == 0) return 0;
  return live() ? kLiveIntervalMs : progress_interval_ms;
}

void Progress::finish() {
  if (live()) clear_status_line();
}

void Progress::draw_bar(uint64_t scanned, uint64_t done, uint64_t bytes, bool with_bytes,
                        const std::string& middle, const std::string& window) {
  const auto now = Clock::now();
  samples_.push_back(Sample{now, done, bytes});
  // Rates over the last 5 s: steady enough to read at two redraws a second, recent enough to follow changes.
  while (samples_.size() > 2 && now - samples_[1].at >= std::chrono::seconds(5))
    samples_.pop_front();
  const Sample& first = samples_.size() > 1 ? samples_.front() : Sample{start_, 0, 0};
  const double span = std::max(1e-3, std::chrono::duration<double>(now - first.at).count());
  const double keys_per_s = static_cast<double>(done - std::min(done, first.done)) / span;
  const double bytes_per_s = static_cast<double>(bytes - std::min(bytes, first.bytes)) / span;

  constexpr int kWidth = 20;
  std::string bar = "[";
  std::string pct = "   ?%";
  std::string eta = "?";
  if (total_ > 0) {
    const uint64_t s = std::min(scanned, total_);
    const auto filled = static_cast<int>(s * kWidth / total_);
    bar += std::string(static_cast<std::size_t>(filled), '#') +
           std::string(static_cast<std::size_t>(kWidth - filled), '.');
    char p[8];
    std::snprintf(p, sizeof p, "%3d%%", static_cast<int>(s * 100 / total_));
    pct = p;
    if (keys_per_s > 0) eta = human_duration(static_cast<double>(total_ - s) / keys_per_s);
  } else {
    bar += std::string(kWidth, '.');
  }
  bar += "] ";
  std::string text =
      bar + pct + " " + middle + " | " + thousands(static_cast<uint64_t>(keys_per_s)) + " keys/s";
  if (with_bytes) text += " " + human_bytes(static_cast<uint64_t>(bytes_per_s)) + "/s";
  text += " | ETA " + eta + " | " + window;
  set_status_line(std::move(text));
}

double Progress::elapsed_s() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

std::string Progress::pacing_text(bool rate_limited) const {
  if (pacing_keys_ == 0 && pacing_bytes_ == 0) return {};
  std::string s = " | paced to ";
  if (pacing_keys_ > 0) s += thousands(pacing_keys_) + " keys/s";
  if (pacing_keys_ > 0 && pacing_bytes_ > 0) s += ", ";
  if (pacing_bytes_ > 0) s += human_bytes(pacing_bytes_) + "/s";
  if (rate_limited) s += " (holding back)";
  return s;
}

void Progress::add_pacing(nlohmann::json& fields, bool rate_limited) const {
  if (pacing_keys_ == 0 && pacing_bytes_ == 0) return;
  fields["rate_limit_keys"] = pacing_keys_;
  fields["rate_limit_bytes"] = pacing_bytes_;
  fields["rate_limited"] = rate_limited;
}

std::string Progress::nodes_text(const std::vector<NodeCounters>& nodes, bool check, nlohmann::json& fields) {
  if (nodes.size() < 2) return {};
  // A cluster source: where each shard stands, e.g. one lagging behind or failing.
  std::string text = " | per node";
  nlohmann::json per_node = nlohmann::json::array();
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const Counters& n = nodes[i].counters;
    const uint64_t done = check ? n.checked : n.copied + n.would_copy;
    const char* done_name = check ? "checked" : "copied";
    text += (i == 0 ? " " : "; ") + nodes[i].name + " scanned " + thousands(n.scanned) + " " + done_name +
            " " + thousands(done) + " failed " + thousands(n.failed);
    per_node.push_back(
        {{"name", nodes[i].name}, {"scanned", n.scanned}, {done_name, done}, {"failed", n.failed}});
  }
  fields["nodes"] = std::move(per_node);
  return text;
}

void Progress::print_check(const Counters& c, std::size_t in_flight, bool rate_limited,
                           const std::vector<NodeCounters>& nodes) {
  if (live()) {
    std::string window = "in flight " + std::to_string(in_flight);
    if (rate_limited) window += " (paced)";
    draw_bar(c.scanned, c.done(), 0, false,
             "| checked " + thousands(c.checked) + " equal " + thousands(c.equal) + " different " +
                 thousands(c.differences()) + " failed " + thousands(c.failed) +
                 (c.deleted + c.would_delete > 0 ? " deleted " + thousands(c.deleted + c.would_delete)
                                                 : std::string()),
             window);
    return;
  }
  const auto now = Clock::now();
  const double interval = std::max(1e-3, std::chrono::duration<double>(now - last_).count());
  const uint64_t done = c.done();
  const double keys_per_s = static_cast<double>(done - std::min(done, last_done_)) / interval;
  last_ = now;
  last_done_ = done;
  std::string pct;
  if (total_ > 0) pct = std::to_string(std::min(c.scanned, total_) * 100 / total_) + "% ";
  const std::string line =
      "progress " + pct + "| scanned " + thousands(c.scanned) + " of ~" + thousands(total_) + " | checked " +
      thousands(c.checked) + " equal " + thousands(c.equal) + " different " + thousands(c.differences()) +
      " failed " + thousands(c.failed) +
      (c.deleted + c.would_delete > 0 ? " deleted " + thousands(c.deleted + c.would_delete) : std::string()) +
      " | " + thousands(static_cast<uint64_t>(keys_per_s)) + " keys/s | in flight " +
      std::to_string(in_flight) + pacing_text(rate_limited);
  nlohmann::json fields = {{"scanned", c.scanned},
                           {"checked", c.checked},
                           {"equal", c.equal},
                           {"missing", c.missing},
                           {"type_differs", c.type_differs},
                           {"value_differs", c.value_differs},
                           {"ttl_differs", c.ttl_differs},
                           {"field_ttl_differs", c.field_ttl_differs},
                           {"failed", c.failed},
                           {"deleted", c.deleted},
                           {"keys_per_s", static_cast<uint64_t>(keys_per_s)},
                           {"in_flight", in_flight},
                           {"source_keys", total_}};
  const std::string text = line + nodes_text(nodes, true, fields);
  add_pacing(fields, rate_limited);
  log_event(spdlog::level::info, "progress", text, fields);
}

void Progress::print_live(const LiveLine& l, const Counters& c, std::size_t in_flight) {
  const std::string text =
      l.phase + " | pending " + thousands(l.pending) + " | lag " + thousands(l.lag_ms) + " ms | " +
      thousands(static_cast<uint64_t>(l.changes_per_s)) + " changes/s | changes " + thousands(l.changes) +
      " re-copied " + thousands(l.recopied) + " deleted " + thousands(l.deleted) + " | resyncs " +
      thousands(l.resyncs) + " | in flight " + std::to_string(in_flight) + " | failed " + thousands(c.failed);
  if (live()) {
    set_status_line(text);
    return;
  }
  nlohmann::json fields = {{"phase", l.phase},
                           {"pending", l.pending},
                           {"lag_ms", l.lag_ms},
                           {"changes", l.changes},
                           {"changes_per_s", l.changes_per_s},
                           {"recopied", l.recopied},
                           {"deleted", l.deleted},
                           {"resyncs", l.resyncs},
                           {"in_flight", in_flight},
                           {"failed", c.failed},
                           {"copied", c.copied}};
  log_event(spdlog::level::info, "progress", "progress " + text, fields);
}

void Progress::print(const Counters& c, std::size_t in_flight, bool paused_by_destination, bool rate_limited,
                     const std::vector<NodeCounters>& nodes) {
  if (live()) {
    std::string window = "in flight " + std::to_string(in_flight);
    if (paused_by_destination) window += " (waiting for the destination)";
    if (rate_limited) window += " (paced)";
    draw_bar(c.scanned, c.done(), c.bytes + c.would_copy_bytes, true,
             "| copied " + thousands(c.copied + c.would_copy) + " skipped " +
                 thousands(c.skipped + c.would_skip) + " failed " + thousands(c.failed),
             window);
    return;
  }
  const auto now = Clock::now();
  const double interval = std::max(1e-3, std::chrono::duration<double>(now - last_).count());
  const double elapsed = std::max(1e-3, std::chrono::duration<double>(now - start_).count());
  const uint64_t done = c.done();
  const uint64_t bytes = c.bytes + c.would_copy_bytes;
  const double keys_per_s = static_cast<double>(done - std::min(done, last_done_)) / interval;
  const double bytes_per_s = static_cast<double>(bytes - std::min(bytes, last_bytes_)) / interval;
  last_ = now;
  last_done_ = done;
  last_bytes_ = bytes;

  std::string eta = "?";
  std::string pct;
  if (total_ > 0) {
    const uint64_t scanned = std::min(c.scanned, total_);
    pct = std::to_string(scanned * 100 / total_) + "% ";
    const double avg = static_cast<double>(done) / elapsed;
    if (avg > 0) eta = human_duration(static_cast<double>(total_ - scanned) / avg);
  }
  char line[640];
  std::snprintf(line, sizeof line,
                "progress %s| scanned %s of ~%s | copied %s skipped %s expired %s vanished %s failed %s | "
                "%s keys/s %s/s | in flight %zu%s | ETA %s%s",
                pct.c_str(), thousands(c.scanned).c_str(), thousands(total_).c_str(),
                thousands(c.copied + c.would_copy).c_str(), thousands(c.skipped + c.would_skip).c_str(),
                thousands(c.expired).c_str(), thousands(c.vanished).c_str(), thousands(c.failed).c_str(),
                thousands(static_cast<uint64_t>(keys_per_s)).c_str(),
                human_bytes(static_cast<uint64_t>(bytes_per_s)).c_str(), in_flight,
                paused_by_destination ? " (waiting for the destination)" : "", eta.c_str(),
                pacing_text(rate_limited).c_str());
  nlohmann::json fields = {{"scanned", c.scanned},
                           {"copied", c.copied},
                           {"skipped", c.skipped},
                           {"expired", c.expired},
                           {"vanished", c.vanished},
                           {"failed", c.failed},
                           {"bytes", c.bytes},
                           {"keys_per_s", static_cast<uint64_t>(keys_per_s)},
                           {"bytes_per_s", static_cast<uint64_t>(bytes_per_s)},
                           {"in_flight", in_flight},
                           {"source_keys", total_},
                           {"paused_by_destination", paused_by_destination}};
  const std::string text = line + nodes_text(nodes, false, fields);
  add_pacing(fields, rate_limited);
  log_event(spdlog::level::info, "progress", text, fields);
}

}  // namespace rmig::report
