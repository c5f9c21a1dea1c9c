#include "support/invariant.hpp"

#include <doctest/doctest.h>

#include <cstdlib>

namespace rmig::test {

KeyValues key_values(const std::vector<KeyReader*>& servers, const std::string& tool_prefix) {
  KeyValues kv;
  for (std::size_t s = 0; s < servers.size(); ++s) {
    std::vector<std::string> keys;
    for (auto& k : servers[s]->scan_all()) {
      if (tool_prefix.empty() || k.rfind(tool_prefix, 0) != 0) keys.push_back(std::move(k));
    }
    const std::vector<KeySnapshot> snaps = snapshot_keys(*servers[s], keys);
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (snaps[i].type == "none") continue;  // expired between SCAN and the read
      std::string value = snaps[i].type + "\n";
      for (const auto& item : snaps[i].items)
        value += item + "\n";
      kv.by_value[value].push_back(std::to_string(s) + ":" + keys[i]);
      ++kv.keys;
    }
  }
  return kv;
}

void check_nothing_lost(const KeyValues& before, const KeyValues& after, const char* file, int line) {
  std::size_t lost = 0;
  std::string examples;
  for (const auto& [value, names] : before.by_value) {
    if (after.by_value.count(value) != 0) continue;
    lost += names.size();
    if (examples.size() < 400) examples += " " + names.front();
  }
  if (lost > 0) {
    DOCTEST_ADD_FAIL_CHECK_AT(file, line,
                              lost << " of " << before.keys << " keys before the run (" << after.keys
                                   << " after) have a value that exists nowhere after it, e.g." << examples);
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
