#include "state/checkpoint.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "report/run_report.hpp"
#include "resp/server_error.hpp"
#include "select/rename.hpp"
#include "state/lock.hpp"
#include "util/sha1.hpp"

namespace rmig::state {

namespace {

constexpr int kRecordVersion = 1;
// Records of runs nobody looked at for a month go away by themselves; so do their index entries.
constexpr int64_t kRecordTtlMs = 30LL * 24 * 3600 * 1000;
constexpr long kStatusMaxRuns = 100;

const char* policy_text(engine::ConflictPolicy p) { return name_of(engine::kConflictPolicyNames, p); }

nlohmann::json side_identity(const resp::ConnectOptions& o) {
  return {{"endpoint", o.endpoint.to_string()}, {"db", o.db}, {"user", o.user}, {"tls", o.tls != nullptr}};
}

std::string dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// `key` is one of the tool's keys, `fix` the way out besides an ACL rule.
Error read_error(const std::string& destination, const std::string& key, const redisReply* r,
                 const char* fix) {
  std::string msg = destination + ": cannot read " + key + " (" + resp::describe(r) + ")";
  const resp::ServerError kind = resp::classify_error(resp::text(r));
  if (kind == resp::ServerError::kNoPerm || kind == resp::ServerError::kNoPermKey ||
      kind == resp::ServerError::kNoAuth) {
    msg += ": allow the destination user the tool's keys with the ACL rule \"" +
           tool_keys_acl(key.substr(0, key.rfind("run:"))) + "\"" + fix;
  }
  return make_error(ExitCode::kConnect, msg);
}

Error write_error(const std::string& destination, const std::string& key, const redisReply* r) {
  const std::string_view msg = resp::text(r);
  const resp::ServerError kind = resp::classify_error(msg);
  const std::string what =
      destination + ": cannot write the run record " + key + " (" + resp::describe(r) + ")";
  if (kind == resp::ServerError::kReadOnly || kind == resp::ServerError::kOom ||
      kind == resp::ServerError::kMisconf) {
    return make_error(ExitCode::kDestinationRefused, what + ": the destination refuses writes");
  }
  return make_error(ExitCode::kConnect,
                    what + ": allow the destination user the tool's keys with the ACL rule \"" +
                        tool_keys_acl(key.substr(0, key.rfind("run:"))) +
                        "\", or keep the record in a file with --state-file PATH");
}

class DestinationRecords final : public RecordStore {
 public:
  DestinationRecords(net::Loop& loop, StateClient& client, std::string prefix, std::string destination,
                     resp::ConnectOptions link_seed)
      : loop_(loop),
        client_(client),
        prefix_(std::move(prefix)),
        destination_(std::move(destination)),
        link_seed_(std::move(link_seed)) {}

  Result<std::optional<RunRecord>> load(const std::string& id) override {
    const std::string key = run_key(prefix_, id);
    auto r = client_.call(key, {"GET", key});
    if (!r) return r.error();
    const redisReply* rr = r->get();
    if (resp::is_nil(rr)) return std::optional<RunRecord>();
    if (!resp::is_string(rr)) {
      return read_error(destination_, key, rr, ", or keep the record in a file with --state-file PATH");
    }
    auto j = nlohmann::json::parse(resp::text(rr), nullptr, false);
    auto rec = RunRecord::from_json(j);
    if (!rec) spdlog::warn("{}: the run record {} is not readable: ignoring it", destination_, key);
    return rec;
  }

