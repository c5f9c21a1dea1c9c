// The selector: which keys a run takes and under which name, and the rename collisions found while copying.

#include "select/selector.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <string>

#include "select/rename.hpp"

using namespace rmig::select;

namespace {

std::shared_ptr<const RenameRules> rules(std::vector<RuleSpec> specs) {
  auto r = RenameRules::build(specs);
  REQUIRE(r.has_value());
  return std::make_shared<const RenameRules>(std::move(r).value());
}

}  // namespace

TEST_SUITE("selector") {
  TEST_CASE("the tool's own keys are never selected; --match (any) and --exclude (none) filter by name") {
    Selection sel;
    sel.match = {"user:*", "order:*"};
    sel.exclude = {"*:tmp"};
    Selector s(sel, false, 100, 1 << 20);
    CHECK(s.scan_match().empty());  // two patterns: filtered here, not by SCAN MATCH
    Naming n;
    CHECK(s.by_name("user:1", n));
    CHECK(s.by_name("order:9", n));
    CHECK_FALSE(s.by_name("cart:1", n));
    CHECK_FALSE(s.by_name("user:1:tmp", n));
    CHECK_FALSE(s.by_name("redis-migrate:lock", n));
  }

  TEST_CASE(
      "a name that no SCAN filtered (a notification, an inverted destination name) meets the one pattern "
      "too") {
    Selection sel;
    sel.match = {"user:*"};
    Selector s(sel, false, 100, 1 << 20);
    REQUIRE(s.scan_match() == "user:*");
    Naming n;
    CHECK(s.by_name("order:1", n));  // SCAN MATCH already left such keys out
    CHECK_FALSE(s.by_name_unscanned("order:1", n));
    CHECK(s.by_name_unscanned("user:1", n));
    CHECK_FALSE(s.by_name_unscanned("redis-migrate:lock", n));
  }

  TEST_CASE("one pattern and one type go to the server when it can filter them") {
    Selection sel;
    sel.match = {"user:*"};
    sel.types = {"hash"};
    Selector s(sel, false, 100, 1 << 20);
    CHECK(s.scan_match() == "user:*");
    CHECK(s.scan_type() == "hash");
    CHECK_FALSE(s.type_check());
    sel.scan_type_supported = false;  // Redis < 6.0: TYPE per key
    Selector old(sel, false, 100, 1 << 20);
    CHECK(old.scan_type().empty());
    CHECK(old.type_check());
    CHECK(old.type_selected("hash"));
    CHECK_FALSE(old.type_selected("string"));
  }

  TEST_CASE("rename rules give the destination name; in place only renamed keys are taken") {
    Selection sel;
    sel.rename = rules({{RuleSpec::Kind::kPrefix, "old:", "new:"}});
    Selector s(sel, false, 100, 1 << 20);
    Naming n;
    REQUIRE(s.by_name("old:1", n));
    CHECK(n.renamed);
    CHECK(n.renamed_to == "new:1");
    CHECK(n.rule == 0);
    REQUIRE(s.by_name("other", n));
    CHECK_FALSE(n.renamed);
    CHECK(n.rule == -1);
    sel.renamed_only = true;
    Selector in_place(sel, false, 100, 1 << 20);
    CHECK(in_place.by_name("old:1", n));
    CHECK_FALSE(in_place.by_name("other", n));
  }

  TEST_CASE("a name another selected key took fails the second key; the same key again does not") {
    Selection sel;
    sel.rename = rules({{RuleSpec::Kind::kPrefix, "a:", "x:"}, {RuleSpec::Kind::kPrefix, "b:", "x:"}});
    Selector s(sel, true, 100, 1 << 20);
    Naming first;
    REQUIRE(s.by_name("a:1", first));
    CHECK(s.claim("a:1", first, false).empty());
    Naming again;
    REQUIRE(s.by_name("a:1", again));
    CHECK(s.claim("a:1", again, true).empty());  // SCAN returned it twice
    Naming second;
    REQUIRE(s.by_name("b:1", second));
    const std::string why = s.claim("b:1", second, false);
    CHECK(why.find("rename rule 2") == 0);
    CHECK(why.find("a name another selected key already took") != std::string::npos);
    // A kept key on a name a rule already gave another key.
    Naming kept;
    REQUIRE(s.by_name("x:1", kept));
    CHECK_FALSE(kept.renamed);
    CHECK(s.claim("x:1", kept, false).find("the key keeps its name") == 0);
  }

  TEST_CASE("a rule that gives an empty name fails the key") {
    Selection sel;
    sel.rename = rules({{RuleSpec::Kind::kRegex, "gone:.*", ""}});
    Selector s(sel, false, 100, 1 << 20);
    Naming n;
    REQUIRE(s.by_name("gone:1", n));
    CHECK(s.claim("gone:1", n, false) == "rename rule 1 gives an empty key name");
  }
}
