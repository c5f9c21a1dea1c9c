#include "support/compare.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <stdexcept>
#include <utility>

#include "util/escape.hpp"

namespace rmig::test {

namespace {

// Keys read per pipelined round.
constexpr std::size_t kBatch = 500;

std::string q(const std::string& bytes) { return "\"" + rmig::printable(bytes) + "\""; }
std::string q_short(const std::string& bytes) { return "\"" + rmig::printable_short(bytes, 100) + "\""; }

std::string scalar(const Reply& r) {
  if (r.is_integer()) return std::to_string(r.integer);
  if (r.is_nil()) return "(nil)";
  if (r.is_error()) return "(error) " + r.str;
  return r.str;
}

// Field/value pairs of a flat RESP2 map reply (XINFO); nested values are skipped.
std::map<std::string, std::string> flat_map(const Reply& r) {
  std::map<std::string, std::string> m;
  for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2) {
    if (!r.elements[i + 1].is_array()) m[r.elements[i].str] = scalar(r.elements[i + 1]);
  }
  return m;
}

std::string error_item(const Reply& r) { return "(unexpected reply) " + r.to_string(); }

void add_string_items(KeySnapshot& s, const Reply& r) {
  if (!r.is_string()) {
    s.items.push_back(error_item(r));
    return;
  }
  s.items.push_back(q(r.str));
}

void add_list_items(KeySnapshot& s, const Reply& r, bool sort) {
  if (!r.is_array()) {
    s.items.push_back(error_item(r));
    return;
  }
  std::vector<std::string> raw;
  for (const auto& e : r.elements)
    raw.push_back(e.str);
  if (sort) std::sort(raw.begin(), raw.end());
  for (const auto& e : raw)
    s.items.push_back(q(e));
}

void add_pair_items(KeySnapshot& s, const Reply& r, bool sort, const char* separator, bool quote_second) {
  if (!r.is_array() || r.elements.size() % 2 != 0) {
    s.items.push_back(error_item(r));
    return;
  }
  std::vector<std::pair<std::string, std::string>> pairs;
  for (std::size_t i = 0; i < r.elements.size(); i += 2)
    pairs.emplace_back(r.elements[i].str, r.elements[i + 1].str);
  if (sort) std::sort(pairs.begin(), pairs.end());
  for (const auto& [a, b] : pairs)
    s.items.push_back(q(a) + separator + (quote_second ? q(b) : b));
}

// A zset score as the double it stands for: servers print the same double differently (Redis 7.0 "%.17g"
// "0.10000000000000001", Valkey 8 the shortest round trip "0.1"), so the text is parsed and printed one way.
std::string score_text(const std::string& text) {
  char* end = nullptr;
  const double d = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || *end != '\0') return "(not a score) " + q(text);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", d);
  return buf;
}

void add_zset_items(KeySnapshot& s, const Reply& r) {
  if (!r.is_array() || r.elements.size() % 2 != 0) {
    s.items.push_back(error_item(r));
    return;
  }
  for (std::size_t i = 0; i < r.elements.size(); i += 2)
    s.items.push_back(q(r.elements[i].str) + " " + score_text(r.elements[i + 1].str));
}

void add_stream_entries(KeySnapshot& s, const Reply& r) {
  if (!r.is_array()) {
    s.items.push_back(error_item(r));
    return;
  }
  for (const auto& entry : r.elements) {
    if (entry.elements.size() != 2) {
      s.items.push_back(error_item(entry));
      continue;
    }
    std::string item = "entry " + entry.elements[0].str;
    const auto& fields = entry.elements[1].elements;
    for (std::size_t i = 0; i + 1 < fields.size(); i += 2)
      item += " " + q(fields[i].str) + "=" + q(fields[i + 1].str);
    s.items.push_back(item);
  }
}

void add_stream_info(KeySnapshot& s, const Reply& r) {
  if (!r.is_array()) {
    s.items.push_back(error_item(r));
    return;
  }
  auto m = flat_map(r);
  s.items.push_back("last-generated-id " + m["last-generated-id"]);
  for (const char* f : {"max-deleted-entry-id", "entries-added", "recorded-first-entry-id"}) {
    if (auto it = m.find(f); it != m.end()) s.optional_fields[f] = it->second;
  }
}

