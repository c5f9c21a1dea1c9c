// A live run's preflight without servers: which destination names belong to the selection (the names a
// selected source key is copied under), and the refusal's wording.

#include "copy/live_preflight.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <string>

#include "select/rename.hpp"

using rmig::copy::destination_not_empty;
using rmig::copy::selected_source;
using namespace rmig::select;

namespace {

std::shared_ptr<const RenameRules> rules(std::vector<RuleSpec> specs) {
  auto r = RenameRules::build(specs);
  REQUIRE(r.has_value());
  return std::make_shared<const RenameRules>(std::move(r).value());
}

}  // namespace

TEST_SUITE("live_preflight") {
  TEST_CASE("without rename rules a destination name is its source name, selected by --match and --exclude") {
    Selection sel;
    sel.match = {"user:*"};  // one pattern: the source's SCAN MATCH, checked here by name
    sel.exclude = {"*:tmp"};
    CHECK(selected_source(sel, "user:1") == std::optional<std::string>("user:1"));
    CHECK_FALSE(selected_source(sel, "order:1"));
    CHECK_FALSE(selected_source(sel, "user:1:tmp"));
    CHECK_FALSE(selected_source(sel, "redis-migrate:lock"));  // the tool's own keys
    sel.match = {"user:*", "order:*"};
    CHECK(selected_source(sel, "order:1") == std::optional<std::string>("order:1"));
    sel.match.clear();
    CHECK(selected_source(sel, "anything") == std::optional<std::string>("anything"));
  }

  TEST_CASE(
      "with a prefix rule, a name the rule would take is not a copy's name: no selected key lands there") {
    Selection sel;
    sel.rename = rules({{RuleSpec::Kind::kPrefix, "a:", "b:"}});
    // "a:1" is renamed to "b:1" by the copy: nothing is ever written under "a:1".
    CHECK_FALSE(selected_source(sel, "a:1"));
    // A name no rule matches is a kept key's.
    CHECK(selected_source(sel, "c:1") == std::optional<std::string>("c:1"));
    sel.match = {"a:*"};
    CHECK_FALSE(selected_source(sel, "c:1"));
  }

  TEST_CASE("the refusal names the destination, one key, the reason and the fix (exit code 2)") {
    const rmig::Error e = destination_not_empty("destination redis://h:6379/0", std::string("k\n1", 3));
    CHECK(e.code == rmig::ExitCode::kUsage);
    CHECK(e.message ==
          "destination redis://h:6379/0: holds keys under the selection's names (e.g. \"k\\n1\"): a live run "
          "makes the destination an exact replica of the selection; add --replace to overwrite them (nothing "
          "was written)");
  }
}
