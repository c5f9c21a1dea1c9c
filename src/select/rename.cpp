#include "select/rename.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <cassert>
#include <cstring>
#include <utility>

#include "util/escape.hpp"

namespace rmig::select {

namespace {

// RE2 rewrites know \0..\9 only, so submatches_needed() is at most this.
constexpr int kMaxSubmatches = 10;

// An option argument as the operator typed it, so it can be found on the command line; bytes that would not
// survive a terminal are escaped instead.
std::string shown(std::string_view arg) {
  for (char ch : arg) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c > 0x7e) return printable(arg);
  }
  return std::string(arg);
}

std::string regex_problem(const re2::RE2& re) {
  std::string problem;
  std::string fix;
  switch (re.error_code()) {
    case re2::RE2::ErrorBadEscape:
      problem = "invalid escape";
      if (re.error_arg().size() == 2 && re.error_arg()[1] >= '1' && re.error_arg()[1] <= '9') {
        fix = "RE2 has no backreferences; use \\N in the replacement instead";
      } else {
        fix = "escape only punctuation, or write a byte as \\xHH";
      }
      break;
    case re2::RE2::ErrorBadPerlOp:
      problem = "unsupported group syntax";
      fix = "RE2 has no lookahead or lookbehind; match the whole key with plain groups";
      break;
    case re2::RE2::ErrorMissingParen:
      problem = "missing )";
      fix = "close every group, or escape a literal '(' with a backslash";
      break;
    case re2::RE2::ErrorUnexpectedParen:
      problem = "unexpected )";
      fix = "open every group, or escape a literal ')' with a backslash";
      break;
    case re2::RE2::ErrorMissingBracket:
      problem = "missing ]";
      fix = "close every [...] set, or escape a literal '[' with a backslash";
      break;
    case re2::RE2::ErrorTrailingBackslash:
      problem = "trailing backslash";
      fix = "write \\\\ for a literal backslash";
      break;
    case re2::RE2::ErrorRepeatArgument:
    case re2::RE2::ErrorRepeatOp:
    case re2::RE2::ErrorRepeatSize:
      problem = "invalid repetition";
      fix = "put the operator after what it repeats, escape a literal *, + or ?, and keep counts up to 1000";
      break;
    case re2::RE2::ErrorPatternTooLarge:
      problem = "pattern too large";
      fix = "simplify the pattern (fewer or smaller counted repetitions)";
      break;
    case re2::RE2::ErrorBadCharRange:
      problem = "invalid range";
      fix = "write ranges low to high, as in [a-z]";
      break;
    case re2::RE2::ErrorBadCharClass:
      problem = "invalid character class";
      fix = "use a known class such as [[:digit:]] or \\d, or escape the '['";
      break;
    case re2::RE2::ErrorBadNamedCapture:
      problem = "invalid named group";
      fix = "write named groups as (?P<name>...), or use plain (...)";
      break;
    default:
      return "invalid regular expression (" + re.error() + "): check the pattern against the RE2 syntax";
  }
  if (!re.error_arg().empty()) problem += " at '" + shown(re.error_arg()) + "'";
  return problem + ": " + fix;
}

// Says what is wrong with a replacement that CheckRewriteString() refused, in the option's terms.
std::string rewrite_problem(std::string_view rewrite, int groups, const std::string& re2_error) {
  int max_ref = 0;
  for (std::size_t i = 0; i < rewrite.size(); ++i) {
    if (rewrite[i] != '\\') continue;
    if (i + 1 == rewrite.size()) {
      return "replacement ends in a lone backslash: write \\\\ for a literal backslash";
    }
    const char next = rewrite[++i];
    if (next >= '0' && next <= '9') {
      max_ref = std::max(max_ref, next - '0');
    } else if (next != '\\') {
      return "replacement has the unknown escape '\\" + shown(std::string_view(&next, 1)) +
             "': use \\0 for the whole key, \\1..\\9 for capture groups and \\\\ for a backslash";
    }
  }
  if (max_ref > groups) {
    std::string fix = "use \\0 for the whole key";
    if (groups == 0) fix += ", or add (...) groups to the regex";
    if (groups == 1) fix += " and \\1 for the group";
    if (groups > 1) fix += " and \\1..\\" + std::to_string(groups) + " for the groups";
    return "replacement refers to \\" + std::to_string(max_ref) + " but the regex has " +
           std::to_string(groups) + " capture group" + (groups == 1 ? "" : "s") + ": " + fix;
  }
  return "invalid replacement (" + re2_error + "): use \\0..\\9 for captures and \\\\ for a backslash";
}

