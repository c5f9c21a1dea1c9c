#pragma once

#include <cstddef>
#include <cstdint>

namespace rmig::copy {

enum class ConflictPolicy { kSkip, kReplace };

// The bounded window: memory stays flat whatever the keyspace size.
struct WindowLimits {
  std::size_t keys = 2048;                   // keys between DUMP and the end of their RESTORE
  std::size_t bytes = 16u << 20;             // DUMP payload bytes held at once
  std::size_t scan_count = 1000;             // SCAN COUNT hint
  std::size_t destination_queue = 8u << 20;  // pause dispatching while more than this waits to be sent
};

struct CopyOptions {
  ConflictPolicy conflict = ConflictPolicy::kSkip;
  bool cleanup = false;  // delete each source key after its copy, if unchanged
  bool dry_run = false;  // read only: count what would be copied
  WindowLimits window;
  std::size_t examples = 10;           // dry run: keys listed as examples
  uint32_t retry_timeout_ms = 60'000;  // how long a retryable per-key error (LOADING, BUSY) is retried
  std::size_t seen_filter_bytes = 16u << 20;
};

}  // namespace rmig::copy
