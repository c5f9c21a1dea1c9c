#include "support/writer.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <stdexcept>

namespace rmig::test {

namespace {

constexpr std::array<const char*, 6> kTypes = {"string", "list", "set", "zset", "hash", "stream"};
constexpr std::array<const char*, kFamilies> kFamilyNames = {
    "string",    "list",   "set",  "zset", "hash",    "stream", "delete", "expire",
    "pop-empty", "rename", "copy", "move", "restore", "multi",  "eval",   "field-ttl"};

// The pair of keys of one type in one group: "<prefix>{g}:<type>:a" and ":b".
std::string key_name(const std::string& prefix, std::size_t group, std::size_t type, bool second) {
  return prefix + "{" + std::to_string(group) + "}:" + kTypes[type] + (second ? ":b" : ":a");
}

// splitmix64: small, seeded, good enough to spread operations.
std::uint64_t next(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

bool any_error(const std::vector<Reply>& replies, std::string& text) {
  for (const auto& r : replies) {
    if (r.is_error()) {
      text = r.str;
      return true;
    }
    // EXEC's array holds the commands' own replies.
    if (r.is_array()) {
      for (const auto& e : r.elements) {
        if (e.is_error()) {
          text = e.str;
          return true;
        }
      }
    }
  }
  return false;
}

bool glob_at(const char* p, const char* pe, const char* s, const char* se) {
  while (p < pe) {
    switch (*p) {
      case '*':
        while (p + 1 < pe && p[1] == '*')
          ++p;
        if (p + 1 == pe) return true;
        for (const char* t = s; t <= se; ++t) {
          if (glob_at(p + 1, pe, t, se)) return true;
        }
        return false;
      case '?':
        if (s == se) return false;
        ++s;
        ++p;
        break;
      case '[': {
        if (s == se) return false;
        ++p;
        const bool negate = p < pe && *p == '^';
        if (negate) ++p;
        bool found = false;
        while (p < pe && *p != ']') {
          if (*p == '\\' && p + 1 < pe) {
            ++p;
            found |= *p == *s;
            ++p;
          } else if (p + 2 < pe && p[1] == '-' && p[2] != ']') {
            char lo = p[0], hi = p[2];
            if (lo > hi) std::swap(lo, hi);
            found |= *s >= lo && *s <= hi;
            p += 3;
          } else {
            found |= *p == *s;
            ++p;
          }
        }
        if (p < pe) ++p;  // the ']'
        if (found == negate) return false;
        ++s;
        break;
      }
      case '\\':
        if (p + 1 < pe) ++p;
        [[fallthrough]];
      default:
        if (s == se || *p != *s) return false;
        ++p;
        ++s;
    }
  }
  return s == se;
}

}  // namespace

const char* family_name(Family f) { return kFamilyNames[static_cast<std::size_t>(f)]; }

std::string WriterStats::summary() const {
  std::string s = std::to_string(operations) + " operations:";
  for (std::size_t i = 0; i < kFamilies; ++i) {
    s += std::string(" ") + kFamilyNames[i] + "=" + std::to_string(ok[i]);
    if (errors[i] != 0) s += "(+" + std::to_string(errors[i]) + " errors)";
  }
  if (reconnects != 0) s += " reconnects=" + std::to_string(reconnects);
  if (!last_error.empty()) s += "; last error: " + last_error;
  return s;
}

Writer::Writer(ConnectOptions connect, WriterOptions options)
    : connect_(std::move(connect)), options_(std::move(options)), rng_(options_.seed) {
  if (options_.cluster) options_.move_db = -1;
}

Writer::~Writer() {
  try {
    stop();
  } catch (...) {
  }
}

std::unique_ptr<KeyWriter> Writer::connect_main() const {
  if (options_.cluster) return std::make_unique<ClusterClient>(connect_);
  return std::make_unique<Client>(connect_);
}

void Writer::start() {
  if (thread_.joinable()) throw std::logic_error("writer already running");
  stop_ = false;
  started_ = false;
  error_ = nullptr;
  {
    auto c = connect_main();
    const Reply info = c->command({"COMMAND", "INFO", "HPEXPIRE"});
    field_ttls_ = info.is_array() && !info.elements.empty() && info.elements[0].is_array();
    if (options_.prefill) prefill(*c);
  }
  thread_ = std::thread([this] { run(); });
}

void Writer::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (error_) {
    auto e = error_;
    error_ = nullptr;
    std::rethrow_exception(e);
  }
}

WriterStats Writer::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

std::vector<std::string> Writer::keys() const {
  std::vector<std::string> out;
  for (std::size_t g = 0; g < options_.groups; ++g) {
    for (std::size_t t = 0; t < kTypes.size(); ++t) {
      out.push_back(key_name(options_.prefix, g, t, false));
      out.push_back(key_name(options_.prefix, g, t, true));
    }
  }
  return out;
}

void Writer::count(Family f, bool ok, const std::string& error) {
  std::lock_guard lock(mu_);
  ++stats_.operations;
  if (ok) {
    ++stats_.ok[static_cast<std::size_t>(f)];
  } else {
    ++stats_.errors[static_cast<std::size_t>(f)];
    stats_.last_error = error;
  }
  operations_.store(stats_.operations);
}

void Writer::prefill(KeyWriter& c) {
  std::vector<Command> cmds;
  for (std::size_t g = 0; g < options_.groups; ++g) {
    for (bool second : {false, true}) {
      const std::string v = "v" + std::to_string(g);
      cmds.push_back({"SET", key_name(options_.prefix, g, 0, second), second ? "7" : v});
      cmds.push_back({"RPUSH", key_name(options_.prefix, g, 1, second), "a", "b", "c"});
      cmds.push_back({"SADD", key_name(options_.prefix, g, 2, second), "a", "b", "c"});
      cmds.push_back({"ZADD", key_name(options_.prefix, g, 3, second), "1", "a", "2.5", "b"});
      cmds.push_back({"HSET", key_name(options_.prefix, g, 4, second), "f1", v, "f2", "x"});
      cmds.push_back({"XADD", key_name(options_.prefix, g, 5, second), "*", "f", v});
      // A few keys with a long TTL from the start.
      if (g % 3 == 0) cmds.push_back({"PEXPIRE", key_name(options_.prefix, g, 4, second), "3600000"});
    }
  }
  c.pipeline_checked(cmds);
}

void Writer::run() {
  using clock = std::chrono::steady_clock;
  std::unique_ptr<KeyWriter> c;
  std::unique_ptr<Client> other_db;
  const auto begin = clock::now();
  std::uint64_t n = 0;
  try {
    while (!stop_) {
      try {
        if (!c) {
          c = connect_main();
          if (options_.move_db >= 0) {
            ConnectOptions o = connect_;
            o.db = options_.move_db;
            other_db = std::make_unique<Client>(o);
          }
        }
        one(*c, other_db.get());
      } catch (const std::runtime_error& e) {
        // A dropped or timed-out connection: whatever that command did is on the source or not; the check
        // compares the source with the destination, so only the connection matters. Reconnect.
        {
          std::lock_guard lock(mu_);
          ++stats_.reconnects;
          stats_.last_error = e.what();
        }
        c.reset();
        other_db.reset();
        std::this_thread::sleep_for(50ms);
        continue;
      }
      ++n;
      if (options_.rate > 0) {
        const auto due = begin + std::chrono::duration_cast<clock::duration>(
                                     std::chrono::duration<double>(static_cast<double>(n) / options_.rate));
        const auto now = clock::now();
        if (due > now) std::this_thread::sleep_for(std::min<clock::duration>(due - now, 100ms));
      }
    }
  } catch (...) {
    error_ = std::current_exception();
  }
}

void Writer::one(KeyWriter& c, Client* other_db) {
  const std::uint64_t r = next(rng_);
  const std::size_t g = r % options_.groups;
  const std::size_t type = (r >> 16) % kTypes.size();
  const bool second = ((r >> 24) & 1) != 0;
  const std::string k = key_name(options_.prefix, g, type, second);
  const std::string other = key_name(options_.prefix, g, type, !second);
  const std::string v = "v" + std::to_string(r % 100000);
  const unsigned pick = static_cast<unsigned>((r >> 32) % 100);

  std::string error;
  auto single = [&](Family f, const Command& cmd) {
    const Reply reply = c.command(cmd);
    count(f, !reply.is_error(), reply.str);
    return reply;
  };
  auto several = [&](Family f, const std::vector<Command>& cmds) {
    const auto replies = c.pipeline(cmds);
    const bool failed = any_error(replies, error);
    count(f, !failed, error);
    return replies;
  };

  // About a third of the operations are generic (any type), the rest the type's own commands.
  if (pick < 33) {
    const unsigned which = pick % 11;
    switch (which) {
      case 0: single(Family::kDelete, {(r & 1) != 0 ? "DEL" : "UNLINK", k}); return;
      case 1:
        if (pick < 20) {
          single(Family::kExpire, {"PEXPIRE", k, std::to_string(100 + r % 300)});  // expires during the run
        } else {
          single(Family::kExpire, {"EXPIRE", k, std::to_string(600 + r % 600)});
        }
        return;
      case 2: single(Family::kExpire, {"PERSIST", k}); return;
      case 3: single(Family::kRename, {"RENAME", k, other}); return;
      case 4: single(Family::kCopy, {"COPY", k, other, "REPLACE"}); return;
      case 5:
        if (other_db != nullptr) {
          if ((r & 2) != 0) {
            single(Family::kMove, {"MOVE", k, std::to_string(options_.move_db)});
          } else {
            // Back from the other database: a key appears in the copied one with no write there.
            const Reply reply = other_db->command({"MOVE", k, std::to_string(connect_.db)});
            count(Family::kMove, !reply.is_error(), reply.str);
          }
          return;
        }
        [[fallthrough]];
      case 6: {
        const Reply dump = c.command({"DUMP", other});
        if (!dump.is_string()) {
          single(Family::kDelete, {"DEL", k});
          return;
        }
        single(Family::kRestore,
               {"RESTORE", k, (r & 4) != 0 ? std::to_string(60000 + r % 60000) : "0", dump.str, "REPLACE"});
        return;
      }
      case 7:
      case 8: {
        // A transaction over three keys of the group (one slot): sent one by one on a single connection.
        const std::string s = key_name(options_.prefix, g, 0, second);
        const std::string l = key_name(options_.prefix, g, 1, second);
        const std::string h = key_name(options_.prefix, g, 4, !second);
        std::vector<Command> tx = {
            {"MULTI"},
            {"SET", s, v},
            {"LPUSH", l, v},
            {"HSET", h, "tx", v},
            {which == 7 ? "DEL" : "PEXPIRE", key_name(options_.prefix, g, 2, second), "250"},
            {"EXEC"}};
        if (which == 7) tx[4].pop_back();
        std::vector<Reply> replies;
        if (auto* cc = dynamic_cast<ClusterClient*>(&c)) {
          const std::string node = cc->node_for_slot(key_slot(s));
          for (const auto& cmd : tx)
            replies.push_back(cc->command_on(node, cmd));
          // A MULTI answered by a node that no longer owns the slot may be left open: close it.
          if (any_error(replies, error) && !replies.back().is_array()) cc->command_on(node, {"DISCARD"});
          for (const auto& reply : replies) {
            if (reply.is_error("MOVED") || reply.is_error("EXECABORT")) {
              cc->refresh_slots();
              break;
            }
          }
        } else {
          replies = c.pipeline(tx);
        }
        count(Family::kMulti, !any_error(replies, error), error);
        return;
      }
      case 9: {
        static const std::string kScript =
            "redis.call('APPEND', KEYS[1], ARGV[1]) "
            "redis.call('RPUSH', KEYS[2], ARGV[1]) "
            "if redis.call('SCARD', KEYS[3]) > 2 then redis.call('DEL', KEYS[3]) "
            "else redis.call('SADD', KEYS[3], ARGV[1]) end "
            "return 1";
        single(Family::kEval,
               {"EVAL", kScript, "3", key_name(options_.prefix, g, 0, true),
                key_name(options_.prefix, g, 1, second), key_name(options_.prefix, g, 2, second), v});
        return;
      }
      default:
        // A string with a short TTL: written, then gone before long.
        single(Family::kExpire,
               {"SET", key_name(options_.prefix, g, 0, second), v, "PX", std::to_string(100 + r % 300)});
        return;
    }
  }

  const unsigned op = pick % 5;
  switch (type) {
    case 0:
      if (op == 0) {
        single(Family::kString, {"SET", k, v});
      } else if (op == 1) {
        const Reply reply = c.command({"INCR", k});
        if (reply.is_error()) {
          single(Family::kString, {"SET", k, std::to_string(r % 1000)});  // not a number: make it one
        } else {
          count(Family::kString, true);
        }
      } else if (op == 2) {
        single(Family::kString, {"APPEND", k, "+" + v});
      } else if (op == 3) {
        single(Family::kDelete, {"GETDEL", k});
      } else {
        single(Family::kString, {"SET", k, v, "KEEPTTL"});
      }
      return;
    case 1:
      if (op == 0 || op == 1) {
        single(Family::kList, {op == 0 ? "LPUSH" : "RPUSH", k, v, "x" + v});
      } else if (op == 2) {
        single(Family::kList, {"LPOP", k});
      } else if (op == 3) {
        single(Family::kPopEmpty, {"LPOP", k, "1000"});
      } else {
        single(Family::kList, {"LTRIM", k, "0", "4"});
      }
      return;
    case 2:
      if (op <= 1) {
        single(Family::kSet, {"SADD", k, v, "m" + std::to_string(r % 7)});
      } else if (op == 2) {
        single(Family::kSet, {"SREM", k, "m" + std::to_string(r % 7)});
      } else {
        single(Family::kPopEmpty, {"SPOP", k, "1000"});
      }
      return;
    case 3:
      if (op == 0) {
        single(Family::kZset, {"ZADD", k, std::to_string(r % 1000) + ".5", v});
      } else if (op == 1) {
        single(Family::kZset, {"ZINCRBY", k, "1.25", "m" + std::to_string(r % 5)});
      } else if (op == 2) {
        single(Family::kZset, {"ZREM", k, "m" + std::to_string(r % 5)});
      } else {
        single(Family::kPopEmpty, {"ZPOPMIN", k, "1000"});
      }
      return;
    case 4:
      if (op == 0) {
        single(Family::kHash, {"HSET", k, "f" + std::to_string(r % 6), v});
      } else if (op == 1) {
        single(Family::kHash, {"HINCRBY", k, "n", "3"});
      } else if (op == 2 && field_ttls_) {
        // HSET first, so that the field exists and the TTL lands (then expires it within a second or two).
        several(Family::kFieldTtl, {{"HSET", k, "ttl", v},
                                    {"HPEXPIRE", k, std::to_string(300 + r % 1500), "FIELDS", "1", "ttl"}});
      } else if (op == 3) {
        const Reply fields = c.command({"HKEYS", k});
        if (fields.is_array() && !fields.elements.empty()) {
          Command del = {"HDEL", k};
          for (const auto& f : fields.elements)
            del.push_back(f.str);
          single(Family::kPopEmpty, del);
        } else {
          single(Family::kHash, {"HSET", k, "f0", v});
        }
      } else {
        single(Family::kHash, {"HDEL", k, "f" + std::to_string(r % 6)});
      }
      return;
    default:
      if (op <= 1) {
        single(Family::kStream, {"XADD", k, "*", "f", v});
      } else if (op == 2) {
        const Reply first = c.command({"XRANGE", k, "-", "+", "COUNT", "1"});
        if (first.is_array() && !first.elements.empty() && first.elements[0].is_array() &&
            !first.elements[0].elements.empty()) {
          single(Family::kStream, {"XDEL", k, first.elements[0].elements[0].str});
        } else {
          single(Family::kStream, {"XADD", k, "*", "g", v});
        }
      } else if (op == 3) {
        single(Family::kStream, {"XTRIM", k, "MAXLEN", "3"});
      } else {
        single(Family::kStream, {"XADD", k, "MAXLEN", "10", "*", "h", v});
      }
      return;
  }
}

bool glob_match(const std::string& pattern, const std::string& text) {
  return glob_at(pattern.data(), pattern.data() + pattern.size(), text.data(), text.data() + text.size());
}

namespace {

bool has_command(KeyReader& c, const std::string& name) {
  const Reply info = c.command({"COMMAND", "INFO", name});
  return info.is_array() && !info.elements.empty() && info.elements[0].is_array();
}

// Per hash key of `keys` on `c`: "field expire_at" for every field that has a TTL, sorted.
std::map<std::string, std::vector<std::pair<std::string, long long>>> field_expiries(
    KeyReader& c, const std::vector<std::string>& keys) {
  std::map<std::string, std::vector<std::pair<std::string, long long>>> out;
  for (const auto& k : keys) {
    const Reply type = c.command({"TYPE", k});
    if (type.str != "hash") continue;
    const Reply fields = c.command({"HKEYS", k});
    if (!fields.is_array() || fields.elements.empty()) continue;
    Command cmd = {"HPEXPIRETIME", k, "FIELDS", std::to_string(fields.elements.size())};
    for (const auto& f : fields.elements)
      cmd.push_back(f.str);
    const Reply at = c.command(cmd);
    if (!at.is_array()) continue;
    auto& v = out[k];
    for (std::size_t i = 0; i < at.elements.size() && i < fields.elements.size(); ++i) {
      if (at.elements[i].is_integer() && at.elements[i].integer >= 0)
        v.emplace_back(fields.elements[i].str, at.elements[i].integer);
    }
    std::sort(v.begin(), v.end());
  }
  return out;
}

}  // namespace

CompareResult compare_exact(KeyReader& source, KeyReader& destination, const std::string& match,
                            CompareOptions options) {
  const std::string prefix = options.tool_prefix;
  auto tool_key = [&](const std::string& k) { return !prefix.empty() && k.rfind(prefix, 0) == 0; };
  options.include = [&](const std::string& k) { return glob_match(match, k) && !tool_key(k); };
  options.check_extra_keys_on_dst = false;
  CompareResult result = compare_keyspaces(source, destination, options);
  auto add = [&](std::string difference) {
    if (result.differences.size() < CompareResult::kMaxDifferences)
      result.differences.push_back(std::move(difference));
  };

  // Destination keys of the selection whose source key is gone. A copy whose expiry is within the tolerance
  // is about to go by itself (the source expired its key first); anything else is left behind.
  std::set<std::string> expected;
  std::vector<std::string> src_keys;
  for (auto& k : source.scan_all(match)) {
    if (!tool_key(k)) {
      expected.insert(options.rename(k));
      src_keys.push_back(k);
    }
  }
  std::vector<std::string> extra;
  for (auto& k : destination.scan_all(match)) {
    if (!tool_key(k) && expected.count(k) == 0) extra.push_back(std::move(k));
  }
  if (!extra.empty()) {
    const std::vector<KeySnapshot> d = snapshot_keys(destination, extra);
    std::vector<std::string> stale;
    for (std::size_t i = 0; i < extra.size(); ++i) {
      if (d[i].type == "none") continue;
      stale.push_back(extra[i]);
    }
    // The source may have written the name since it was scanned: look once more.
    const std::vector<KeySnapshot> s = snapshot_keys(source, stale);
    const std::vector<KeySnapshot> d2 = snapshot_keys(destination, stale);
    for (std::size_t i = 0; i < stale.size(); ++i) {
      if (s[i].type != "none" || d2[i].type == "none") continue;
      if (d2[i].pttl >= 0 && d2[i].pttl <= options.ttl_tolerance_ms) {
        ++result.expiring_skipped;
        continue;
      }
      ++result.extra_on_dst;
      add("left on dst, gone on src: \"" + stale[i] + "\" (" + d2[i].type + ", TTL " +
          (d2[i].pttl == -1 ? std::string("none") : std::to_string(d2[i].pttl) + " ms") + ")");
    }
  }

  // Hash field TTLs (Redis 7.4+, Valkey 9+): HGETALL does not show them.
  if (has_command(source, "HPEXPIRETIME") && has_command(destination, "HPEXPIRETIME")) {
    std::vector<std::string> dst_names;
    for (const auto& k : src_keys)
      dst_names.push_back(options.rename(k));
    // Fields about to expire may be gone on one side only by the time it is read: left out.
    const Reply time = source.command({"TIME"});
    const long long now_ms =
        time.is_array() && time.elements.size() == 2
            ? std::stoll(time.elements[0].str) * 1000 + std::stoll(time.elements[1].str) / 1000
            : 0;
    auto lasting = [&](std::vector<std::pair<std::string, long long>> v) {
      std::erase_if(v, [&](const auto& f) { return f.second <= now_ms + options.ttl_tolerance_ms; });
      return v;
    };
    const auto a = field_expiries(source, src_keys);
    const auto b = field_expiries(destination, dst_names);
    std::set<std::string> seen;
    for (const auto& [k, all_fields] : a) {
      seen.insert(options.rename(k));
      const auto fields = lasting(all_fields);
      auto it = b.find(options.rename(k));
      const auto other =
          lasting(it == b.end() ? std::vector<std::pair<std::string, long long>>{} : it->second);
      bool same = fields.size() == other.size();
      for (std::size_t i = 0; same && i < fields.size(); ++i) {
        same = fields[i].first == other[i].first &&
               std::llabs(fields[i].second - other[i].second) <= options.ttl_tolerance_ms;
      }
      if (!same) {
        ++result.value_differs;
        if (result.equal > 0) --result.equal;
        add("hash field TTLs differ: \"" + k + "\": src " + std::to_string(fields.size()) +
            " fields with a TTL, dst " + std::to_string(other.size()));
      }
    }
    for (const auto& [k, all_fields] : b) {
      if (seen.count(k) == 0 && !lasting(all_fields).empty()) {
        ++result.value_differs;
        add("hash field TTLs on dst only: \"" + k + "\"");
      }
    }
  }
  return result;
}

}  // namespace rmig::test
