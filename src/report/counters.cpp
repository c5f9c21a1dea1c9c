#include "report/counters.hpp"

#include <algorithm>
#include <iterator>

namespace rmig::report {

Counters& Counters::operator+=(const Counters& o) {
  scanned += o.scanned;
  copied += o.copied;
  skipped += o.skipped;
  expired += o.expired;
  vanished += o.vanished;
  failed += o.failed;
  bytes += o.bytes;
  duplicates += o.duplicates;
  deleted += o.deleted;
  cleanup_kept += o.cleanup_kept;
  cleanup_failed += o.cleanup_failed;
  redirects_moved += o.redirects_moved;
  redirects_ask += o.redirects_ask;
  merged += o.merged;
  conflicts += o.conflicts;
  would_copy += o.would_copy;
  would_copy_bytes += o.would_copy_bytes;
  would_skip += o.would_skip;
  would_merge += o.would_merge;
  would_conflict += o.would_conflict;
  existing += o.existing;
  checked += o.checked;
  equal += o.equal;
  missing += o.missing;
  type_differs += o.type_differs;
  value_differs += o.value_differs;
  ttl_differs += o.ttl_differs;
  would_delete += o.would_delete;
  return *this;
}

const CounterField kCounterFields[] = {
    {"scanned", &Counters::scanned},
    {"copied", &Counters::copied},
    {"skipped", &Counters::skipped},
    {"expired", &Counters::expired},
    {"vanished", &Counters::vanished},
    {"failed", &Counters::failed},
    {"bytes", &Counters::bytes},
    {"duplicates", &Counters::duplicates},
    {"deleted", &Counters::deleted},
    {"cleanup_kept", &Counters::cleanup_kept},
    {"cleanup_failed", &Counters::cleanup_failed},
    {"redirects_moved", &Counters::redirects_moved},
    {"redirects_ask", &Counters::redirects_ask},
    {"would_copy", &Counters::would_copy},
    {"would_copy_bytes", &Counters::would_copy_bytes},
    {"would_skip", &Counters::would_skip},
    {"existing", &Counters::existing},
    {"checked", &Counters::checked},
    {"equal", &Counters::equal},
    {"missing", &Counters::missing},
    {"type_differs", &Counters::type_differs},
    {"value_differs", &Counters::value_differs},
    {"ttl_differs", &Counters::ttl_differs},
    {"would_delete", &Counters::would_delete},
};
const std::size_t kCounterFieldCount = std::size(kCounterFields);

void ErrorGroups::add(std::string_view message, std::string_view key) {
  ++total_;
  auto it = groups_.find(message);
  if (it == groups_.end()) {
    if (groups_.size() >= kMaxGroups) {
      // Bound memory when every error is different: the rest share one group.
      message = "other errors (more than 50 distinct messages)";
      it = groups_.find(message);
    }
    if (it == groups_.end()) {
      it = groups_.emplace(std::string(message), Group{std::string(message), 0, std::string(key)}).first;
    }
  }
  ++it->second.count;
}

std::vector<ErrorGroups::Group> ErrorGroups::sorted() const {
  std::vector<Group> out;
  out.reserve(groups_.size());
  for (const auto& [_, g] : groups_)
    out.push_back(g);
  std::stable_sort(out.begin(), out.end(), [](const Group& a, const Group& b) { return a.count > b.count; });
  return out;
}

}  // namespace rmig::report
