#include "report/counters.hpp"

#include <algorithm>

namespace rmig::report {

Counters& Counters::operator+=(const Counters& o) {
  scanned += o.scanned;
  copied += o.copied;
  rewritten += o.rewritten;
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
  stream_not_recreated += o.stream_not_recreated;
  big_keys += o.big_keys;
  would_copy += o.would_copy;
  would_copy_bytes += o.would_copy_bytes;
  would_skip += o.would_skip;
  existing += o.existing;
  return *this;
}

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
