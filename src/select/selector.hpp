#pragma once
// Decides, key by key, whether a run takes a key and under which name: the tool's own prefix, --shard (the
// key's hash slot), --match,
// --exclude and --type, the rename rules, and (a copy with rename rules) the collision filter that remembers
// the destination names taken so far. It sends nothing: the engine sends TYPE when type_check() says so and
// brings the answer to type_selected().

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "select/glob.hpp"
#include "select/seen_filter.hpp"
#include "select/selection.hpp"

namespace rmig::select {

// The destination name of a selected key.
struct Naming {
  std::string renamed_to;  // the new name, when a rule renamed the key
  bool renamed = false;
  int rule = -1;  // the rule that applied, or -1
};

class Selector {
 public:
  // `detect_collisions`: remember the destination names taken (a filter sized for `expected_keys`, at most
  // `filter_bytes`) and fail a key whose destination name another selected key already took.
  // `shared_targets`: that filter, shared with other selectors (the engines of engine::Crew: a collision
  // between keys of two event loops is caught), instead of one of its own.
  Selector(Selection selection, bool detect_collisions, uint64_t expected_keys, std::size_t filter_bytes,
           const SeenFilter* shared_targets = nullptr);

  // What the server can filter itself: SCAN's MATCH and TYPE arguments (empty: none).
  const std::string& scan_match() const noexcept { return scan_match_; }
  const std::string& scan_type() const noexcept { return scan_type_; }

  // The selection by name: false when the key is not selected. A selected key's destination name is
  // written to `naming`.
  bool by_name(std::string_view key, Naming& naming);
  // As by_name(), for a name that did not come from this selection's SCAN (a keyspace notification, a
  // destination name inverted): the pattern SCAN would have applied (scan_match()) is checked too.
  bool by_name_unscanned(std::string_view key, Naming& naming) {
    if (sel_.match.size() == 1 && !glob_match(sel_.match.front(), key)) return false;
    return by_name(key, naming);
  }
  // The key's type must be asked (TYPE) before it is known to be selected.
  bool type_check() const noexcept { return type_check_; }
  bool type_selected(std::string_view type) const noexcept;
  // The key is taken (it counts as scanned): takes its destination name. Returns the message the key fails
  // with (a rename that gives an empty name, a rename collision found while copying), or empty.
  // `maybe_duplicate`: SCAN may have returned the key before (its own name is then no collision).
  std::string claim(const std::string& key, const Naming& naming, bool maybe_duplicate) {
    if (!targets_ && !naming.renamed) return {};  // nothing to check
    return claim_checked(key, naming, maybe_duplicate);
  }

 private:
  std::string claim_checked(const std::string& key, const Naming& naming, bool maybe_duplicate);

  Selection sel_;
  std::string scan_match_;
  std::string scan_type_;
  bool type_check_ = false;
  // Copies with rename rules (detect_collisions): the destination names taken so far.
  std::unique_ptr<SeenFilter> targets_;
};

}  // namespace rmig::select
