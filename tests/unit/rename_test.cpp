#include "select/rename.hpp"

#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/slot.hpp"

using rmig::ExitCode;
using rmig::select::Collision;
using rmig::select::CollisionDetector;
using rmig::select::RenameRules;
using rmig::select::RuleSpec;
using namespace std::string_view_literals;

namespace {

RuleSpec prefix(std::string from, std::string to) { return RuleSpec{RuleSpec::Kind::kPrefix, from, to}; }
RuleSpec regex(std::string from, std::string to) { return RuleSpec{RuleSpec::Kind::kRegex, from, to}; }

RenameRules build_ok(const std::vector<RuleSpec>& specs) {
  auto rules = RenameRules::build(specs);
  REQUIRE_MESSAGE(rules.has_value(), (rules.has_value() ? "" : rules.error().message));
  return std::move(rules).value();
}

std::string build_error(const std::vector<RuleSpec>& specs) {
  auto rules = RenameRules::build(specs);
  REQUIRE_FALSE(rules.has_value());
  CHECK(rules.error().code == ExitCode::kUsage);
  return rules.error().message;
}

// apply(), apply_into() and rule_index_for() must agree; returns apply()'s answer.
std::optional<std::string> renamed(const RenameRules& rules, std::string_view key) {
  const std::optional<std::string> name = rules.apply(key);
  std::string out = "untouched";
  const int index = rules.apply_into(key, out);
  CHECK(index == rules.rule_index_for(key));
  CHECK((index >= 0) == name.has_value());
  CHECK(out == (name ? *name : "untouched"));
  return name;
}

}  // namespace

TEST_CASE("no rules keep every name") {
  const RenameRules none;
  CHECK(none.empty());
  CHECK(none.size() == 0);
  CHECK_FALSE(renamed(none, "tt:agent:1").has_value());
  CHECK(none.describe(-1) == "unchanged");
  CHECK_FALSE(none.may_produce("anything"));

  const RenameRules built = build_ok({});
  CHECK(built.empty());
}

TEST_CASE("recipe: tt:<kind>:<id> moves under tt:my-project: with one regex and an exact rule") {
  const RenameRules rules = build_ok({
      regex("^tt:(agent|inbox|urgent|task|activity|stop):(.*)$", "tt:my-project:\\1:\\2"),
      regex("tt:backlog", "tt:my-project:backlog"),
  });
  CHECK(rules.size() == 2);
  CHECK(renamed(rules, "tt:agent:42") == "tt:my-project:agent:42");
  CHECK(renamed(rules, "tt:inbox:7") == "tt:my-project:inbox:7");
  CHECK(renamed(rules, "tt:urgent:x:y") == "tt:my-project:urgent:x:y");
  CHECK(renamed(rules, "tt:task:1") == "tt:my-project:task:1");
  CHECK(renamed(rules, "tt:activity:2024-01-01") == "tt:my-project:activity:2024-01-01");
  CHECK(renamed(rules, "tt:stop:now") == "tt:my-project:stop:now");
  CHECK(renamed(rules, "tt:agent:") == "tt:my-project:agent:");
  CHECK(renamed(rules, "tt:backlog") == "tt:my-project:backlog");
  CHECK(rules.rule_index_for("tt:backlog") == 1);
  // Not matched: the regex must cover the whole key.
  CHECK_FALSE(renamed(rules, "tt:backlog:old").has_value());
  CHECK_FALSE(renamed(rules, "tt:agents:1").has_value());
  CHECK_FALSE(renamed(rules, "tt:agent").has_value());
  CHECK_FALSE(renamed(rules, "xtt:agent:1").has_value());
  CHECK_FALSE(renamed(rules, "tt:my-project:agent:1").has_value());  // already moved
  CHECK_FALSE(renamed(rules, "other").has_value());
}

