// The live phase's bookkeeping without servers (engine/live.hpp): the pending set, keys in flight and dirty
// marks, the overflow bound, the lag, the idle rule and the change rate; the live scans' key mode; and the
// inversion of rename rules the orphan scan relies on (select/rename.hpp).
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/job.hpp"
#include "engine/live.hpp"
#include "engine/scan_source.hpp"
#include "select/rename.hpp"
#include "unit/wire.hpp"

using rmig::engine::ChangeRate;
using rmig::engine::idle_due;
using rmig::engine::LiveKeys;
using rmig::engine::LiveMode;
using rmig::engine::ScanSource;
using rmig::select::RenameRules;
using rmig::select::RuleSpec;
using Change = LiveKeys::Change;
using namespace std::chrono_literals;

namespace {

const LiveKeys::Clock::time_point t0 = LiveKeys::Clock::time_point{} + 1000s;

RenameRules rules_of(const std::vector<RuleSpec>& specs) {
  auto r = RenameRules::build(specs);
  REQUIRE(r.has_value());
  return std::move(r).value();
}

RuleSpec prefix(std::string from, std::string to) { return RuleSpec{RuleSpec::Kind::kPrefix, from, to}; }

}  // namespace

TEST_SUITE("engine_live") {
  TEST_CASE("a key met again while in flight is queued again with the strongest work asked of it") {
    LiveKeys keys(100);
    LiveMode mode = LiveMode::kNone;
    // A resync's key meets an orphan check in flight: compared again (kResync), not written blindly.
    REQUIRE(keys.begin("k", 1, t0, LiveMode::kOrphan));
    CHECK_FALSE(keys.begin("k", 2, t0, LiveMode::kResync));
    CHECK(keys.end("k", 1));
    CHECK(keys.take(t0, &mode) == "k");
    CHECK(mode == LiveMode::kResync);
    // An orphan check meeting a resync in flight: only the orphan check again (EXISTS, nothing written).
    REQUIRE(keys.begin("k", 1, t0, LiveMode::kResync));
    CHECK_FALSE(keys.begin("k", 2, t0, LiveMode::kOrphan));
    CHECK(keys.end("k", 1));
    CHECK(keys.take(t0, &mode) == "k");
    CHECK(mode == LiveMode::kOrphan);
    // A change while in flight wins over both: the key is copied again.
    REQUIRE(keys.begin("k", 1, t0, LiveMode::kResync));
    CHECK_FALSE(keys.begin("k", 2, t0, LiveMode::kOrphan));
    CHECK(keys.changed("k", false, t0) == Change::kDirty);
    CHECK(keys.end("k", 1));
    CHECK(keys.take(t0, &mode) == "k");
    CHECK(mode == LiveMode::kApply);
    // A change to a key already pending for a resync makes it an apply.
    REQUIRE(keys.begin("k", 1, t0, LiveMode::kApply));
    CHECK_FALSE(keys.begin("k", 2, t0, LiveMode::kOrphan));
    CHECK(keys.end("k", 1));
    CHECK(keys.changed("k", false, t0) == Change::kAlreadyPending);
    CHECK(keys.take(t0, &mode) == "k");
    CHECK(mode == LiveMode::kApply);
    CHECK(LiveKeys::stronger(LiveMode::kNone, LiveMode::kOrphan) == LiveMode::kApply);
  }

  TEST_CASE("a changed key is pending once, in the order of its first change, with that change's time") {
    LiveKeys keys(100);
    CHECK(keys.changed("a", false, t0) == Change::kPending);
    CHECK(keys.changed("b", false, t0 + 10ms) == Change::kPending);
    CHECK(keys.changed("a", false, t0 + 20ms) == Change::kAlreadyPending);
    CHECK(keys.changes() == 3);
    CHECK(keys.pending() == 2);
    CHECK(keys.lag_ms(t0 + 50ms) == 50);  // the first change of "a", not its second
    CHECK(keys.take(t0 + 60ms) == "a");
    CHECK(keys.lag_ms(t0 + 60ms) == 50);  // "b" changed at +10 ms
    CHECK(keys.take(t0 + 70ms) == "b");
    CHECK_FALSE(keys.has_pending());
    CHECK(keys.lag_ms(t0 + 80ms) == 0);
    CHECK(keys.lag_ms_max(t0 + 80ms) == 60);  // "a" waited 60 ms, "b" 60 ms
    CHECK(keys.pending_peak() == 2);
    // Taken, the key may change again: pending again, with the new change's time.
    CHECK(keys.changed("a", false, t0 + 100ms) == Change::kPending);
    CHECK(keys.lag_ms(t0 + 110ms) == 10);
  }

  TEST_CASE("names are bytes: binary keys, empty keys and keys that differ by a NUL byte are distinct") {
    LiveKeys keys(100);
    const std::string nul_a("k\0a", 3);
    const std::string nul_b("k\0b", 3);
    CHECK(keys.changed(nul_a, false, t0) == Change::kPending);
    CHECK(keys.changed(nul_b, false, t0) == Change::kPending);
    CHECK(keys.changed("", false, t0) == Change::kPending);
    CHECK(keys.changed("\xff\xfe", false, t0) == Change::kPending);
    CHECK(keys.pending() == 4);
    CHECK(keys.take(t0) == nul_a);
    CHECK(keys.take(t0) == nul_b);
    CHECK(keys.take(t0).empty());
    CHECK(keys.take(t0) == "\xff\xfe");
  }

  TEST_CASE("a key is never in flight twice: a second job for it is refused and marks it dirty") {
    LiveKeys keys(100);
    CHECK(keys.begin("k", 3, t0));
    CHECK(keys.in_flight("k"));
    CHECK_FALSE(keys.begin("k", 5, t0 + 1ms));  // e.g. the bulk SCAN returns a key an apply job holds
    CHECK(keys.flying() == 1);
    CHECK_FALSE(keys.has_pending());
    // The job ends: the key was dirty, so it is pending again (copied once more, after).
    CHECK(keys.end("k", 3));
    CHECK_FALSE(keys.in_flight("k"));
    REQUIRE(keys.pending() == 1);
    CHECK(keys.lag_ms(t0 + 11ms) == 10);  // since the refused job, the change it stood for
    CHECK(keys.take(t0 + 11ms) == "k");
  }

  TEST_CASE(
      "a change while the key's job is in flight marks it dirty; it is pending again when the job ends") {
    LiveKeys keys(100);
    REQUIRE(keys.begin("k", 7, t0));
    CHECK(keys.changed("k", false, t0 + 5ms) == Change::kDirty);
    CHECK(keys.changed("k", false, t0 + 6ms) == Change::kDirty);  // still one re-copy
    CHECK_FALSE(keys.has_pending());                              // not while in flight
    CHECK(keys.changes() == 2);
    SUBCASE("ended: pending once") {
      CHECK(keys.end("k", 7));
      CHECK(keys.pending() == 1);
      CHECK(keys.lag_ms(t0 + 10ms) == 5);  // the first change while in flight
      CHECK_FALSE(keys.end("k", 7));       // ended twice: nothing more
      CHECK(keys.pending() == 1);
    }
    SUBCASE("a job that is not the key's holder ending changes nothing") {
      CHECK_FALSE(keys.end("k", 8));
      CHECK(keys.in_flight("k"));
      CHECK_FALSE(keys.has_pending());
    }
  }

  TEST_CASE("a job that ends clean leaves nothing pending") {
    LiveKeys keys(100);
    REQUIRE(keys.begin("k", 1, t0));
    CHECK_FALSE(keys.end("k", 1));
    CHECK_FALSE(keys.has_pending());
    CHECK(keys.flying() == 0);
    CHECK(keys.begin("k", 2, t0));  // free again
  }

  TEST_CASE("a key both pending and in flight (a bulk job took it) is pending once after the job") {
    LiveKeys keys(100);
    CHECK(keys.changed("k", false, t0) == Change::kPending);
    REQUIRE(keys.begin("k", 1, t0 + 1ms));                        // the bulk scan's job for it
    CHECK(keys.changed("k", false, t0 + 2ms) == Change::kDirty);  // in flight wins
    CHECK_FALSE(keys.end("k", 1));                                // dirty, but already pending
    CHECK(keys.pending() == 1);
    CHECK(keys.take(t0 + 3ms) == "k");
    CHECK_FALSE(keys.has_pending());
  }

  TEST_CASE("the pending set is bounded: the change that passes --live-pending-max is an overflow") {
    LiveKeys keys(3);
    CHECK(keys.changed("a", false, t0) == Change::kPending);
    CHECK(keys.changed("b", false, t0) == Change::kPending);
    CHECK(keys.changed("c", false, t0) == Change::kPending);
    CHECK(keys.changed("a", false, t0) == Change::kAlreadyPending);  // no growth, no overflow
    CHECK(keys.changed("d", false, t0) == Change::kOverflow);
    CHECK(keys.pending_peak() == 4);
    keys.clear_pending();  // what the run does before it resyncs
    CHECK_FALSE(keys.has_pending());
    CHECK(keys.lag_ms(t0 + 1s) == 0);
    CHECK(keys.changed("a", false, t0) == Change::kPending);  // the set works again, "a" was forgotten
    // Keys in flight are not pending: they do not count against the bound.
    for (uint32_t j = 0; j < 10; ++j)
      REQUIRE(keys.begin("f" + std::to_string(j), j, t0));
    CHECK(keys.changed("f1", false, t0) == Change::kDirty);
    CHECK(keys.pending() == 1);
  }

  TEST_CASE("expirations and evictions do not reset the idle clock; other changes do") {
    LiveKeys keys(100);
    CHECK(LiveKeys::quiet_event("expired"));
    CHECK(LiveKeys::quiet_event("evicted"));
    CHECK_FALSE(LiveKeys::quiet_event("del"));
    CHECK_FALSE(LiveKeys::quiet_event("set"));
    CHECK_FALSE(LiveKeys::quiet_event("expire"));  // EXPIRE, the command: a write
    CHECK(keys.last_change() == LiveKeys::Clock::time_point{});
    keys.changed("a", LiveKeys::quiet_event("expired"), t0);
    CHECK(keys.last_change() == LiveKeys::Clock::time_point{});
    CHECK(keys.changes() == 1);  // counted as a change all the same
    keys.changed("b", LiveKeys::quiet_event("hset"), t0 + 1s);
    CHECK(keys.last_change() == t0 + 1s);
    keys.changed("c", LiveKeys::quiet_event("evicted"), t0 + 2s);
    CHECK(keys.last_change() == t0 + 1s);
  }

  TEST_CASE("--until-idle: after the bulk copy, nothing busy, no change for that long") {
    const auto live_since = t0;
    const auto none = LiveKeys::Clock::time_point{};
    CHECK_FALSE(idle_due(0, live_since, none, false, t0 + 1h));  // off
    CHECK_FALSE(idle_due(5, live_since, none, false, t0 + 4s));  // counted from the end of the bulk copy
    CHECK(idle_due(5, live_since, none, false, t0 + 5s));
    CHECK_FALSE(idle_due(5, live_since, none, true, t0 + 1h));      // keys pending or in flight
    CHECK_FALSE(idle_due(5, live_since, t0 + 3s, false, t0 + 7s));  // a change 4 s ago
    CHECK(idle_due(5, live_since, t0 + 3s, false, t0 + 8s));        // 5 s after it
    CHECK(idle_due(5, live_since, t0 - 10s, false, t0 + 5s));       // a change during the bulk copy
    CHECK_FALSE(idle_due(5, live_since, t0 - 10s, false, t0 + 4s));
  }

  TEST_CASE("changes per second over the last seconds") {
    ChangeRate rate;
    CHECK(rate.per_second() == 0);
    rate.sample(0, t0);
    CHECK(rate.per_second() == 0);
    rate.sample(500, t0 + 1s);
    CHECK(rate.per_second() == doctest::Approx(500));
    rate.sample(1000, t0 + 2s);
    CHECK(rate.per_second() == doctest::Approx(500));
    // Old samples leave the window: a burst long ago does not count now.
    for (int s = 3; s <= 20; ++s)
      rate.sample(1000, t0 + std::chrono::seconds(s));
    CHECK(rate.per_second() == doctest::Approx(0));
  }

  TEST_CASE("a resync's scan hands out its keys with its mode; a stopped scan is exhausted") {
    ScanSource s("n", "", "", 10, static_cast<uint8_t>(LiveMode::kResync));
    std::string_view args[8];
    REQUIRE(s.request(args, 8) > 0);
    namespace wire = rmig::test::wire;
    auto reply = wire::parse(wire::array({wire::bulk("17"), wire::bulks({"a", "b"})}));
    REQUIRE(reply);
    CHECK(s.on_fetched(reply.get()).kind == rmig::engine::FetchOutcome::kKeys);
    REQUIRE(s.has_key());
    const auto q = s.take();
    CHECK(q.key == "a");
    CHECK(static_cast<LiveMode>(q.mode) == LiveMode::kResync);
    CHECK_FALSE(s.exhausted());
    s.stop();
    CHECK(s.exhausted());  // a replaced resync no longer holds the cut-over back
    ScanSource bulk("n", "", "", 10);
    REQUIRE(bulk.request(args, 8) > 0);
    CHECK(bulk.on_fetched(reply.get()).kind == rmig::engine::FetchOutcome::kKeys);
    CHECK(static_cast<LiveMode>(bulk.take().mode) == LiveMode::kNone);
  }

  TEST_CASE("RenameRules::invert gives the source name a destination name came from (prefix rules)") {
    SUBCASE("no rules: every name is its own") {
      RenameRules none;
      CHECK(none.invertible());
      CHECK(none.invert("a:1") == std::optional<std::string>("a:1"));
    }
    SUBCASE("one rule") {
      const RenameRules r = rules_of({prefix("old:", "new:")});
      CHECK(r.invertible());
      CHECK(r.invert("new:1") == std::optional<std::string>("old:1"));
      CHECK(r.invert("new:") == std::optional<std::string>("old:"));
      CHECK(r.invert("other") == std::optional<std::string>("other"));  // kept its name
      // "old:x" on the destination: no source key gives it (old:x itself becomes new:x).
      CHECK(r.invert("old:x") == std::nullopt);
      // Round trip on names with bytes.
      const std::string bin("old:\0\xff", 6);
      CHECK(r.invert(*r.apply(bin)) == std::optional<std::string>(bin));
    }
    SUBCASE("first matching rule wins forward, so invert checks it") {
      // "a:b:1" is renamed by rule 1 (a: -> x:), never by rule 2: "y:1" does not come from "a:b:1" (rule 1
      // takes it first); only the source key "y:1", which keeps its name, gives it.
      const RenameRules r = rules_of({prefix("a:", "x:"), prefix("a:b:", "y:")});
      CHECK(r.invert("x:b:1") == std::optional<std::string>("a:b:1"));
      CHECK(r.invert("y:1") == std::optional<std::string>("y:1"));
      CHECK(r.invert("x:1") == std::optional<std::string>("a:1"));
    }
    SUBCASE("a prefix to the empty prefix and back") {
      const RenameRules strip = rules_of({prefix("app:", "")});
      CHECK(strip.invert("k") == std::optional<std::string>("app:k"));
      const RenameRules add = rules_of({prefix("", "app:")});
      CHECK(add.invert("app:k") == std::optional<std::string>("k"));
      CHECK(add.invert("k") == std::nullopt);  // every name is renamed: nothing keeps "k"
    }
    SUBCASE("every name a forward rename gives inverts back to its source") {
      const RenameRules r = rules_of({prefix("a:", "b:"), prefix("c:", "d:")});
      for (const std::string key : {"a:1", "c:22", "zzz", "a:", "b:1"}) {
        const std::string target = r.apply(key).value_or(key);
        const auto back = r.invert(target);
        if (key == "b:1") {
          CHECK(back == std::optional<std::string>("a:1"));  // b:1 keeps its name but a:1 gives it too
        } else {
          CHECK(back == std::optional<std::string>(key));
        }
      }
    }
    SUBCASE("two source names for one destination name (a collision): the earliest rule's") {
      const RenameRules r = rules_of({prefix("e", "")});
      CHECK(r.invert("zzz") == std::optional<std::string>("ezzz"));  // "zzz" itself gives "zzz" too
    }
    SUBCASE("regex rules are not invertible") {
      const RenameRules r = rules_of({prefix("a:", "b:"), RuleSpec{RuleSpec::Kind::kRegex, "x(.*)", "y\\1"}});
      CHECK_FALSE(r.invertible());
      CHECK(r.invert("b:1") == std::nullopt);
      CHECK(r.invert("y1") == std::nullopt);
    }
  }

  TEST_CASE("the orphan scan's MATCH: the destination names of the selection") {
    const RenameRules r = rules_of({prefix("old:", "new:")});
    CHECK(r.target_match("old:*", false) == "new:*");
    CHECK(r.target_match("old:user:*", false) == "new:user:*");
    CHECK(r.target_match("other:*", false) == "other:*");  // no key it matches is renamed
    CHECK(r.target_match("o*", false).empty());            // some are renamed, some not: every name
    CHECK(r.target_match("", false).empty());
    CHECK(r.target_match("", true) == "new:*");  // in place: only renamed keys are selected
    const RenameRules glob = rules_of({prefix("a", "n*[x]:")});
    CHECK(glob.target_match("a*", false) == "n\\*\\[x\\]:*");  // NEW's glob characters are literal
    const RenameRules two = rules_of({prefix("a:", "b:"), prefix("c:", "d:")});
    CHECK(two.target_match("a:*", false).empty());
    RenameRules none;
    CHECK(none.target_match("k*", false) == "k*");
  }
}
