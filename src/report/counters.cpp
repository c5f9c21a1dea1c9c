#include "report/counters.hpp"

#include <algorithm>
#include <iterator>

namespace rmig::report {

Counters& Counters::operator+=(const Counters& o) {
  for (std::size_t i = 0; i < kCounterFieldCount; ++i)
    this->*kCounterFields[i].member += o.*kCounterFields[i].member;
  return *this;
}

const CounterField kCounterFields[] = {
    {"scanned", &Counters::scanned},
    {"copied", &Counters::copied},
    {"rewritten", &Counters::rewritten},
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
    {"merged", &Counters::merged},
    {"conflicts", &Counters::conflicts},
    {"stream_not_recreated", &Counters::stream_not_recreated},
    {"big_keys", &Counters::big_keys},
    {"evicted", &Counters::evicted},
    {"field_ttls_dropped", &Counters::field_ttls_dropped},
    {"would_copy", &Counters::would_copy},
    {"would_copy_bytes", &Counters::would_copy_bytes},
    {"would_skip", &Counters::would_skip},
    {"would_merge", &Counters::would_merge},
    {"would_conflict", &Counters::would_conflict},
    {"existing", &Counters::existing},
    {"checked", &Counters::checked},
    {"equal", &Counters::equal},
    {"missing", &Counters::missing},
    {"type_differs", &Counters::type_differs},
    {"value_differs", &Counters::value_differs},
    {"ttl_differs", &Counters::ttl_differs},
    {"field_ttl_differs", &Counters::field_ttl_differs},
    {"would_delete", &Counters::would_delete},
    {"recopied", &Counters::recopied},
    {"removed", &Counters::removed},
    {"unchanged", &Counters::unchanged},
};
const std::size_t kCounterFieldCount = std::size(kCounterFields);
static_assert(sizeof(Counters) == std::size(kCounterFields) * sizeof(uint64_t),
              "every counter is listed in kCounterFields (sums, checkpoints)");

void ErrorGroups::add(std::string_view message, std::string_view key, uint64_t count) {
  total_ += count;
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
  it->second.count += count;
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
