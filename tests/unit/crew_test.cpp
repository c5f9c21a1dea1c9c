// engine::Crew's pure parts (--threads): how the source nodes are spread over the loops, how the window's
// bytes and the rate limits are split, and the filters the loops share (duplicates, rename targets).

#include "engine/crew.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "select/rename.hpp"
#include "select/seen_filter.hpp"
#include "select/selector.hpp"

using namespace rmig;

TEST_SUITE("crew") {
  TEST_CASE("nodes are spread largest first to the least loaded loop; every loop gets one") {
    using Groups = std::vector<std::vector<uint32_t>>;
    // 3 nodes on 2 loops: the largest alone, the two others together.
    CHECK(engine::spread_nodes({100, 900, 500}, 2) == Groups{{1}, {0, 2}});
    // As many loops as nodes: one each.
    CHECK(engine::spread_nodes({5, 5, 5}, 3) == Groups{{0}, {1}, {2}});
    // More loops than nodes: one loop per node.
    CHECK(engine::spread_nodes({7, 3}, 8).size() == 2);
    // Empty nodes (DBSIZE 0 or unknown) still go round the loops.
    CHECK(engine::spread_nodes({0, 0, 0, 0}, 2) == Groups{{0, 2}, {1, 3}});
    // The keys stay balanced: 6 nodes of 6..1 keys on 3 loops hold 7 each.
    const auto g = engine::spread_nodes({6, 5, 4, 3, 2, 1}, 3);
    REQUIRE(g.size() == 3);
    for (const auto& loop : g) {
      uint64_t keys = 0;
      for (uint32_t i : loop)
        keys += 6 - i;
      CHECK(keys == 7);
    }
  }

  TEST_CASE("the window's bytes and the rate limits are totals, divided between the loops") {
    engine::CopyOptions o;
    o.window.bytes = 16u << 20;
    o.window.keys = 2048;
    o.rate_limit_keys = 1000;
    o.rate_limit_bytes = 3'000'000;
    const engine::CopyOptions one = engine::loop_options(o, 1);
    CHECK(one.window.bytes == o.window.bytes);
    CHECK(one.rate_limit_keys == 1000);
    const engine::CopyOptions three = engine::loop_options(o, 3);
    CHECK(three.window.bytes * 3 <= o.window.bytes);
    CHECK(three.window.bytes * 3 > o.window.bytes - 3);
    CHECK(three.window.keys == 2048);
    CHECK(three.rate_limit_keys == 333);
    CHECK(three.rate_limit_bytes == 1'000'000);
    // No limit stays no limit; a tiny limit stays a limit (at least 1 key/s per loop).
    o.rate_limit_keys = 2;
    o.rate_limit_bytes = 0;
    const engine::CopyOptions four = engine::loop_options(o, 4);
    CHECK(four.rate_limit_keys == 1);
    CHECK(four.rate_limit_bytes == 0);
  }

  TEST_CASE("a concurrent seen filter is shared by its copies and exact for 'not seen' across threads") {
    const select::SeenFilter filter(100'000, 1 << 20, true);
    CHECK(filter.concurrent());
    select::SeenFilter a = filter;
    select::SeenFilter b = filter;
    CHECK_FALSE(a.test_and_add("k:1"));
    CHECK(b.test_and_add("k:1"));  // the copies share the bits
    // Two threads add the same 20,000 names at once: each name is "not seen" exactly once overall.
    std::atomic<int> fresh{0};
    auto add_all = [&](select::SeenFilter f) {
      for (int i = 0; i < 20'000; ++i) {
        if (!f.test_and_add("name:" + std::to_string(i))) ++fresh;
      }
    };
    std::thread t1(add_all, filter);
    std::thread t2(add_all, filter);
    t1.join();
    t2.join();
    CHECK(fresh.load() <= 20'000);
    CHECK(fresh.load() >= 20'000 - 2);  // a false positive is possible, about 1e-6 per key
  }

  TEST_CASE("selectors given one shared target filter catch a collision between them") {
    auto r = select::RenameRules::build(
        {{select::RuleSpec::Kind::kPrefix, "a:", "x:"}, {select::RuleSpec::Kind::kPrefix, "b:", "x:"}});
    REQUIRE(r.has_value());
    select::Selection sel;
    sel.rename = std::make_shared<const select::RenameRules>(std::move(r).value());
    const select::SeenFilter targets(1000, 1 << 20, true);
    select::Selector one(sel, true, 1000, 1 << 20, &targets);
    select::Selector two(sel, true, 1000, 1 << 20, &targets);
    select::Naming n1, n2;
    REQUIRE(one.by_name("a:1", n1));
    REQUIRE(two.by_name("b:1", n2));
    CHECK(one.claim("a:1", n1, false).empty());
    CHECK(two.claim("b:1", n2, false).find("already took") != std::string::npos);
    // Selectors with filters of their own do not see each other's names.
    select::Selector three(sel, true, 1000, 1 << 20);
    select::Naming n3;
    REQUIRE(three.by_name("b:1", n3));
    CHECK(three.claim("b:1", n3, false).empty());
  }
}
