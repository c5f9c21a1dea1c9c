#pragma once
// What a run knows about a server, from one INFO call (resp/probe.hpp asks it): identity (to detect that
// source and destination are the same server, or a primary and its replica), release, role, cluster mode,
// eviction policy and counter, and per-DB key counts. The release is parsed once, into ServerVersion; every
// decision that depends on it (the RDB format, field TTLs, commands a release has) asks that type.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rmig::resp {

enum class ServerKind : uint8_t { kRedis, kValkey };

// A server's release: valkey_version when INFO has it (Valkey also reports redis_version, as 7.2.4), else
// redis_version. "8.0.2" -> 8, 0, 2; missing parts are 0. A text that does not start with a number above 0
// (no INFO, an ACL user without it, garbage) is unknown: major 0.
struct ServerVersion {
  ServerKind kind = ServerKind::kRedis;
  int major = 0;
  int minor = 0;
  int patch = 0;
  std::string text;  // as INFO gave it; empty without INFO

  static ServerVersion parse(ServerKind kind, std::string_view text);

  bool known() const noexcept { return major > 0; }
  bool valkey() const noexcept { return kind == ServerKind::kValkey; }
  // At least major.minor.patch; false when unknown (the caller says what unknown means).
  bool at_least(int major, int minor = 0, int patch = 0) const noexcept;
  // "redis" / "valkey", as the JSON report names the server.
  const char* server() const noexcept { return valkey() ? "valkey" : "redis"; }
  // "Valkey 8.0" / "Redis 7.0"; "Redis" and the text as given when it did not parse; for messages.
  std::string name() const;
  // The RDB format version of the DUMP payloads this release writes, which is also the newest it can
  // RESTORE: Redis 5.0-6.2 write 9, 7.0 10, 7.2 11, 7.4-8.4 12, 8.6 13; Valkey 7.2-8.x 11, 9.x 80. 0 when
  // unknown (no INFO, a release newer than this table): then only a RESTORE can tell.
  int rdb_version() const noexcept;
  // Hash field expiration (HPEXPIRE, HPTTL): Redis >= 7.4, Valkey >= 9.0; assumed when unknown (an "unknown
  // command" answer then says no).
  bool has_field_ttls() const noexcept;
};

struct ServerFacts {
  bool known = false;  // false when INFO is not allowed (ACL) or failed: the fields below are empty
  std::string run_id;
  ServerVersion version;     // unknown without INFO
  std::string role;          // "master" / "slave"
  std::string primary;       // host:port of the primary, for replicas
  std::string primary_host;  // master_host and master_port, for replicas
  int primary_port = 0;
  int port = 0;  // tcp_port
  // master_replid: the replication history a primary and its replicas share (every replica reports its
  // primary's), and master_replid2, the previous one after a failover.
  std::string replid;
  std::string replid2;
  std::vector<std::string> replicas;  // host:port of each connected replica (slaveN: ip=...,port=...)
  bool cluster = false;               // cluster_enabled:1
  std::string maxmemory_policy;       // INFO memory, e.g. "allkeys-lfu"; empty when absent
  int64_t evicted_keys = -1;          // INFO stats; -1 when absent
  std::map<int, uint64_t> db_keys;    // db number -> keys (INFO keyspace)
};

// ServerFacts from the fields of INFO (all sections, as parse_info gives them).
ServerFacts facts_from_info(const std::map<std::string, std::string, std::less<>>& info);

// The same questions asked of a server's facts.
inline int rdb_version(const ServerFacts& facts) noexcept { return facts.version.rdb_version(); }
inline bool has_field_ttls(const ServerFacts& facts) noexcept { return facts.version.has_field_ttls(); }
inline std::string server_name(const ServerFacts& facts) { return facts.version.name(); }

// Whether `dst` RESTOREs the DUMP payloads `src` writes, from the RDB versions: an older RDB version reads,
// a newer one does not; Valkey 9 numbers its format 80 and refuses Redis's 12-79 (the range it reserves for
// foreign formats) unless rdb-version-check is relaxed, which still does not make Redis's newer encodings
// (hash field TTLs) readable: it counts as not reading them. Unknown (nullopt) when either version is.
// `why` gets the reason in words ("Valkey 9.1 (RDB 80) refuses Redis's RDB 12").
std::optional<bool> reads_payloads(const ServerFacts& src, const ServerFacts& dst,
                                   std::string* why = nullptr);

}  // namespace rmig::resp
