// The SCAN key source and the checkpoint cursor rule: batches complete in SCAN order, the cursor only moves
// past batches whose keys are all done, the counters saved with it are those of the keys before it, and a
// resumed source rechecks the first keys after it. Replies are built by hand: no server.

#include <doctest/doctest.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "engine/scan_source.hpp"

using namespace rmig;
using engine::FetchOutcome;
using engine::NodeProgress;
using engine::QueuedKey;
using engine::ScanSource;

namespace {

// A SCAN reply (cursor, keys) or an error, owning its parts.
struct Reply {
  redisReply top{};
  redisReply cursor{};
  redisReply keys{};
  std::vector<redisReply> key_replies;
  std::vector<redisReply*> key_ptrs;
  redisReply* parts[2] = {&cursor, &keys};
  std::string cursor_text;
  std::vector<std::string> names;
  std::string error_text;

  static std::unique_ptr<Reply> scan(std::string next, std::vector<std::string> keys) {
    auto r = std::make_unique<Reply>();
    r->cursor_text = std::move(next);
    r->names = std::move(keys);
    r->cursor.type = REDIS_REPLY_STRING;
    r->cursor.str = r->cursor_text.data();
    r->cursor.len = r->cursor_text.size();
    r->key_replies.resize(r->names.size());
    for (std::size_t i = 0; i < r->names.size(); ++i) {
      r->key_replies[i].type = REDIS_REPLY_STRING;
      r->key_replies[i].str = r->names[i].data();
      r->key_replies[i].len = r->names[i].size();
      r->key_ptrs.push_back(&r->key_replies[i]);
    }
    r->keys.type = REDIS_REPLY_ARRAY;
    r->keys.elements = r->key_ptrs.size();
    r->keys.element = r->key_ptrs.data();
    r->top.type = REDIS_REPLY_ARRAY;
    r->top.elements = 2;
    r->top.element = r->parts;
    return r;
  }
  static std::unique_ptr<Reply> error(std::string text) {
    auto r = std::make_unique<Reply>();
    r->error_text = std::move(text);
    r->top.type = REDIS_REPLY_ERROR;
    r->top.str = r->error_text.data();
    r->top.len = r->error_text.size();
    return r;
  }
};

// Asks the source for a batch and answers it.
FetchOutcome fetch(ScanSource& s, std::string next, std::vector<std::string> keys) {
  std::string_view args[8];
  REQUIRE(s.request(args, 8) > 0);
  auto r = Reply::scan(std::move(next), std::move(keys));
  return s.on_fetched(&r->top);
}

std::vector<QueuedKey> take_all(ScanSource& s) {
  std::vector<QueuedKey> out;
  while (s.has_key())
    out.push_back(s.take());
  return out;
}

// A key is handled: counted copied and settled.
bool finish(ScanSource& s, const QueuedKey& k) {
  ++s.counters(k.batch).scanned;
  ++s.counters(k.batch).copied;
  return s.settle(k.batch);
}

}  // namespace

