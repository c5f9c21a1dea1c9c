#pragma once
// Renaming keys on their way to the destination (--rename-prefix OLD NEW, --rename REGEX REPLACEMENT).
//
// Rules are tried in command-line order and the first one that matches decides the new name; a key that no
// rule matches keeps its name. Names are bytes: prefixes compare bytewise and regular expressions run with
// RE2 in Latin-1 mode, where every byte is one character, '.' matches any byte (newline included) and "\xff"
// in a pattern means the byte 0xff. A regex must match the whole key (as if written ^(?:REGEX)$); the
// replacement may use \0 (the whole key) and \1..\9 (capture groups; an unmatched group is empty), and \\ for
// a backslash. A rule may produce the empty name; callers that cannot write it must check.
//
// CollisionDetector finds two selected keys that would end up under one destination name.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.hpp"

namespace re2 {
class RE2;
}

namespace rmig::select {

struct RuleSpec {
  enum class Kind { kPrefix, kRegex };
  Kind kind = Kind::kPrefix;
  std::string from;  // the prefix, or the regular expression
  std::string to;    // the new prefix, or the replacement
};

class RenameRules {
 public:
  // Compiles the rules. Fails with ExitCode::kUsage on an invalid regex or replacement, naming the option.
  static Result<RenameRules> build(const std::vector<RuleSpec>& specs);

  RenameRules();  // no rules: every key keeps its name
  RenameRules(RenameRules&&) noexcept;
  RenameRules& operator=(RenameRules&&) noexcept;
  RenameRules(const RenameRules&) = delete;
  RenameRules& operator=(const RenameRules&) = delete;
  ~RenameRules();

  bool empty() const noexcept;
  int size() const noexcept;

  // The new name of key, or nullopt when no rule matches (the name is kept). Allocates only on a match.
  std::optional<std::string> apply(std::string_view key) const;

  // Like apply() for the hot path: on a match writes the new name into out (reusing its buffer) and returns
  // the rule's index; returns -1 and leaves out alone otherwise. key must not point into out.
  int apply_into(std::string_view key, std::string& out) const;

  // The index of the first rule that matches key, or -1. Cheaper than apply(): no captures, no allocation.
  int rule_index_for(std::string_view key) const;

  // Whether invert() can answer for every name: every rule is a prefix rule (a regex rule's input cannot be
  // told from its output in general).
  bool invertible() const noexcept;

  // The source name whose forward renaming (apply(), first matching rule) gives exactly `name` (a name no
  // rule matches gives itself), or nullopt when there is none. Prefix rules only: with a regex rule
  // (invertible() false) it answers nullopt. When two source names give `name` (a collision the run refuses
  // elsewhere), the one of the earliest rule is returned.
  std::optional<std::string> invert(std::string_view name) const;

  // A SCAN MATCH pattern for the destination names of the keys the pattern `match` selects (empty: every
  // key), to scan the destination for them: with one prefix rule OLD -> NEW, NEW + the rest when OLD starts
  // the pattern literally, the pattern itself when no key it matches can start with OLD, NEW* in place
  // (`renamed_only`, no pattern); otherwise empty (every name is scanned and filtered by invert()).
  std::string target_match(std::string_view match, bool renamed_only) const;

  // One line for plans and logs, e.g. `prefix "tt:agent:" -> "tt:my-project:agent:"`; strings are shown like
  // redis-cli shows them. -1 (or any index without a rule) gives "unchanged".
  std::string describe(int index) const;

  // False when no rule can produce name, whatever the source key; true when some rule might. Decided on the
  // literal start of each rule's output (NEW, or the replacement up to its first \N), so it is cheap and
  // conservative: a replacement starting with \N makes it true for every name.
  bool may_produce(std::string_view name) const noexcept;

  // Whether a name some rule produces may be renamed again by a rule (in place, a swap, a chain or a cycle
  // of rules): a prefix rule's NEW and a prefix rule's OLD where one starts with the other, or any regex
  // rule on either end (whose inputs are not known from its text). Static and conservative: only the
  // selected keys tell whether two of them really clash.
  bool may_chain() const noexcept;

  // The same renaming done in two passes through the temporary prefix `tmp`, which no key may use: the
  // first pass gives every rule's output the prefix, the second takes it off. As command-line options,
  // e.g. first `--rename-prefix 'a:' 'tmp:b:' --rename-prefix 'b:' 'tmp:a:'`, then
  // `--match 'tmp:*' --rename 'tmp:(.*)' '\1'`.
  std::string two_pass_recipe(std::string_view tmp) const;