TEST_CASE("recipe: tt:<kind>:<id> with prefix rules") {
  std::vector<RuleSpec> specs;
  for (std::string kind : {"agent", "inbox", "urgent", "task", "activity", "stop"}) {
    specs.push_back(prefix("tt:" + kind + ":", "tt:my-project:" + kind + ":"));
  }
  specs.push_back(regex("tt:backlog", "tt:my-project:backlog"));
  const RenameRules rules = build_ok(specs);
  CHECK(renamed(rules, "tt:agent:42") == "tt:my-project:agent:42");
  CHECK(renamed(rules, "tt:stop:now") == "tt:my-project:stop:now");
  CHECK(rules.rule_index_for("tt:stop:now") == 5);
  CHECK(renamed(rules, "tt:backlog") == "tt:my-project:backlog");
  CHECK_FALSE(renamed(rules, "tt:backlog2").has_value());
  CHECK(rules.describe(0) == R"(prefix "tt:agent:" -> "tt:my-project:agent:")");

  // A prefix rule for the single key would also catch longer names; the exact regex does not.
  const RenameRules loose = build_ok({prefix("tt:backlog", "tt:my-project:backlog")});
  CHECK(renamed(loose, "tt:backlog") == "tt:my-project:backlog");
  CHECK(renamed(loose, "tt:backlog2") == "tt:my-project:backlog2");
}

TEST_CASE("recipe: tenant:<id>:<rest> gets a hash tag so a tenant stays in one cluster slot") {
  const RenameRules rules = build_ok({regex("tenant:([^:]+):(.*)", "{tenant:\\1}:\\2")});
  CHECK(renamed(rules, "tenant:17:orders") == "{tenant:17}:orders");
  CHECK(renamed(rules, "tenant:17:orders:2024:05") == "{tenant:17}:orders:2024:05");
  CHECK(renamed(rules, "tenant:acme-corp:") == "{tenant:acme-corp}:");
  CHECK_FALSE(renamed(rules, "tenant:17").has_value());
  CHECK_FALSE(renamed(rules, "tenant::orders").has_value());
  CHECK_FALSE(renamed(rules, "xtenant:17:orders").has_value());
  CHECK_FALSE(renamed(rules, "{tenant:17}:orders").has_value());

  const uint16_t slot = rmig::cluster::key_hash_slot(*rules.apply("tenant:17:orders"));
  CHECK(rmig::cluster::key_hash_slot(*rules.apply("tenant:17:profile")) == slot);
  CHECK(rmig::cluster::key_hash_slot(*rules.apply("tenant:17:a:b:c")) == slot);
  CHECK(rules.describe(0) == R"x(regex "tenant:([^:]+):(.*)" -> "{tenant:\\1}:\\2")x");
}

TEST_CASE("the first matching rule wins") {
  const RenameRules broad_first = build_ok({prefix("a:", "x:"), prefix("a:b:", "y:")});
  CHECK(renamed(broad_first, "a:b:1") == "x:b:1");
  CHECK(broad_first.rule_index_for("a:b:1") == 0);

  const RenameRules narrow_first = build_ok({prefix("a:b:", "y:"), prefix("a:", "x:")});
  CHECK(renamed(narrow_first, "a:b:1") == "y:1");
  CHECK(renamed(narrow_first, "a:c:1") == "x:c:1");
  CHECK(narrow_first.rule_index_for("a:c:1") == 1);

  const RenameRules mixed = build_ok({regex("a:(\\d+)", "num:\\1"), prefix("a:", "other:")});
  CHECK(renamed(mixed, "a:12") == "num:12");
  CHECK(renamed(mixed, "a:12x") == "other:12x");
  CHECK(mixed.rule_index_for("b:1") == -1);
}

TEST_CASE("prefix rules") {
  const RenameRules rules = build_ok({prefix("old:", "new:"), prefix("strip:", ""), prefix("", "all:")});
  CHECK(renamed(rules, "old:1") == "new:1");
  CHECK(renamed(rules, "old:") == "new:");
  CHECK(renamed(rules, "strip:me") == "me");
  CHECK(renamed(rules, "strip:") == "");          // the empty name is the caller's to refuse
  CHECK(renamed(rules, "other") == "all:other");  // an empty prefix matches every key
  CHECK(renamed(rules, "") == "all:");
}

