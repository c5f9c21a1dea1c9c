#include "select/glob.hpp"

#include <algorithm>
#include <cstddef>
#include <utility>
#include <vector>

namespace rmig::select {

namespace {

constexpr std::size_t kNoMatch = std::string_view::npos;

// The server's recursion guard: it descends one level per star group and gives up past this depth.
constexpr int kMaxStarGroups = 1000;

// The server lowers with tolower() in the C locale.
int ascii_lower(int c) noexcept { return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c; }

// The server keeps bytes in plain char, which is signed on x86-64; only range bounds make this visible.
int as_signed(char c) noexcept { return static_cast<signed char>(c); }

bool same_byte(char a, char b, bool nocase) noexcept {
  if (!nocase) return a == b;
  return ascii_lower(as_signed(a)) == ascii_lower(as_signed(b));
}

// Matches the set that opens at pattern[open] ('[') against c. Returns the position after the set, or
// kNoMatch. The set's extent depends only on the pattern, so backtracking re-reads it identically.
std::size_t match_set(std::string_view pattern, std::size_t open, char c, bool nocase) noexcept {
  const std::size_t n = pattern.size();
  std::size_t q = open + 1;
  const bool negate = q < n && pattern[q] == '^';
  if (negate) ++q;
  bool matched = false;
  for (;;) {
    if (q >= n) break;  // unterminated: the set takes the rest of the pattern
    const char pc = pattern[q];
    if (pc == '\\' && n - q >= 2) {
      if (pattern[q + 1] == c) matched = true;  // no case folding here, as in the server
      q += 2;
    } else if (pc == ']') {
      ++q;
      break;
    } else if (n - q >= 3 && pattern[q + 1] == '-') {
      // The bound after '-' is taken as is, even when it is ']' or '\\'.
      int lo = as_signed(pc);
      int hi = as_signed(pattern[q + 2]);
      int v = as_signed(c);
      if (lo > hi) std::swap(lo, hi);
      if (nocase) {
        lo = ascii_lower(lo);
        hi = ascii_lower(hi);
        v = ascii_lower(v);
      }
      if (v >= lo && v <= hi) matched = true;
      q += 3;
    } else {
      if (same_byte(pc, c, nocase)) matched = true;
      ++q;
    }
  }
  return matched != negate ? q : kNoMatch;
}

// Matches the one-byte token at pattern[p] (anything but '*') against c. Returns the position after the
// token, or kNoMatch.
std::size_t match_token(std::string_view pattern, std::size_t p, char c, bool nocase) noexcept {
  switch (pattern[p]) {
    case '?': return p + 1;
    case '[': return match_set(pattern, p, c, nocase);
    case '\\':
      if (pattern.size() - p >= 2) return same_byte(pattern[p + 1], c, nocase) ? p + 2 : kNoMatch;
      break;  // a trailing backslash is itself
    default: break;
  }
  return same_byte(pattern[p], c, nocase) ? p + 1 : kNoMatch;
}

}  // namespace

bool glob_match(std::string_view pattern, std::string_view subject, bool nocase) noexcept {
  if (pattern == "*") return true;
  if (subject.empty()) return pattern.empty();

  const std::size_t n = pattern.size();
  const std::size_t m = subject.size();
  std::size_t p = 0;
  std::size_t s = 0;
  // Every other token consumes exactly one byte, so on a mismatch it is enough to let the most recent star
  // absorb one more byte: an earlier star taking more could only shift the rest of the pattern to positions
  // the most recent star already covers.
  std::size_t star_p = kNoMatch;  // pattern position after the most recent star group
  std::size_t star_s = 0;         // subject position that star group currently extends to
  int star_groups = 0;
  while (s < m) {
    if (p < n && pattern[p] == '*') {
      while (p < n && pattern[p] == '*')
        ++p;
      if (p == n) return true;
      // Star groups are reached in pattern order and each one only once, so this is the server's nesting
      // depth.
      if (++star_groups > kMaxStarGroups) return false;
      star_p = p;
      star_s = s;
      continue;
    }
    if (p < n) {
      const std::size_t next = match_token(pattern, p, subject[s], nocase);
      if (next != kNoMatch) {
        p = next;
        ++s;
        continue;
      }
    }
    if (star_p == kNoMatch) return false;
    p = star_p;
    s = ++star_s;
  }
  while (p < n && pattern[p] == '*')
    ++p;
  return p == n;
}

bool glob_is_literal(std::string_view pattern) noexcept {
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '*' || c == '?' || c == '[') return false;
    if (c == '\\') ++i;
  }
  return true;
}

std::string glob_literal_prefix(std::string_view pattern) {
  std::string prefix;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '*' || c == '?' || c == '[') break;
    if (c == '\\' && i + 1 < pattern.size()) ++i;
    prefix += pattern[i];
  }
  return prefix;
}

bool glob_may_match_prefixed(std::string_view pattern, std::string_view prefix) {
  // The pattern positions reachable after each byte of the prefix (a star also stands for nothing).
  const std::size_t n = pattern.size();
  auto close = [&](std::vector<char>& at) {
    for (std::size_t p = 0; p < n; ++p) {
      if (at[p] != 0 && pattern[p] == '*') at[p + 1] = 1;
    }
  };
  std::vector<char> cur(n + 1, 0);
  std::vector<char> next;
  cur[0] = 1;
  close(cur);
  for (const char c : prefix) {
    next.assign(n + 1, 0);
    for (std::size_t p = 0; p < n; ++p) {
      if (cur[p] == 0) continue;
      if (pattern[p] == '*') {
        next[p] = 1;
      } else if (const std::size_t q = match_token(pattern, p, c, false); q != kNoMatch) {
        next[q] = 1;
      }
    }
    close(next);
    cur.swap(next);
    if (std::find(cur.begin(), cur.end(), 1) == cur.end()) return false;
  }
  return true;
}

}  // namespace rmig::select