 private:
  struct Rule;
  std::vector<Rule> rules_;
};

struct Collision {
  enum class Kind {
    kSameDestination,  // two renamed keys map to one name
    kOntoKeptKey,      // a renamed key maps onto a selected key that keeps its name
    // In place (source and destination are one keyspace): a renamed key maps onto the old name of another
    // selected key that is renamed too (a swap, a chain or a cycle of rules), which would be overwritten
    // before it is copied.
    kOntoRenamedKey,
  };
  Kind kind = Kind::kSameDestination;
  std::string renamed_source;  // a renamed key
  std::string other_source;    // the other renamed key, or the kept key (then equal to destination)
  std::string destination;
  // kOntoRenamedKey: the rules that clash (renamed_source's, other_source's), as RenameRules::describe()
  // gives them, where other_source goes, and the two-pass way out.
  std::string rule;
  std::string other_rule;
  std::string other_destination;
  std::string recipe;

  // What went wrong and what to do, with names escaped for display.
  std::string message() const;
};

// Fed every selected key (renamed ones with their new name, kept ones by name), reports the first key whose
// destination name is already taken by a different selected key. Keys may be fed in any order and more than
// once (SCAN may return a key twice): feeding the same key again is not a collision.
//
// Memory grows with the renamed keys only, plus the kept keys that may_produce() says a rule could produce
// (for the usual rules that is the kept keys already under a target prefix). Each tracked key costs one
// 16-byte slot of an open-addressing table indexed by a 64-bit hash of its destination name (at most 3/4
// full), plus its source name in an arena. Keeping the source names, rather than hashes only, is what tells a
// key returned twice by SCAN from two different keys, makes a hash hit exact, and names both keys in the
// error; the destination of a stored key is recomputed with the rules on the rare hash hit instead of being
// stored.
class CollisionDetector {
 public:
  // rules must outlive the detector. `in_place`: source and destination are one keyspace, so a renamed key
  // may not land on the old name of another selected renamed key either (Collision::kOntoRenamedKey); the
  // renamed keys' source names are then tracked too (one more slot each).
  explicit CollisionDetector(const RenameRules& rules, bool in_place = false);
  CollisionDetector(const CollisionDetector&) = delete;
  CollisionDetector& operator=(const CollisionDetector&) = delete;
  ~CollisionDetector();

  // source is a selected key that the rules rename to destination (the name apply() returned for it).
  std::optional<Collision> add_renamed(std::string_view source, std::string_view destination);

  // key is a selected key that no rule matches, so it is written under its own name.
  std::optional<Collision> add_kept(std::string_view key);

  std::size_t tracked() const noexcept { return count_; }
  std::size_t memory_bytes() const noexcept;

 private:
  struct Slot {
    uint64_t hash = 0;  // 0 marks an empty slot
    uint64_t ref = 0;   // where the stored name lives in the arena, and whether it is a kept key
  };
  struct Chunk {
    std::unique_ptr<char[]> data;
    std::size_t size = 0;
    std::size_t used = 0;
  };

  std::optional<Collision> add(std::string_view source, std::string_view destination, bool kept);
  // In place: `source` (renamed to `destination`) against the renamed keys' old and new names so far.
  std::optional<Collision> chain(std::string_view source, std::string_view destination, uint64_t ref);
  Collision onto_renamed(std::string_view first, std::string_view second, std::string_view name);
  uint64_t store(std::string_view name, bool kept);
  std::string_view stored_name(uint64_t ref) const noexcept;
  static void grow(std::vector<Slot>& slots);

  const RenameRules& rules_;
  const bool in_place_;
  std::vector<Slot> slots_;    // by destination name
  std::vector<Slot> sources_;  // in place: the renamed keys, by source name
  std::size_t count_ = 0;
  std::size_t renamed_ = 0;   // entries of sources_
  uint64_t last_ref_ = 0;     // where add() stored the last new key
  bool stored_last_ = false;  // ... when it stored one (not for a key seen before)
  std::vector<Chunk> chunks_;
  std::string scratch_;  // the recomputed destination of a stored key on a hash hit
};

}  // namespace rmig::select
