// A job slot's one reset(): a new key in the slot starts with nothing of the previous key but the slot's
// generation, which moves on so that late replies of the previous key are stale.

#include <doctest/doctest.h>

#include "engine/job.hpp"

using namespace rmig::engine;

TEST_SUITE("engine_job") {
  TEST_CASE("reset() clears both parts, keeps the new key's name and naming, and moves the generation on") {
    JobSlot s;
    s.job.generation = 41;
    s.job.type = "hash";
    s.job.stage = 3;
    s.job.maybe_duplicate = true;
    s.job.resent = true;
    s.job.recheck = true;
    s.job.pttl = 1234;
    s.job.sent_at = std::chrono::steady_clock::now();
    s.job.held = 99;
    s.batch = 7;
    s.typing = true;
    s.dst_link = 4;
    s.ask_link = 5;
    s.read_ask = true;
    s.write_ask = true;
    s.estimate = 100;
    s.pacing.reserved = 10;
    s.pacing.measuring = true;
    s.retry.attempts = 3;
    s.retry.redirects = 2;
    // The selector names the new key before the slot is reset.
    s.job.key = "user:1";
    s.job.naming.renamed = true;
    s.job.naming.renamed_to = "acct:1";
    s.job.naming.rule = 0;

    s.reset(/*node=*/2, /*from_batch=*/11, /*read=*/6, /*write=*/8);

    CHECK(s.job.generation == 42);
    CHECK(s.job.active);
    CHECK(s.job.key == "user:1");
    CHECK(s.job.target() == "acct:1");
    CHECK(s.job.rule() == 0);
    CHECK(s.job.node == 2);
    CHECK(s.job.type.empty());
    CHECK(s.job.stage == 0);
    CHECK_FALSE(s.job.maybe_duplicate);
    CHECK_FALSE(s.job.resent);
    CHECK_FALSE(s.job.recheck);
    CHECK(s.job.pttl == 0);
    CHECK(s.job.sent_at == std::chrono::steady_clock::time_point{});
    CHECK(s.job.held == 0);
    CHECK(s.job.payload_view().empty());
    CHECK(s.batch == 11);
    CHECK_FALSE(s.typing);
    CHECK(s.read_link == 6);
    CHECK(s.write_link == 8);
    CHECK(s.dst_link == kNoLink);
    CHECK(s.ask_link == kNoLink);
    CHECK_FALSE(s.read_ask);
    CHECK_FALSE(s.write_ask);
    CHECK(s.estimate == 0);
    CHECK(s.pacing.reserved == 0);
    CHECK_FALSE(s.pacing.measuring);
    CHECK(s.retry.attempts == 0);
    CHECK(s.retry.redirects == 0);
  }

  TEST_CASE("the generation wraps around without stopping") {
    JobSlot s;
    s.job.generation = 0xffff;
    s.reset(0, 0, 0, 0);
    CHECK(s.job.generation == 0);
  }

  TEST_CASE("a key no rule renamed lands under its own name") {
    JobSlot s;
    s.job.key = "k";
    s.job.naming.renamed_to = "left over from another key";
    s.job.naming.renamed = false;
    s.reset(0, 0, 0, 0);
    CHECK(s.job.target() == "k");
    CHECK(s.job.rule() == -1);
  }
}