// The bytes every output of the replacement starts with: the text before its first \N, unescaped.
std::string rewrite_literal_prefix(std::string_view rewrite) {
  std::string prefix;
  for (std::size_t i = 0; i < rewrite.size(); ++i) {
    if (rewrite[i] == '\\' && i + 1 < rewrite.size()) {
      if (rewrite[i + 1] != '\\') break;
      ++i;
    }
    prefix += rewrite[i];
  }
  return prefix;
}

// How many submatches Rewrite() needs for a checked replacement: none without \N, else the highest N plus
// one.
int submatches_needed(std::string_view rewrite) {
  int needed = 0;
  for (std::size_t i = 0; i + 1 < rewrite.size(); ++i) {
    if (rewrite[i] != '\\') continue;
    const char next = rewrite[++i];
    if (next >= '0' && next <= '9') needed = std::max(needed, next - '0' + 1);
  }
  return needed;
}

// 64-bit hash of a name (the MurmurHash64A construction): only needs to spread names well; a hit is always
// confirmed by comparing names.
uint64_t hash_name(std::string_view s) noexcept {
  constexpr uint64_t kMul = 0xc6a4a7935bd1e995ULL;
  constexpr int kShift = 47;
  auto mix = [&](uint64_t k) {
    k *= kMul;
    k ^= k >> kShift;
    return k * kMul;
  };
  uint64_t h = 0x9e3779b97f4a7c15ULL ^ (s.size() * kMul);
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t k;
    std::memcpy(&k, s.data() + i, 8);
    h = (h ^ mix(k)) * kMul;
  }
  if (i < s.size()) {
    uint64_t k = 0;
    std::memcpy(&k, s.data() + i, s.size() - i);
    h = (h ^ mix(k)) * kMul;
  }
  h ^= h >> kShift;
  h *= kMul;
  h ^= h >> kShift;
  return h == 0 ? 1 : h;  // 0 marks an empty slot
}

}  // namespace

struct RenameRules::Rule {
  RuleSpec::Kind kind = RuleSpec::Kind::kPrefix;
  std::string from;
  std::string to;
  std::unique_ptr<re2::RE2> re;  // kRegex only
  int submatches = 0;            // how many submatches the replacement needs (0 when it has no \N)
  std::string output_prefix;     // every output of this rule starts with these bytes
};

RenameRules::RenameRules() = default;
RenameRules::RenameRules(RenameRules&&) noexcept = default;
RenameRules& RenameRules::operator=(RenameRules&&) noexcept = default;
RenameRules::~RenameRules() = default;

bool RenameRules::empty() const noexcept { return rules_.empty(); }
int RenameRules::size() const noexcept { return static_cast<int>(rules_.size()); }

Result<RenameRules> RenameRules::build(const std::vector<RuleSpec>& specs) {
  RenameRules rules;
  rules.rules_.reserve(specs.size());
  for (const RuleSpec& spec : specs) {
    Rule rule;
    rule.kind = spec.kind;
    rule.from = spec.from;
    rule.to = spec.to;
    if (spec.kind == RuleSpec::Kind::kPrefix) {
      rule.output_prefix = spec.to;
    } else {
      re2::RE2::Options options;
      options.set_encoding(re2::RE2::Options::EncodingLatin1);
      options.set_dot_nl(true);
      options.set_log_errors(false);
      rule.re = std::make_unique<re2::RE2>(spec.from, options);
      const std::string where = "--rename '" + shown(spec.from) + "'";
      if (!rule.re->ok()) return make_error(ExitCode::kUsage, where + ": " + regex_problem(*rule.re));
      std::string error;
      if (!rule.re->CheckRewriteString(spec.to, &error)) {
        return make_error(ExitCode::kUsage,
                          where + " '" + shown(spec.to) +
                              "': " + rewrite_problem(spec.to, rule.re->NumberOfCapturingGroups(), error));
      }
      rule.submatches = submatches_needed(spec.to);
      rule.output_prefix = rewrite_literal_prefix(spec.to);
    }
    rules.rules_.push_back(std::move(rule));
  }
  return rules;
}

int RenameRules::apply_into(std::string_view key, std::string& out) const {
  for (std::size_t i = 0; i < rules_.size(); ++i) {
    const Rule& rule = rules_[i];
    if (rule.kind == RuleSpec::Kind::kPrefix) {
      if (!key.starts_with(rule.from)) continue;
      out.assign(rule.to);
      out.append(key.substr(rule.from.size()));
      return static_cast<int>(i);
    }
    re2::StringPiece submatch[kMaxSubmatches];
    if (!rule.re->Match(key, 0, key.size(), re2::RE2::ANCHOR_BOTH, submatch, rule.submatches)) continue;
    out.clear();
    // Cannot fail: build() checked the replacement against this regex.
    rule.re->Rewrite(&out, rule.to, submatch, rule.submatches);
    return static_cast<int>(i);
  }
  return -1;
}

