#include "resp/probe.hpp"

#include <spdlog/spdlog.h>

#include <charconv>

#include "resp/info.hpp"

namespace rmig::resp {

Result<ServerFacts> probe_server(net::Loop& loop, Connection& conn) {
  auto reply = call_sync(loop, conn, {"INFO"});
  if (!reply) return reply.error();
  ServerFacts f;
  const redisReply* r = reply->get();
  if (!is_string(r)) {
    // A minimal ACL user may not run INFO: the run goes on without the checks it enables.
    spdlog::debug("{}: INFO refused ({}); skipping the same-server and replica checks", conn.label(),
                  describe(r));
    return f;
  }
  auto info = parse_info(text(r));
  f.known = true;
  auto get = [&](std::string_view k) -> std::string {
    auto it = info.find(k);
    return it == info.end() ? std::string() : it->second;
  };
  f.run_id = get("run_id");
  f.version = get("valkey_version");
  if (f.version.empty()) f.version = get("redis_version");
  f.role = get("role");
  if (f.role == "slave") f.primary = get("master_host") + ":" + get("master_port");
  f.cluster = get("cluster_enabled") == "1";
  for (const auto& [k, v] : info) {
    if (k.size() < 3 || k.compare(0, 2, "db") != 0) continue;
    int db = 0;
    if (std::from_chars(k.data() + 2, k.data() + k.size(), db).ec != std::errc()) continue;
    // "keys=123,expires=4,avg_ttl=0"
    std::size_t p = v.find("keys=");
    if (p == std::string::npos) continue;
    uint64_t keys = 0;
    std::from_chars(v.data() + p + 5, v.data() + v.size(), keys);
    f.db_keys[db] = keys;
  }
  return f;
}

}  // namespace rmig::resp