  Status save_now(const RunRecord& record) override {
    const std::string key = run_key(prefix_, record.id);
    const std::string ttl = std::to_string(kRecordTtlMs);
    auto r = client_.call(key, {"SET", key, dump(record.to_json()), "PX", ttl});
    if (!r) return r.error();
    if (!resp::is_status(r->get(), "OK")) return write_error(destination_, key, r->get());
    const std::string index = run_index_key(prefix_);
    const std::string score = std::to_string(record.started_ms);
    auto z = client_.call(index, {"ZADD", index, score, record.id});
    if (!z) return z.error();
    if (resp::is_error(z->get())) return write_error(destination_, index, z->get());
    // Entries older than any record left, and the index itself a month after the last run: nothing the
    // tool leaves on a destination stays forever.
    const std::string old = "(" + std::to_string(unix_ms_now() - kRecordTtlMs);
    auto prune = client_.call(index, {"ZREMRANGEBYSCORE", index, "-inf", old});
    if (!prune) return prune.error();
    auto expire = client_.call(index, {"PEXPIRE", index, ttl});
    if (!expire) return expire.error();
    return {};
  }

  bool save(const RunRecord& record, std::function<void(bool ok)> done) override {
    const std::string key = run_key(prefix_, record.id);
    if (!link_) {
      link_ = std::make_unique<StateLink>(loop_, client_.options_for(key), link_seed_);
      link_->open();
      return false;
    }
    return link_->send({"SET", key, dump(record.to_json()), "PX", std::to_string(kRecordTtlMs)},
                       [done = std::move(done)](const redisReply* r) { done(resp::is_status(r, "OK")); });
  }

  void close() noexcept override {
    if (link_) link_->close();
  }

  std::string where(const std::string& id) const override { return "key " + run_key(prefix_, id); }

 private:
  net::Loop& loop_;
  StateClient& client_;
  std::string prefix_;
  std::string destination_;
  resp::ConnectOptions link_seed_;
  std::unique_ptr<StateLink> link_;
};

class FileRecords final : public RecordStore {
 public:
  explicit FileRecords(std::string path) : path_(std::move(path)) {}

  Result<std::optional<RunRecord>> load(const std::string& /*id*/) override {
    std::ifstream in(path_, std::ios::binary);
    if (!in) return std::optional<RunRecord>();  // no file yet: a new run
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    if (text.empty()) return std::optional<RunRecord>();
    auto rec = RunRecord::from_json(nlohmann::json::parse(text, nullptr, false));
    if (!rec) {
      return make_error(ExitCode::kUsage, "--state-file " + path_ +
                                              ": not a redis-migrate run record; give another path or "
                                              "remove the file");
    }
    return rec;
  }

  Status save_now(const RunRecord& record) override {
    const std::string tmp = path_ + ".tmp";
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out << record.to_json().dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
      out.close();
      if (!out) {
        return make_error(ExitCode::kUsage, "--state-file " + path_ + ": cannot write " + tmp + " (" +
                                                std::strerror(errno) +
                                                "): check the directory and its "
                                                "permissions");
      }
    }
    // rename() replaces the file atomically: a crash leaves the old record or the new one, never half.
    if (std::rename(tmp.c_str(), path_.c_str()) != 0) {
      return make_error(ExitCode::kUsage,
                        "--state-file " + path_ + ": cannot replace the file (" + std::strerror(errno) + ")");
    }
    return {};
  }

  bool save(const RunRecord& record, std::function<void(bool ok)> done) override {
    auto st = save_now(record);
    if (!st && !warned_) {
      spdlog::warn("{}", st.error().message);
      warned_ = true;
    }
    done(static_cast<bool>(st));
    return true;
  }

  std::string where(const std::string& /*id*/) const override { return "file " + path_; }

 private:
  std::string path_;
  bool warned_ = false;
};

}  // namespace

int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string iso_utc_ms(int64_t unix_ms) {
  if (unix_ms <= 0) return {};
  return iso_utc(std::chrono::system_clock::time_point(std::chrono::milliseconds(unix_ms)));
}

