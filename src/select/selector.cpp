#include "select/selector.hpp"

#include <algorithm>

#include "cluster/slot.hpp"
#include "select/glob.hpp"
#include "select/rename.hpp"
#include "util/escape.hpp"

namespace rmig::select {

Selector::Selector(Selection selection, bool detect_collisions, uint64_t expected_keys,
                   std::size_t filter_bytes, const SeenFilter* shared_targets)
    : sel_(std::move(selection)) {
  if (detect_collisions && sel_.rename && !sel_.rename->empty()) {
    targets_ = shared_targets != nullptr ? std::make_unique<SeenFilter>(*shared_targets)
                                         : std::make_unique<SeenFilter>(expected_keys, filter_bytes);
  }
  if (sel_.match.size() == 1) scan_match_ = sel_.match.front();
  if (sel_.types.size() == 1 && sel_.scan_type_supported) scan_type_ = sel_.types.front();
  type_check_ = sel_.needs_type_check();
}

bool Selector::by_name(std::string_view key, Naming& naming) {
  bool selected = sel_.own_prefix.empty() || key.compare(0, sel_.own_prefix.size(), sel_.own_prefix) != 0;
  if (selected && sel_.shard.active()) selected = sel_.shard.owns(cluster::key_hash_slot(key));
  if (selected && sel_.match.size() > 1) {
    selected = std::any_of(sel_.match.begin(), sel_.match.end(),
                           [&](const std::string& p) { return glob_match(p, key); });
  }
  if (selected) {
    selected = std::none_of(sel_.exclude.begin(), sel_.exclude.end(),
                            [&](const std::string& p) { return glob_match(p, key); });
  }
  if (!selected) return false;
  naming.renamed = false;
  naming.rule = -1;
  if (sel_.rename) {
    naming.rule = sel_.rename->apply_into(key, naming.renamed_to);
    naming.renamed = naming.rule >= 0 && naming.renamed_to != key;
  }
  if (sel_.renamed_only && !naming.renamed) {
    // In place, a key no rule renames stays where it is: its name is taken all the same.
    if (targets_ && sel_.rename->may_produce(key)) targets_->test_and_add(key);
    return false;
  }
  return true;
}

bool Selector::type_selected(std::string_view type) const noexcept {
  return std::find(sel_.types.begin(), sel_.types.end(), type) != sel_.types.end();
}

std::string Selector::claim_checked(const std::string& key, const Naming& naming, bool maybe_duplicate) {
  if (naming.renamed && naming.renamed_to.empty()) {
    return "rename rule " + std::to_string(naming.rule + 1) + " gives an empty key name";
  }
  if (!targets_) return {};
  // Only names a rule can produce can collide: a renamed key's new name, or a kept key a rule could hit.
  if (!naming.renamed && !sel_.rename->may_produce(key)) return {};
  // The same key again from SCAN finds its own name: not a collision. The seen filter's "not seen" is exact,
  // so a hit here for a key seen for the first time is another key's (or, rarely, a false alarm of the
  // filter, which fails the key and never writes over anything).
  const std::string& target = naming.renamed ? naming.renamed_to : key;
  if (!targets_->test_and_add(target) || maybe_duplicate) return {};
  const std::string fix =
      ": not written (a rename collision found while copying; change the rules or the selection, or copy "
      "this key alone)";
  if (naming.renamed) {
    return "rename rule " + std::to_string(naming.rule + 1) + " (" + sel_.rename->describe(naming.rule) +
           ") sends the key to \"" + printable_short(naming.renamed_to, 200) +
           "\", a name another selected key already took" + fix;
  }
  return "the key keeps its name \"" + printable_short(key, 200) +
         "\", which a rename rule already gave another selected key" + fix;
}

}  // namespace rmig::select