TEST_CASE("replacements: whole key, literal text, backslashes, unmatched groups") {
  CHECK(renamed(build_ok({regex(".*", "copy:\\0")}), "k:1") == "copy:k:1");
  CHECK(renamed(build_ok({regex("old", "new")}), "old") == "new");
  CHECK(renamed(build_ok({regex("(a)(b)", "\\2\\1\\\\\\0")}), "ab") == "ba\\ab");
  CHECK(renamed(build_ok({regex("(a)?b(.*)", "[\\1]\\2")}), "bc") == "[]c");
  CHECK(renamed(build_ok({regex("(x)(.*)", "\\10")}), "xyz") == "x0");  // \10 is group 1, then '0'
  // Case-sensitive unless the pattern asks otherwise.
  CHECK_FALSE(renamed(build_ok({regex("key:(.*)", "k:\\1")}), "KEY:1").has_value());
  CHECK(renamed(build_ok({regex("(?i)key:(.*)", "k:\\1")}), "KEY:1") == "k:1");
}

TEST_CASE("binary keys") {
  const std::string key("bin:\x00\xff\n\x80z", 9);
  const RenameRules any = build_ok({regex("bin:(.*)", "b:\\1")});
  CHECK(renamed(any, key) == std::string("b:\x00\xff\n\x80z", 7));  // '.' matches every byte, newline too

  const RenameRules bytes = build_ok({regex("k\\xff(.)\\x00", "<\\1>")});
  CHECK(renamed(bytes, "k\xff\x80\x00"sv) == "<\x80>");
  CHECK(renamed(bytes, "k\xff\n\x00"sv) == "<\n>");
  CHECK_FALSE(renamed(bytes, "k\xfe\x80\x00"sv).has_value());

  // Bytes that are not UTF-8 in the pattern itself are fine too.
  const RenameRules raw = build_ok({regex(std::string("\xe9(.*)"), "e\\1")});
  CHECK(renamed(raw, "\xe9t\xe9") == "et\xe9");

  const RenameRules nul = build_ok({prefix(std::string("a\0", 2), std::string("b\0\0", 3))});
  CHECK(renamed(nul, "a\0x"sv) == std::string("b\0\0x", 4));
  CHECK_FALSE(renamed(nul, "a").has_value());
  CHECK(nul.describe(0) == R"(prefix "a\x00" -> "b\x00\x00")");
}

TEST_CASE("invalid regexes are usage errors naming the option") {
  std::string msg = build_error({regex("tenant:(", "x")});
  CHECK(msg.starts_with("--rename 'tenant:(': missing )"));
  CHECK(msg.find("close every group") != std::string::npos);

  msg = build_error({regex("a[b", "x")});
  CHECK(msg.starts_with("--rename 'a[b': missing ]"));

  msg = build_error({regex("(a)\\1", "x")});
  CHECK(msg ==
        "--rename '(a)\\1': invalid escape at '\\1': RE2 has no backreferences; use \\N in the replacement "
        "instead");

  msg = build_error({regex("a(?=b)", "x")});
  CHECK(msg.starts_with("--rename 'a(?=b)': unsupported group syntax"));

  msg = build_error({regex("*a", "x")});
  CHECK(msg.starts_with("--rename '*a': invalid repetition"));

  msg = build_error({regex("a\\", "x")});
  CHECK(msg.starts_with("--rename 'a\\': trailing backslash"));

  // The rule's position does not matter; an earlier valid rule does not hide the error.
  msg = build_error({prefix("a:", "b:"), regex("(", "x")});
  CHECK(msg.starts_with("--rename '(':"));

  // Unprintable bytes in the shown pattern are escaped.
  msg = build_error({regex(std::string("\x01("), "x")});
  CHECK(msg.starts_with("--rename '\\x01(':"));
}

