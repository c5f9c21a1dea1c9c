// The rewrite path's per-type translators: source replies in, destination commands out (no servers).

#include <doctest/doctest.h>

#include <initializer_list>
#include <string>
#include <vector>

#include "copy/rewrite/translate.hpp"
#include "resp/reader.hpp"
#include "unit/wire.hpp"
#include "value/kind.hpp"

namespace {

using namespace rmig;
using namespace rmig::test::wire;
using namespace rmig::copy::rewrite;
using ValueKind = rmig::value::Kind;
using Words = std::vector<std::string>;

// The replies a test translated stay alive until it ends: the writes point into them.
const redisReply* keep(resp::Reply reply) {
  static std::vector<resp::Reply> kept;
  kept.push_back(std::move(reply));
  return kept.back().get();
}

Words command(const Writes& w, std::size_t i) {
  Words out;
  for (auto word : w.command(i))
    out.emplace_back(word);
  return out;
}

std::vector<Words> all(const Writes& w) {
  std::vector<Words> out;
  for (std::size_t i = 0; i < w.size(); ++i)
    out.push_back(command(w, i));
  return out;
}

Words read_words(value::Kind kind, const Cursor& at, std::string_view key) {
  const ReadCommand read(kind, at, key);
  Words out;
  for (auto w : read.words())
    out.emplace_back(w);
  return out;
}

}  // namespace

