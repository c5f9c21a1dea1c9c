#include "report/run_report.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "report/format.hpp"
#include "report/log.hpp"
#include "util/escape.hpp"

namespace rmig::report {

nlohmann::json counters_json(const Counters& c, bool dry_run) {
  nlohmann::json j;
  j["scanned"] = c.scanned;
  j["copied"] = c.copied;
  j["rewritten"] = c.rewritten;
  j["skipped"] = c.skipped;
  j["expired"] = c.expired;
  j["vanished"] = c.vanished;
  j["failed"] = c.failed;
  j["bytes"] = c.bytes;
  j["duplicates"] = c.duplicates;
  j["deleted"] = c.deleted;
  j["cleanup_kept"] = c.cleanup_kept;
  j["kept"] = c.cleanup_kept;  // the summary's name for it
  j["cleanup_failed"] = c.cleanup_failed;
  j["redirects_moved"] = c.redirects_moved;
  j["redirects_ask"] = c.redirects_ask;
  j["merged"] = c.merged;
  j["conflicts"] = c.conflicts;
  j["stream_not_recreated"] = c.stream_not_recreated;
  j["field_ttls_dropped"] = c.field_ttls_dropped;
  j["big_keys_total"] = c.big_keys;
  j["evicted"] = c.evicted;
  if (dry_run) {
    j["would_copy"] = c.would_copy;
    j["would_copy_bytes"] = c.would_copy_bytes;
    j["would_skip"] = c.would_skip;
    j["would_merge"] = c.would_merge;
    j["would_conflict"] = c.would_conflict;
    j["existing"] = c.existing;
  }
  return j;
}

namespace {

// The error groups of a summary, most frequent first, each with one key it happened to.
void print_errors(const ErrorGroups& errors) {
  if (errors.empty()) return;
  std::fprintf(stderr, "errors:\n");
  for (const auto& g : errors.sorted()) {
    std::fprintf(stderr, "  %s x %s (e.g. key \"%s\")\n", thousands(g.count).c_str(), g.message.c_str(),
                 printable_short(g.example_key, 80).c_str());
  }
}
bool is_check(const RunReport& r) { return r.command == "verify" || r.command == "cleanup"; }

void add_check_counters(nlohmann::json& j, const Counters& c, const RunReport& r) {
  j["checked"] = c.checked;
  j["equal"] = c.equal;
  j["missing"] = c.missing;
  j["type_differs"] = c.type_differs;
  j["value_differs"] = c.value_differs;
  j["ttl_differs"] = c.ttl_differs;
  j["field_ttl_differs"] = c.field_ttl_differs;
  if (r.command == "cleanup" && r.dry_run) j["would_delete"] = c.would_delete;
}

const char* exit_meaning(ExitCode c) {
  switch (c) {
    case ExitCode::kOk: return "everything selected was copied or legitimately skipped/expired/vanished";
    case ExitCode::kKeysFailed: return "some keys failed";
    case ExitCode::kUsage: return "usage or configuration error";
    case ExitCode::kConnect: return "cannot connect or authenticate";
    case ExitCode::kLocked: return "another run holds the lock";
    case ExitCode::kDestinationRefused: return "the destination refuses writes";
    case ExitCode::kReportNotWritten: return "the report could not be written";
    case ExitCode::kInterrupted: return "interrupted";
  }
  return "interrupted";
}

// "  label        1,234  note": the number ends in the same column whatever the label's length (a label
// longer than `label_width` takes its room from the number's).
void count_line(int label_width, const char* label, uint64_t n, const std::string& note) {
  const int len = static_cast<int>(std::strlen(label));
  const int number_width = std::max(1, label_width + 12 - std::max(label_width, len));
  std::fprintf(stderr, "  %-*s %*s%s%s\n", label_width, label, number_width, thousands(n).c_str(),
               note.empty() ? "" : "  ", note.c_str());
}

void line(const char* label, uint64_t n, const std::string& note) { count_line(12, label, n, note); }

}  // namespace

ExitCode copy_exit_code(const Counters& totals, const std::optional<Error>& fatal, int signal) noexcept {
  if (fatal) return fatal->code;
  if (signal != 0) return static_cast<ExitCode>(128 + signal);
  if (totals.failed > 0 || totals.cleanup_failed > 0 || totals.conflicts > 0) return ExitCode::kKeysFailed;
  return ExitCode::kOk;
}

ExitCode verify_exit_code(const Counters& totals, const std::optional<Error>& fatal, int signal) noexcept {
  if (fatal) return fatal->code;
  if (signal != 0) return static_cast<ExitCode>(128 + signal);
  if (totals.failed > 0 || totals.equal != totals.checked) return ExitCode::kKeysFailed;
  return ExitCode::kOk;
}

ExitCode cleanup_exit_code(const Counters& totals, const std::optional<Error>& fatal, int signal) noexcept {
  const ExitCode verified = verify_exit_code(totals, fatal, signal);
  if (verified != ExitCode::kOk) return verified;
  if (totals.cleanup_kept > 0 || totals.cleanup_failed > 0) return ExitCode::kKeysFailed;
  return ExitCode::kOk;
}

nlohmann::json counters_to_json(const Counters& c) {
  nlohmann::json j = nlohmann::json::object();
  for (std::size_t i = 0; i < kCounterFieldCount; ++i)
    j[kCounterFields[i].name] = c.*kCounterFields[i].member;
  return j;
}

Counters counters_from_json(const nlohmann::json& j) {
  Counters c;
  if (!j.is_object()) return c;
  for (std::size_t i = 0; i < kCounterFieldCount; ++i) {
    auto it = j.find(kCounterFields[i].name);
    if (it != j.end() && it->is_number_unsigned()) c.*kCounterFields[i].member = it->get<uint64_t>();
  }
  return c;
}

nlohmann::json to_json(const RunReport& r) {
  nlohmann::json j = counters_json(r.totals, r.dry_run);
  j["command"] = r.command;
  j["source"] = r.source;
  j["destination"] = r.destination;
  j["dry_run"] = r.dry_run;
  j["conflict_policy"] = r.conflict_policy;
  j["cleanup"] = r.cleanup;
  j["duration_s"] = r.duration_s;
  j["peak_rss_bytes"] = r.peak_rss_bytes;
  j["exit_code"] = to_int(r.exit_code);
  j["source_keys"] = r.source_keys;
  nlohmann::json errors = nlohmann::json::array();
  for (const auto& g : r.errors.sorted()) {
    errors.push_back({{"message", g.message}, {"count", g.count}, {"example_key", printable(g.example_key)}});
  }
  j["errors"] = std::move(errors);
  if (r.fatal) {
    j["stopped"] = r.fatal->message;
  } else if (r.signal != 0) {
    j["stopped"] = "interrupted by " + signal_name(r.signal);
  } else {
    j["stopped"] = nullptr;
  }
  nlohmann::json nodes = nlohmann::json::array();
  for (const auto& n : r.nodes) {
    nlohmann::json node = counters_json(n.counters, r.dry_run);
    if (is_check(r)) add_check_counters(node, n.counters, r);
    node["node"] = n.name;
    nodes.push_back(std::move(node));
  }
  j["nodes"] = std::move(nodes);
  nlohmann::json failovers = nlohmann::json::array();
  for (const auto& f : r.source_failovers) {
    failovers.push_back(
        {{"node", f.node}, {"primary", f.primary}, {"cause", f.cause}, {"rescanned", f.rescanned}});
  }
  j["source_failovers"] = std::move(failovers);
  if (!r.path.empty()) {
    j["path"] = r.path;
    j["path_detail"] = r.path_detail;
  }
  nlohmann::json big = nlohmann::json::array();
  for (const auto& b : r.big_keys.listed()) {
    // `name` is the word for the key; `key` stays for readers of earlier reports.
    const std::string name = printable(b.key);
    big.push_back({{"name", name}, {"key", name}, {"type", b.type}, {"size", b.size}});
  }
  j["big_keys"] = std::move(big);
  if (r.dry_run) {
    nlohmann::json ex = nlohmann::json::array();
    for (const auto& e : r.examples) {
      nlohmann::json x = {{"key", printable(e.key)}, {"action", e.action}, {"bytes", e.bytes}};
      x["target"] = printable(e.target.empty() ? e.key : e.target);
      ex.push_back(std::move(x));
    }
    j["examples"] = std::move(ex);
  }
  if (!r.dbs.empty()) {
    nlohmann::json dbs = nlohmann::json::array();
    for (const auto& [db, c] : r.dbs) {
      nlohmann::json d = counters_json(c, r.dry_run);
      d["db"] = db;
      dbs.push_back(std::move(d));
    }
    j["dbs"] = std::move(dbs);
  }
  j["notes"] = r.notes;
  if (is_check(r)) {
    add_check_counters(j, r.totals, r);
    nlohmann::json diffs = nlohmann::json::array();
    for (const auto& d : r.differences) {
      nlohmann::json one = {{"key", printable(d.key)}, {"kind", d.kind}, {"detail", d.detail}};
      if (!d.target.empty()) one["destination_key"] = printable(d.target);
      diffs.push_back(std::move(one));
    }
    j["differences"] = std::move(diffs);
  }
  for (auto it = r.extra.begin(); it != r.extra.end(); ++it)
    j[it.key()] = it.value();
  return j;
}

namespace {

// verify and cleanup.
// One line per source node that continued on another server.
void print_failovers(const RunReport& r) {
  for (const auto& f : r.source_failovers) {
    std::fprintf(stderr, "  %-12s %s continued on %s (%s%s)\n", "failover", f.node.c_str(), f.primary.c_str(),
                 f.cause.c_str(), f.rescanned ? ", scanned again from the start" : "");
  }
}

void print_check_summary(const RunReport& r) {
  const Counters& c = r.totals;
  const bool cleanup = r.command == "cleanup";
  std::fprintf(stderr, "\n%s%s %s in %s: %s keys checked of %s scanned\n", r.dry_run ? "dry run of " : "",
               r.command.c_str(), r.fatal ? "stopped" : (r.signal != 0 ? "interrupted" : "finished"),
               human_duration(r.duration_s).c_str(), thousands(c.checked).c_str(),
               thousands(c.scanned).c_str());
  std::fprintf(stderr, "  %-13s %s\n  %-13s %s\n", "source", r.source.c_str(), "destination",
               r.destination.c_str());
  if (auto it = r.extra.find("sample"); it != r.extra.end() && it->is_number_unsigned()) {
    std::fprintf(stderr, "  %-13s a random sample of at most %s keys\n", "sample",
                 thousands(it->get<uint64_t>()).c_str());
  }
  auto row = [](const char* label, uint64_t n, const std::string& note) { count_line(13, label, n, note); };
  row("equal", c.equal, "same type, value and TTL");
  row("missing", c.missing, "not on the destination");
  row("type differs", c.type_differs, "");
  row("value differs", c.value_differs, "");
  std::string tolerance;
  if (auto it = r.extra.find("ttl_tolerance_ms"); it != r.extra.end() && it->is_number_unsigned())
    tolerance = "tolerance " + human_duration(static_cast<double>(it->get<uint64_t>()) / 1000.0);
  row("TTL differs", c.ttl_differs, tolerance);
  row("field TTL differs", c.field_ttl_differs, "hash field TTLs (same tolerance)");
  row("vanished", c.vanished, "gone from the source before it was checked");
  if (c.expired > 0) row("expired", c.expired, "TTL ran out, not on the destination");
  row("failed", c.failed, c.failed > 0 ? "see errors below" : "");
  if (cleanup) {
    if (r.dry_run) {
      row("would delete", c.would_delete, "verify equal; nothing was deleted");
    } else {
      row("deleted", c.deleted, "from the source, their copy verified equal");
      row("kept", c.cleanup_kept, "changed on the source after the check, or deletions stopped");
      if (c.cleanup_failed > 0) row("not deleted", c.cleanup_failed, "the deletion failed, see errors");
    }
  }
  if (c.evicted > 0)
    row("evicted", c.evicted, "by the destination during the run: deletions stopped, run verify");
  if (r.nodes.size() > 1) {
    std::fprintf(stderr, "  per source node:\n");
    for (const auto& n : r.nodes) {
      std::fprintf(stderr, "    %-22s checked %s equal %s different %s\n", n.name.c_str(),
                   thousands(n.counters.checked).c_str(), thousands(n.counters.equal).c_str(),
                   thousands(n.counters.differences()).c_str());
    }
  }
  if (!r.differences.empty()) {
    std::fprintf(stderr, "differences (the first %zu):\n", r.differences.size());
    for (const auto& d : r.differences) {
      std::string name = "\"" + printable_short(d.key, 80) + "\"";
      if (!d.target.empty()) name += " -> \"" + printable_short(d.target, 80) + "\"";
      std::fprintf(stderr, "  %-14s %s: %s\n", d.kind.c_str(), name.c_str(), d.detail.c_str());
    }
  }
  print_failovers(r);
  print_errors(r.errors);
  if (r.dry_run && !r.examples.empty()) {
    std::fprintf(stderr, "examples:\n");
    for (const auto& e : r.examples)
      std::fprintf(stderr, "  %-14s \"%s\"\n", e.action.c_str(), printable_short(e.key, 80).c_str());
  }
  if (r.fatal) std::fprintf(stderr, "stopped: %s\n", r.fatal->message.c_str());
  const char* meaning =
      r.exit_code == ExitCode::kOk
          ? (cleanup ? "every key checked verified equal and was deleted" : "every key checked is equal")
      : r.exit_code == ExitCode::kKeysFailed
          ? (cleanup ? "some keys differ, changed or failed: they were not deleted"
                     : "differences found (or keys failed)")
          : exit_meaning(r.exit_code);
  if (cleanup && r.dry_run && r.exit_code == ExitCode::kOk) meaning = "every key checked would be deleted";
  if (r.peak_rss_bytes > 0) std::fprintf(stderr, "peak memory %s\n", human_bytes(r.peak_rss_bytes).c_str());
  std::fprintf(stderr, "exit code %d: %s\n", to_int(r.exit_code), meaning);
  std::fflush(stderr);
}

// A live run's `live` object (copy/live_report.hpp) and its --verify-at-cutover results.
void print_live_summary(const RunReport& r) {
  auto json_u64 = [](const nlohmann::json& j, const char* k) {
    auto it = j.find(k);
    return it != j.end() && it->is_number_unsigned() ? it->get<uint64_t>() : uint64_t{0};
  };
  if (auto it = r.extra.find("live"); it != r.extra.end() && it->is_object()) {
    const nlohmann::json& l = *it;
    std::fprintf(stderr, "  %-12s changes %s, re-copied %s, deleted %s, lag max %s ms, pending max %s\n",
                 "live", thousands(json_u64(l, "changes")).c_str(),
                 thousands(json_u64(l, "recopied")).c_str(), thousands(json_u64(l, "deleted")).c_str(),
                 thousands(json_u64(l, "lag_ms_max")).c_str(), thousands(json_u64(l, "pending_max")).c_str());
    const auto cause = l.find("cutover");
    if (cause != l.end() && cause->is_string()) {
      const double ms = l.value("cutover_ms", 0.0);
      std::fprintf(stderr, "  %-12s by %s, %s from the request to the end of the live phase\n", "cut-over",
                   cause->get<std::string>().c_str(), human_duration(ms / 1000.0).c_str());
    } else {
      std::fprintf(stderr, "  %-12s none: the run ended without a cut-over (no promise about changes)\n",
                   "cut-over");
    }
    if (auto rs = l.find("resyncs"); rs != l.end() && rs->is_object()) {
      const uint64_t n = json_u64(*rs, "count");
      std::fprintf(stderr, "  %-12s %s\n", "resyncs", thousands(n).c_str());
      if (auto list = rs->find("list"); list != rs->end() && list->is_array()) {
        for (const auto& one : *list) {
          std::fprintf(stderr, "    %s: %s\n", one.value("node", std::string()).c_str(),
                       one.value("cause", std::string()).c_str());
        }
      }
    }
  }
  if (auto it = r.extra.find("verify"); it != r.extra.end() && it->is_object()) {
    const nlohmann::json& v = *it;
    std::fprintf(stderr, "  %-12s %s checked, %s equal, %s missing, %s value differs, %s TTL differs\n",
                 "verify", thousands(json_u64(v, "checked")).c_str(), thousands(json_u64(v, "equal")).c_str(),
                 thousands(json_u64(v, "missing")).c_str(), thousands(json_u64(v, "value_differs")).c_str(),
                 thousands(json_u64(v, "ttl_differs")).c_str());
    if (auto d = v.find("differences"); d != v.end() && d->is_array()) {
      for (const auto& one : *d) {
        std::fprintf(stderr, "    %-14s \"%s\": %s\n", one.value("kind", std::string()).c_str(),
                     one.value("key", std::string()).c_str(), one.value("detail", std::string()).c_str());
      }
    }
  }
}

}  // namespace

void print_summary(const RunReport& r) {
  clear_status_line();  // the progress bar, if any: the summary starts on its own line
  const Counters& c = r.totals;
  if (log_format() == LogFormat::kJson) {
    nlohmann::json fields = to_json(r);
    log_event(spdlog::level::info, "summary", r.command + " finished", fields);
    return;
  }
  if (r.fatal && !r.started) {
    // Could not connect, authenticate or pass the start-up checks: one line naming the endpoint and the fix.
    std::fprintf(stderr, "redis-migrate: %s\n", r.fatal->message.c_str());
    std::fflush(stderr);
    return;
  }
  if (is_check(r)) return print_check_summary(r);
  const double secs = r.duration_s > 0 ? r.duration_s : 1e-9;
  std::fprintf(stderr, "\n%s%s %s in %s: %s keys scanned\n",
               r.dry_run && r.command != "plan" ? "dry run of " : "", r.command.c_str(),
               r.fatal ? "stopped" : (r.signal != 0 ? "interrupted" : "finished"),
               human_duration(r.duration_s).c_str(), thousands(c.scanned).c_str());
  std::fprintf(stderr, "  %-12s %s\n  %-12s %s\n", "source", r.source.c_str(), "destination",
               r.destination.c_str());
  char rate[128];
  if (r.dry_run) {
    std::snprintf(rate, sizeof rate, "(%s)", human_bytes(c.would_copy_bytes).c_str());
    line("would copy", c.would_copy, rate);
    line("would skip", c.would_skip, "already on the destination");
    if (c.would_merge > 0) line("would merge", c.would_merge, "into the existing destination key");
    if (c.would_conflict > 0)
      line("conflicts", c.would_conflict, "exist on the destination; the policy cannot take them");
    line("existing", c.existing, "keys already on the destination");
  } else {
    std::snprintf(rate, sizeof rate, "(%s, %s keys/s, %s/s)", human_bytes(c.bytes).c_str(),
                  thousands(static_cast<uint64_t>(static_cast<double>(c.copied) / secs)).c_str(),
                  human_bytes(static_cast<uint64_t>(static_cast<double>(c.bytes) / secs)).c_str());
    line("copied", c.copied, rate);
    if (c.rewritten > 0) line("rewritten", c.rewritten, "of the copied keys, rebuilt by the rewrite path");
    line("skipped", c.skipped, "already on the destination");
    if (c.merged > 0) line("merged", c.merged, "into the existing destination key");
    if (c.conflicts > 0)
      line("conflicts", c.conflicts, "exist on the destination; the policy cannot take them");
  }
  line("expired", c.expired, "TTL ran out before the restore");
  line("vanished", c.vanished, "deleted on the source during the copy");
  line("failed", c.failed, c.failed > 0 ? "see errors below" : "");
  if (c.duplicates > 0) line("duplicates", c.duplicates, "returned twice by SCAN, counted once");
  if (r.cleanup) {
    line("deleted", c.deleted, "from the source after their copy");
    if (c.cleanup_kept > 0)
      line("kept", c.cleanup_kept,
           "changed on the source during the copy, or deletions stopped; not deleted");
    if (c.cleanup_failed > 0) line("not deleted", c.cleanup_failed, "cleanup failed, see errors");
  }
  if (c.evicted > 0) {
    line("evicted", c.evicted,
         "by the destination during the run: deletions stopped; `redis-migrate verify` names the keys whose "
         "copy is missing");
  }
  if (c.redirects_moved + c.redirects_ask > 0) {
    std::fprintf(stderr, "  %-12s %12s  MOVED, %s ASK (the cluster resharded during the copy)\n", "redirects",
                 thousands(c.redirects_moved).c_str(), thousands(c.redirects_ask).c_str());
  }
  if (c.stream_not_recreated > 0) {
    line("not recreated", c.stream_not_recreated,
         "stream pending entries or consumers the destination could not be given (see the README)");
  }
  if (c.field_ttls_dropped > 0) {
    line("field TTLs dropped", c.field_ttls_dropped,
         "hashes copied without their field TTLs (--drop-field-ttls)");
  }
  if (!r.path.empty()) std::fprintf(stderr, "  %-12s %s\n", "path", r.path.c_str());
  if (c.big_keys > 0) {
    std::fprintf(stderr, "  big keys: %s over the threshold, %s in chunks by the rewrite path%s\n",
                 thousands(c.big_keys).c_str(), r.dry_run ? "to be copied" : "copied",
                 c.big_keys > r.big_keys.listed().size() ? " (the first ones listed)" : "");
    for (const auto& b : r.big_keys.listed()) {
      std::fprintf(stderr, "    %-8s %10s  \"%s\"\n", b.type.c_str(), human_bytes(b.size).c_str(),
                   printable_short(b.key, 80).c_str());
    }
  }
  if (r.nodes.size() > 1) {
    std::fprintf(stderr, "  per source node:\n");
    for (const auto& n : r.nodes) {
      std::fprintf(stderr, "    %-22s scanned %s copied %s skipped %s failed %s\n", n.name.c_str(),
                   thousands(n.counters.scanned).c_str(), thousands(n.counters.copied).c_str(),
                   thousands(n.counters.skipped).c_str(), thousands(n.counters.failed).c_str());
    }
  }
  print_failovers(r);
  if (!r.dbs.empty()) {
    std::fprintf(stderr, "  per database:\n");
    for (const auto& [db, dc] : r.dbs) {
      std::fprintf(stderr, "    db %-4d scanned %s copied %s skipped %s failed %s\n", db,
                   thousands(dc.scanned).c_str(), thousands(dc.copied + dc.would_copy).c_str(),
                   thousands(dc.skipped + dc.would_skip).c_str(), thousands(dc.failed).c_str());
    }
  }
  print_live_summary(r);
  print_errors(r.errors);
  if (r.dry_run && !r.examples.empty()) {
    std::fprintf(stderr, "examples:\n");
    for (const auto& e : r.examples) {
      if (e.target.empty()) {
        std::fprintf(stderr, "  %-18s \"%s\" (%s)\n", e.action.c_str(), printable_short(e.key, 80).c_str(),
                     human_bytes(e.bytes).c_str());
      } else {
        std::fprintf(stderr, "  %-18s \"%s\" -> \"%s\" (%s)\n", e.action.c_str(),
                     printable_short(e.key, 60).c_str(), printable_short(e.target, 60).c_str(),
                     human_bytes(e.bytes).c_str());
      }
    }
  }
  for (const auto& n : r.notes)
    std::fprintf(stderr, "%s\n", n.c_str());
  // The same form as a run that could not start, and as the README shows it.
  if (r.fatal) std::fprintf(stderr, "redis-migrate: %s\n", r.fatal->message.c_str());
  if (r.peak_rss_bytes > 0) std::fprintf(stderr, "peak memory %s\n", human_bytes(r.peak_rss_bytes).c_str());
  std::fprintf(stderr, "exit code %d: %s\n", to_int(r.exit_code), exit_meaning(r.exit_code));
  std::fflush(stderr);
}

uint64_t peak_rss_bytes() noexcept {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return 0;
  char line[256];
  uint64_t kb = 0;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::sscanf(line, "VmHWM: %lu kB", &kb) == 1) break;
  }
  std::fclose(f);
  return kb * 1024;
}

