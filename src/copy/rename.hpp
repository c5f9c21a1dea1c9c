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

namespace rmig::copy {

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

  // One line for plans and logs, e.g. `prefix "tt:agent:" -> "tt:my-project:agent:"`; strings are shown like
  // redis-cli shows them. -1 (or any index without a rule) gives "unchanged".
  std::string describe(int index) const;

  // False when no rule can produce name, whatever the source key; true when some rule might. Decided on the
  // literal start of each rule's output (NEW, or the replacement up to its first \N), so it is cheap and
  // conservative: a replacement starting with \N makes it true for every name.
  bool may_produce(std::string_view name) const noexcept;

 private:
  struct Rule;
  std::vector<Rule> rules_;
};

struct Collision {
  enum class Kind {
    kSameDestination,  // two renamed keys map to one name
    kOntoKeptKey,      // a renamed key maps onto a selected key that keeps its name
  };
  Kind kind = Kind::kSameDestination;
  std::string renamed_source;  // a renamed key
  std::string other_source;    // the other renamed key, or the kept key (then equal to destination)
  std::string destination;

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
  // rules must outlive the detector.
  explicit CollisionDetector(const RenameRules& rules);
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
  uint64_t store(std::string_view name, bool kept);
  std::string_view stored_name(uint64_t ref) const noexcept;
  void grow();

  const RenameRules& rules_;
  std::vector<Slot> slots_;
  std::size_t count_ = 0;
  std::vector<Chunk> chunks_;
  std::string scratch_;  // the recomputed destination of a stored key on a hash hit
};

}  // namespace rmig::copy
