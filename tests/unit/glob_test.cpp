#include "select/glob.hpp"

#include <doctest/doctest.h>

#include <string>
#include <string_view>

using rmig::select::glob_is_literal;
using rmig::select::glob_literal_prefix;
using rmig::select::glob_match;
using namespace std::string_view_literals;

namespace {

struct Case {
  std::string_view pattern;
  std::string_view subject;
  bool match;
};

std::string repeat(std::string_view piece, int times) {
  std::string out;
  for (int i = 0; i < times; ++i)
    out += piece;
  return out;
}

}  // namespace

// Every expectation below was checked against redis-server 7.0.15 (x86-64) with KEYS and SCAN MATCH; the
// whole matcher was also compared with that server on a few hundred thousand random patterns and keys.
TEST_CASE("glob_match agrees with KEYS and SCAN MATCH") {
  const Case cases[] = {
      // star
      {"*", "anything", true},
      {"*", "", true},    // KEYS and SCAN take "*" as everything without matching
      {"**", "", false},  // ...while the matcher itself never matches an empty key
      {"", "", true},
      {"", "a", false},
      {"a*", "a", true},
      {"*a", "a", true},
      {"a*b", "ab", true},
      {"a*b", "axxb", true},
      {"a*b", "axxbc", false},
      {"a**b", "ab", true},
      {"a*b*c", "abbbc", true},
      {"a*b*c", "acb", false},
      {"*?", "a", true},
      {"*?", "", false},
      {"?*", "ab", true},
      {"*:*", "tt:agent:1", true},
      {"tt:*", "tt:", true},
      {"tt:*", "tt", false},
      {"*x*", "xyz", true},
      {"*x*", "abc", false},
      // question
      {"?", "", false},
      {"?", "a", true},
      {"?", "ab", false},
      {"??", "ab", true},
      {"a?c", "abc", true},
      {"a?c", "ac", false},
      {"a?c", "abbc", false},
      // set
      {"[abc]", "b", true},
      {"[abc]", "d", false},
      {"[abc]", "", false},
      {"[abc]", "ab", false},
      {"[^abc]", "d", true},
      {"[^abc]", "a", false},
      {"[a-c]", "b", true},
      {"[a-c]", "d", false},
      {"[c-a]", "b", true},  // reversed ranges are accepted
      {"[c-a]", "d", false},
      {"[^a-c]", "d", true},
      {"[^a-c]", "b", false},
      {"[a-cx-z]", "y", true},
      {"[]", "a", false},  // the first ']' closes: an empty set matches nothing
      {"[]", "]", false},
      {"[]a]", "]", false},
      {"[]a]", "a]", false},
      {"[^]", "x", true},  // negated empty set: any byte
      {"[^]", "", false},
      {"[!a]", "b", false},
      {"[!a]", "!", true},  // only '^' negates
      {"[a^]", "^", true},
      {"[^^]", "^", false},
      {"[-a]", "-", true},
      {"[a-]", "-", false},  // "a-]" is the range a..']', and the set stays open
      {"[a-]", "a", true},
      {"[a-]", "_", true},
      {"[a-]", "b", false},
      {"[a-]x", "_x", false},
      {"[a-]x", "x", true},  // ...so the x belongs to the set
      {"[^-]", "-", false},
      {"[--/]", ".", true},
      {"[]-a]", "-", false},
      {"h[ae]llo", "hello", true},
      {"h[ae]llo", "hallo", true},
      {"h[ae]llo", "hillo", false},
      {"h[^e]llo", "hallo", true},
      {"h[^e]llo", "hello", false},
      {"h[a-b]llo", "hbllo", true},
      // unterminated
      {"[", "", false},
      {"[", "[", false},
      {"[", "a", false},
      {"[abc", "b", true},  // an unterminated set runs to the end of the pattern
      {"[abc", "bc", false},
      {"[abc", "d", false},
      {"[^", "x", true},
      {"[^", "xy", false},
      {"a[", "a[", false},
      {"a[", "ax", false},
      {"a[", "a", false},  // an empty unterminated set matches nothing
      {"[a-z", "m", true},
      {"[a-", "-", true},
      {"[a-", "b", false},
      {"[\\", "\\", true},
      {"x[a-]", "x]", true},
      // escape
      {"\\*", "*", true},
      {"\\*", "a", false},
      {"\\?", "?", true},
      {"\\?", "a", false},
      {"\\[a]", "[a]", true},
      {"\\[a]", "a", false},
      {"a\\", "a\\", true},  // a trailing backslash is itself
      {"a\\", "a", false},
      {"\\", "\\", true},
      {"\\\\", "\\", true},
      {"\\\\", "\\\\", false},
      {"\\a", "a", true},
      {"a\\*b", "a*b", true},
      {"a\\*b", "axb", false},
      {"*\\*", "ab*", true},
      {"[\\]]", "]", true},
      {"[\\]]", "\\", false},
      {"[\\-]", "-", true},
      {"[a\\-z]", "b", false},
      {"[a\\-z]", "-", true},
      {"[a\\-z]", "z", true},
      {"[\\^a]", "^", true},
      {"[\\\\]", "\\", true},
      {"[\\a-c]", "b", false},
      {"[a-\\]]", "]]", true},  // the range from a to backslash holds ']'; a literal ']' follows
      {"[a-\\]]", "a]", true},
      {"[a-\\]]", "b]", false},
      // binary
      {"a\0*"sv, "a\0b"sv, true},
      {"a\0*"sv, "a", false},
      {"?", "\0"sv, true},
      {"\0"sv, "\0"sv, true},
      {"*\0"sv, "x\0"sv, true},
      {"[\0]"sv, "\0"sv, true},
      {"\xff", "\xff", true},
      {"\xff", "\xfe", false},
      {"[\x80-\xff]", "\x90", true},
      {"[\x80-\xff]", "a", false},
      {"[a-\xff]", "\xff", true},
      {"[a-\xff]", "\x80", false},  // bounds compare as signed chars: the range is -1..97
      {"[a-\xff]", "0", true},
      {"[a-\xff]", "\0"sv, true},
      {"[a-\xff]", "b", false},
      {"[\0-\x7f]"sv, "\x80", false},
      {"[^\0-\x7f]"sv, "\x80", true},
      {"[\x01-\x7f]", "\0"sv, false},
      {"[\xff-a]", "\xfe", false},
      {"*\xe9*", "caf\xe9s", true},
      {"[\xe9]", "\xe9", true},
  };
  for (const auto& c : cases) {
    CAPTURE(c.pattern);
    CAPTURE(c.subject);
    CHECK(glob_match(c.pattern, c.subject) == c.match);
  }
}

