#include "engine/eviction_watch.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>

#include "resp/info.hpp"

namespace rmig::engine {

namespace {

using Clock = std::chrono::steady_clock;

constexpr uint64_t kEvictWatchMs = 1'000;
// A deleting run stops when an evicting destination has less than this (or four times the mean payload) left
// below its maxmemory.
constexpr double kEvictHeadroom = 1024.0 * 1024.0;

int64_t info_int(const std::map<std::string, std::string, std::less<>>& info, std::string_view field) {
  auto it = info.find(field);
  if (it == info.end()) return -1;
  int64_t v = -1;
  std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
  return v;
}

}  // namespace

EvictionWatch::EvictionWatch(net::Loop& loop, Links& links, bool enabled, bool cleanup,
                             std::size_t window_keys, WatchEvents& events)
    : links_(links),
      enabled_(enabled),
      cleanup_(cleanup),
      window_keys_(window_keys),
      events_(events),
      every_second_(loop, this, &EvictionWatch::on_timer),
      gate_timer_(loop, this, &EvictionWatch::on_timer),
      job_round_(std::max<std::size_t>(window_keys, 1), 0) {
  every_second_.unref();
}

void EvictionWatch::start() {
  if (!enabled_) return;
  // The baseline goes first on each destination connection, before any write of this run.
  for (uint32_t l : links_.destinations()) {
    if (links_.usable(l)) send_base(l);
  }
  every_second_.start(kEvictWatchMs, kEvictWatchMs);
}

void EvictionWatch::stop() {
  closed_ = true;
  every_second_.stop();
  gate_timer_.stop();
}

EvictionWatch::Reading& EvictionWatch::reading(uint32_t link) {
  if (readings_.size() <= link) readings_.resize(links_.size());
  return readings_[link];
}

void EvictionWatch::link_up(uint32_t l) {
  if (!enabled_ || !links_[l].destination) return;
  // A reconnected destination may have restarted: its run_id says so, before the round's reading.
  Reading& r = reading(l);
  r.in_flight = false;
  send_base(l);
  if (r.owed) send_stats(l);
}

void EvictionWatch::rebase(Reading& r, int64_t evicted) {
  if (r.evicted_base >= 0 && r.evicted_last > r.evicted_base)
    r.evicted_carried += static_cast<uint64_t>(r.evicted_last - r.evicted_base);
  r.evicted_base = evicted;
  r.evicted_last = evicted;
}

void EvictionWatch::send_base(uint32_t l) {
  if (!links_[l].conn->send(*this, tag(l, kBase), {"INFO"}))
    spdlog::debug("{}: INFO not sent", links_[l].conn->label());
}

void EvictionWatch::send_stats(uint32_t l) {
  Reading& r = reading(l);
  if (!links_.usable(l) || r.in_flight) return;
  r.in_flight = true;
  // The default sections: stats (evicted_keys) and memory (used_memory, maxmemory, the policy) in one reply,
  // on every server version.
  if (!links_[l].conn->send(*this, tag(l, kStats), {"INFO"})) r.in_flight = false;
}

void EvictionWatch::on_reply(uint64_t t, resp::Reply reply) {
  if (closed_) return;
  const auto l = static_cast<uint32_t>(t >> 32);
  const auto op = static_cast<Op>(t & 0xff);
  Reading& link = reading(l);
  const std::string& label = links_[l].conn->label();
  if (op == kStats) link.in_flight = false;
  if (!reply) return;  // the link dropped: its reading is sent again once it is back
  const redisReply* r = reply.get();
  if (!resp::is_string(r)) {
    // INFO worked at the start: without it now, evictions can no longer be seen.
    events_.lost_keys(label + ": cannot read evicted_keys any more (INFO: " + resp::describe(r) +
                          "): deletions stopped, since evictions can no longer be seen",
                      false);
    link.owed = false;
    return check_round();
  }
  const auto info = resp::parse_info(resp::text(r));
  const int64_t evicted = info_int(info, "evicted_keys");
  if (op == kBase) {
    auto it = info.find("run_id");
    const std::string run_id = it == info.end() ? std::string() : it->second;
    if (link.run_id.empty()) {
      link.run_id = run_id;
      link.evicted_base = evicted;
      link.evicted_last = evicted;
      spdlog::debug("{}: evicted_keys {} at the start", label, evicted);
    } else if (run_id != link.run_id) {
      link.run_id = run_id;
      rebase(link, evicted);
      events_.lost_keys(label +
                            " restarted during the run (its run_id changed): the copies written before may "
                            "be gone. Deletions stopped; run `redis-migrate verify` to see which keys are "
                            "missing",
                        false);
    }
    return;
  }
  link.owed = false;
  if (cleanup_ && !events_.deletions_stopped()) {
    // An evicting destination close to its maxmemory: the next writes would evict keys, possibly copies whose
    // source keys are already deleted. Stop before that happens.
    auto policy = info.find("maxmemory_policy");
    const int64_t max = info_int(info, "maxmemory");
    const int64_t used = info_int(info, "used_memory");
    const auto headroom = static_cast<int64_t>(std::max(kEvictHeadroom, 4 * events_.mean_payload()));
    // An eviction in this same reading is reported below, as one.
    const bool evicted_now = evicted >= 0 && link.evicted_base >= 0 && evicted > link.evicted_last;
    if (!evicted_now && policy != info.end() && policy->second != "noeviction" && max > 0 && used >= 0 &&
        used + headroom > max) {
      // This run writes nothing more; other clients' writes may still make it evict, and what it evicts
      // first are the oldest copies: those of keys already deleted.
      events_.lost_keys(label + " is about to evict keys (used_memory " + std::to_string(used) +
                            " of maxmemory " + std::to_string(max) + ", maxmemory-policy " + policy->second +
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
      events_.lost_keys(label + ": evicted_keys went back from " + from + " to " + std::to_string(evicted) +
                            " (a restart or CONFIG RESETSTAT): the copies written before may be gone. "
                            "Deletions stopped; run `redis-migrate verify` to see which keys are missing",
                        false);
    } else if (evicted > link.evicted_last) {
      link.evicted_last = evicted;
      uint64_t total = 0;
      for (uint32_t d : links_.destinations()) {
        const Reading& o = reading(d);
        total += o.evicted_carried;
        if (o.evicted_base >= 0 && o.evicted_last > o.evicted_base)
          total += static_cast<uint64_t>(o.evicted_last - o.evicted_base);
      }
      evicted_ = total;
      auto policy = info.find("maxmemory_policy");
      events_.lost_keys(label + " evicted " + std::to_string(evicted_) +
                            " keys during the run (evicted_keys " + std::to_string(link.evicted_base) +
                            " -> " + std::to_string(evicted) +
                            (policy == info.end() ? "" : ", maxmemory-policy " + policy->second) +
                            (cleanup_ ? "): deletions stopped; the keys not yet deleted stay on the source "
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

void EvictionWatch::round() {
  if (!enabled_ || closed_ || round_open_) return;
  round_open_ = true;
  ++round_id_;
  round_sent_at_ = Clock::now();
  for (uint32_t l : links_.destinations()) {
    if (links_[l].retired) continue;
    reading(l).owed = true;
    send_stats(l);
  }
  check_round();
}

void EvictionWatch::check_round() {
  if (!round_open_) return;
  for (uint32_t l : links_.destinations()) {
    if (reading(l).owed && !links_[l].retired) return;
  }
  round_open_ = false;
  round_done_ = round_id_;
  release();
  if (closed_) return;
  if (gate_.empty() && final_round_ <= round_done_) {
    if (final_round_ != 0) events_.final_round_read();
    return;
  }
  schedule();
}

// The next round, as soon as the spacing allows.
void EvictionWatch::schedule() {
  const auto since = Clock::now() - round_sent_at_;
  if (since >= every()) return round();
  if (!gate_timer_.active()) {
    gate_timer_.start(static_cast<uint64_t>(
                          std::chrono::duration_cast<std::chrono::milliseconds>(every() - since).count()) +
                          1,
                      0);
  }
}

void EvictionWatch::release() {
  if (gate_.empty()) return;
  std::vector<uint32_t> waiting;
  waiting.swap(gate_);
  const bool stopped = events_.deletions_stopped();
  for (uint32_t j : waiting) {
    if (job_round_[j] == 0) continue;
    if (job_round_[j] <= round_done_ || stopped) {
      events_.gate_opened(j);  // the task asks the gate again: go, or stopped
    } else {
      gate_.push_back(j);
    }
  }
}

EvictionWatch::Gate EvictionWatch::gate(uint32_t j) {
  uint64_t& r = job_round_[j];
  if (events_.deletions_stopped()) {
    r = 0;
    return Gate::kStopped;
  }
  if (!enabled_) return Gate::kGo;
  if (r != 0 && r <= round_done_) {
    r = 0;
    return Gate::kGo;
  }
  if (r == 0) {
    // A round sent from now on runs after this key's copy (or comparison) was acknowledged.
    r = round_id_ + 1;
    gate_.push_back(j);
  }
  if (!round_open_) schedule();
  return Gate::kWait;
}

bool EvictionWatch::final_round_done() {
  if (!enabled_) return true;
  // A last reading after every write of the run: evictions up to its end are counted.
  if (final_round_ == 0) {
    final_round_ = round_id_ + 1;
    if (!round_open_) round();
  }
  return round_done_ >= final_round_ || closed_;
}

void EvictionWatch::on_timer() { round(); }

}  // namespace rmig::engine
