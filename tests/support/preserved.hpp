#pragma once
// The invariant of every run that deletes or overwrites: each key that existed anywhere before the run exists
// somewhere after it, with its value. Take a snapshot of every server involved before the run, then check
// the servers after it.

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
  std::size_t lost = 0;                 // exist nowhere after the run (under any allowed name)
  std::size_t changed = 0;              // exist, but with another type or value
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

}  // namespace rmig::test