nlohmann::json RunRecord::to_json() const {
  nlohmann::json nodes_json = nlohmann::json::array();
  for (const auto& n : nodes) {
    nlohmann::json node = {{"name", n.name},
                           {"cursor", n.cursor},
                           {"complete", n.complete},
                           {"server", n.server},
                           {"counters", report::counters_to_json(n.counters)}};
    // The keys written after the cursor, as 8 hex digits each (Engine::key_hash).
    if (!n.written.empty()) {
      static constexpr char kHex[] = "0123456789abcdef";
      std::string hex;
      hex.reserve(n.written.size() * 8);
      for (uint32_t h : n.written) {
        for (int shift = 28; shift >= 0; shift -= 4)
          hex += kHex[(h >> shift) & 0xf];
      }
      node["written"] = std::move(hex);
    }
    nodes_json.push_back(std::move(node));
  }
  nlohmann::json j = {{"version", kRecordVersion},
                      {"id", id},
                      {"command", command},
                      {"status", status},
                      {"source", source},
                      {"destination", destination},
                      {"fingerprint", fingerprint},
                      {"command_line", command_line},
                      {"host", host},
                      {"pid", pid},
                      {"started_ms", started_ms},
                      {"updated_ms", updated_ms},
                      {"finished_ms", finished_ms},
                      {"started_at", iso_utc_ms(started_ms)},
                      {"updated_at", iso_utc_ms(updated_ms)},
                      {"attempts", attempts},
                      {"nodes", std::move(nodes_json)},
                      {"totals", report::counters_to_json(totals)},
                      {"source_keys", source_keys}};
  j["finished_at"] = finished_ms > 0 ? nlohmann::json(iso_utc_ms(finished_ms)) : nlohmann::json();
  j["exit_code"] = exit_code ? nlohmann::json(*exit_code) : nlohmann::json();
  j["error"] = error.empty() ? nlohmann::json() : nlohmann::json(error);
  if (!live.is_null()) j["live"] = live;
  return j;
}

std::optional<RunRecord> RunRecord::from_json(const nlohmann::json& j) {
  if (!j.is_object() || j.value("version", 0) != kRecordVersion) return std::nullopt;
  auto str = [&](const char* k) {
    auto it = j.find(k);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  auto num = [&](const char* k) {
    auto it = j.find(k);
    return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : int64_t{0};
  };
  RunRecord r;
  r.id = str("id");
  r.command = str("command");
  r.status = str("status");
  if (r.id.empty() || r.status.empty()) return std::nullopt;
  r.source = str("source");
  r.destination = str("destination");
  r.fingerprint = j.value("fingerprint", nlohmann::json::object());
  r.command_line = str("command_line");
  r.host = str("host");
  r.pid = num("pid");
  r.started_ms = num("started_ms");
  r.updated_ms = num("updated_ms");
  r.finished_ms = num("finished_ms");
  r.attempts = static_cast<uint32_t>(std::max<int64_t>(1, num("attempts")));
  if (auto it = j.find("nodes"); it != j.end() && it->is_array()) {
    for (const auto& n : *it) {
      if (!n.is_object()) return std::nullopt;
      engine::NodeProgress p;
      p.name = n.value("name", std::string());
      p.cursor = n.value("cursor", std::string("0"));
      p.complete = n.value("complete", false);
      p.server = n.value("server", std::string());
      p.counters = report::counters_from_json(n.value("counters", nlohmann::json::object()));
      const std::string hex = n.value("written", std::string());
      for (std::size_t i = 0; i + 8 <= hex.size(); i += 8) {
        uint32_t h = 0;
        for (std::size_t k = i; k < i + 8; ++k) {
          const char c = hex[k];
          h = (h << 4) | static_cast<uint32_t>(c <= '9' ? c - '0' : c - 'a' + 10);
        }
        p.written.push_back(h);
      }
      r.nodes.push_back(std::move(p));
    }
  }
  r.totals = report::counters_from_json(j.value("totals", nlohmann::json::object()));
  if (auto it = j.find("source_keys"); it != j.end() && it->is_number_unsigned())
    r.source_keys = it->get<uint64_t>();
  if (auto it = j.find("exit_code"); it != j.end() && it->is_number_integer()) r.exit_code = it->get<int>();
  r.error = str("error");
  if (auto it = j.find("live"); it != j.end() && it->is_object()) r.live = *it;
  return r;
}

nlohmann::json live_record_json(const engine::LiveStats& s) {
  nlohmann::json j = {{"phase", name_of(engine::kLivePhaseNames, s.phase)},
                      {"lag_ms", s.lag_ms},
                      {"pending", s.pending},
                      {"changes", s.changes},
                      {"changes_per_s", s.changes_per_s},
                      {"recopied", s.recopied},
                      {"deleted", s.deleted},
                      {"resyncs", s.resyncs.size()}};
  j["cutover"] =
      s.cutover ? nlohmann::json(name_of(engine::kCutoverCauseNames, *s.cutover)) : nlohmann::json();
  return j;
}

nlohmann::json fingerprint(const engine::RunSpec& cmd, std::string_view command) {
  const engine::Selection& sel = cmd.options.selection;
  nlohmann::json rename = nlohmann::json::array();
  if (sel.rename) {
    for (int i = 0; i < sel.rename->size(); ++i)
      rename.push_back(sel.rename->describe(i));
  }
  nlohmann::json fp = {{"command", command},
                       {"source", side_identity(cmd.source)},
                       {"destination", side_identity(cmd.destination)},
                       {"match", sel.match},
                       {"exclude", sel.exclude},
                       {"types", sel.types},
                       {"rename", std::move(rename)},
                       {"conflict", policy_text(cmd.options.conflict)},
                       {"merge_prefer_source", cmd.options.merge_prefer_source},
                       {"cleanup", cmd.options.cleanup},
                       {"read_from_replicas", cmd.read_from_replicas},
                       {"all_dbs", cmd.all_dbs},
                       {"state_prefix", cmd.state.prefix}};
  // Each shard is its own run (its own record and checkpoint); an unsharded run's fingerprint is unchanged.
  if (sel.shard.active()) fp["shard"] = sel.shard.text();
  // A live run's record is its own: a live run never resumes a plain copy's checkpoint, nor the reverse.
  if (cmd.options.live.enabled) fp["live"] = true;
  return fp;
}

std::string run_id(const nlohmann::json& fp) {
  return sha1_hex(fp.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)).substr(0, 16);
}