TEST_SUITE("engine_scan_source") {
  TEST_CASE("the SCAN command carries the cursor, MATCH, COUNT and TYPE, one at a time") {
    ScanSource s("a:6379", "user:*", "hash", 500);
    std::string_view args[8];
    const std::size_t argc = s.request(args, 8);
    REQUIRE(argc == 8);
    CHECK(args[0] == "SCAN");
    CHECK(args[1] == "0");
    CHECK(args[2] == "MATCH");
    CHECK(args[3] == "user:*");
    CHECK(args[4] == "COUNT");
    CHECK(args[5] == "500");
    CHECK(args[6] == "TYPE");
    CHECK(args[7] == "hash");
    CHECK_FALSE(s.wants_keys());
    CHECK(s.request(args, 8) == 0);  // one SCAN in flight at a time
    auto r = Reply::scan("17", {"user:1", "user:2"});
    CHECK(s.on_fetched(&r->top).kind == FetchOutcome::kKeys);
    REQUIRE(s.request(args, 8) == 8);
    CHECK(args[1] == "17");  // the next SCAN continues at the returned cursor
  }

  TEST_CASE("peek shows the keys take will give next, in order, without taking them") {
    ScanSource s("a:6379", "", "", 10);
    CHECK(s.peek(0) == nullptr);
    CHECK(fetch(s, "5", {"a", "b", "c"}).kind == FetchOutcome::kKeys);
    REQUIRE(s.peek(0) != nullptr);
    CHECK(*s.peek(0) == "a");
    CHECK(*s.peek(2) == "c");
    CHECK(s.peek(3) == nullptr);
    CHECK(s.take().key == "a");
    CHECK(*s.peek(0) == "b");
    CHECK(s.peek(2) == nullptr);
  }

  TEST_CASE("no SCAN while a batch's worth of keys waits; none after the cursor came back to 0") {
    ScanSource s("a:6379", "", "", 2);
    CHECK(fetch(s, "5", {"a", "b"}).kind == FetchOutcome::kKeys);
    std::string_view args[8];
    CHECK_FALSE(s.wants_keys());
    CHECK(s.request(args, 8) == 0);  // two keys wait, COUNT 2
    (void)s.take();
    REQUIRE(s.request(args, 8) == 4);  // SCAN 5 COUNT 2
    auto r = Reply::scan("0", {"c"});
    (void)s.on_fetched(&r->top);
    CHECK_FALSE(s.exhausted());  // keys still wait
    (void)take_all(s);
    CHECK(s.request(args, 8) == 0);
    CHECK(s.exhausted());
  }

  TEST_CASE("the cursor moves only past batches whose keys are all done, in SCAN order") {
    ScanSource s("a:6379", "", "", 1000);
    (void)fetch(s, "10", {"a1", "a2"});
    (void)fetch(s, "20", {"b1", "b2"});
    (void)fetch(s, "0", {"c1"});
    auto keys = take_all(s);
    REQUIRE(keys.size() == 5);
    // The second batch finishes first: the cursor stays before the first one, and its counts are not saved.
    CHECK_FALSE(finish(s, keys[2]));
    CHECK_FALSE(finish(s, keys[3]));
    NodeProgress p = s.progress();
    CHECK(p.cursor == "0");
    CHECK_FALSE(p.complete);
    CHECK(p.counters.copied == 0);
    CHECK(s.totals().copied == 2);  // the progress line counts them all the same
    // One key of the first batch: still not done.
    CHECK_FALSE(finish(s, keys[0]));
    CHECK(s.progress().cursor == "0");
    // The first batch completes: the cursor passes both completed batches at once.
    CHECK(finish(s, keys[1]));
    p = s.progress();
    CHECK(p.cursor == "20");
    CHECK(p.counters.copied == 4);
    CHECK(p.counters.scanned == 4);
    CHECK_FALSE(p.complete);
    CHECK(finish(s, keys[4]));
    p = s.progress();
    CHECK(p.complete);
    CHECK(p.counters.copied == 5);
  }

  TEST_CASE(
      "a key filtered out before its job settles its batch all the same; an empty batch completes at once") {
    ScanSource s("a:6379", "", "", 1000);
    CHECK_FALSE(fetch(s, "7", {"x"}).moved);
    const QueuedKey x = s.take();
    CHECK(s.settle(x.batch));  // not selected: nothing counted, but done
    CHECK(s.progress().cursor == "7");
    CHECK(fetch(s, "9", {}).moved);  // SCAN may return no key
    CHECK(s.progress().cursor == "9");
  }

  TEST_CASE("keys written after the cursor are in the checkpoint until their batch is done") {
    ScanSource s("a:6379", "", "", 1000);
    (void)fetch(s, "10", {"a1", "a2"});
    (void)fetch(s, "20", {"b1"});
    auto keys = take_all(s);
    s.wrote(keys[0].batch, engine::key_hash("a1"));
    s.wrote(keys[2].batch, engine::key_hash("b1"));
    s.wrote(keys[2].batch, engine::key_hash("b1"));  // a re-sent write: listed once
    NodeProgress p = s.progress();
    CHECK(p.written.size() == 2);
    CHECK(std::is_sorted(p.written.begin(), p.written.end()));
    (void)finish(s, keys[0]);
    (void)finish(s, keys[1]);
    p = s.progress();
    CHECK(p.cursor == "10");
    REQUIRE(p.written.size() == 1);  // a1's batch is before the cursor now
    CHECK(p.written[0] == engine::key_hash("b1"));
  }

  TEST_CASE(
      "resume: the scan starts at the saved cursor with the saved counters and rechecks the first keys") {
    NodeProgress saved;
    saved.name = "a:6379";
    saved.cursor = "42";
    saved.counters.copied = 100;
    saved.counters.scanned = 100;
    saved.written = {engine::key_hash("k2"), engine::key_hash("k1")};
    ScanSource s("a:6379", "", "", 1000);
    s.resume(saved, 3);
    CHECK(s.progress().cursor == "42");
    CHECK(s.progress().counters.copied == 100);
    std::string_view args[8];
    REQUIRE(s.request(args, 8) > 0);
    CHECK(args[1] == "42");
    auto r = Reply::scan("50", {"k1", "k2"});
    (void)s.on_fetched(&r->top);
    (void)fetch(s, "0", {"k3", "k4", "k5"});
    auto keys = take_all(s);
    REQUIRE(keys.size() == 5);
    // The first three keys handed out are rechecked, the others not.
    CHECK(s.recheck(keys[0].batch));
    CHECK(s.recheck(keys[1].batch));
    CHECK(s.recheck(keys[2].batch));
    CHECK_FALSE(s.recheck(keys[3].batch));
    CHECK_FALSE(s.recheck(keys[4].batch));
    CHECK(s.written_before(engine::key_hash("k1")));
    CHECK(s.written_before(engine::key_hash("k2")));
    CHECK_FALSE(s.written_before(engine::key_hash("k3")));
    // The earlier attempt's record stays in the checkpoint until the batches of the rechecked keys are done.
    (void)finish(s, keys[0]);
    (void)finish(s, keys[1]);
    NodeProgress p = s.progress();
    CHECK(p.cursor == "50");
    CHECK(p.counters.copied == 102);
    CHECK(p.written.size() == 2);
    CHECK(s.written_before(engine::key_hash("k1")));
    (void)finish(s, keys[2]);
    (void)finish(s, keys[3]);
    (void)finish(s, keys[4]);
    p = s.progress();
    CHECK(p.complete);
    CHECK(p.written.empty());
    CHECK_FALSE(s.written_before(engine::key_hash("k1")));
  }

  TEST_CASE("resume of a complete checkpoint scans nothing and rechecks nothing") {
    NodeProgress saved;
    saved.name = "a:6379";
    saved.cursor = "0";
    saved.complete = true;
    saved.counters.copied = 7;
    saved.written = {1, 2, 3};
    ScanSource s("a:6379", "", "", 1000);
    s.resume(saved, 100);
    std::string_view args[8];
    CHECK(s.request(args, 8) == 0);
    CHECK(s.exhausted());
    CHECK_FALSE(s.recheck(0));
    CHECK_FALSE(s.written_before(1));
    CHECK(s.progress().complete);
    CHECK(s.progress().counters.copied == 7);
  }

  TEST_CASE("a list of keys given beforehand is one batch and no SCAN") {
    auto s = ScanSource::of_keys("a:6379", {"x", "y"});
    std::string_view args[8];
    CHECK(s->request(args, 8) == 0);
    auto keys = take_all(*s);
    REQUIRE(keys.size() == 2);
    CHECK(keys[0].key == "x");
    CHECK_FALSE(s->progress().complete);
    (void)finish(*s, keys[0]);
    CHECK(finish(*s, keys[1]));
    CHECK(s->exhausted());
    CHECK(s->progress().complete);
  }

  TEST_CASE("errors and malformed replies are reported, and the same cursor is asked again") {
    ScanSource s("a:6379", "", "", 1000);
    (void)fetch(s, "33", {"a"});
    std::string_view args[8];
    REQUIRE(s.request(args, 8) > 0);
    auto e = Reply::error("LOADING Redis is loading the dataset in memory");
    const FetchOutcome out = s.on_fetched(&e->top);
    CHECK(out.kind == FetchOutcome::kError);
    CHECK(out.error == resp::ServerError::kLoading);
    CHECK(out.message.find("LOADING") == 0);
    REQUIRE(s.request(args, 8) > 0);
    CHECK(args[1] == "33");
    CHECK(s.on_fetched(nullptr).kind == FetchOutcome::kLost);
    REQUIRE(s.request(args, 8) > 0);
    CHECK(args[1] == "33");
    redisReply wrong{};
    wrong.type = REDIS_REPLY_INTEGER;
    CHECK(s.on_fetched(&wrong).kind == FetchOutcome::kMalformed);
  }

  TEST_CASE("stop drops the waiting keys and asks for no more") {
    ScanSource s("a:6379", "", "", 1000);
    (void)fetch(s, "5", {"a", "b"});
    s.stop();
    CHECK_FALSE(s.has_key());
    std::string_view args[8];
    CHECK(s.request(args, 8) == 0);
    CHECK(s.progress().cursor == "0");  // the dropped keys are not done: the cursor stays before them
  }
}
