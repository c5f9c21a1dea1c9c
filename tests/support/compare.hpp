#pragma once
// Key-by-key comparison of two keyspaces: existence, type, value by content per type, and TTL.
// This is what every copy test asserts; a key count alone proves nothing.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "support/client.hpp"

namespace rmig::test {

struct CompareOptions {
  // Destination name of a source key (for copies with a rename rule).
  std::function<std::string(const std::string&)> rename = [](const std::string& k) { return k; };
  // Source keys to compare; keys left out must not be on the destination either (check_extra_keys_on_dst).
  std::function<bool(const std::string&)> include = [](const std::string&) { return true; };
  // Allowed difference between the source's and the destination's expiry. The servers of the tests share the
  // machine's clock, so the absolute expiries (PEXPIRETIME) are compared where both servers have it: the
  // time between reading the two sides does not count. Before Redis 7, the remaining TTLs (PTTL).
  std::int64_t ttl_tolerance_ms = 2000;
  // Destination keys that no compared source key maps to are differences.
  bool check_extra_keys_on_dst = true;
  // The tool's own keys (its lock and run records) on either side: never copied, so never compared.
  std::string tool_prefix = "redis-migrate:";
};

struct CompareResult {
  std::size_t compared = 0;  // source keys that still existed when compared
  std::size_t equal = 0;     // ... and matched in every respect
  std::size_t missing = 0;   // absent on the destination
  std::size_t type_differs = 0;
  std::size_t value_differs = 0;
  std::size_t ttl_differs = 0;
  std::size_t extra_on_dst = 0;
  // Not differences: source keys that expired or were deleted between SCAN and reading them, and keys about
  // to expire (PTTL within the tolerance) that are absent on the other side.
  std::size_t vanished_on_src = 0;
  std::size_t expiring_skipped = 0;
  // The first kMaxDifferences differences, readable and binary-safe.
  std::vector<std::string> differences;
  static constexpr std::size_t kMaxDifferences = 20;

  bool same() const { return missing + type_differs + value_differs + ttl_differs + extra_on_dst == 0; }
  // "compared 1006, equal 1006, missing 0, ..." plus the differences, one per line.
  std::string summary() const;
};

CompareResult compare_keyspaces(KeyReader& src, KeyReader& dst, const CompareOptions& options = {});

// Doctest assertions: fail the test (require_*: and stop it) with the summary and the differences unless the
// keyspaces are the same and at least min_compared keys were compared. The failure is reported at the
// caller's line (__builtin_FILE/__builtin_LINE rather than std::source_location, which clang 14 tooling
// cannot parse with this libstdc++).
void require_same(const CompareResult& result, std::size_t min_compared = 1,
                  const char* file = __builtin_FILE(), int line = __builtin_LINE());
void check_same(const CompareResult& result, std::size_t min_compared = 1,
                const char* file = __builtin_FILE(), int line = __builtin_LINE());

// One key's content in comparable form: TYPE, PTTL and the value as a list of readable, exact items
// (e.g. `"member" 1.5` for a zset). Exposed for tests that check single keys.
struct KeySnapshot {
  std::string type;  // "none" when the key does not exist
  std::int64_t pttl = -2;
  // PEXPIRETIME (Redis 7 and later): the absolute expiry in ms, or -1 / -2 like PTTL; kUnknown before
  // Redis 7.
  static constexpr std::int64_t kUnknown = -3;
  std::int64_t expire_at = kUnknown;
  std::vector<std::string> items;
  // Compared only when both sides report them: stream metadata that older servers lack (entries-added, ...).
  std::map<std::string, std::string> optional_fields;
};
std::vector<KeySnapshot> snapshot_keys(KeyReader& client, const std::vector<std::string>& keys);
KeySnapshot snapshot_key(KeyReader& client, const std::string& key);

}  // namespace rmig::test
