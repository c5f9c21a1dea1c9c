#include "resp/probe.hpp"

#include <spdlog/spdlog.h>

#include <charconv>
#include <cstdlib>

#include "resp/info.hpp"

namespace rmig::resp {

namespace {

// "7.2.4" -> {7, 2}; {0, 0} when it does not parse.
std::pair<int, int> major_minor(const std::string& version) {
  int major = 0, minor = 0;
  const char* p = version.data();
  const char* end = p + version.size();
  auto r = std::from_chars(p, end, major);
  if (r.ec != std::errc()) return {0, 0};
  if (r.ptr < end && *r.ptr == '.') std::from_chars(r.ptr + 1, end, minor);
  return {major, minor};
}

}  // namespace

int rdb_version(const ServerFacts& facts) noexcept {
  const auto [major, minor] = major_minor(facts.version);
  if (major == 0) return 0;
  const int v = major * 100 + minor;
  if (facts.server == "valkey") {
    if (v >= 702 && v < 900) return 11;
    if (v >= 900 && v < 1000) return 80;
    return 0;
  }
  if (v < 500) return 0;
  if (v < 700) return 9;
  if (v < 702) return 10;
  if (v < 704) return 11;
  if (v < 806) return 12;
  if (v < 808) return 13;
  return 0;
}

bool has_field_ttls(const ServerFacts& facts) noexcept {
  const auto [major, minor] = major_minor(facts.version);
  if (major == 0) return true;
  const int v = major * 100 + minor;
  return facts.server == "valkey" ? v >= 900 : v >= 704;
}

std::optional<bool> reads_payloads(const ServerFacts& src, const ServerFacts& dst, std::string* why) {
  const int s = rdb_version(src);
  const int d = rdb_version(dst);
  if (s == 0 || d == 0) return std::nullopt;
  auto say = [&](std::string text) {
    if (why != nullptr) *why = std::move(text);
  };
  const std::string src_text = server_name(src) + " (RDB " + std::to_string(s) + ")";
  const std::string dst_text = server_name(dst) + " (RDB " + std::to_string(d) + ")";
  if (s > d) {
    say(dst_text + " cannot read the newer payloads of " + src_text);
    return false;
  }
  if (dst.server == "valkey" && src.server != "valkey" && s >= 12 && s < 80) {
    say(dst_text + " refuses Redis's RDB " + std::to_string(s) +
        " payloads (a foreign format; rdb-version-check relaxed still fails Redis's newer encodings) of " +
        src_text);
    return false;
  }
  say(dst_text + " reads the payloads of " + src_text);
  return true;
}

std::string server_name(const ServerFacts& facts) {
  const auto [major, minor] = major_minor(facts.version);
  std::string name = facts.server == "valkey" ? "Valkey" : "Redis";
  if (major == 0) return name + (facts.version.empty() ? "" : " " + facts.version);
  return name + " " + std::to_string(major) + "." + std::to_string(minor);
}

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
  if (!f.version.empty()) f.server = "valkey";
  if (f.version.empty()) f.version = get("redis_version");
  f.role = get("role");
  if (f.role == "slave") {
    f.primary = get("master_host") + ":" + get("master_port");
    f.primary_host = get("master_host");
    f.primary_port = std::atoi(get("master_port").c_str());
  }
  f.port = std::atoi(get("tcp_port").c_str());
  f.replid = get("master_replid");
  f.replid2 = get("master_replid2");
  if (f.replid2.find_first_not_of('0') == std::string::npos) f.replid2.clear();  // no previous history
  f.maxmemory_policy = get("maxmemory_policy");
  if (auto e = get("evicted_keys"); !e.empty()) f.evicted_keys = std::atoll(e.c_str());
  f.cluster = get("cluster_enabled") == "1";
  f.maxmemory_policy = get("maxmemory_policy");
  for (const auto& [k, v] : info) {
    if (k.size() > 5 && k.compare(0, 5, "slave") == 0 && v.find("ip=") != std::string::npos) {
      // "ip=127.0.0.1,port=7001,state=online,offset=...,lag=0"
      const std::string& line = v;
      auto field = [&line](std::string_view name) {
        const std::size_t p = line.find(name);
        if (p == std::string::npos) return std::string();
        const std::size_t end = line.find(',', p);
        return line.substr(p + name.size(),
                           end == std::string::npos ? std::string::npos : end - p - name.size());
      };
      f.replicas.push_back(field("ip=") + ":" + field("port="));
      continue;
    }
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
