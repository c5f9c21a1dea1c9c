#include "resp/server_facts.hpp"

#include <charconv>
#include <cstdlib>
#include <tuple>

namespace rmig::resp {

ServerVersion ServerVersion::parse(ServerKind kind, std::string_view text) {
  ServerVersion v;
  v.kind = kind;
  v.text = std::string(text);
  const char* p = text.data();
  const char* end = p + text.size();
  int parts[3] = {0, 0, 0};
  for (int i = 0; i < 3; ++i) {
    auto r = std::from_chars(p, end, parts[i]);
    if (r.ec != std::errc() || parts[i] < 0) {
      if (i == 0) return v;  // unknown
      parts[i] = 0;
      break;
    }
    p = r.ptr;
    if (p == end || *p != '.') break;
    ++p;
  }
  if (parts[0] <= 0) return v;
  v.major = parts[0];
  v.minor = parts[1];
  v.patch = parts[2];
  return v;
}

bool ServerVersion::at_least(int ma, int mi, int pa) const noexcept {
  return known() && std::tie(major, minor, patch) >= std::tie(ma, mi, pa);
}

std::string ServerVersion::name() const {
  std::string n = valkey() ? "Valkey" : "Redis";
  if (!known()) return n + (text.empty() ? "" : " " + text);
  return n + " " + std::to_string(major) + "." + std::to_string(minor);
}

int ServerVersion::rdb_version() const noexcept {
  if (!known()) return 0;
  if (valkey()) {
    if (at_least(7, 2) && !at_least(9)) return 11;
    if (at_least(9) && !at_least(10)) return 80;
    return 0;
  }
  if (!at_least(5)) return 0;
  if (!at_least(7)) return 9;
  if (!at_least(7, 2)) return 10;
  if (!at_least(7, 4)) return 11;
  if (!at_least(8, 6)) return 12;
  if (!at_least(8, 8)) return 13;
  return 0;
}

bool ServerVersion::has_field_ttls() const noexcept {
  if (!known()) return true;
  return valkey() ? at_least(9) : at_least(7, 4);
}

ServerFacts facts_from_info(const std::map<std::string, std::string, std::less<>>& info) {
  ServerFacts f;
  f.known = true;
  auto get = [&](std::string_view k) -> std::string {
    auto it = info.find(k);
    return it == info.end() ? std::string() : it->second;
  };
  f.run_id = get("run_id");
  if (auto valkey = get("valkey_version"); !valkey.empty()) {
    f.version = ServerVersion::parse(ServerKind::kValkey, valkey);
  } else {
    f.version = ServerVersion::parse(ServerKind::kRedis, get("redis_version"));
  }
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
  if (dst.version.valkey() && !src.version.valkey() && s >= 12 && s < 80) {
    say(dst_text + " refuses Redis's RDB " + std::to_string(s) +
        " payloads (a foreign format; rdb-version-check relaxed still fails Redis's newer encodings) of " +
        src_text);
    return false;
  }
  say(dst_text + " reads the payloads of " + src_text);
  return true;
}

}  // namespace rmig::resp
