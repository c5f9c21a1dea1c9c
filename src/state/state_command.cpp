#include "state/state_command.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "report/format.hpp"
#include "report/run_report.hpp"
#include "state/checkpoint.hpp"
#include "state/lock.hpp"
#include "state/state_store.hpp"

namespace rmig::state {

namespace {

// A "running" record not saved for this long belongs to a run that was killed (or lost the destination).
constexpr int64_t kStaleMs = 20'000;

int fail(const Error& e) {
  std::fprintf(stderr, "redis-migrate: %s\n", e.message.c_str());
  return to_int(e.code);
}

Status write_json(const nlohmann::json& j, const std::string& path) {
  return report::write_json_file(j, path);
}

std::string ago(int64_t ms) {
  if (ms < 0) ms = 0;
  return report::human_duration(static_cast<double>(ms) / 1000.0) + " ago";
}

// The status people see: a "running" record nobody saved lately is a run that was killed.
std::string shown_status(const RunRecord& r, int64_t now) {
  if (r.status == "running" && now - r.updated_ms > kStaleMs) return "interrupted";
  return r.status;
}

// "of ~2,000 (61%)": the keys scanned against the run's estimate of its source keys (a shard's share), the
// percentage only while the run has not finished (an estimate is not a count); empty when unknown.
std::string of_estimate(const RunRecord& r, const std::string& state) {
  if (r.source_keys == 0) return {};
  std::string s = " of ~" + report::thousands(r.source_keys);
  if (state != "finished")
    s += " (" + std::to_string(std::min<uint64_t>(r.totals.scanned * 100 / r.source_keys, 99)) + "%)";
  return s;
}

std::string counters_line(const RunRecord& r, const std::string& state) {
  const report::Counters& c = r.totals;
  using report::thousands;
  std::string s = "scanned " + thousands(c.scanned) + of_estimate(r, state);
  if (r.command == "cleanup") {
    s += "  checked " + thousands(c.checked) + "  equal " + thousands(c.equal) + "  deleted " +
         thousands(c.deleted) + "  kept " + thousands(c.cleanup_kept) + "  different " +
         thousands(c.differences());
  } else {
    s += "  copied " + thousands(c.copied) + "  skipped " + thousands(c.skipped) + "  expired " +
         thousands(c.expired) + "  vanished " + thousands(c.vanished);
    if (c.deleted + c.cleanup_kept > 0) s += "  deleted " + thousands(c.deleted);
  }
  s += "  failed " + thousands(c.failed);
  return s;
}

// A live run's phase, lag and pending keys (RunRecord::live, saved about every second while it runs).
std::string live_line(const nlohmann::json& live, const std::string& state) {
  auto u64 = [&](const char* k) {
    auto it = live.find(k);
    return it != live.end() && it->is_number_unsigned() ? it->get<uint64_t>() : uint64_t{0};
  };
  const std::string phase = live.value("phase", std::string("?"));
  std::string s = "live: phase " + phase;
  if (state == "running") {
    s += ", lag " + report::thousands(u64("lag_ms")) + " ms, pending " + report::thousands(u64("pending"));
  }
  s += ", changes " + report::thousands(u64("changes")) + ", re-copied " +
       report::thousands(u64("recopied")) + ", deleted " + report::thousands(u64("deleted")) + ", resyncs " +
       report::thousands(u64("resyncs"));
  if (auto c = live.find("cutover"); c != live.end() && c->is_string())
    s += ", cut over by " + c->get<std::string>();
  return s;
}

nlohmann::json holder_json(const LockHolder& h) {
  nlohmann::json j = {{"host", h.host},       {"pid", h.pid},   {"started_at", h.started_at},
                      {"command", h.command}, {"live", h.live}, {"ttl_ms", h.pttl_ms}};
  if (h.pttl_ms >= 0) {
    j["until"] = iso_utc(std::chrono::system_clock::now() + std::chrono::milliseconds(h.pttl_ms));
  }
  return j;
}

// The shards of one migration: the records whose fingerprints differ only in their shard, by shard count.
struct ShardGroup {
  uint32_t count = 0;
  std::string command;
  std::map<uint32_t, const RunRecord*> shards;  // by index: the newest record of each
};

std::vector<ShardGroup> shard_groups(const std::vector<RunRecord>& runs) {
  std::vector<ShardGroup> groups;
  std::map<std::string, std::size_t> by_key;
  for (const auto& r : runs) {  // newest first
    auto it = r.fingerprint.find("shard");
    if (it == r.fingerprint.end() || !it->is_string()) continue;
    const std::string text = it->get<std::string>();
    const auto slash = text.find('/');
    if (slash == std::string::npos) continue;
    uint32_t index = 0, count = 0;
    try {
      index = static_cast<uint32_t>(std::stoul(text.substr(0, slash)));
      count = static_cast<uint32_t>(std::stoul(text.substr(slash + 1)));
    } catch (const std::exception&) {
      continue;
    }
    if (count == 0 || index >= count) continue;
    nlohmann::json rest = r.fingerprint;
    rest.erase("shard");
    const std::string key = rest.dump() + "#" + std::to_string(count);
    auto [pos, fresh] = by_key.emplace(key, groups.size());
    if (fresh) groups.push_back(ShardGroup{count, r.command, {}});
    groups[pos->second].shards.emplace(index, &r);  // keeps the newest
  }
  return groups;
}

}  // namespace

int run_status(const StateCommand& cmd) {
  net::Loop loop;
  int rc = 0;
  {
    StateClient client(loop, cmd.destination);
    const std::string main_lock = lock_key(cmd.prefix, select::Shard{});
    auto lock = read_lock(client, main_lock);
    if (!lock) return fail(lock.error());
    auto runs = list_runs(client, cmd.prefix);
    if (!runs) return fail(runs.error());
    const int64_t now = unix_ms_now();

    nlohmann::json j = {{"command", "status"}, {"destination", cmd.destination_url}, {"exit_code", 0}};
    j["lock"] = *lock ? holder_json(**lock) : nlohmann::json();
    nlohmann::json list = nlohmann::json::array();
    for (const auto& r : *runs) {
      nlohmann::json one = r.to_json();
      one["state"] = shown_status(r, now);
      list.push_back(std::move(one));
    }
    j["runs"] = std::move(list);
    const std::vector<ShardGroup> groups = shard_groups(*runs);
    // Each shard's state: a finished record whose lease a run of the same command holds again is running.
    struct Member {
      const RunRecord* record = nullptr;
      std::string state;
      bool held = false;
    };
    std::vector<std::map<uint32_t, Member>> members_of(groups.size());
    for (std::size_t gi = 0; gi < groups.size(); ++gi) {
      for (const auto& [i, r] : groups[gi].shards) {
        Member m{r, shown_status(*r, now), false};
        auto l = read_lock(client, lock_key(cmd.prefix, select::Shard{i, groups[gi].count}));
        m.held = l && *l;
        // (A killed run's lease outlives it by up to --lock-ttl: only a finished record is overridden.)
        if (m.held && m.state == "finished" && (*l)->command == r->command_line) m.state = "running";
        members_of[gi].emplace(i, std::move(m));
      }
    }
    nlohmann::json shard_list = nlohmann::json::array();
    for (std::size_t gi = 0; gi < groups.size(); ++gi) {
      const ShardGroup& g = groups[gi];
      nlohmann::json one = {{"command", g.command}, {"count", g.count}};
      nlohmann::json members = nlohmann::json::array();
      uint32_t finished = 0;
      uint64_t scanned = 0, estimate = 0;
      std::vector<uint32_t> missing;
      for (uint32_t i = 0; i < g.count; ++i) {
        auto it = members_of[gi].find(i);
        if (it == members_of[gi].end()) {
          missing.push_back(i);
          continue;
        }
        const Member& m = it->second;
        if (m.state == "finished") ++finished;
        scanned += m.record->totals.scanned;
        estimate += m.record->source_keys;
        nlohmann::json member = {{"shard", std::to_string(i) + "/" + std::to_string(g.count)},
                                 {"id", m.record->id},
                                 {"state", m.state},
                                 {"lease_held", m.held},
                                 {"scanned", m.record->totals.scanned},
                                 {"source_keys", m.record->source_keys}};
        member["exit_code"] = m.record->exit_code ? nlohmann::json(*m.record->exit_code) : nlohmann::json();
        member["percent"] =
            m.record->source_keys > 0
                ? nlohmann::json(std::min<uint64_t>(m.record->totals.scanned * 100 / m.record->source_keys,
                                                    m.state == "finished" ? 100 : 99))
                : nlohmann::json();
        members.push_back(std::move(member));
      }
      one["finished"] = finished;
      one["all_finished"] = finished == g.count;
      one["not_started"] = missing;
      one["scanned"] = scanned;
      one["source_keys"] = estimate;
      one["shards"] = std::move(members);
      shard_list.push_back(std::move(one));
    }
    j["shards"] = std::move(shard_list);

    // For people: stdout, unless it carries the JSON report.
    FILE* out = cmd.report_json == "-" ? stderr : stdout;
    std::fprintf(out, "destination %s\n", cmd.destination_url.c_str());
    if (*lock) {
      std::fprintf(out, "lock %s: held by %s%s\n", main_lock.c_str(), (*lock)->describe().c_str(),
                   (*lock)->live ? " (a live run: end it with `redis-migrate cutover DESTINATION_URL`)" : "");
    } else {
      std::fprintf(out, "lock %s: free\n", main_lock.c_str());
    }
    if (runs->empty()) {
      std::fprintf(out,
                   "no runs recorded under %srun:* (runs with --state-file keep their record in that file)\n",
                   cmd.prefix.c_str());
    } else {
      std::fprintf(out, "%zu run%s, newest first:\n", runs->size(), runs->size() == 1 ? "" : "s");
    }
    for (std::size_t gi = 0; gi < groups.size(); ++gi) {
      const ShardGroup& g = groups[gi];
      const nlohmann::json& gj = j["shards"][gi];
      const auto finished = gj["finished"].get<uint32_t>();
      const auto scanned = gj["scanned"].get<uint64_t>(), estimate = gj["source_keys"].get<uint64_t>();
      // Over every shard: only once each has a record (a shard not started has no estimate yet).
      std::string progress;
      if (estimate > 0 && finished != g.count && gj["not_started"].empty()) {
        progress = ", scanned " + report::thousands(scanned) + " of ~" + report::thousands(estimate) + " (" +
                   std::to_string(std::min<uint64_t>(scanned * 100 / estimate, 99)) + "%)";
      }
      std::fprintf(out, "\n%s in %u shards: %u of %u finished%s%s\n", g.command.c_str(), g.count, finished,
                   g.count, progress.c_str(), finished == g.count ? " (all shards finished)" : "");
      for (uint32_t i = 0; i < g.count; ++i) {
        auto it = members_of[gi].find(i);
        if (it == members_of[gi].end()) {
          std::fprintf(out, "  shard %u/%u  not started (no record)\n", i, g.count);
          continue;
        }
        const Member& m = it->second;
        const std::string code = m.record->exit_code && *m.record->exit_code != 0 && m.state != "running"
                                     ? " (exit code " + std::to_string(*m.record->exit_code) + ")"
                                     : "";
        std::fprintf(out, "  shard %u/%u  run %s  %s%s%s  %s\n", i, g.count, m.record->id.c_str(),
                     m.state.c_str(), code.c_str(), m.held ? ", lease held" : "",
                     counters_line(*m.record, m.state).c_str());
      }
    }
    for (const auto& r : *runs) {
      const std::string state = shown_status(r, now);
      std::fprintf(out, "\nrun %s  %s  %s", r.id.c_str(), r.command.c_str(), state.c_str());
      if (auto sh = r.fingerprint.find("shard"); sh != r.fingerprint.end() && sh->is_string())
        std::fprintf(out, "  shard %s", sh->get<std::string>().c_str());
      if (state != r.status)
        std::fprintf(out, " (no update for %s: the run was killed)", ago(now - r.updated_ms).c_str());
      if (r.exit_code) std::fprintf(out, "  exit code %d", *r.exit_code);
      std::fprintf(out, "\n  %s -> %s\n", r.source.c_str(), r.destination.c_str());
      std::fprintf(out, "  started %s, updated %s (%s), %u attempt%s, host %s pid %lld\n",
                   iso_utc_ms(r.started_ms).c_str(), iso_utc_ms(r.updated_ms).c_str(),
                   ago(now - r.updated_ms).c_str(), r.attempts, r.attempts == 1 ? "" : "s", r.host.c_str(),
                   static_cast<long long>(r.pid));
      std::fprintf(out, "  %s\n", counters_line(r, state).c_str());
      if (r.live.is_object()) std::fprintf(out, "  %s\n", live_line(r.live, state).c_str());
      if (r.nodes.size() > 1 || (!r.nodes.empty() && r.status != "finished")) {
        for (const auto& n : r.nodes) {
          std::fprintf(out, "    node %-22s %s, cursor %s, %s keys done\n", n.name.c_str(),
                       n.complete ? "complete" : "in progress", n.cursor.c_str(),
                       report::thousands(n.counters.scanned).c_str());
        }
      }
      if (!r.error.empty()) std::fprintf(out, "  error: %s\n", r.error.c_str());
      if (!r.command_line.empty()) std::fprintf(out, "  command: %s\n", r.command_line.c_str());
    }
    std::fflush(out);
    if (!cmd.report_json.empty()) {
      if (auto st = write_json(j, cmd.report_json); !st) rc = fail(st.error());
    }
  }
  loop.close();
  return rc;
}

int run_unlock(const StateCommand& cmd) {
  net::Loop loop;
  int rc = 0;
  {
    StateClient client(loop, cmd.destination);
    const std::string key = lock_key(cmd.prefix, cmd.shard);
    auto lock = read_lock(client, key);
    if (!lock) return fail(lock.error());
    nlohmann::json j = {{"command", "unlock"}, {"destination", cmd.destination_url}, {"deleted", false}};
    j["lock"] = *lock ? holder_json(**lock) : nlohmann::json();
    if (!*lock) {
      std::fprintf(stderr, "no lock on %s (%s is not set): nothing to do\n", cmd.destination_url.c_str(),
                   key.c_str());
    } else {
      bool go = true;
      if (!(*lock)->lease) {
        // Most likely a wrong --state-prefix pointing at a user's key: never delete what this tool did not
        // write.
        std::fprintf(
            stderr,
            "redis-migrate: %s on %s is not a redis-migrate lease (it holds %s; a lease is JSON with "
            "host, pid and started_at): left alone; check --state-prefix (the default is "
            "redis-migrate:)\n",
            key.c_str(), cmd.destination_url.c_str(), (*lock)->describe().c_str());
        go = false;
        rc = to_int(ExitCode::kUsage);
      } else {
        std::fprintf(stderr, "lock %s on %s: held by %s\n", key.c_str(), cmd.destination_url.c_str(),
                     (*lock)->describe().c_str());
      }
      if (go && !cmd.yes && isatty(STDIN_FILENO) != 0) {
        std::fprintf(stderr,
                     "Delete it? Only if that run is no longer running: two runs would then write at once. "
                     "[y/N] ");
        std::fflush(stderr);
        std::string answer;
        std::getline(std::cin, answer);
        go = answer == "y" || answer == "Y" || answer == "yes" || answer == "YES";
      }
      if (!go && rc == 0) {
        std::fprintf(stderr, "left in place\n");
        rc = 1;
      } else if (go) {
        auto deleted = delete_lock(client, key, (*lock)->value);
        if (!deleted) return fail(deleted.error());
        if (*deleted) {
          std::fprintf(stderr, "lock deleted\n");
          j["deleted"] = true;
        } else {
          std::fprintf(stderr, "the lock changed hands meanwhile (a new run took it): not deleted\n");
          rc = 1;
        }
      }
    }
    // A shard's lease gone (deleted now, or already): its entry in the shard registry goes too.
    j["unregistered"] = false;
    if (cmd.shard.active() && rc == 0) {
      auto forgot = forget_shard(client, cmd.prefix, cmd.shard);
      if (!forgot) return fail(forgot.error());
      if (*forgot) {
        std::fprintf(stderr, "%s removed from %s\n", key.c_str(), shard_registry_key(cmd.prefix).c_str());
        j["unregistered"] = true;
      }
    }
    j["exit_code"] = rc;
    if (!cmd.report_json.empty()) {
      if (auto st = write_json(j, cmd.report_json); !st) rc = fail(st.error());
    }
  }
  loop.close();
  return rc;
}

}  // namespace rmig::state