Status write_json_report(const RunReport& r, const std::string& path) {
  return write_json_file(to_json(r), path);
}

Status write_json_file(const nlohmann::json& j, const std::string& path) {
  const std::string text = j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  if (path == "-") {
    // A closed stdout (SIGPIPE is ignored: EPIPE) or a full disk behind a redirection: the report is
    // incomplete, which the exit code must say.
    const std::size_t n = std::fwrite(text.data(), 1, text.size(), stdout);
    if (std::fflush(stdout) != 0 || n != text.size() || std::ferror(stdout) != 0) {
      return make_error(ExitCode::kReportNotWritten, std::string("--report-json -: the report could not be "
                                                                 "written to stdout (") +
                                                         std::strerror(errno) + ")");
    }
    return {};
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) {
    return make_error(
        ExitCode::kReportNotWritten,
        "--report-json " + path + ": cannot open the file for writing (" + std::strerror(errno) + ")");
  }
  out << text;
  out.close();
  if (!out) {
    return make_error(ExitCode::kReportNotWritten, "--report-json " + path + ": write failed (" +
                                                       std::strerror(errno) + "): the report is incomplete");
  }
  return {};
}

namespace {

// Creates `path` (which must not exist) and removes it: the directory takes new files.
Status probe_create(const std::string& option, const std::string& shown, const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int err = errno;
    const std::size_t slash = shown.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : shown.substr(0, slash);
    std::string why = std::strerror(err);
    if (err == ENOENT) why = "the directory " + dir + " does not exist";
    if (err == ENOTDIR) why = dir + " is not a directory";
    if (err == EACCES || err == EROFS || err == EPERM)
      why = "the directory " + dir + " is not writable (" + why + ")";
    return make_error(ExitCode::kUsage, option + " " + shown + ": cannot create the file: " + why +
                                            ": give a path in a writable directory (nothing was copied)");
  }
  ::close(fd);
  ::unlink(path.c_str());
  return {};
}

}  // namespace

Status check_writable(const std::string& option, const std::string& path, const std::string& sibling_suffix) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) {
      return make_error(ExitCode::kUsage,
                        option + " " + path + " is a directory: give a file name (nothing was copied)");
    }
    const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC | (S_ISREG(st.st_mode) ? 0 : O_NONBLOCK));
    if (fd < 0) {
      return make_error(ExitCode::kUsage, option + " " + path + ": cannot open the file for writing (" +
                                              std::strerror(errno) + ") (nothing was copied)");
    }
    ::close(fd);
  } else if (auto s = probe_create(option, path, path); !s) {
    return s;
  }
  if (!sibling_suffix.empty()) {
    // The file is replaced atomically through a sibling: its directory must take new files too.
    const std::string sibling = path + sibling_suffix;
    if (::access(sibling.c_str(), F_OK) != 0) return probe_create(option, path, sibling);
  }
  return {};
}

}  // namespace rmig::report
