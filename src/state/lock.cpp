#include "state/lock.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>

#include "resp/server_error.hpp"
#include "scripts/scripts.hpp"
#include "state/checkpoint.hpp"
#include "util/escape.hpp"

namespace rmig::state {

std::string host_name() {
  std::array<char, 256> buf{};
  if (gethostname(buf.data(), buf.size() - 1) != 0) return "unknown";
  return buf.data();
}

std::string random_token() {
  std::random_device rd;
  std::mt19937_64 gen((static_cast<uint64_t>(rd()) << 32) ^ rd());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string t(16, '0');
  uint64_t v = gen();
  for (auto& c : t) {
    c = kHex[v & 0xf];
    v >>= 4;
  }
  return t;
}

std::string tool_keys_acl(std::string_view prefix) {
  return "(~" + std::string(prefix) +
         "* +get +set +del +pexpire +pttl +eval +zadd +zrevrange +zremrangebyscore)";
}

namespace {

using resp::ServerError;

std::string in_text(int64_t ms) {
  if (ms < 0) return "no expiry";
  const int64_t s = (ms + 999) / 1000;
  if (s < 120) return "in " + std::to_string(s) + "s";
  return "in " + std::to_string(s / 60) + "m" + std::to_string(s % 60) + "s";
}

// Why the destination refused a write of the tool's own keys, with the way out.
Error state_write_error(const std::string& destination, const std::string& key, std::string_view message,
                        const char* way_out) {
  const ServerError kind = resp::classify_error(message);
  const std::string what = destination + ": cannot write " + key + " (" + std::string(message) + ")";
  switch (kind) {
    case ServerError::kReadOnly:
      return make_error(ExitCode::kDestinationRefused, what + ": point the destination URL at the primary");
    case ServerError::kOom:
    case ServerError::kMisconf:
      return make_error(ExitCode::kDestinationRefused,
                        what + ": the destination refuses writes; fix it first");
    case ServerError::kNoPerm:
    case ServerError::kNoPermKey:
    case ServerError::kNoAuth:
    case ServerError::kUnknownCommand:
      return make_error(ExitCode::kConnect,
                        what + ": allow the destination user the tool's keys with the ACL rule \"" +
                            tool_keys_acl(key.substr(0, key.rfind(':') + 1)) + "\" " + way_out);
    default: return make_error(ExitCode::kConnect, what);
  }
}

bool script_refused(std::string_view message) {
  const ServerError kind = resp::classify_error(message);
  return kind == ServerError::kNoPerm || kind == ServerError::kUnknownCommand;
}

}  // namespace

std::string iso_utc(std::chrono::system_clock::time_point t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string lock_value(const std::string& command, bool live) {
  nlohmann::json j = {{"host", host_name()},
                      {"pid", static_cast<int64_t>(getpid())},
                      {"started_at", iso_utc(std::chrono::system_clock::now())},
                      {"command", command},
                      {"token", random_token()}};
  if (live) j["live"] = true;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

LockHolder parse_lock_value(std::string_view value, int64_t pttl_ms) {
  LockHolder h;
  h.value = std::string(value);
  h.pttl_ms = pttl_ms;
  auto j = nlohmann::json::parse(value, nullptr, false);
  if (!j.is_object()) return h;
  // Field by field with their types checked: a user's JSON under a wrong prefix must not throw.
  auto text = [&](const char* name) {
    const auto it = j.find(name);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  const auto pid = j.find("pid");
  const bool pid_ok = pid != j.end() && pid->is_number_integer();
  h.host = text("host");
  h.pid = pid_ok ? pid->get<int64_t>() : 0;
  h.started_at = text("started_at");
  h.command = text("command");
  h.lease = !h.host.empty() && pid_ok && !h.started_at.empty();
  const auto live = j.find("live");
  h.live = h.lease && live != j.end() && live->is_boolean() && live->get<bool>();
  return h;
}

std::string LockHolder::describe() const {
  std::string s;
  if (host.empty() && pid == 0) {
    s = "value \"" + printable_short(value, 100) + "\"";
  } else {
    s = "host " + host + " pid " + std::to_string(pid);
    std::string about = command;
    if (!started_at.empty()) about += std::string(about.empty() ? "" : ", ") + "started " + started_at;
    if (!about.empty()) s += " (" + about + ")";
  }
  if (pttl_ms >= 0) {
    s += ", until " + iso_utc(std::chrono::system_clock::now() + std::chrono::milliseconds(pttl_ms)) + " (" +
         in_text(pttl_ms) + ")";
  } else {
    s += ", with no expiry";
  }
  return s;
}

Result<std::optional<LockHolder>> read_lock(StateClient& client, const std::string& key) {
  auto value = client.call(key, {"GET", key});
  if (!value) return value.error();
  const redisReply* v = value->get();
  if (resp::is_nil(v)) return std::optional<LockHolder>();
  if (resp::is_error(v) && resp::classify_error(resp::text(v)) == resp::ServerError::kWrongType) {
    return make_error(ExitCode::kUsage,
                      key +
                          " is not a string, so it is not a redis-migrate lease but a key of "
                          "someone else's: left alone; check --state-prefix (the default is "
                          "redis-migrate:)");
  }
  if (resp::is_error(v) || !resp::is_string(v)) {
    return make_error(ExitCode::kConnect, "cannot read the lock " + key + ": " + resp::describe(v));
  }
  auto pttl = client.call(key, {"PTTL", key});
  if (!pttl) return pttl.error();
  const int64_t ms = resp::is_integer(pttl->get()) ? (*pttl)->integer : -1;
  if (ms == -2) return std::optional<LockHolder>();  // expired between the two reads
  return std::optional<LockHolder>(parse_lock_value(resp::text(v), ms));
}

Result<bool> delete_lock(StateClient& client, const std::string& key, const std::string& value) {
  auto r = client.call(key, {"EVAL", scripts::lease_release().body(), "1", key, value});
  if (!r) return r.error();
  const redisReply* rr = r->get();
  if (resp::is_integer(rr)) return rr->integer == 1;
  if (resp::is_error(rr) && script_refused(resp::text(rr))) {
    // No scripting for this user: the same check in two steps (a lock taken in between is very unlikely).
    auto cur = client.call(key, {"GET", key});
    if (!cur) return cur.error();
    if (!resp::is_string(cur->get()) || resp::text(cur->get()) != value) return false;
    auto del = client.call(key, {"DEL", key});
    if (!del) return del.error();
    return resp::is_integer(del->get()) && (*del)->integer == 1;
  }
  return make_error(ExitCode::kConnect, "cannot delete the lock " + key + ": " + resp::describe(rr));
}

Lease::Lease(std::string key, std::string value, uint32_t ttl_ms, std::string destination,
             resp::ConnectOptions at)
    : key_(std::move(key)),
      value_(std::move(value)),
      ttl_ms_(ttl_ms),
      destination_(std::move(destination)),
      at_(std::move(at)) {}

Lease::~Lease() { stop_renewing(); }

Result<std::unique_ptr<Lease>> Lease::acquire(StateClient& client, std::string key, uint32_t ttl_ms,
                                              const std::string& command, const std::string& destination,
                                              bool live) {
  const std::string value = lock_value(command, live);
  const std::string ttl = std::to_string(ttl_ms);
  // A lease that expires between our SET and our read of it is simply tried again.
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto r = client.call(key, {"SET", key, value, "NX", "PX", ttl});
    if (!r) return r.error();
    const redisReply* rr = r->get();
    if (resp::is_status(rr, "OK")) {
      spdlog::debug("{}: took the lock {} for {} ms", destination, key, ttl_ms);
      // The key's connection options first: the key itself is moved into the lease.
      auto options = client.options_for(key);
      return std::unique_ptr<Lease>(
          new Lease(std::move(key), value, ttl_ms, destination, std::move(options)));
    }
    if (resp::is_error(rr)) {
      return state_write_error(destination, key, resp::text(rr),
                               "(or pass --no-lock to run without the lock)");
    }
    auto holder = read_lock(client, key);
    if (!holder) return holder.error();
    if (!*holder) continue;
    return make_error(
        ExitCode::kLocked,
        "destination " + destination + " is locked by another run: held by " + (*holder)->describe() +
            ". Wait for that run to end (the lease of a killed run expires by itself), or clear "
            "it with `redis-migrate unlock DESTINATION_URL` if you are sure no run is active");
  }
  return make_error(ExitCode::kLocked, "destination " + destination + ": the lock " + key +
                                           " keeps changing hands: another run is starting; try again");
}

void Lease::start_renewing(net::Loop& loop, const resp::ConnectOptions& seed,
                           std::function<void(Error)> on_lost, std::function<void()> on_vanished) {
  on_lost_ = std::move(on_lost);
  on_vanished_ = std::move(on_vanished);
  link_ = std::make_unique<StateLink>(loop, at_, seed);
  link_->open();
  timer_ = std::make_unique<net::Timer>(loop, this, &Lease::on_timer);
  timer_->unref();
  const uint64_t every = std::max<uint64_t>(ttl_ms_ / 3, 100);
  timer_->start(every, every);
}

void Lease::stop_renewing() noexcept {
  if (timer_) timer_->stop();
  if (link_) link_->close();
}

void Lease::on_timer() { renew(); }

void Lease::renew() {
  if (lost_ || renewing_ || !link_) return;
  const std::string ttl = std::to_string(ttl_ms_);
  const std::string& script = scripts::lease_renew().body();
  renewing_ = link_->send({"EVAL", script, "1", key_, value_, ttl}, [this, ttl](const redisReply* r) {
    renewing_ = false;
    if (r == nullptr) return;  // the connection dropped: the next tick tries again
    if (resp::is_integer(r)) {
      if (r->integer == 2) {
        spdlog::warn("{}: the lock {} had vanished; taken again", destination_, key_);
        if (on_vanished_) on_vanished_();
      }
      if (r->integer == 0) lose();
      return;
    }
    if (resp::is_error(r) && script_refused(resp::text(r))) {
      // No scripting for this user: the same comparison in two steps.
      // Whatever is not sent (the connection dropped) is tried again on the next tick.
      const bool sent = link_->send({"GET", key_}, [this, ttl](const redisReply* v) {
        if (v == nullptr || lost_) return;
        if (resp::is_nil(v)) {
          if (!link_->send({"SET", key_, value_, "NX", "PX", ttl}, nullptr))
            spdlog::debug("{}: the lock {} is taken again on the next tick", destination_, key_);
          if (on_vanished_) on_vanished_();
        } else if (resp::is_string(v) && resp::text(v) == value_) {
          if (!link_->send({"PEXPIRE", key_, ttl}, nullptr))
            spdlog::debug("{}: the lock {} is renewed on the next tick", destination_, key_);
        } else if (resp::is_string(v)) {
          lose();
        }
      });
      if (!sent) spdlog::debug("{}: the lock {} is renewed on the next tick", destination_, key_);
      return;
    }
    spdlog::warn("{}: renewing the lock {}: {}", destination_, key_, resp::describe(r));
  });
}

void Lease::lose() {
  lost_ = true;
  spdlog::error("{}: another run took the lock {} while this one could not renew it", destination_, key_);
  if (on_lost_) {
    on_lost_(make_error(ExitCode::kLocked, "destination " + destination_ + ": lost the lock " + key_ +
                                               " (another run holds it now; see `redis-migrate status`): "
                                               "stopped so that two runs do not write at once"));
  }
}

void Lease::release(StateClient& client) {
  stop_renewing();
  if (lost_) return;
  auto r = delete_lock(client, key_, value_);
  if (!r) {
    spdlog::warn("{}: could not release the lock {} ({}); it expires by itself within {}s", destination_,
                 key_, r.error().message, (ttl_ms_ + 999) / 1000);
  } else if (!*r) {
    spdlog::warn("{}: the lock {} was no longer this run's at the end", destination_, key_);
  }
}

std::string lock_key(const std::string& prefix, const select::Shard& shard) {
  if (!shard.active()) return prefix + "lock";
  return prefix + "lock:shard-" + std::to_string(shard.index) + "-of-" + std::to_string(shard.count);
}

std::string shard_registry_key(const std::string& prefix) { return prefix + "lock:shards"; }

namespace {

// "<prefix>lock:shard-I-of-N" back to its shard; nullopt for anything else.
std::optional<select::Shard> shard_of_key(const std::string& prefix, std::string_view key) {
  const std::string head = prefix + "lock:shard-";
  if (key.substr(0, head.size()) != head) return std::nullopt;
  key.remove_prefix(head.size());
  const auto of = key.find("-of-");
  if (of == std::string_view::npos) return std::nullopt;
  select::Shard s;
  auto num = [](std::string_view t, uint32_t& out) {
    if (t.empty() || t.size() > 5) return false;
    out = 0;
    for (char c : t) {
      if (c < '0' || c > '9') return false;
      out = out * 10 + static_cast<uint32_t>(c - '0');
    }
    return true;
  };
  if (!num(key.substr(0, of), s.index) || !num(key.substr(of + 4), s.count)) return std::nullopt;
  if (s.count == 0 || s.index >= s.count) return std::nullopt;
  return s;
}

// The registry lives as long as the run records: a month after the last registration.
constexpr int64_t kRegistryTtlMs = 30LL * 24 * 3600 * 1000;

struct RegistryEntry {
  std::string key;    // a shard lease key
  std::string score;  // as the server gave it, for an exact ZREMRANGEBYSCORE
};

// Every entry, newest first. A refused read is an error (kConnect) naming the ACL rule.
Result<std::vector<RegistryEntry>> read_registry(StateClient& client, const std::string& prefix) {
  const std::string registry = shard_registry_key(prefix);
  auto listed = client.call(registry, {"ZREVRANGE", registry, "0", "-1", "WITHSCORES"});
  if (!listed) return listed.error();
  const redisReply* r = listed->get();
  if (!resp::is_array(r)) {
    return make_error(ExitCode::kConnect, client.options_for(registry).label + ": cannot read " + registry +
                                              " (" + resp::describe(r) + "): the user needs the rule " +
                                              tool_keys_acl(prefix));
  }
  std::vector<RegistryEntry> out;
  for (std::size_t i = 0; i + 1 < r->elements; i += 2) {
    if (!resp::is_string(r->element[i]) || !resp::is_string(r->element[i + 1])) continue;
    out.push_back(
        RegistryEntry{std::string(resp::text(r->element[i])), std::string(resp::text(r->element[i + 1]))});
  }
  return out;
}

// Removes the entries named in `removable` by their exact scores (ZREMRANGEBYSCORE s s), a score only when
// every entry that has it is removable (shards starting together may register in the same millisecond).
// Returns how many were removed.
Result<std::size_t> remove_entries(StateClient& client, const std::string& prefix,
                                   const std::vector<RegistryEntry>& entries,
                                   const std::set<std::string>& removable) {
  const std::string registry = shard_registry_key(prefix);
  std::set<std::string> scores;
  for (const auto& e : entries) {
    if (removable.count(e.key) > 0) scores.insert(e.score);
  }
  for (const auto& e : entries) {
    if (removable.count(e.key) == 0) scores.erase(e.score);
  }
  std::size_t removed = 0;
  for (const std::string& score : scores) {
    auto r = client.call(registry, {"ZREMRANGEBYSCORE", registry, score, score});
    if (!r) return r.error();
    if (!resp::is_integer(r->get())) {
      return make_error(ExitCode::kConnect, client.options_for(registry).label + ": cannot prune " +
                                                registry + " (" + resp::describe(r->get()) + ")");
    }
    removed += static_cast<std::size_t>(std::max<long long>(0, (*r)->integer));
  }
  return removed;
}

}  // namespace

Status exclude_overlapping(StateClient& client, const std::string& prefix, const select::Shard& shard,
                           const std::string& destination, bool holds_lease) {
  const std::string registry = shard_registry_key(prefix);
  const std::string own = lock_key(prefix, shard);
  if (shard.active() && holds_lease) {
    auto added =
        client.call(registry, {"ZADD", registry,
                               std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                  std::chrono::system_clock::now().time_since_epoch())
                                                  .count()),
                               own});
    if (!added) return added.error();
    if (resp::is_error(added->get())) {
      return make_error(ExitCode::kDestinationRefused,
                        "destination " + destination + " refused ZADD " + registry + ": " +
                            std::string(resp::text(added->get())) + " (the user needs the rule " +
                            tool_keys_acl(prefix) + ")");
    }
    // Entries are pruned as shards finish (prune_shard_registry); the key itself never outlives the records.
    auto expire = client.call(registry, {"PEXPIRE", registry, std::to_string(kRegistryTtlMs)});
    if (!expire) return expire.error();
  }
  std::vector<std::string> others;
  if (shard.active()) others.push_back(lock_key(prefix, select::Shard{}));
  auto listed = read_registry(client, prefix);
  if (!listed) return listed.error();
  for (const auto& entry : *listed) {
    const std::string& key = entry.key;
    const auto other = shard_of_key(prefix, key);
    if (!other || key == own) continue;
    // Shards of the same count never overlap; another count's may.
    if (shard.active() && other->count == shard.count) continue;
    if (shard.active() &&
        (other->end_slot() <= shard.first_slot() || other->first_slot() >= shard.end_slot()))
      continue;
    others.push_back(key);
  }
  for (const std::string& key : others) {
    auto holder = read_lock(client, key);
    if (!holder)
      return make_error(holds_lease ? holder.error().code : ExitCode::kConnect, holder.error().message);
    if (!*holder) continue;
    std::string message = "destination " + destination + " is locked by another run whose slots overlap ";
    message += shard.active() ? "this run (--shard " + shard.text() + ")" : "this run (all slots)";
    message += ": " + key + " held by " + (*holder)->describe();
    message +=
        ". Wait for it to end, or run with the same --shard count (an unsharded run and sharded runs exclude "
        "each other, with --no-lock too); clear a dead lease with `redis-migrate unlock DESTINATION_URL` "
        "(--shard I/N for a shard's)";
    return make_error(ExitCode::kLocked, message);
  }
  return {};
}

Result<std::size_t> prune_shard_registry(StateClient& client, const std::string& prefix) {
  auto entries = read_registry(client, prefix);
  if (!entries) return entries.error();
  std::vector<std::pair<RegistryEntry, select::Shard>> gone;
  for (const auto& e : *entries) {
    const auto shard = shard_of_key(prefix, e.key);
    if (!shard) continue;
    auto holder = read_lock(client, e.key);
    if (!holder) return holder.error();
    if (!*holder) gone.emplace_back(e, *shard);
  }
  if (gone.empty()) return std::size_t{0};
  auto runs = list_runs(client, prefix);
  if (!runs) return runs.error();
  std::set<std::string> removable;
  for (const auto& [entry, shard] : gone) {
    const std::string text = shard.text();
    const bool unfinished = std::any_of(runs->begin(), runs->end(), [&](const RunRecord& r) {
      const auto it = r.fingerprint.find("shard");
      return it != r.fingerprint.end() && it->is_string() && it->get<std::string>() == text &&
             r.status != "finished";
    });
    if (!unfinished) removable.insert(entry.key);
  }
  return remove_entries(client, prefix, *entries, removable);
}

Result<bool> forget_shard(StateClient& client, const std::string& prefix, const select::Shard& shard) {
  if (!shard.active()) return false;
  const std::string key = lock_key(prefix, shard);
  auto entries = read_registry(client, prefix);
  if (!entries) return entries.error();
  const auto it =
      std::find_if(entries->begin(), entries->end(), [&](const RegistryEntry& e) { return e.key == key; });
  if (it == entries->end()) return false;
  // A run that took the lease after the unlock keeps its entry. Entries registered in the same millisecond go
  // with it when their leases are gone too (an entry matters only while its lease is held).
  std::set<std::string> removable;
  for (const auto& e : *entries) {
    if (e.score != it->score) continue;
    auto holder = read_lock(client, e.key);
    if (!holder) return holder.error();
    if (!*holder) removable.insert(e.key);
  }
  if (removable.count(key) == 0) return false;
  auto removed = remove_entries(client, prefix, *entries, removable);
  if (!removed) return removed.error();
  return *removed > 0;
}

}  // namespace rmig::state