// Returns the group names.
std::vector<std::string> add_stream_groups(KeySnapshot& s, const Reply& r) {
  std::vector<std::string> names;
  if (!r.is_array()) {
    s.items.push_back(error_item(r));
    return names;
  }
  std::vector<std::string> items;
  for (const auto& g : r.elements) {
    auto m = flat_map(g);
    names.push_back(m["name"]);
    items.push_back("group " + q(m["name"]) + " last-delivered-id " + m["last-delivered-id"] + " pending " +
                    m["pending"] + " consumers " + m["consumers"]);
    if (auto it = m.find("entries-read"); it != m.end()) {
      s.optional_fields["group " + q(m["name"]) + " entries-read"] = it->second;
    }
  }
  std::sort(items.begin(), items.end());
  s.items.insert(s.items.end(), items.begin(), items.end());
  return names;
}

void add_group_consumers(KeySnapshot& s, const std::string& group, const Reply& r) {
  if (!r.is_array()) {
    s.items.push_back(error_item(r));
    return;
  }
  std::vector<std::string> items;
  for (const auto& c : r.elements) {
    auto m = flat_map(c);
    items.push_back("consumer " + q(group) + "/" + q(m["name"]) + " pending " + m["pending"]);
  }
  std::sort(items.begin(), items.end());
  s.items.insert(s.items.end(), items.begin(), items.end());
}

void add_group_pending(KeySnapshot& s, const std::string& group, const Reply& r) {
  if (!r.is_array()) {
    s.items.push_back(error_item(r));
    return;
  }
  // [id, consumer, idle ms, delivery count]; the idle time is left out, it keeps growing.
  for (const auto& p : r.elements) {
    if (p.elements.size() != 4) {
      s.items.push_back(error_item(p));
      continue;
    }
    s.items.push_back("pending " + q(group) + " " + p.elements[0].str + " " + q(p.elements[1].str) +
                      " deliveries " + scalar(p.elements[3]));
  }
}

std::string ttl_text(std::int64_t pttl) {
  if (pttl == -1) return "no expiry";
  if (pttl == -2) return "no key";
  return std::to_string(pttl) + " ms";
}

bool ttl_matches(std::int64_t a, std::int64_t b, std::int64_t tolerance) {
  if (a < 0 || b < 0) return a == b;
  return (a > b ? a - b : b - a) <= tolerance;
}

class Recorder {
 public:
  explicit Recorder(CompareResult& r) : r_(r) {}
  void add(std::string difference) {
    if (r_.differences.size() < CompareResult::kMaxDifferences)
      r_.differences.push_back(std::move(difference));
  }

 private:
  CompareResult& r_;
};

std::string names(const std::string& src_key, const std::string& dst_key) {
  return src_key == dst_key ? q_short(src_key) : q_short(src_key) + " -> " + q_short(dst_key);
}

// The first difference between two value item lists, or empty.
std::string value_difference(const KeySnapshot& a, const KeySnapshot& b) {
  if (a.items != b.items) {
    std::size_t i = 0;
    while (i < a.items.size() && i < b.items.size() && a.items[i] == b.items[i])
      ++i;
    // Items are escaped already; only shorten them.
    auto item = [](const std::vector<std::string>& v, std::size_t at) {
      if (at >= v.size()) return std::string("(none)");
      return v[at].size() <= 160 ? v[at] : v[at].substr(0, 160) + "...";
    };
    std::string diff = "item " + std::to_string(i) + " (src has " + std::to_string(a.items.size()) +
                       " items, dst " + std::to_string(b.items.size()) + "): src ";
    diff += item(a.items, i);
    diff += " vs dst ";
    diff += item(b.items, i);
    return diff;
  }
  for (const auto& [field, value] : a.optional_fields) {
    auto it = b.optional_fields.find(field);
    if (it != b.optional_fields.end() && it->second != value) {
      std::string diff = field + ": src ";
      diff += value;
      diff += " vs dst ";
      diff += it->second;
      return diff;
    }
  }
  return {};
}

}  // namespace

