#pragma once
// The invariant of every run that deletes or overwrites: each key that existed anywhere before the run exists
// somewhere after it, with its value (under its name, the name `renamed` gives it, or any other name: a key
// moved by a rename rule still counts). Take a snapshot of every server involved before the run, then check
// the servers after it. Seed keys with values of their own, so that one key's value cannot stand in for
// another's.

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "support/client.hpp"
#include "support/compare.hpp"

namespace rmig::test {

// Every key of the servers (SCAN; on a cluster every primary) with its type and value, except the tool's own
// keys under `tool_prefix`. A key on two servers is kept once per distinct value.
struct KeysBefore {
  std::multimap<std::string, KeySnapshot> keys;
  std::size_t size() const { return keys.size(); }
};
KeysBefore keys_before(const std::vector<KeyReader*>& servers,
                       const std::string& tool_prefix = "redis-migrate:");

struct PreservedResult {
  std::size_t checked = 0;
  std::size_t lost = 0;                 // their value exists nowhere after the run, and their names hold none
  std::size_t changed = 0;              // their value exists nowhere after the run; a name holds another one
  std::vector<std::size_t> keys_after;  // per server, keys other than the tool's own
  std::vector<std::string> examples;    // the first few lost or changed keys, readable
  std::string summary() const;
};

// `renamed`: the other name a key may have after the run (an in-place rename), or "" for none.
PreservedResult check_preserved(const KeysBefore& before, const std::vector<KeyReader*>& servers,
                                const std::function<std::string(const std::string&)>& renamed = {},
                                const std::string& tool_prefix = "redis-migrate:");

// Doctest assertion: nothing lost, nothing changed, at least min_checked keys checked; the counts of every
// server after the run are in the message.
void require_preserved(const PreservedResult& result, std::size_t min_checked = 1,
                       const char* file = __builtin_FILE(), int line = __builtin_LINE());

// Every key's DUMP and PTTL on a server, for "nothing was written" checks (byte-identical before and after;
// PTTLs within `ttl_slack_ms`).
struct ServerImage {
  std::map<std::string, std::string> dumps;
  std::map<std::string, long long> pttls;
};
ServerImage server_image(KeyReader& server);
void check_unchanged(const ServerImage& before, const ServerImage& after, long long ttl_slack_ms = 5000,
                     const char* file = __builtin_FILE(), int line = __builtin_LINE());

}  // namespace rmig::test
