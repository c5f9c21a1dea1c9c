#pragma once

#include <memory>
#include <string>
#include <vector>

namespace rmig::select {

class RenameRules;

// Which keys a run takes, and under which name they land.
struct Selection {
  std::vector<std::string>
      match;  // glob patterns (any matches); exactly one goes to the server as SCAN MATCH
  std::vector<std::string> exclude;  // glob patterns (none may match)
  std::vector<std::string> types;    // string, list, set, zset, hash, stream (any); empty: every type
  std::shared_ptr<const RenameRules> rename;  // null: names unchanged
  std::string own_prefix = "redis-migrate:";  // the tool's lock and state keys: never selected
  // Source and destination are the same database: a key no rule renames would land on itself, so only
  // renamed keys are selected.
  bool renamed_only = false;
  // The source answers SCAN ... TYPE (Redis >= 6.0): with exactly one type it filters server-side.
  bool scan_type_supported = true;

  bool needs_type_check() const noexcept {
    return !types.empty() && !(types.size() == 1 && scan_type_supported);
  }
};

}  // namespace rmig::select