TEST_SUITE("rewrite_translate") {
  TEST_CASE("read commands: GETRANGE by bytes, LRANGE by index, the SCANs by cursor, XRANGE from an ID") {
    Cursor at = first_cursor(value::Kind::kString);
    CHECK(read_words(value::Kind::kString, at, "k") == Words{"GETRANGE", "k", "0", "1048575"});
    at.offset = 1048576;
    CHECK(read_words(value::Kind::kString, at, "k") == Words{"GETRANGE", "k", "1048576", "2097151"});

    at = first_cursor(value::Kind::kList);
    at.offset = 40;
    at.count = 10;
    CHECK(read_words(value::Kind::kList, at, "l") == Words{"LRANGE", "l", "40", "49"});

    at = first_cursor(value::Kind::kSet);
    CHECK(read_words(value::Kind::kSet, at, "s") == Words{"SSCAN", "s", "0", "COUNT", "1000"});
    at.cursor = "1234";
    at.count = 7;
    CHECK(read_words(value::Kind::kZset, at, "z") == Words{"ZSCAN", "z", "1234", "COUNT", "7"});
    CHECK(read_words(value::Kind::kHash, at, "h") == Words{"HSCAN", "h", "1234", "COUNT", "7"});

    at = first_cursor(value::Kind::kStream);
    CHECK(read_words(value::Kind::kStream, at, "x") == Words{"XRANGE", "x", "-", "+", "COUNT", "1000"});
  }

  TEST_CASE("string: the first chunk is SET, later ones APPEND; a short chunk is the last") {
    const std::string big(kStringChunk, 'a');
    Cursor at = first_cursor(value::Kind::kString);
    Writes w;
    Chunk c = translate(value::Kind::kString, keep(parse(bulk(big))), at, "tmp", true, w);
    REQUIRE(c.status == Chunk::Status::kOk);
    CHECK_FALSE(at.done);  // a full chunk: there may be more
    CHECK(at.offset == static_cast<int64_t>(kStringChunk));
    CHECK(c.bytes == kStringChunk);
    REQUIRE(w.size() == 1);
    CHECK(command(w, 0)[0] == "SET");
    CHECK(command(w, 0)[1] == "tmp");
    CHECK(command(w, 0)[2].size() == kStringChunk);
    CHECK(w.bytes(0) == kStringChunk);

    w.clear();
    c = translate(value::Kind::kString, keep(parse(bulk("tail"))), at, "tmp", false, w);
    CHECK(at.done);
    CHECK(at.offset == static_cast<int64_t>(kStringChunk) + 4);
    CHECK(all(w) == std::vector<Words>{{"APPEND", "tmp", "tail"}});
    CHECK(w.bytes(0) == 4);
  }

  TEST_CASE("string: an empty first chunk asks whether the key exists; an empty later one writes nothing") {
    Cursor at = first_cursor(value::Kind::kString);
    Writes w;
    CHECK(translate(value::Kind::kString, keep(parse(bulk(""))), at, "tmp", true, w).status ==
          Chunk::Status::kEmptyString);
    CHECK(w.empty());
    CHECK(at.done);
    at = first_cursor(value::Kind::kString);
    at.offset = static_cast<int64_t>(kStringChunk);
    const Chunk c = translate(value::Kind::kString, keep(parse(bulk(""))), at, "tmp", false, w);
    CHECK(c.status == Chunk::Status::kOk);
    CHECK(w.empty());
    CHECK(at.done);
    CHECK(translate(value::Kind::kString, keep(parse(integer(3))), at, "tmp", true, w).status ==
          Chunk::Status::kMalformed);
  }

  TEST_CASE("list: RPUSH in order; fewer items than asked is the last chunk") {
    Cursor at = first_cursor(value::Kind::kList);
    at.count = 3;
    Writes w;
    Chunk c = translate(value::Kind::kList, keep(parse(bulks({"a", "bb", "ccc"}))), at, "tmp", true, w);
    CHECK(c.elements == 3);
    CHECK(c.bytes == 6);
    CHECK_FALSE(at.done);
    CHECK(at.offset == 3);
    CHECK(all(w) == std::vector<Words>{{"RPUSH", "tmp", "a", "bb", "ccc"}});
    w.clear();
    c = translate(value::Kind::kList, keep(parse(bulks({"d"}))), at, "tmp", false, w);
    CHECK(at.done);
    CHECK(at.offset == 4);
    CHECK(all(w) == std::vector<Words>{{"RPUSH", "tmp", "d"}});
    w.clear();
    Cursor empty = first_cursor(value::Kind::kList);
    c = translate(value::Kind::kList, keep(parse(array({}))), empty, "tmp", true, w);
    CHECK(c.elements == 0);
    CHECK(empty.done);
    CHECK(w.empty());
  }

  TEST_CASE("set: SADD of the page's members; the cursor comes from the reply, 0 ends") {
    Cursor at = first_cursor(value::Kind::kSet);
    Writes w;
    Chunk c = translate(value::Kind::kSet, keep(parse(array({bulk("17"), bulks({"m1", "m2"})}))), at, "tmp",
                        true, w);
    CHECK(c.elements == 2);
    CHECK(at.cursor == "17");
    CHECK_FALSE(at.done);
    CHECK(all(w) == std::vector<Words>{{"SADD", "tmp", "m1", "m2"}});
    w.clear();
    // A page may be empty while the scan goes on.
    c = translate(value::Kind::kSet, keep(parse(array({bulk("5"), array({})}))), at, "tmp", false, w);
    CHECK(w.empty());
    CHECK(at.cursor == "5");
    CHECK_FALSE(at.done);
    c = translate(value::Kind::kSet, keep(parse(array({bulk("0"), bulks({"m3"})}))), at, "tmp", false, w);
    CHECK(at.done);
    CHECK(all(w) == std::vector<Words>{{"SADD", "tmp", "m3"}});
    // Not a SCAN reply.
    CHECK(translate(value::Kind::kSet, keep(parse(bulks({"0", "a", "b"}))), at, "tmp", false, w).status ==
          Chunk::Status::kMalformed);
  }

  TEST_CASE("zset: ZADD score member, pairs in reverse order, scores as the server printed them") {
    Cursor at = first_cursor(value::Kind::kZset);
    Writes w;
    const Chunk c = translate(value::Kind::kZset,
                              keep(parse(array({bulk("0"), bulks({"a", "1", "b", "2.5", "c", "1e+300"})}))),
                              at, "tmp", true, w);
    CHECK(c.status == Chunk::Status::kOk);
    CHECK(c.elements == 3);
    CHECK(c.bytes == 3 + 1 + 3 + 6);
    CHECK(at.done);
    CHECK(all(w) == std::vector<Words>{{"ZADD", "tmp", "1e+300", "c", "2.5", "b", "1", "a"}});
    // A member without its score.
    Cursor again = first_cursor(value::Kind::kZset);
    CHECK(translate(value::Kind::kZset, keep(parse(array({bulk("0"), bulks({"a", "1", "b"})}))), again, "tmp",
                    true, w)
              .status == Chunk::Status::kMalformed);
  }

  TEST_CASE("element counts adapt so a read brings about a chunk, between 1 and 1000 elements") {
    CHECK(adapt_count(100 * 10, 100, 1000) == kMaxChunkElements);       // 10-byte elements: capped
    CHECK(adapt_count(10 * 10'000, 10, 1000) == kChunkBytes / 10'000);  // 10 KB elements: about 104
    CHECK(adapt_count(5u << 20, 1, 1000) == 1);                         // one 5 MB element: one at a time
    CHECK(adapt_count(0, 0, 42) == 42);                                 // nothing read: unchanged
  }

  TEST_CASE("hash without field TTLs: HSET of the page") {
    const resp::Reply page = parse(array({bulk("0"), bulks({"f1", "v1", "f2", "v22"})}));
    Cursor at = first_cursor(value::Kind::kHash);
    const redisReply* items = scan_page(page.get(), at, true);
    REQUIRE(items != nullptr);
    CHECK(at.done);
    Writes w;
    const HashChunk c = translate_hash(items, nullptr, FieldTtlTarget{}, "tmp", w);
    CHECK(c.status == Chunk::Status::kOk);
    CHECK(c.elements == 2);
    CHECK(c.bytes == 2 + 2 + 2 + 3);
    CHECK_FALSE(c.expiring);
    CHECK(all(w) == std::vector<Words>{{"HSET", "tmp", "f1", "v1", "f2", "v22"}});

    w.clear();
    field_ttl_query("h", items, w);
    CHECK(all(w) == std::vector<Words>{{"HPTTL", "h", "FIELDS", "2", "f1", "f2"}});
  }

  TEST_CASE("hash field TTLs: absolute HPEXPIREAT per distinct time; gone and expired fields left out") {
    const resp::Reply page = parse(
        array({bulk("0"), bulks({"keep", "1", "gone", "2", "dead", "3", "a", "4", "b", "5", "c", "6"})}));
    Cursor at = first_cursor(value::Kind::kHash);
    const redisReply* items = scan_page(page.get(), at, true);
    REQUIRE(items != nullptr);
    // keep: persistent; gone: deleted since HSCAN; dead: ran out in flight (1 ms left, 2 ms in flight);
    // a and c expire together, b later.
    const resp::Reply ttls =
        parse(array({integer(-1), integer(-2), integer(1), integer(5000), integer(9000), integer(5000)}));
    engine::ServerClock clock;
    const auto asked = std::chrono::steady_clock::now();
    clock.sample(1000, 0, asked);  // the destination's clock reads 1,000,000 ms at `asked`
    FieldTtlTarget target;
    target.clock = &clock;
    target.asked_at = asked;
    target.in_flight_ns = 2'000'000;
    Writes w;
    const HashChunk c = translate_hash(items, ttls.get(), target, "tmp", w);
    REQUIRE(c.status == Chunk::Status::kOk);
    CHECK(c.elements == 4);
    CHECK(c.fields_expired == 1);
    CHECK(c.expiring);
    CHECK_FALSE(c.dropped);
    CHECK(c.bytes == 4 + 1 + 1 + 1 + 1 + 1 + 1 + 1);
    CHECK(all(w) == std::vector<Words>{{"HSET", "tmp", "keep", "1", "a", "4", "b", "5", "c", "6"},
                                       {"HPEXPIREAT", "tmp", "1005000", "FIELDS", "2", "a", "c"},
                                       {"HPEXPIREAT", "tmp", "1009000", "FIELDS", "1", "b"}});
    CHECK(w.bytes(1) == 0);  // the expiries carry no value bytes
  }

  TEST_CASE("hash field TTLs without a known destination clock go as remaining times (HPEXPIRE)") {
    const resp::Reply page = parse(array({bulk("0"), bulks({"f", "v"})}));
    Cursor at = first_cursor(value::Kind::kHash);
    const redisReply* items = scan_page(page.get(), at, true);
    const resp::Reply ttls = parse(array({integer(5000)}));
    engine::ServerClock unknown;
    FieldTtlTarget target;
    target.clock = &unknown;
    target.in_flight_ns = 1'500'000;  // rounded up to 2 ms
    Writes w;
    const HashChunk c = translate_hash(items, ttls.get(), target, "tmp", w);
    CHECK(all(w) ==
          std::vector<Words>{{"HSET", "tmp", "f", "v"}, {"HPEXPIRE", "tmp", "4998", "FIELDS", "1", "f"}});
    CHECK(c.expiring);
  }

  TEST_CASE("hash field TTLs onto a destination without field expiration: refused, or dropped when told") {
    const resp::Reply page = parse(array({bulk("0"), bulks({"p", "1", "t", "2"})}));
    Cursor at = first_cursor(value::Kind::kHash);
    const redisReply* items = scan_page(page.get(), at, true);
    const resp::Reply ttls = parse(array({integer(-1), integer(60000)}));
    FieldTtlTarget target;
    target.destination_has = false;
    Writes w;
    CHECK(translate_hash(items, ttls.get(), target, "tmp", w).status == Chunk::Status::kFieldTtlsRefused);

    // Persistent fields alone are fine there.
    const resp::Reply persistent = parse(array({integer(-1), integer(-1)}));
    w.clear();
    CHECK(translate_hash(items, persistent.get(), target, "tmp", w).status == Chunk::Status::kOk);
    CHECK(all(w) == std::vector<Words>{{"HSET", "tmp", "p", "1", "t", "2"}});

    target.drop = true;
    w.clear();
    const HashChunk c = translate_hash(items, ttls.get(), target, "tmp", w);
    CHECK(c.status == Chunk::Status::kOk);
    CHECK(c.dropped);
    CHECK_FALSE(c.expiring);
    CHECK(all(w) == std::vector<Words>{{"HSET", "tmp", "p", "1", "t", "2"}});
  }

  TEST_CASE("hash: a page whose every field expired writes nothing; a TTL answer of the wrong length fails") {
    const resp::Reply page = parse(array({bulk("0"), bulks({"a", "1", "b", "2"})}));
    Cursor at = first_cursor(value::Kind::kHash);
    const redisReply* items = scan_page(page.get(), at, true);
    Writes w;
    const resp::Reply expired = parse(array({integer(0), integer(-2)}));
    const HashChunk c = translate_hash(items, expired.get(), FieldTtlTarget{}, "tmp", w);
    CHECK(c.status == Chunk::Status::kOk);
    CHECK(c.elements == 0);
    CHECK(c.fields_expired == 1);
    CHECK(w.empty());
    const resp::Reply short_answer = parse(array({integer(-1)}));
    CHECK(translate_hash(items, short_answer.get(), FieldTtlTarget{}, "tmp", w).status ==
          Chunk::Status::kMalformed);
    CHECK(w.empty());
  }

  TEST_CASE("stream: one XADD per entry with its ID; the next read starts after the last ID") {
    Cursor at = first_cursor(value::Kind::kStream);
    at.count = 2;
    Writes w;
    const std::string entries = array({array({bulk("5-1"), bulks({"f", "v"})}),
                                       array({bulk("5-18446744073709551615"), bulks({"a", "1", "b", "2"})})});
    const Chunk c = translate(value::Kind::kStream, keep(parse(entries)), at, "tmp", true, w);
    CHECK(c.elements == 2);
    CHECK_FALSE(at.done);
    CHECK(at.cursor == "6-0");
    CHECK(all(w) == std::vector<Words>{{"XADD", "tmp", "5-1", "f", "v"},
                                       {"XADD", "tmp", "5-18446744073709551615", "a", "1", "b", "2"}});
    CHECK(w.bytes(0) == 3 + 1 + 1);
    CHECK(c.bytes == w.bytes(0) + w.bytes(1));

    CHECK(next_stream_id("0-0") == "0-1");
    CHECK(next_stream_id("18446744073709551615-18446744073709551615").empty());
    CHECK(next_stream_id("junk").empty());

    Cursor bad = first_cursor(value::Kind::kStream);
    w.clear();
    CHECK(translate(value::Kind::kStream, keep(parse(array({bulk("5-1")}))), bad, "tmp", true, w).status ==
          Chunk::Status::kMalformed);
    CHECK(w.empty());
  }

  TEST_CASE("stream setup: XSETID with the metadata where the destination has it, groups at their IDs") {
    const resp::Reply info =
        parse(array({bulk("length"), integer(2), bulk("last-generated-id"), bulk("9-3"),
                     bulk("max-deleted-entry-id"), bulk("4-0"), bulk("entries-added"), integer(12)}));
    const StreamInfo si = parse_stream_info(info.get());
    CHECK(si.last_id == "9-3");
    CHECK(si.entries_added == "12");
    CHECK(si.max_deleted == "4-0");
    const resp::Reply groups_reply =
        parse(array({array({bulk("name"), bulk("g1"), bulk("last-delivered-id"), bulk("9-1"),
                            bulk("entries-read"), integer(10)}),
                     array({bulk("name"), bulk("g2"), bulk("last-delivered-id"), bulk("0-0")})}));
    std::vector<StreamGroup> groups;
    REQUIRE(parse_stream_groups(groups_reply.get(), groups));
    REQUIRE(groups.size() == 2);

    engine::DestinationTraits modern;
    Writes w;
    stream_setup(si, groups, true, modern, "tmp", w);
    CHECK(all(w) == std::vector<Words>{{"XSETID", "tmp", "9-3", "ENTRIESADDED", "12", "MAXDELETEDID", "4-0"},
                                       {"XGROUP", "CREATE", "tmp", "g1", "9-1", "ENTRIESREAD", "10"},
                                       {"XGROUP", "CREATE", "tmp", "g2", "0-0"}});

    // No entry written: the first group makes the stream (MKSTREAM), then is moved with SETID.
    engine::DestinationTraits old;
    old.stream_metadata = false;
    w.clear();
    stream_setup(si, groups, false, old, "tmp", w);
    CHECK(all(w) == std::vector<Words>{{"XGROUP", "CREATE", "tmp", "g1", "0", "MKSTREAM"},
                                       {"XSETID", "tmp", "9-3"},
                                       {"XGROUP", "SETID", "tmp", "g1", "9-1"},
                                       {"XGROUP", "CREATE", "tmp", "g2", "0-0"}});

    // No entry and no group: a guard group makes it and goes at once.
    w.clear();
    stream_setup(si, {}, false, modern, "tmp", w);
    REQUIRE(w.size() == 3);
    CHECK(command(w, 0)[4] == "0");
    CHECK(command(w, 0)[5] == "MKSTREAM");
    CHECK(command(w, 1)[1] == "DESTROY");
    CHECK(command(w, 1)[3] == command(w, 0)[3]);

    // A group without a name is not a group.
    const resp::Reply broken = parse(array({array({bulk("last-delivered-id"), bulk("1-1")})}));
    CHECK_FALSE(parse_stream_groups(broken.get(), groups));
  }

  TEST_CASE(
      "stream consumers and pending entries: CREATECONSUMER, XCLAIM with owner, idle time, deliveries") {
    const resp::Reply consumers =
        parse(array({array({bulk("name"), bulk("alice"), bulk("pending"), integer(0)}),
                     array({bulk("name"), bulk("bob"), bulk("pending"), integer(2)})}));
    engine::DestinationTraits modern;
    Writes w;
    CHECK(stream_consumers(consumers.get(), "g", modern, "tmp", w) == 0);
    CHECK(all(w) == std::vector<Words>{{"XGROUP", "CREATECONSUMER", "tmp", "g", "alice"},
                                       {"XGROUP", "CREATECONSUMER", "tmp", "g", "bob"}});
    // Before CREATECONSUMER a consumer exists only through its pending entries: alice is lost.
    engine::DestinationTraits old;
    old.create_consumer = false;
    w.clear();
    CHECK(stream_consumers(consumers.get(), "g", old, "tmp", w) == 1);
    CHECK(w.empty());

    const resp::Reply pending = parse(array({array({bulk("1-1"), bulk("bob"), integer(1500), integer(3)})}));
    std::string next = "x";
    w.clear();
    REQUIRE(stream_pending(pending.get(), "g", "tmp", w, next));
    CHECK(next.empty());  // a short page is the last
    CHECK(all(w) == std::vector<Words>{{"XCLAIM", "tmp", "g", "bob", "0", "1-1", "IDLE", "1500", "RETRYCOUNT",
                                        "3", "FORCE", "JUSTID"}});

    // A full page: the next one starts after its last ID.
    std::vector<std::string> page;
    for (std::size_t i = 0; i < kPendingPage; ++i)
      page.push_back(array({bulk("7-" + std::to_string(i)), bulk("bob"), integer(1), integer(1)}));
    const resp::Reply full = parse(array(page));
    w.clear();
    REQUIRE(stream_pending(full.get(), "g", "tmp", w, next));
    CHECK(w.size() == kPendingPage);
    CHECK(next == "7-" + std::to_string(kPendingPage));

    const resp::Reply bad = parse(array({array({bulk("1-1"), bulk("bob")})}));
    CHECK_FALSE(stream_pending(bad.get(), "g", "tmp", w, next));
  }

  TEST_CASE("Writes keeps copied words valid and can take back the command begun last") {
    Writes w;
    w.begin();
    w.add("SET");
    for (int i = 0; i < 100; ++i)
      w.add_copy("word-" + std::to_string(i));  // many, so a growing store would move them
    w.begin();
    w.add("GONE");
    w.cancel();
    REQUIRE(w.size() == 1);
    const Words c = command(w, 0);
    REQUIRE(c.size() == 101);
    CHECK(c[1] == "word-0");
    CHECK(c[100] == "word-99");
    CHECK(w.bytes(0) == 0);
  }
}
