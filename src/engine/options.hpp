#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "scripts/script.hpp"
#include "select/seen_filter.hpp"
#include "select/selection.hpp"
#include "util/enum_names.hpp"

namespace rmig::engine {

// skip: leave existing destination keys alone (BUSYKEY); replace: overwrite them; merge: fold hashes, sets
// and zsets into the existing key; fail: stop at the first existing key.
enum class ConflictPolicy { kSkip, kReplace, kMerge, kFail };
inline constexpr std::array<NamedValue<ConflictPolicy>, 4> kConflictPolicyNames = {{
    {ConflictPolicy::kSkip, "skip"},
    {ConflictPolicy::kReplace, "replace"},
    {ConflictPolicy::kMerge, "merge"},
    {ConflictPolicy::kFail, "fail"},
}};

using Selection = select::Selection;

// The bounded window: memory stays flat whatever the keyspace size.
struct WindowLimits {
  std::size_t keys = 2048;                   // keys between DUMP and the end of their RESTORE
  std::size_t bytes = 16u << 20;             // DUMP payload and rewrite-path chunk bytes held at once
  std::size_t scan_count = 1000;             // SCAN COUNT hint
  std::size_t destination_queue = 8u << 20;  // pause dispatching while more than this waits to be sent
};

// How keys travel. auto: DUMP/RESTORE, and the rewrite path for big keys and for keys whose payload the
// destination cannot read; dump: DUMP/RESTORE only; rewrite: every key is read and rebuilt with the type's
// own commands (see copy/rewrite/rewriter.hpp).
enum class CopyMode { kAuto, kDump, kRewrite };
inline constexpr std::array<NamedValue<CopyMode>, 3> kCopyModeNames = {{
    {CopyMode::kAuto, "auto"},
    {CopyMode::kDump, "dump"},
    {CopyMode::kRewrite, "rewrite"},
}};

// What the destination's version allows the rewrite path to recreate (from INFO server at start).
struct DestinationTraits {
  bool stream_metadata = true;  // XSETID ENTRIESADDED/MAXDELETEDID, XGROUP CREATE ENTRIESREAD (Redis >= 7.0)
  bool create_consumer = true;  // XGROUP CREATECONSUMER (Redis >= 6.2)
  bool field_ttls = true;       // hash field expiration, HPEXPIREAT (Redis >= 7.4, Valkey >= 9.0)
  std::string server;           // "Redis 7.0", for messages; empty when unknown
};

// --live: keep the destination exact after the bulk copy, from keyspace notifications, until a cut-over.
struct LiveOptions {
  bool enabled = false;
  // Keys pending at most (--live-pending-max); beyond it the run resyncs instead of growing.
  uint64_t pending_max = 1'000'000;
  // --assume-notifications: no probe keys prove notify-keyspace-events before the run.
  bool assume_notifications = false;
  // --until-idle SECONDS: after the bulk copy, cut over once no change but expirations and evictions arrived
  // for this long and nothing is pending (0: off).
  uint32_t until_idle_s = 0;
  // --verify-at-cutover: verify the selection after the cut-over (exit 1 on a difference).
  bool verify_at_cutover = false;
  // The bulk phase is a resync (compare before writing, delete destination keys whose source key is gone):
  // a live run resumed after it was killed, or a destination holding the selection already (--replace).
  bool resync_first = false;
};

struct CopyOptions {
  ConflictPolicy conflict = ConflictPolicy::kSkip;
  CopyMode mode = CopyMode::kAuto;
  // auto mode: keys above this size (MEMORY USAGE, or the type's length where MEMORY is refused) take the
  // rewrite path in chunks instead of one DUMP; 0 turns the size check off.
  uint64_t big_key_threshold = 64'000'000;
  DestinationTraits destination;
  // The source may hold hash fields with TTLs (Redis >= 7.4, Valkey >= 9.0, or its version unknown): the
  // rewrite path reads them (HPTTL) with each chunk of fields.
  bool source_field_ttls = true;
  // A hash with field TTLs onto a destination without field expiration: copy its fields without their TTLs
  // (counted field_ttls_dropped) instead of failing the key.
  bool drop_field_ttls = false;
  // Carry each key's LRU idle time or LFU frequency on the dump path: OBJECT IDLETIME / OBJECT FREQ (by the
  // source's maxmemory-policy) read before the DUMP, RESTORE ... IDLETIME / FREQ.
  bool keep_idle = false;
  // Auto mode, the destination reading the source's DUMP payloads: strings are read with GETRANGE and their
  // payload is built with this RDB version (the source's) instead of DUMPed (copy/fetch_stage.hpp); 0: every
  // key is DUMPed.
  int string_payload_rdb = 0;
  // With string reads: the destination writes those strings with SET (Redis >= 6.2: PXAT, and SET allowed to
  // the user): the value as read, no payload built (copy/restore_stage.hpp). Off: RESTORE of a built payload.
  bool string_writes = false;
  bool source_lfu = false;   // the source's maxmemory-policy is an LFU one: OBJECT FREQ, else OBJECT IDLETIME
  std::string run_id = "0";  // distinguishes this run's temporary keys from another run's
  bool merge_prefer_source = false;  // merge: a field or member on both sides takes the source's value
  bool cleanup = false;              // delete each source key after its copy, if unchanged
  bool dry_run = false;              // read only: count what would be copied
  Selection selection;
  WindowLimits window;
  std::size_t examples = 10;           // dry run: keys listed as examples
  uint32_t retry_timeout_ms = 60'000;  // how long a retryable per-key error (LOADING, BUSY) is retried
  std::size_t seen_filter_bytes = 16u << 20;
  // A copy with rename rules: remember the destination names this run has taken (a filter like the seen
  // filter, at most seen_filter_bytes), and fail a key whose destination name another selected key already
  // took instead of writing it (collisions the pre-scan could not see: beyond its memory bound, or keys
  // created during the run).
  bool detect_rename_collisions = false;
  // Writing runs: watch the destination's evicted_keys (INFO stats) on every destination node at the start,
  // every second, and before deletions: a source key is deleted only after a reading taken after its copy was
  // acknowledged shows no eviction (Engine::deletion_gate).
  bool watch_evictions = false;
  uint64_t rate_limit_keys = 0;   // keys per second read from the source; 0: unlimited
  uint64_t rate_limit_bytes = 0;  // DUMP payload bytes per second read from the source; 0: unlimited
  // EVALSHA and UNLINK on each side, probed at start (check_commands): a refused one is replaced by EVAL /
  // DEL.
  scripts::ScriptCommands source_scripts;       // the source's primaries (cleanup's compare-and-delete)
  scripts::ScriptCommands destination_scripts;  // the destination (merge script, temporary keys)
  LiveOptions live;
  // --threads: event loops, one thread each (engine::Crew); 0: the default (one per source node, at most the
  // cores available).
  uint32_t threads = 0;
  // Set by engine::Crew for its engines: the duplicate filter and the rename-target filter all its event
  // loops share (concurrent select::SeenFilter); null: the engine keeps its own.
  std::shared_ptr<const select::SeenFilter> shared_seen;
  std::shared_ptr<const select::SeenFilter> shared_targets;
};

}  // namespace rmig::engine
