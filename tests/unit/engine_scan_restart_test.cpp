// ScanSource::restart(), for a source node that continues on another server: the scan starts again at "0"
// in a new epoch, batches of the old epoch settle their counters but never move the checkpoint cursor, and
// the checkpoint taken during the new scan counts each key of the new server once. Replies built by hand.

#include <doctest/doctest.h>
#include <hiredis/hiredis.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/scan_source.hpp"

using namespace rmig;
using engine::QueuedKey;
using engine::ScanSource;

namespace {

// A SCAN reply: cursor and keys, owning its parts.
struct ScanReply {
  std::string cursor_text;
  std::vector<std::string> names;
  redisReply top{}, cursor{}, keys{};
  std::vector<redisReply> key_replies;
  std::vector<redisReply*> key_ptrs;
  redisReply* parts[2] = {&cursor, &keys};

  ScanReply(std::string next, std::vector<std::string> k)
      : cursor_text(std::move(next)), names(std::move(k)) {
    cursor.type = REDIS_REPLY_STRING;
    cursor.str = cursor_text.data();
    cursor.len = cursor_text.size();
    key_replies.resize(names.size());
    for (std::size_t i = 0; i < names.size(); ++i) {
      key_replies[i].type = REDIS_REPLY_STRING;
      key_replies[i].str = names[i].data();
      key_replies[i].len = names[i].size();
      key_ptrs.push_back(&key_replies[i]);
    }
    keys.type = REDIS_REPLY_ARRAY;
    keys.elements = key_ptrs.size();
    keys.element = key_ptrs.data();
    top.type = REDIS_REPLY_ARRAY;
    top.elements = 2;
    top.element = parts;
  }
};

std::string requested_cursor(ScanSource& s) {
  std::string_view args[8];
  REQUIRE(s.request(args, 8) > 0);
  return std::string(args[1]);
}

void answer(ScanSource& s, std::string next, std::vector<std::string> keys) {
  ScanReply r(std::move(next), std::move(keys));
  (void)s.on_fetched(&r.top);
}

// The key is done: counted copied (or a duplicate: scanned back down, as the restore stage does).
void finish(ScanSource& s, const QueuedKey& q, bool duplicate = false) {
  auto& c = s.counters(q.batch);
  ++c.scanned;
  if (duplicate) {
    --c.scanned;
    ++c.duplicates;
  } else {
    ++c.copied;
  }
  s.settle(q.batch);
}

}  // namespace

TEST_CASE("restart: the scan starts again at 0; old batches settle counters but never set the cursor") {
  ScanSource s("n", "", "", 2);
  CHECK(s.epoch() == 0);
  CHECK(requested_cursor(s) == "0");
  answer(s, "17", {"a", "b"});
  const QueuedKey a = s.take();  // in flight on the old server
  // "b" waits; the node fails over.
  REQUIRE(s.restart());
  CHECK(s.epoch() == 1);
  CHECK_FALSE(s.has_key());  // "b" is listed again by the new scan
  CHECK(s.progress().cursor == "0");
  CHECK(requested_cursor(s) == "0");
  answer(s, "5", {"b", "a"});
  const QueuedKey b = s.take();
  const QueuedKey a2 = s.take();
  finish(s, b);
  finish(s, a2, true);  // "a" is still in flight from the old scan: the new one's "a" is its duplicate
  // The new batch is done, but the old one ("a") is not: the cursor waits.
  CHECK(s.progress().cursor == "0");
  finish(s, a);
  // The old batch completes (cursor "17" of the old server is not taken), then the new one: cursor "5".
  CHECK(s.progress().cursor == "5");
  const auto p = s.progress();
  CHECK_FALSE(p.complete);
  // The checkpoint counts the new scan's keys before its cursor, each once: "a" met before the restart is
  // one already there for a run resumed from this point.
  CHECK(p.counters.scanned == 2);
  CHECK(p.counters.copied == 1);
  CHECK(p.counters.skipped == 1);
  CHECK(p.counters.duplicates == 0);
  // The run's own totals: two keys, one duplicate.
  CHECK(s.totals().scanned == 2);
  CHECK(s.totals().copied == 2);
  CHECK(s.totals().duplicates == 1);
  answer(s, "0", {});
  CHECK(s.exhausted());
  const auto done = s.progress();
  CHECK(done.complete);
  CHECK(done.counters.scanned == 2);
  CHECK(done.counters.duplicates == 1);  // complete: the run's own counters
}

TEST_CASE("restart after the scan listed every key: nothing is scanned again") {
  ScanSource s("n", "", "", 10);
  (void)requested_cursor(s);
  answer(s, "0", {"a"});
  CHECK_FALSE(s.restart());
  CHECK(s.epoch() == 0);
  CHECK(s.has_key());  // read on the new server
  CHECK_FALSE(s.wants_keys());
}

TEST_CASE("restart while a SCAN is on its way: a new request may go out at once") {
  ScanSource s("n", "", "", 10);
  (void)requested_cursor(s);
  CHECK_FALSE(s.wants_keys());  // waiting for the reply
  REQUIRE(s.restart());
  CHECK(s.wants_keys());  // the old reply is dropped by the engine (its epoch is 0)
  CHECK(requested_cursor(s) == "0");
}

TEST_CASE("a resumed source that restarts no longer rechecks against the old records") {
  ScanSource s("n", "", "", 10);
  engine::NodeProgress p;
  p.name = "n";
  p.cursor = "9";
  p.written = {42};
  s.resume(p, 100);
  CHECK(s.written_before(42));
  REQUIRE(s.restart());
  CHECK_FALSE(s.written_before(42));
  CHECK(requested_cursor(s) == "0");
  answer(s, "0", {"x"});
  const QueuedKey x = s.take();
  CHECK_FALSE(s.recheck(x.batch));
}