std::optional<std::string> RenameRules::apply(std::string_view key) const {
  std::string out;
  if (apply_into(key, out) < 0) return std::nullopt;
  return out;
}

int RenameRules::rule_index_for(std::string_view key) const {
  for (std::size_t i = 0; i < rules_.size(); ++i) {
    const Rule& rule = rules_[i];
    const bool matched = rule.kind == RuleSpec::Kind::kPrefix
                             ? key.starts_with(rule.from)
                             : rule.re->Match(key, 0, key.size(), re2::RE2::ANCHOR_BOTH, nullptr, 0);
    if (matched) return static_cast<int>(i);
  }
  return -1;
}

bool RenameRules::invertible() const noexcept {
  return std::all_of(rules_.begin(), rules_.end(),
                     [](const Rule& rule) { return rule.kind == RuleSpec::Kind::kPrefix; });
}

std::optional<std::string> RenameRules::invert(std::string_view name) const {
  if (!invertible()) return std::nullopt;
  // Each rule whose NEW starts the name offers OLD + the rest; the name itself is the answer when no rule
  // matches it. A candidate counts only when the forward renaming really gives the name back (an earlier
  // rule may take the candidate first).
  std::string forward;
  for (const Rule& rule : rules_) {
    if (!name.starts_with(rule.to)) continue;
    std::string candidate = rule.from;
    candidate.append(name.substr(rule.to.size()));
    forward.clear();
    if (apply_into(candidate, forward) >= 0 && forward == name) return candidate;
  }
  if (rule_index_for(name) < 0) return std::string(name);
  return std::nullopt;
}

namespace {

bool glob_special(char c) noexcept { return c == '*' || c == '?' || c == '[' || c == ']' || c == '\\'; }

std::string glob_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (glob_special(c)) out += '\\';
    out += c;
  }
  return out;
}

// The bytes every name a glob matches starts with: the pattern up to its first special character.
std::string_view glob_literal_prefix(std::string_view pattern) noexcept {
  std::size_t i = 0;
  while (i < pattern.size() && !glob_special(pattern[i]))
    ++i;
  return pattern.substr(0, i);
}

}  // namespace

std::string RenameRules::target_match(std::string_view match, bool renamed_only) const {
  if (rules_.empty()) return std::string(match);
  if (rules_.size() != 1 || rules_.front().kind != RuleSpec::Kind::kPrefix) return {};
  const Rule& rule = rules_.front();
  if (match.empty()) return renamed_only ? glob_escape(rule.to) + "*" : std::string();
  const std::string_view literal = glob_literal_prefix(match);
  // Every key the pattern matches starts with OLD: renamed, NEW + the rest.
  if (literal.starts_with(rule.from))
    return glob_escape(rule.to) + std::string(match.substr(rule.from.size()));
  // No key the pattern matches starts with OLD: every one keeps its name.
  if (!std::string_view(rule.from).starts_with(literal)) return std::string(match);
  return {};
}

std::string RenameRules::describe(int index) const {
  if (index < 0 || index >= size()) return "unchanged";
  const Rule& rule = rules_[static_cast<std::size_t>(index)];
  return std::string(rule.kind == RuleSpec::Kind::kPrefix ? "prefix" : "regex") + " \"" +
         printable(rule.from) + "\" -> \"" + printable(rule.to) + "\"";
}

bool RenameRules::may_produce(std::string_view name) const noexcept {
  for (const Rule& rule : rules_) {
    if (name.starts_with(rule.output_prefix)) return true;
  }
  return false;
}

namespace {

// One shell word: single-quoted, a quote inside as '\'', bytes a terminal would not show escaped.
std::string shell_word(std::string_view arg) {
  std::string out = "'";
  for (char ch : shown(arg)) {
    if (ch == '\'') {
      out += "'\\''";
    } else {
      out += ch;
    }
  }
  return out + "'";
}

}  // namespace

bool RenameRules::may_chain() const noexcept {
  for (const Rule& out : rules_) {
    for (const Rule& in : rules_) {
      if (out.kind == RuleSpec::Kind::kRegex || in.kind == RuleSpec::Kind::kRegex) return true;
      if (out.output_prefix.starts_with(in.from) || std::string_view(in.from).starts_with(out.output_prefix))
        return true;
    }
  }
  return false;
}

