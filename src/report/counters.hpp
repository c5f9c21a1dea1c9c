#pragma once
// What happened to the keys of a run. Every key taken from SCAN ends in exactly one of copied, skipped,
// expired, vanished or failed (or, in a dry run, would_copy/would_skip); duplicates are keys SCAN returned
// again.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace rmig::report {

struct Counters {
  uint64_t scanned = 0;          // distinct keys taken into the pipeline
  uint64_t copied = 0;           // written on the destination (by RESTORE or by the rewrite path)
  uint64_t rewritten = 0;        // of the copied keys, those rebuilt by the rewrite path
  uint64_t skipped = 0;          // already on the destination (conflict policy skip)
  uint64_t expired = 0;          // TTL ran out before the key could be restored
  uint64_t vanished = 0;         // deleted between SCAN and DUMP
  uint64_t failed = 0;           // per-key errors, see the error groups
  uint64_t bytes = 0;            // DUMP payload bytes restored
  uint64_t duplicates = 0;       // keys SCAN returned more than once, counted once
  uint64_t deleted = 0;          // --cleanup: source keys deleted after their copy
  uint64_t cleanup_kept = 0;     // --cleanup: source keys kept because they changed during the copy
  uint64_t cleanup_failed = 0;   // --cleanup: deletions that failed
  uint64_t redirects_moved = 0;  // cluster: -MOVED answers followed (the slot map changed)
  uint64_t redirects_ask = 0;    // cluster: -ASK answers followed (a slot was being migrated)
  uint64_t merged = 0;           // --on-conflict merge: folded into the existing destination key
  uint64_t conflicts = 0;  // existing destination keys the policy could not handle (merge of a string, fail)
  // Rewrite path: parts of streams the destination could not be given (pending entries whose message was
  // deleted, consumers without pending entries on a server without XGROUP CREATECONSUMER).
  uint64_t stream_not_recreated = 0;
  uint64_t big_keys = 0;  // keys above --big-key-threshold (rewritten in chunks)
  // Keys the destination evicted during the run (its evicted_keys, summed over its nodes; not per source
  // node). Any eviction stops every deletion and ends the run with exit code 5.
  uint64_t evicted = 0;
  // --drop-field-ttls: hashes copied without their field TTLs (the destination has no field expiration).
  uint64_t field_ttls_dropped = 0;
  // Dry run only.
  uint64_t would_copy = 0;
  uint64_t would_copy_bytes = 0;
  uint64_t would_skip = 0;      // already on the destination, left alone by the conflict policy
  uint64_t would_merge = 0;     // already on the destination, merged into by --on-conflict merge
  uint64_t would_conflict = 0;  // already on the destination, and the policy cannot handle it (merge, fail)
  uint64_t existing = 0;        // already on the destination (skipped or replaced, depending on the policy)
  // verify and cleanup: every checked key ends in exactly one of equal, missing, type_differs, value_differs,
  // ttl_differs or field_ttl_differs (keys that vanished or expired on the source are not checked).
  uint64_t checked = 0;
  uint64_t equal = 0;
  uint64_t missing = 0;        // not on the destination (under its renamed name)
  uint64_t type_differs = 0;   // on both sides with different types
  uint64_t value_differs = 0;  // same type, different value
  uint64_t ttl_differs = 0;    // same value; one side persistent, or TTLs further apart than the tolerance
  // same value and key TTL; a hash field's TTL present on one side only, or further apart than the tolerance
  uint64_t field_ttl_differs = 0;
  uint64_t would_delete = 0;  // cleanup --dry-run: keys that verify equal and would be deleted
  // --live: keys copied again after a change or by a resync (replacing the destination's copy); destination
  // keys deleted because their source key no longer exists; keys a resync found equal and did not write.
  uint64_t recopied = 0;
  uint64_t removed = 0;
  uint64_t unchanged = 0;

  Counters& operator+=(const Counters& o);
  uint64_t done() const noexcept {
    return copied + skipped + expired + vanished + failed + merged + conflicts + would_copy + would_skip +
           would_merge + would_conflict + checked + recopied + removed + unchanged;
  }
  uint64_t differences() const noexcept {
    return missing + type_differs + value_differs + ttl_differs + field_ttl_differs;
  }
};

// Every counter by name, for the JSON report and checkpoints.
struct CounterField {
  const char* name;
  uint64_t Counters::*member;
};
extern const CounterField kCounterFields[];
extern const std::size_t kCounterFieldCount;

// A key above --big-key-threshold, listed in the summary and the report.
struct BigKey {
  std::string key;  // raw bytes
  std::string type;
  uint64_t size = 0;  // MEMORY USAGE, or the estimate from the type's length
};

// The first kMaxListed big keys; the rest are only counted (Counters::big_keys).
class BigKeys {
 public:
  static constexpr std::size_t kMaxListed = 100;
  void add(BigKey k) {
    if (list_.size() < kMaxListed) list_.push_back(std::move(k));
  }
  const std::vector<BigKey>& listed() const noexcept { return list_; }

 private:
  std::vector<BigKey> list_;
};

struct NodeCounters {
  std::string name;  // host:port of a source node
  Counters counters;
};

// A key listed by a dry run / plan.
struct Example {
  std::string key;     // raw bytes
  std::string target;  // the destination name when renamed, else empty
  std::string action;  // "copy", "skip (exists)", "replace (exists)", "expired", "vanished"
  uint64_t bytes = 0;
};

// A key that verify found different (the first N are kept).
struct Difference {
  std::string key;     // raw bytes, the source key
  std::string target;  // the destination name when renamed, else empty
  std::string kind;    // "missing", "type differs", "value differs", "ttl differs"
  std::string detail;  // one line, key names and values printable-escaped
};

// Per-key failures grouped by message, each with a count and the first key that hit it.
class ErrorGroups {
 public:
  static constexpr std::size_t kMaxGroups = 50;
  struct Group {
    std::string message;
    uint64_t count = 0;
    std::string example_key;  // raw bytes; printed through printable()
  };

  // `count` errors of this message (a merge of other groups: one call per group).
  void add(std::string_view message, std::string_view key, uint64_t count = 1);
  bool empty() const noexcept { return groups_.empty(); }
  uint64_t total() const noexcept { return total_; }
  // Most frequent first.
  std::vector<Group> sorted() const;

 private:
  std::map<std::string, Group, std::less<>> groups_;
  uint64_t total_ = 0;
};

}  // namespace rmig::report