TEST_CASE("bad replacements are usage errors naming both arguments") {
  std::string msg = build_error({regex("tenant:([^:]+)", "{tenant:\\2}")});
  CHECK(msg ==
        "--rename 'tenant:([^:]+)' '{tenant:\\2}': replacement refers to \\2 but the regex has 1 capture "
        "group: "
        "use \\0 for the whole key and \\1 for the group");

  msg = build_error({regex("tenant:([^:]+):(.*)", "\\1:\\3")});
  CHECK(
      msg.find("refers to \\3 but the regex has 2 capture groups: use \\0 for the whole key and \\1..\\2 for "
               "the groups") != std::string::npos);

  msg = build_error({regex("plain", "x:\\1")});
  CHECK(msg.find("has 0 capture groups: use \\0 for the whole key, or add (...) groups") !=
        std::string::npos);

  msg = build_error({regex("(a)", "x\\")});
  CHECK(msg ==
        "--rename '(a)' 'x\\': replacement ends in a lone backslash: write \\\\ for a literal backslash");

  msg = build_error({regex("(a)", "x\\n")});
  CHECK(msg.starts_with("--rename '(a)' 'x\\n': replacement has the unknown escape '\\n'"));
}

TEST_CASE("describe") {
  const RenameRules rules = build_ok({prefix("tt:agent:", "tt:my-project:agent:"), regex("a\"b", "c")});
  CHECK(rules.describe(0) == R"(prefix "tt:agent:" -> "tt:my-project:agent:")");
  CHECK(rules.describe(1) == R"(regex "a\"b" -> "c")");
  CHECK(rules.describe(-1) == "unchanged");
  CHECK(rules.describe(2) == "unchanged");
}

TEST_CASE("may_produce looks at the literal start of each rule's output") {
  const RenameRules rules = build_ok({
      prefix("tt:agent:", "tt:my-project:agent:"),
      regex("tenant:([^:]+):(.*)", "{tenant:\\1}:\\2"),
      regex("(x)", "a\\\\b\\1"),
  });
  CHECK(rules.may_produce("tt:my-project:agent:1"));
  CHECK(rules.may_produce("{tenant:1}:x"));
  CHECK(rules.may_produce("{tenant:"));
  CHECK(rules.may_produce("a\\bx"));
  CHECK_FALSE(rules.may_produce("tt:agent:1"));
  CHECK_FALSE(rules.may_produce("tenant:1:x"));
  CHECK_FALSE(rules.may_produce("a\\\\"));

  const RenameRules open_ended = build_ok({regex("(.*):old", "\\1:new")});
  CHECK(open_ended.may_produce("anything"));
}

TEST_CASE("collisions: two keys renamed to one name") {
  const RenameRules rules = build_ok({prefix("a:", "x:"), prefix("b:", "x:")});
  CollisionDetector detector(rules);
  CHECK_FALSE(detector.add_renamed("a:1", "x:1"));
  CHECK_FALSE(detector.add_renamed("a:2", "x:2"));
  const std::optional<Collision> c = detector.add_renamed("b:1", "x:1");
  REQUIRE(c.has_value());
  CHECK(c->kind == Collision::Kind::kSameDestination);
  CHECK(c->renamed_source == "b:1");
  CHECK(c->other_source == "a:1");
  CHECK(c->destination == "x:1");
  CHECK(c->message() ==
        "keys \"a:1\" and \"b:1\" would both be renamed to \"x:1\": change the rename rules or the key "
        "selection "
        "so that every destination name is used once");
  CHECK_FALSE(detector.add_renamed("b:3", "x:3"));
}

TEST_CASE("collisions: a renamed key lands on a kept key, in either order") {
  const RenameRules rules = build_ok({prefix("old:", "new:")});

  SUBCASE("kept key first") {
    CollisionDetector detector(rules);
    CHECK_FALSE(detector.add_kept("new:1"));
    const std::optional<Collision> c = detector.add_renamed("old:1", "new:1");
    REQUIRE(c.has_value());
    CHECK(c->kind == Collision::Kind::kOntoKeptKey);
    CHECK(c->renamed_source == "old:1");
    CHECK(c->other_source == "new:1");
    CHECK(c->destination == "new:1");
    CHECK(c->message().starts_with(
        "key \"old:1\" would be renamed to \"new:1\", which is also a selected key that keeps its name"));
  }
  SUBCASE("renamed key first") {
    CollisionDetector detector(rules);
    CHECK_FALSE(detector.add_renamed("old:1", "new:1"));
    const std::optional<Collision> c = detector.add_kept("new:1");
    REQUIRE(c.has_value());
    CHECK(c->kind == Collision::Kind::kOntoKeptKey);
    CHECK(c->renamed_source == "old:1");
    CHECK(c->other_source == "new:1");
    CHECK(c->destination == "new:1");
  }
}