std::string RenameRules::two_pass_recipe(std::string_view tmp) const {
  std::string first;
  for (const Rule& rule : rules_) {
    if (!first.empty()) first += ' ';
    first += rule.kind == RuleSpec::Kind::kPrefix ? "--rename-prefix " : "--rename ";
    first += shell_word(rule.from) + " " + shell_word(std::string(tmp) + rule.to);
  }
  const std::string tmp_word(tmp);
  return "first " + first + ", then --match " + shell_word(tmp_word + "*") + " --rename " +
         shell_word(tmp_word + "(.*)") + " '\\1'";
}

std::string Collision::message() const {
  static constexpr std::string_view kFix =
      ": change the rename rules or the key selection so that every destination name is used once";
  std::string text;
  if (kind == Kind::kOntoRenamedKey) {
    return "key \"" + printable(renamed_source) + "\" would be renamed to \"" + printable(destination) +
           "\" by " + rule + ", but \"" + printable(other_source) + "\" is also a selected key, which " +
           other_rule + " renames to \"" + printable(other_destination) +
           "\": source and destination are one keyspace, so \"" + printable(other_source) +
           "\" would be overwritten before it is copied (a swap, chain or cycle of rename rules). Rename in "
           "two "
           "passes through a temporary prefix that no key uses (add --cleanup to both to move): " +
           recipe;
  }
  if (kind == Kind::kOntoKeptKey) {
    text = "key \"" + printable(renamed_source) + "\" would be renamed to \"" + printable(destination) +
           "\", which is also a selected key that keeps its name";
  } else {
    text = "keys \"" + printable(other_source) + "\" and \"" + printable(renamed_source) +
           "\" would both be renamed to \"" + printable(destination) + "\"";
  }
  return text.append(kFix);
}

namespace {

constexpr std::size_t kInitialSlots = 1024;
constexpr std::size_t kChunkSize = 1 << 20;
constexpr std::size_t kLengthSize = sizeof(uint32_t);

// A ref packs the chunk index (high 32 bits), the offset in the chunk (31 bits) and the kept flag (bit 0).
constexpr uint64_t kKeptBit = 1;

}  // namespace

CollisionDetector::CollisionDetector(const RenameRules& rules, bool in_place)
    : rules_(rules), in_place_(in_place) {}
CollisionDetector::~CollisionDetector() = default;

std::size_t CollisionDetector::memory_bytes() const noexcept {
  std::size_t bytes =
      (slots_.capacity() + sources_.capacity()) * sizeof(Slot) + chunks_.capacity() * sizeof(Chunk);
  for (const Chunk& chunk : chunks_)
    bytes += chunk.size;
  return bytes;
}

std::optional<Collision> CollisionDetector::add_renamed(std::string_view source,
                                                        std::string_view destination) {
  stored_last_ = false;
  auto c = add(source, destination, false);
  if (c || !in_place_ || !stored_last_) return c;  // not stored: the same key again
  return chain(source, destination, last_ref_);
}

Collision CollisionDetector::onto_renamed(std::string_view first, std::string_view second,
                                          std::string_view name) {
  auto described = [&](std::string_view key) {
    const int rule = rules_.rule_index_for(key);
    return "rule " + std::to_string(rule + 1) + " (" + rules_.describe(rule) + ")";
  };
  Collision c;
  c.kind = Collision::Kind::kOntoRenamedKey;
  c.renamed_source = std::string(first);
  c.other_source = std::string(second);
  c.destination = std::string(name);
  c.rule = described(first);
  c.other_rule = described(second);
  c.other_destination = rules_.apply(second).value_or(std::string(second));
  c.recipe = rules_.two_pass_recipe("tmp:");
  return c;
}

std::optional<Collision> CollisionDetector::chain(std::string_view source, std::string_view destination,
                                                  uint64_t ref) {
  // The new name is the old name of a renamed key seen before: that key would be overwritten first.
  const uint64_t dh = hash_name(destination);
  if (!sources_.empty()) {
    const std::size_t mask = sources_.size() - 1;
    for (std::size_t i = dh & mask; sources_[i].hash != 0; i = (i + 1) & mask) {
      if (sources_[i].hash == dh && stored_name(sources_[i].ref) == destination) {
        return onto_renamed(source, destination, destination);
      }
    }
  }
  // The old name is the new name of a renamed key seen before: this key would be overwritten first.
  const uint64_t sh = hash_name(source);
  if (!slots_.empty()) {
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = sh & mask; slots_[i].hash != 0; i = (i + 1) & mask) {
      if (slots_[i].hash != sh || (slots_[i].ref & kKeptBit) != 0) continue;
      const std::string_view stored = stored_name(slots_[i].ref);
      scratch_.clear();
      if (rules_.apply_into(stored, scratch_) < 0 || scratch_ != source || stored == source) continue;
      const std::string other(stored);
      return onto_renamed(other, source, source);
    }
  }
  if ((renamed_ + 1) * 4 > sources_.size() * 3) grow(sources_);
  const std::size_t mask = sources_.size() - 1;
  std::size_t i = sh & mask;
  while (sources_[i].hash != 0)
    i = (i + 1) & mask;
  sources_[i] = Slot{sh, ref};
  ++renamed_;
  return std::nullopt;
}