// Checked with COMMAND LIST FILTERBY PATTERN, which matches command names without case.
TEST_CASE("glob_match nocase folds ASCII letters, except escaped bytes inside sets") {
  const Case cases[] = {
      {"GET", "get", true},      {"[G-G]ET", "get", true},  {"[A-Z]et", "get", true},
      {"[\\G]et", "get", false}, {"[\\g]et", "get", true},  {"g[E]t", "get", true},
      {"\\Get", "get", true},    {"G?T", "get", true},      {"[^G]et", "get", false},
      {"[Z-A]et", "get", true},  {"[a-Z]et", "get", false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.pattern);
    CHECK(glob_match(c.pattern, c.subject, true) == c.match);
  }
  CHECK_FALSE(glob_match("GET", "get"));
  CHECK_FALSE(glob_match("[A-Z]et", "get"));
  // The C locale folds nothing outside ASCII.
  CHECK_FALSE(glob_match("\xc9", "\xe9", true));
  CHECK(glob_match("\xc9", "\xc9", true));
}

TEST_CASE("glob_match gives up past 1000 star groups like the server") {
  const std::string a1000(1000, 'a');
  const std::string x1500(1500, 'x');
  CHECK(glob_match(repeat("*a", 1000), a1000));
  CHECK(glob_match(repeat("*a", 1000), std::string(3000, 'a')));
  CHECK_FALSE(glob_match(repeat("*a", 1001), std::string(3000, 'a')));
  CHECK(glob_match(repeat("*a", 1000) + "*", std::string(3000, 'a')));  // a trailing group costs nothing
  CHECK_FALSE(glob_match(repeat("*a", 1001) + "*", std::string(3000, 'a')));
  CHECK(glob_match(repeat("*?", 1000), x1500));
  CHECK_FALSE(glob_match(repeat("*?", 1001), x1500));
  CHECK(glob_match(repeat("*?", 1000) + "*", x1500));
  CHECK(glob_match(std::string(5000, '*') + "a", "xa"));  // adjacent stars are one group
  CHECK(glob_match(repeat("\\*a", 1500), repeat("*a", 1500)));
  CHECK(glob_match(repeat("[*]a", 1500), repeat("*a", 1500)));
}

TEST_CASE("glob_match is not exponential on many stars") {
  const std::string as(100000, 'a');
  CHECK_FALSE(glob_match("a*a*a*a*a*a*a*a*a*a*b", as));
  CHECK(glob_match("a*a*a*a*a*a*a*a*a*a*a", as));
  CHECK_FALSE(glob_match("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b*", as));
  CHECK_FALSE(glob_match(repeat("*a", 900) + "b", std::string(20000, 'a')));
  CHECK_FALSE(glob_match("*[a-z]*[a-z]*[a-z]*[a-z]*[a-z]*[a-z]*[a-z]*?\\*", as));
}

TEST_CASE("glob_match handles keys longer than any int") {
  // Only a sanity check that sizes are not narrowed: a long key against a prefix pattern.
  std::string key = "tt:agent:";
  key.append(1 << 20, 'z');
  CHECK(glob_match("tt:agent:*", key));
  CHECK(glob_match("tt:*z", key));
  CHECK_FALSE(glob_match("tt:*y", key));
}

TEST_CASE("glob_is_literal and glob_literal_prefix") {
  struct Lit {
    std::string_view pattern;
    bool literal;
    std::string_view prefix;
  };
  const Lit cases[] = {
      {"", true, ""},
      {"tt:backlog", true, "tt:backlog"},
      {"tt:agent:*", false, "tt:agent:"},
      {"tt:?", false, "tt:"},
      {"tt:[ab]", false, "tt:"},
      {"tt:[", false, "tt:"},  // an unterminated set is still a set
      {"*", false, ""},
      {"?x", false, ""},
      {"a\\*b", true, "a*b"},
      {"a\\*b*", false, "a*b"},
      {"a\\?\\[", true, "a?["},
      {"a\\\\b", true, "a\\b"},
      {"a\\", true, "a\\"},  // a trailing backslash is itself
      {"\\", true, "\\"},
      {"a]b^c-d", true, "a]b^c-d"},
      {"x\0y"sv, true, "x\0y"sv},
      {"\xff\x80*"sv, false, "\xff\x80"sv},
  };
  for (const auto& c : cases) {
    CAPTURE(c.pattern);
    CHECK(glob_is_literal(c.pattern) == c.literal);
    CHECK(glob_literal_prefix(c.pattern) == c.prefix);
    // The contract the selection code relies on.
    if (c.literal) {
      CHECK(glob_match(c.pattern, c.prefix));
    }
  }
}
