#include "support/preserved.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <sstream>
#include <utility>

#include "util/escape.hpp"

namespace rmig::test {

namespace {

std::vector<std::string> user_keys(KeyReader& server, const std::string& tool_prefix) {
  std::vector<std::string> keys = server.scan_all("*");
  keys.erase(std::remove_if(keys.begin(), keys.end(),
                            [&](const std::string& k) { return k.rfind(tool_prefix, 0) == 0; }),
             keys.end());
  return keys;
}

bool same_value(const KeySnapshot& a, const KeySnapshot& b) { return a.type == b.type && a.items == b.items; }

}  // namespace

KeysBefore keys_before(const std::vector<KeyReader*>& servers, const std::string& tool_prefix) {
  KeysBefore out;
  for (KeyReader* s : servers) {
    const std::vector<std::string> keys = user_keys(*s, tool_prefix);
    const std::vector<KeySnapshot> snaps = snapshot_keys(*s, keys);
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (snaps[i].type == "none") continue;
      auto range = out.keys.equal_range(keys[i]);
      const bool known = std::any_of(range.first, range.second,
                                     [&](const auto& kv) { return same_value(kv.second, snaps[i]); });
      if (!known) out.keys.emplace(keys[i], snaps[i]);
    }
  }
  return out;
}

std::string PreservedResult::summary() const {
  std::ostringstream o;
  o << "checked " << checked << ", lost " << lost << ", changed " << changed << "; keys after:";
  for (std::size_t n : keys_after)
    o << " " << n;
  for (const auto& e : examples)
    o << "\n  " << e;
  return o.str();
}

PreservedResult check_preserved(const KeysBefore& before, const std::vector<KeyReader*>& servers,
                                const std::function<std::string(const std::string&)>& renamed,
                                const std::string& tool_prefix) {
  PreservedResult r;
  for (KeyReader* s : servers)
    r.keys_after.push_back(user_keys(*s, tool_prefix).size());
  // Each key under each name it may have, on every server.
  std::vector<std::string> names;
  for (const auto& [key, snap] : before.keys) {
    names.push_back(key);
    if (renamed) {
      std::string other = renamed(key);
      if (!other.empty() && other != key) names.push_back(std::move(other));
    }
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  std::multimap<std::string, KeySnapshot> after;
  std::set<std::pair<std::string, std::vector<std::string>>> values_after;  // every value, under any name
  for (KeyReader* s : servers) {
    const std::vector<std::string> keys = user_keys(*s, tool_prefix);
    const std::vector<KeySnapshot> snaps = snapshot_keys(*s, keys);
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (snaps[i].type == "none") continue;
      values_after.emplace(snaps[i].type, snaps[i].items);
      if (std::binary_search(names.begin(), names.end(), keys[i])) after.emplace(keys[i], snaps[i]);
    }
  }
  for (const auto& [key, snap] : before.keys) {
    ++r.checked;
    bool exists = false, equal = values_after.count({snap.type, snap.items}) != 0;
    for (const std::string& name : {key, renamed ? renamed(key) : std::string()}) {
      if (name.empty()) continue;
      auto range = after.equal_range(name);
      for (auto it = range.first; it != range.second; ++it) {
        exists = true;
        if (same_value(it->second, snap)) equal = true;
      }
    }
    if (equal) continue;
    ++(exists ? r.changed : r.lost);
    if (r.examples.size() < 10)
      r.examples.push_back((exists ? "changed \"" : "lost \"") + printable(key) + "\"");
  }
  return r;
}

void require_preserved(const PreservedResult& result, std::size_t min_checked, const char* file, int line) {
  const bool ok = result.lost == 0 && result.changed == 0 && result.checked >= min_checked;
  if (!ok) {
    const std::string message = "keys that existed before the run are not all there after it (at least " +
                                std::to_string(min_checked) + " expected): " + result.summary();
    DOCTEST_ADD_FAIL_AT(file, line, message);
  }
}

ServerImage server_image(KeyReader& server) {
  ServerImage image;
  const std::vector<std::string> keys = server.scan_all();
  std::vector<Command> cmds;
  for (const auto& k : keys) {
    cmds.push_back({"DUMP", k});
    cmds.push_back({"PTTL", k});
  }
  const std::vector<Reply> replies = server.pipeline(cmds);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    image.dumps[keys[i]] = replies[2 * i].str;
    image.pttls[keys[i]] = replies[2 * i + 1].integer;
  }
  return image;
}

void check_unchanged(const ServerImage& before, const ServerImage& after, long long ttl_slack_ms,
                     const char* file, int line) {
  std::size_t differ = 0;
  std::string examples;
  auto note = [&](const std::string& what) {
    ++differ;
    if (examples.size() < 400) examples += " " + what;
  };
  for (const auto& [k, v] : before.dumps) {
    auto it = after.dumps.find(k);
    if (it == after.dumps.end()) {
      note("gone:" + k);
    } else if (it->second != v) {
      note("changed:" + k);
    } else {
      const long long a = before.pttls.at(k), b = after.pttls.at(k);
      if ((a < 0) != (b < 0) || b > a || a - b > ttl_slack_ms) note("ttl:" + k);
    }
  }
  for (const auto& [k, v] : after.dumps) {
    if (!before.dumps.count(k)) note("new:" + k);
  }
  if (differ > 0)
    DOCTEST_ADD_FAIL_CHECK_AT(file, line, differ << " keys differ from before the run:" << examples);
}

}  // namespace rmig::test