std::optional<Collision> CollisionDetector::add_kept(std::string_view key) {
  // A kept key that no rule can produce cannot be hit by a renamed key, so it need not be remembered.
  if (!rules_.may_produce(key)) return std::nullopt;
  return add(key, key, true);
}

std::optional<Collision> CollisionDetector::add(std::string_view source, std::string_view destination,
                                                bool kept) {
  if ((count_ + 1) * 4 > slots_.size() * 3) grow(slots_);
  const uint64_t hash = hash_name(destination);
  const std::size_t mask = slots_.size() - 1;
  std::size_t i = hash & mask;
  for (; slots_[i].hash != 0; i = (i + 1) & mask) {
    if (slots_[i].hash != hash) continue;
    const bool stored_kept = (slots_[i].ref & kKeptBit) != 0;
    const std::string_view stored = stored_name(slots_[i].ref);
    std::string_view stored_destination = stored;
    if (!stored_kept) {
      scratch_.clear();
      if (rules_.apply_into(stored, scratch_) < 0) continue;  // cannot happen when callers keep the contract
      stored_destination = scratch_;
    }
    if (stored_destination != destination) continue;                   // a different name with the same hash
    if (stored == source && stored_kept == kept) return std::nullopt;  // the same key again
    Collision c;
    if (kept || stored_kept) {
      c.kind = Collision::Kind::kOntoKeptKey;
      c.renamed_source = std::string(kept ? stored : source);
      c.other_source = std::string(destination);
    } else {
      c.kind = Collision::Kind::kSameDestination;
      c.renamed_source = std::string(source);
      c.other_source = std::string(stored);
    }
    c.destination = std::string(destination);
    return c;
  }
  last_ref_ = store(source, kept);
  stored_last_ = true;
  slots_[i] = Slot{hash, last_ref_};
  ++count_;
  return std::nullopt;
}

uint64_t CollisionDetector::store(std::string_view name, bool kept) {
  const std::size_t need = kLengthSize + name.size();
  if (chunks_.empty() || chunks_.back().size - chunks_.back().used < need) {
    const std::size_t size = std::max(kChunkSize, need);
    chunks_.push_back(Chunk{std::make_unique_for_overwrite<char[]>(size), size, 0});
  }
  Chunk& chunk = chunks_.back();
  assert(name.size() <= UINT32_MAX && need <= (std::size_t{1} << 31));  // keys are at most 512 MB
  const auto length = static_cast<uint32_t>(name.size());
  std::memcpy(chunk.data.get() + chunk.used, &length, kLengthSize);
  std::memcpy(chunk.data.get() + chunk.used + kLengthSize, name.data(), name.size());
  const uint64_t ref = (static_cast<uint64_t>(chunks_.size() - 1) << 32) |
                       (static_cast<uint64_t>(chunk.used) << 1) | (kept ? kKeptBit : 0);
  chunk.used += need;
  return ref;
}

std::string_view CollisionDetector::stored_name(uint64_t ref) const noexcept {
  const Chunk& chunk = chunks_[ref >> 32];
  const char* at = chunk.data.get() + ((ref & 0xffffffffULL) >> 1);
  uint32_t length;
  std::memcpy(&length, at, kLengthSize);
  return std::string_view(at + kLengthSize, length);
}

void CollisionDetector::grow(std::vector<Slot>& slots) {
  std::vector<Slot> old = std::move(slots);
  slots.assign(old.empty() ? kInitialSlots : old.size() * 2, Slot{});
  const std::size_t mask = slots.size() - 1;
  for (const Slot& slot : old) {
    if (slot.hash == 0) continue;
    std::size_t i = slot.hash & mask;
    while (slots[i].hash != 0)
      i = (i + 1) & mask;
    slots[i] = slot;
  }
}

}  // namespace rmig::select