std::string run_key(const std::string& prefix, const std::string& id) { return prefix + "run:" + id; }
std::string run_index_key(const std::string& prefix) { return prefix + "run:index"; }

std::unique_ptr<RecordStore> destination_records(net::Loop& loop, StateClient& client, std::string prefix,
                                                 std::string destination, resp::ConnectOptions link_seed) {
  return std::make_unique<DestinationRecords>(loop, client, std::move(prefix), std::move(destination),
                                              std::move(link_seed));
}

std::unique_ptr<RecordStore> file_records(std::string path) {
  return std::make_unique<FileRecords>(std::move(path));
}

Result<std::vector<RunRecord>> list_runs(StateClient& client, const std::string& prefix) {
  const std::string index = run_index_key(prefix);
  auto ids = client.call(index, {"ZREVRANGE", index, "0", std::to_string(kStatusMaxRuns - 1)});
  if (!ids) return ids.error();
  const redisReply* r = ids->get();
  if (!resp::is_array(r)) return read_error(client.options_for(index).label, index, r, "");
  std::vector<RunRecord> out;
  for (std::size_t i = 0; i < r->elements; ++i) {
    if (!resp::is_string(r->element[i])) continue;
    const std::string key = run_key(prefix, std::string(resp::text(r->element[i])));
    auto v = client.call(key, {"GET", key});
    if (!v) return v.error();
    if (!resp::is_string(v->get()) || resp::is_error(v->get())) continue;  // expired
    if (auto rec = RunRecord::from_json(nlohmann::json::parse(resp::text(v->get()), nullptr, false))) {
      out.push_back(std::move(*rec));
    }
  }
  return out;
}

}  // namespace rmig::state