std::vector<KeySnapshot> snapshot_keys(KeyReader& client, const std::vector<std::string>& keys) {
  std::vector<KeySnapshot> out(keys.size());
  std::vector<Command> cmds;
  cmds.reserve(keys.size() * 3);
  for (const auto& k : keys) {
    cmds.push_back({"TYPE", k});
    cmds.push_back({"PTTL", k});
    cmds.push_back({"PEXPIRETIME", k});
  }
  std::vector<Reply> meta = client.pipeline(cmds);
  cmds.clear();
  // Which commands of the second round belong to which key.
  std::vector<std::size_t> first(keys.size()), count(keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    KeySnapshot& s = out[i];
    const Reply* m = meta.data() + 3 * i;
    s.type = m[0].type == Reply::Type::kStatus ? m[0].str : error_item(m[0]);
    s.pttl = m[1].is_integer() ? m[1].integer : -2;
    if (m[2].is_integer()) s.expire_at = m[2].integer;
    const std::string& k = keys[i];
    first[i] = cmds.size();
    if (s.type == "string") {
      cmds.push_back({"GET", k});
    } else if (s.type == "list") {
      cmds.push_back({"LRANGE", k, "0", "-1"});
    } else if (s.type == "set") {
      cmds.push_back({"SMEMBERS", k});
    } else if (s.type == "zset") {
      cmds.push_back({"ZRANGE", k, "0", "-1", "WITHSCORES"});
    } else if (s.type == "hash") {
      cmds.push_back({"HGETALL", k});
    } else if (s.type == "stream") {
      cmds.push_back({"XRANGE", k, "-", "+"});
      cmds.push_back({"XINFO", "STREAM", k});
      cmds.push_back({"XINFO", "GROUPS", k});
    } else if (s.type != "none") {
      s.items.push_back("(type not compared) " + s.type);
    }
    count[i] = cmds.size() - first[i];
  }
  std::vector<Reply> values = client.pipeline(cmds);
  cmds.clear();
  // Per stream group: XINFO CONSUMERS and XPENDING, in a third round.
  struct GroupQuery {
    std::size_t key;
    std::string group;
  };
  std::vector<GroupQuery> groups;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    KeySnapshot& s = out[i];
    const Reply* v = values.data() + first[i];
    if (s.type == "string") {
      add_string_items(s, v[0]);
    } else if (s.type == "list") {
      add_list_items(s, v[0], false);
    } else if (s.type == "set") {
      add_list_items(s, v[0], true);
    } else if (s.type == "zset") {
      add_zset_items(s, v[0]);
    } else if (s.type == "hash") {
      add_pair_items(s, v[0], true, " => ", true);
    } else if (s.type == "stream" && count[i] == 3) {
      add_stream_entries(s, v[0]);
      add_stream_info(s, v[1]);
      for (auto& g : add_stream_groups(s, v[2])) {
        cmds.push_back({"XINFO", "CONSUMERS", keys[i], g});
        cmds.push_back({"XPENDING", keys[i], g, "-", "+", "1000000"});
        groups.push_back({i, std::move(g)});
      }
    }
  }
  if (!groups.empty()) {
    std::vector<Reply> replies = client.pipeline(cmds);
    for (std::size_t j = 0; j < groups.size(); ++j) {
      KeySnapshot& s = out[groups[j].key];
      add_group_consumers(s, groups[j].group, replies[2 * j]);
      add_group_pending(s, groups[j].group, replies[2 * j + 1]);
    }
  }
  return out;
}

KeySnapshot snapshot_key(KeyReader& client, const std::string& key) {
  return snapshot_keys(client, {key}).front();
}

