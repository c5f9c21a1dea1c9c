#pragma once
// The destination's lock: a lease, `SET <prefix>lock <value> NX PX <ttl>`, renewed while the run lives and
// deleted when it ends. The value names who holds it (host, pid, start time, command) plus a random token, so
// only the holder renews or deletes it (compare-and-renew, compare-and-delete in Lua). A run killed with
// SIGKILL cannot delete it: its lease expires by itself after the TTL.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "net/loop.hpp"
#include "select/selection.hpp"
#include "state/state_store.hpp"
#include "util/result.hpp"

namespace rmig::state {

// The ACL rule that lets the destination user keep the tool's own keys (the lease and the run records) under
// `prefix`, and nothing else: a Redis 7 selector, e.g.
// (~redis-migrate:* +get +set +del +pexpire +pttl +eval +zadd +zrevrange +zremrangebyscore).
std::string tool_keys_acl(std::string_view prefix);

// Who holds a lock, read from its value.
struct LockHolder {
  std::string host;
  int64_t pid = 0;
  std::string started_at;  // ISO 8601, UTC
  std::string command;
  std::string value;     // the raw value (compare-and-delete by unlock)
  int64_t pttl_ms = -1;  // remaining lease, -1 when it has none
  // The value is this tool's lease: a JSON object with a host, an integer pid and a start time. Anything else
  // (a user's key under a wrong --state-prefix) is never deleted by unlock.
  bool lease = false;
  // The holder is a live run (--live): it ends on a cut-over (`redis-migrate cutover`).
  bool live = false;
  // "host H pid P (copy ..., started T), until U (in 25s)"
  std::string describe() const;
};

// The value of a new lease: JSON with host, pid, started_at, command and a random token, and "live": true for
// a live run.
std::string lock_value(const std::string& command, bool live = false);
// Parses a lease value; fields stay empty (and `lease` false) when the value is not the tool's JSON.
LockHolder parse_lock_value(std::string_view value, int64_t pttl_ms);

// "2024-05-01T12:00:00Z" for a wall-clock time.
std::string iso_utc(std::chrono::system_clock::time_point t);

class Lease {
 public:
  // Takes the lease or explains who holds it (ExitCode::kLocked). `destination` names the server in
  // messages (redacted URL).
  // `live`: the lease says the run is a live run (see lock_value).
  static Result<std::unique_ptr<Lease>> acquire(StateClient& client, std::string key, uint32_t ttl_ms,
                                                const std::string& command, const std::string& destination,
                                                bool live = false);
  ~Lease();
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;

  // Renews on the loop every third of the TTL through its own connection. `on_lost` runs once when another
  // run holds the lock at a renewal (this one's lease had expired meanwhile); `on_vanished` when the lease
  // was gone (evicted, or a destination restarted without its data) and was taken again.
  void start_renewing(net::Loop& loop, const resp::ConnectOptions& seed, std::function<void(Error)> on_lost,
                      std::function<void()> on_vanished = {});
  void stop_renewing() noexcept;
  // Deletes the lease if it is still this run's.
  void release(StateClient& client);
  bool lost() const noexcept { return lost_; }
  const std::string& key() const noexcept { return key_; }
  const std::string& value() const noexcept { return value_; }

 private:
  Lease(std::string key, std::string value, uint32_t ttl_ms, std::string destination,
        resp::ConnectOptions at);
  void on_timer();
  void renew();
  void lose();

  std::string key_;
  std::string value_;
  uint32_t ttl_ms_;
  std::string destination_;
  resp::ConnectOptions at_;  // the node that answered the SET
  std::unique_ptr<StateLink> link_;
  std::unique_ptr<net::Timer> timer_;
  std::function<void(Error)> on_lost_;
  std::function<void()> on_vanished_;
  bool renewing_ = false;  // a renewal is in flight
  bool lost_ = false;
};

// The lease key of a run: <prefix>lock, or <prefix>lock:shard-I-of-N for shard I of N (--shard), so the
// shards of one migration do not lock each other out.
std::string lock_key(const std::string& prefix, const select::Shard& shard);

// This machine's host name ("unknown" when it cannot be read), as leases, run records and cut-over requests
// name their writer.
std::string host_name();
// 16 random hex digits: a lease's token, a cut-over request's id.
std::string random_token();
// The sorted set listing every shard lease key ever taken under `prefix` (<prefix>lock:shards).
std::string shard_registry_key(const std::string& prefix);
// After taking the lease `own`: whether a run whose slots overlap this one's holds its lease. A sharded run
// first registers its lease key in the registry (and gives the registry 30 days to live), then checks
// <prefix>lock and the registered shard leases of other shard counts; an unsharded run checks every
// registered shard lease. Each writes before it reads, so of two runs starting at once at least one sees the
// other. Fails with ExitCode::kLocked naming the holder and the fix.
// `holds_lease` false (--no-lock): the same reads, but nothing registered or written; a refused read fails
// with another code (ExitCode::kConnect) so the caller can tell "overlap" from "not checked".
Status exclude_overlapping(StateClient& client, const std::string& prefix, const select::Shard& shard,
                           const std::string& destination, bool holds_lease = true);
// Removes from the registry the entries whose lease is gone and whose shard's run records on the destination
// are all finished (or gone: expired, or kept in a --state-file). An entry is removed by its exact score
// (ZREMRANGEBYSCORE, within the tool's ACL rule), and only when every entry with that score goes: a run that
// registers again meanwhile gives its entry a new score and keeps it. Returns how many were removed.
Result<std::size_t> prune_shard_registry(StateClient& client, const std::string& prefix);
// `unlock --shard`: removes the shard's entry when its lease is gone (by its exact score, as above).
// Returns whether it did.
Result<bool> forget_shard(StateClient& client, const std::string& prefix, const select::Shard& shard);

// `redis-migrate unlock`: who holds the lock, then (confirmed) deletes that very value. nullopt: no lock. A
// key that is not a string is no lease: a usage error naming the key (exit code 2).
Result<std::optional<LockHolder>> read_lock(StateClient& client, const std::string& key);
// Deletes the lock if it still holds `value`; returns whether it did.
Result<bool> delete_lock(StateClient& client, const std::string& key, const std::string& value);

}  // namespace rmig::state