TEST_CASE("collisions: the tenant recipe against keys already tagged") {
  const RenameRules rules = build_ok({regex("tenant:([^:]+):(.*)", "{tenant:\\1}:\\2")});
  CollisionDetector detector(rules);
  CHECK_FALSE(detector.add_kept("{tenant:17}:orders"));
  CHECK_FALSE(detector.add_kept("unrelated"));
  CHECK(detector.tracked() == 1);  // "unrelated" cannot be produced by the rule, so it is not kept in memory
  CHECK_FALSE(detector.add_renamed("tenant:17:profile", *rules.apply("tenant:17:profile")));
  const std::optional<Collision> c =
      detector.add_renamed("tenant:17:orders", *rules.apply("tenant:17:orders"));
  REQUIRE(c.has_value());
  CHECK(c->kind == Collision::Kind::kOntoKeptKey);
  CHECK(c->renamed_source == "tenant:17:orders");
  CHECK(c->destination == "{tenant:17}:orders");
}

TEST_CASE("collisions: keys seen twice and rename chains are not collisions") {
  const RenameRules rules = build_ok({prefix("a:", "b:"), prefix("b:", "c:")});
  CollisionDetector detector(rules);
  CHECK_FALSE(detector.add_renamed("a:1", "b:1"));
  CHECK_FALSE(detector.add_renamed("a:1", "b:1"));  // SCAN may return a key twice
  CHECK_FALSE(detector.add_renamed("b:1", "c:1"));  // b:1 moves away, so a:1 may take its name
  CHECK_FALSE(detector.add_kept("c:2"));
  CHECK_FALSE(detector.add_kept("c:2"));
  CHECK(detector.tracked() == 3);
}

TEST_CASE("collisions: binary names, long names and many keys") {
  const RenameRules rules = build_ok({regex("k:(.*)", "n:\\1"), prefix("m:", "n:")});
  CollisionDetector detector(rules);

  const std::string bin_a("k:\x00\xff", 4);
  const std::string bin_b("m:\x00\xff", 4);
  CHECK_FALSE(detector.add_renamed(bin_a, *rules.apply(bin_a)));
  std::optional<Collision> c = detector.add_renamed(bin_b, *rules.apply(bin_b));
  REQUIRE(c.has_value());
  CHECK(c->destination == std::string("n:\x00\xff", 4));
  CHECK(c->message().starts_with(
      R"(keys "k:\x00\xff" and "m:\x00\xff" would both be renamed to "n:\x00\xff")"));

  // Names longer than an arena chunk.
  const std::string long_a = "k:" + std::string(3 << 20, 'z');
  const std::string long_b = "m:" + std::string(3 << 20, 'z');
  CHECK_FALSE(detector.add_renamed(long_a, *rules.apply(long_a)));
  c = detector.add_renamed(long_b, *rules.apply(long_b));
  REQUIRE(c.has_value());
  CHECK(c->other_source == long_a);

  // Enough keys to grow the table several times; none collide until the last one.
  std::string name;
  for (int i = 0; i < 100000; ++i) {
    const std::string key = "k:" + std::to_string(i);
    REQUIRE(rules.apply_into(key, name) == 0);
    REQUIRE_FALSE(detector.add_renamed(key, name));
  }
  CHECK(detector.tracked() == 100002);
  CHECK(detector.memory_bytes() < 100002 * 48 + (6 << 20) + (2 << 20));
  c = detector.add_renamed("m:99999", "n:99999");
  REQUIRE(c.has_value());
  CHECK(c->other_source == "k:99999");
}