CompareResult compare_keyspaces(KeyReader& src, KeyReader& dst, const CompareOptions& options) {
  CompareResult result;
  Recorder record(result);
  const std::int64_t tolerance = options.ttl_tolerance_ms;

  std::vector<std::string> src_keys;
  auto tool_key = [&](const std::string& k) {
    return !options.tool_prefix.empty() && k.rfind(options.tool_prefix, 0) == 0;
  };
  for (auto& k : src.scan_all()) {
    if (options.include(k) && !tool_key(k)) src_keys.push_back(std::move(k));
  }
  std::set<std::string> expected_on_dst;

  for (std::size_t begin = 0; begin < src_keys.size(); begin += kBatch) {
    std::size_t end = std::min(src_keys.size(), begin + kBatch);
    std::vector<std::string> batch(src_keys.begin() + static_cast<std::ptrdiff_t>(begin),
                                   src_keys.begin() + static_cast<std::ptrdiff_t>(end));
    std::vector<std::string> dst_batch;
    for (const auto& k : batch) {
      dst_batch.push_back(options.rename(k));
      expected_on_dst.insert(dst_batch.back());
    }
    std::vector<KeySnapshot> a = snapshot_keys(src, batch);
    std::vector<KeySnapshot> b = snapshot_keys(dst, dst_batch);
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const KeySnapshot& s = a[i];
      const KeySnapshot& d = b[i];
      const std::string who = names(batch[i], dst_batch[i]);
      if (s.type == "none") {
        ++result.vanished_on_src;
        continue;
      }
      ++result.compared;
      if (d.type == "none") {
        if (s.pttl >= 0 && s.pttl <= tolerance) {
          ++result.expiring_skipped;
          --result.compared;
          continue;
        }
        ++result.missing;
        record.add("missing on dst: " + who + " (" + s.type + ", src TTL " + ttl_text(s.pttl) + ")");
        continue;
      }
      if (s.type != d.type) {
        ++result.type_differs;
        record.add("type differs: " + who + ": src " + s.type + ", dst " + d.type);
        continue;
      }
      bool ok = true;
      if (std::string diff = value_difference(s, d); !diff.empty()) {
        ok = false;
        ++result.value_differs;
        std::string text = "value differs: " + who + " (";
        text += s.type;
        text += "): ";
        text += diff;
        record.add(std::move(text));
      }
      const bool absolute = s.expire_at != KeySnapshot::kUnknown && d.expire_at != KeySnapshot::kUnknown;
      if (absolute ? !ttl_matches(s.expire_at, d.expire_at, tolerance)
                   : !ttl_matches(s.pttl, d.pttl, tolerance)) {
        ok = false;
        ++result.ttl_differs;
        std::string text = "TTL differs: " + who + ": src " + ttl_text(s.pttl) + ", dst " + ttl_text(d.pttl);
        if (absolute) {
          text +=
              " (expiry src " + std::to_string(s.expire_at) + ", dst " + std::to_string(d.expire_at) + ")";
        }
        record.add(text + " (tolerance " + std::to_string(tolerance) + " ms)");
      }
      if (ok) ++result.equal;
    }
  }

  if (options.check_extra_keys_on_dst) {
    std::vector<std::string> extra;
    for (auto& k : dst.scan_all()) {
      if (expected_on_dst.count(k) == 0 && !tool_key(k)) extra.push_back(std::move(k));
    }
    for (std::size_t begin = 0; begin < extra.size(); begin += kBatch) {
      std::size_t end = std::min(extra.size(), begin + kBatch);
      std::vector<std::string> batch(extra.begin() + static_cast<std::ptrdiff_t>(begin),
                                     extra.begin() + static_cast<std::ptrdiff_t>(end));
      std::vector<KeySnapshot> d = snapshot_keys(dst, batch);
      for (std::size_t i = 0; i < batch.size(); ++i) {
        if (d[i].type == "none") continue;
        // A copy of a source key that has just expired there: it expires here too, any moment now.
        if (d[i].pttl >= 0 && d[i].pttl <= tolerance) {
          ++result.expiring_skipped;
          continue;
        }
        ++result.extra_on_dst;
        record.add("extra on dst: " + q_short(batch[i]) + " (" + d[i].type + ", TTL " + ttl_text(d[i].pttl) +
                   ")");
      }
    }
  }
  return result;
}

std::string CompareResult::summary() const {
  std::string s = "compared " + std::to_string(compared) + ", equal " + std::to_string(equal) + ", missing " +
                  std::to_string(missing) + ", type differs " + std::to_string(type_differs) +
                  ", value differs " + std::to_string(value_differs) + ", TTL differs " +
                  std::to_string(ttl_differs) + ", extra on dst " + std::to_string(extra_on_dst) +
                  " (vanished on src " + std::to_string(vanished_on_src) + ", expiring skipped " +
                  std::to_string(expiring_skipped) + ")";
  for (const auto& d : differences)
    s += "\n  " + d;
  std::size_t total = missing + type_differs + value_differs + ttl_differs + extra_on_dst;
  if (total > differences.size()) s += "\n  ... and more";
  return s;
}

namespace {

std::string same_failure(const CompareResult& result, std::size_t min_compared) {
  if (!result.same()) return "keyspaces differ: " + result.summary();
  if (result.compared < min_compared) {
    return "only " + std::to_string(result.compared) + " keys compared, expected at least " +
           std::to_string(min_compared) + ": " + result.summary();
  }
  return {};
}

}  // namespace

void require_same(const CompareResult& result, std::size_t min_compared, const char* file, int line) {
  std::string failure = same_failure(result, min_compared);
  if (!failure.empty()) DOCTEST_ADD_FAIL_AT(file, line, failure);
}

void check_same(const CompareResult& result, std::size_t min_compared, const char* file, int line) {
  std::string failure = same_failure(result, min_compared);
  if (!failure.empty()) DOCTEST_ADD_FAIL_CHECK_AT(file, line, failure);
}

}  // namespace rmig::test
