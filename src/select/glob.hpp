#pragma once
// Glob patterns as the server evaluates them for KEYS and SCAN MATCH (Redis/Valkey stringmatchlen), so that
// selection done here agrees byte for byte with selection done by the server.
//
//   *       any run of bytes (a run of adjacent stars is one star)
//   ?       any one byte
//   [abc]   one byte from the set; [^abc] one byte not in it; [a-z] a range, also written [z-a];
//           \x inside a set is x taken literally; a set missing its ']' extends to the end of the pattern
//   \x      x taken literally; a trailing '\' is a literal backslash
//   other   the byte itself
//
// Quirks kept on purpose because the server has them:
//   - Only the pattern "*" matches the empty key (KEYS and SCAN treat "*" as "everything" without matching);
//     any other pattern, "**" included, matches the empty key only if the pattern is empty.
//   - A pattern needing more than 1000 star groups before its end matches nothing (the server's recursion
//     guard); star groups are runs of adjacent unescaped stars outside sets.
//   - Range bounds compare as signed chars, as on x86-64 builds: [a-\xff] covers \xff and \x00..a, not
//   a..\xff.
//   - nocase lowers ASCII letters only, and does not apply to escaped bytes inside sets.
// Matching is iterative: O(pattern size x subject size) in the worst case, never exponential.

#include <string>
#include <string_view>

namespace rmig::select {

bool glob_match(std::string_view pattern, std::string_view subject, bool nocase = false) noexcept;

// True when pattern (matched case-sensitively) matches exactly one key, glob_literal_prefix(pattern): it has
// no unescaped '*', '?' or '['. Conservative: "[a]" is reported as not literal.
bool glob_is_literal(std::string_view pattern) noexcept;

// The unescaped bytes every case-sensitive match must start with: the pattern up to its first unescaped '*',
// '?' or '[', with "\x" turned into x. For a literal pattern this is the one key it matches.
std::string glob_literal_prefix(std::string_view pattern);

// True when some key starting with `prefix` could match pattern (case-sensitively): the pattern read over
// the prefix's bytes still has a way to go on. Conservative where the rest of the pattern could match
// nothing (an empty set such as "[]"): then it says true.
bool glob_may_match_prefixed(std::string_view pattern, std::string_view prefix);

}  // namespace rmig::select
