// In place (source and destination one keyspace), a renamed key may not land on the old name of another
// selected key that is renamed too: a swap, a chain or a cycle of rules.
#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

#include "select/rename.hpp"

using rmig::select::Collision;
using rmig::select::CollisionDetector;
using rmig::select::RenameRules;
using rmig::select::RuleSpec;

namespace {

RuleSpec prefix(std::string from, std::string to) { return RuleSpec{RuleSpec::Kind::kPrefix, from, to}; }
RuleSpec regex(std::string from, std::string to) { return RuleSpec{RuleSpec::Kind::kRegex, from, to}; }

RenameRules rules_of(const std::vector<RuleSpec>& specs) {
  auto rules = RenameRules::build(specs);
  REQUIRE(rules.has_value());
  return std::move(rules).value();
}

// Feeds keys in order; the first collision.
std::optional<Collision> feed(const RenameRules& rules, bool in_place, const std::vector<std::string>& keys) {
  CollisionDetector detector(rules, in_place);
  for (const auto& key : keys) {
    std::optional<Collision> c;
    if (auto to = rules.apply(key); to && *to != key) {
      c = detector.add_renamed(key, *to);
    } else if (rules.may_produce(key)) {
      c = detector.add_kept(key);
    }
    if (c) return c;
  }
  return std::nullopt;
}

}  // namespace

TEST_SUITE("rename_graph") {
  TEST_CASE("a swap is refused in place whichever key comes first, naming both keys and both rules") {
    const RenameRules rules = rules_of({prefix("a:", "b:"), prefix("b:", "a:")});
    for (const auto& order :
         {std::vector<std::string>{"a:1", "b:1"}, std::vector<std::string>{"b:1", "a:1"}}) {
      auto c = feed(rules, true, order);
      REQUIRE(c.has_value());
      CHECK(c->kind == Collision::Kind::kOntoRenamedKey);
      const std::string m = c->message();
      CHECK(m.find("\"a:1\"") != std::string::npos);
      CHECK(m.find("\"b:1\"") != std::string::npos);
      CHECK(m.find("rule 1 (prefix \"a:\" -> \"b:\")") != std::string::npos);
      CHECK(m.find("rule 2 (prefix \"b:\" -> \"a:\")") != std::string::npos);
      CHECK(m.find("first --rename-prefix 'a:' 'tmp:b:' --rename-prefix 'b:' 'tmp:a:', then --match 'tmp:*' "
                   "--rename 'tmp:(.*)' '\\1'") != std::string::npos);
    }
    // Between two keyspaces the same rules are a re-layout: nothing is overwritten before it is read.
    CHECK_FALSE(feed(rules, false, {"a:1", "b:1"}).has_value());
  }

  TEST_CASE("a chain and a cycle are refused in place; keys that do not meet are not") {
    const RenameRules chain = rules_of({prefix("a:", "b:"), prefix("b:", "c:")});
    CHECK(feed(chain, true, {"a:1", "b:1"}).has_value());
    CHECK(feed(chain, true, {"b:1", "c:9", "a:1"}).has_value());
    CHECK_FALSE(feed(chain, true, {"a:1", "b:2"}).has_value());  // b:1 is not a selected key
    const RenameRules cycle = rules_of({prefix("a:", "b:"), prefix("b:", "c:"), prefix("c:", "a:")});
    CHECK(feed(cycle, true, {"c:1", "a:1"}).has_value());
    CHECK_FALSE(feed(cycle, true, {"a:1", "b:2", "c:3"}).has_value());
    // A key SCAN returns twice is not its own chain.
    CHECK_FALSE(feed(chain, true, {"a:1", "a:1", "b:2", "b:2"}).has_value());
    // A regex rule feeding a prefix rule.
    const RenameRules mixed = rules_of({regex("x:(.*)", "y:\\1"), prefix("y:", "z:")});
    auto c = feed(mixed, true, {"y:5", "x:5"});
    REQUIRE(c.has_value());
    CHECK(c->renamed_source == "x:5");
    CHECK(c->other_source == "y:5");
    CHECK(c->other_destination == "z:5");
  }

  TEST_CASE("may_chain: prefix rules whose outputs meet an input, and any regex rule") {
    CHECK(rules_of({prefix("a:", "b:"), prefix("b:", "a:")}).may_chain());
    CHECK(rules_of({prefix("tt:", "tt:proj:")}).may_chain());  // its own output matches it again
    CHECK_FALSE(rules_of({prefix("a:", "x:"), prefix("b:", "y:")}).may_chain());
    CHECK(rules_of({regex("a:(.*)", "x:\\1")}).may_chain());
  }
}
