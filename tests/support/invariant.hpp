#pragma once
// The invariant every test that deletes or overwrites checks: every key that existed anywhere before the run
// exists somewhere after it, with its value. Keys are matched by value (type and content), not by name, so a
// key moved under a new name (a rename, a move in place) still counts as present.

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "support/client.hpp"
#include "support/compare.hpp"

namespace rmig::test {

// Every key of the given servers (the tool's own keys under `tool_prefix` left out), by value.
struct KeyValues {
  // "type\n" + the value's items, one per line -> the names holding it (with the server's index).
  std::map<std::string, std::vector<std::string>> by_value;
  std::size_t keys = 0;
};
KeyValues key_values(const std::vector<KeyReader*>& servers,
                     const std::string& tool_prefix = "redis-migrate:");

// Doctest assertions: each value of `before` is held by some key in `after` (a move takes a holder away, a
// copy adds one; a value held by none is lost); failures name the first lost keys. Seed keys with values of
// their own, so that one key's value cannot stand in for another's.
void check_nothing_lost(const KeyValues& before, const KeyValues& after, const char* file = __builtin_FILE(),
                        int line = __builtin_LINE());

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
