// verify's verdicts without a server: each stage's replies, written as the servers send them (RESP2) and
// parsed by the tool's own reader, and the difference found or none.

#include <doctest/doctest.h>

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "report/counters.hpp"
#include "resp/reader.hpp"
#include "resp/reply.hpp"
#include "scripts/scripts.hpp"
#include "unit/wire.hpp"
#include "verify/compare.hpp"

using namespace rmig;
using namespace rmig::test::wire;
using verify::Check;

namespace {

// The destination's answers of a multi-lookup (SMISMEMBER, ZMSCORE, HMGET), one per member.
std::vector<const redisReply*> answers(const resp::Reply& multi) {
  std::vector<const redisReply*> out;
  for (std::size_t i = 0; i < multi->elements; ++i)
    out.push_back(multi->element[i]);
  return out;
}

std::string kind(const Check& c) { return c ? c->kind : "none"; }
std::string detail(const Check& c) { return c ? c->detail : ""; }

// A DUMP payload: a body, the RDB version (little endian) and an 8-byte checksum.
std::string payload(std::string_view body, uint16_t rdb, char crc = 'c') {
  std::string p(body);
  p += static_cast<char>(rdb & 0xff);
  p += static_cast<char>(rdb >> 8);
  p += std::string(8, crc);
  return p;
}

// XINFO GROUPS entry of a Redis 7 server.
std::string group(std::string_view name, long long consumers, long long pending, std::string_view last) {
  return array({bulk("name"), bulk(name), bulk("consumers"), integer(consumers), bulk("pending"),
                integer(pending), bulk("last-delivered-id"), bulk(last), bulk("entries-read"), integer(3),
                bulk("lag"), integer(0)});
}

}  // namespace

TEST_CASE("verify stage 1: TYPE and PTTL decide vanished, expired, missing and type differs") {
  using verify::Head;
  CHECK(verify::check_head("none", -2, "string", 5000).outcome == Head::kVanished);
  CHECK(verify::check_head("none", -2, "none", 5000).outcome == Head::kVanished);
  CHECK(verify::check_head("hash", -1, "hash", 5000).outcome == Head::kCompare);
  // The TTLs do not decide stage 1: a value is compared before its TTL is judged.
  CHECK(verify::check_head("zset", 10, "zset", 0).outcome == Head::kCompare);

  // Missing on the destination while about to expire on the source (within the tolerance): not checked.
  CHECK(verify::check_head("list", 0, "none", 5000).outcome == Head::kExpired);
  CHECK(verify::check_head("list", 5000, "none", 5000).outcome == Head::kExpired);
  const Head late = verify::check_head("list", 5001, "none", 5000);
  CHECK(late.outcome == Head::kDifferent);
  CHECK(std::string(late.finding.kind) == "missing");
  CHECK(late.finding.detail == "not on the destination (source: list, 5.001s)");
  const Head persistent = verify::check_head("set", -1, "none", 5000);
  CHECK(persistent.outcome == Head::kDifferent);
  CHECK(persistent.finding.detail == "not on the destination (source: set, persistent)");

  const Head other = verify::check_head("string", -1, "hash", 5000);
  CHECK(other.outcome == Head::kDifferent);
  CHECK(std::string(other.finding.kind) == "type differs");
  CHECK(other.finding.detail == "source string, destination hash");
}

TEST_CASE("verify: key TTLs and sizes") {
  const verify::Finding lost = verify::ttl_differs(12'345, -1, 5000);
  CHECK(std::string(lost.kind) == "ttl differs");
  CHECK(lost.detail == "TTL 12.345s on the source, persistent on the destination (tolerance 5.000s)");

  CHECK_FALSE(verify::check_size("list", 7, 7));
  CHECK_FALSE(verify::check_size("string", 0, 0));
  const Check hash = verify::check_size("hash", 3, 2);
  CHECK(kind(hash) == "value differs");
  CHECK(detail(hash) == "hash of 3 fields on the source, 2 on the destination");
  CHECK(detail(verify::check_size("string", 10, 11)) ==
        "string of 10 bytes on the source, 11 on the destination");
  CHECK(detail(verify::check_size("list", 1, 0)) == "list of 1 elements on the source, 0 on the destination");
  CHECK(detail(verify::check_size("set", 1, 2)) == "set of 1 members on the source, 2 on the destination");
  CHECK(detail(verify::check_size("zset", 1, 2)) == "zset of 1 members on the source, 2 on the destination");
  CHECK(detail(verify::check_size("stream", 4, 5)) ==
        "stream of 4 entries on the source, 5 on the destination");
}

TEST_CASE("verify stage 3: DUMP payloads") {
  using verify::DumpVerdict;
  const std::string body(
      "\x00\x03"
      "abc",
      5);  // a string "abc", as an RDB object
  const std::string other_body(
      "\x00\x03"
      "abd",
      5);
  const auto a = parse(bulk(payload(body, 11)));
  const auto same = parse(bulk(payload(body, 11)));
  const auto other_value = parse(bulk(payload(other_body, 11)));
  const auto other_crc = parse(bulk(payload(body, 11, 'd')));
  const auto newer = parse(bulk(payload(body, 12)));
  const auto nil = parse(kNil);
  CHECK(verify::compare_dumps(a.get(), same.get()) == DumpVerdict::kEqual);
  CHECK(verify::compare_dumps(a.get(), other_value.get()) == DumpVerdict::kDiffer);
  CHECK(verify::compare_dumps(a.get(), other_crc.get()) == DumpVerdict::kDiffer);
  CHECK(verify::compare_dumps(a.get(), newer.get()) == DumpVerdict::kOtherRdbFormat);
  CHECK(verify::compare_dumps(newer.get(), a.get()) == DumpVerdict::kOtherRdbFormat);
  CHECK(verify::compare_dumps(nil.get(), a.get()) == DumpVerdict::kVanished);
  CHECK(verify::compare_dumps(nil.get(), nil.get()) == DumpVerdict::kVanished);
  CHECK(verify::compare_dumps(a.get(), nil.get()) == DumpVerdict::kDestinationGone);
  // Too short to carry a footer: only byte equality tells.
  const auto tiny = parse(bulk("xy"));
  const auto tiny2 = parse(bulk("xz"));
  CHECK(verify::compare_dumps(tiny.get(), tiny2.get()) == DumpVerdict::kDiffer);
}

TEST_CASE("verify strings: GETRANGE chunks name the first differing byte of the whole string") {
  const auto s = parse(bulk("hello world"));
  const auto same = parse(bulk("hello world"));
  const auto changed = parse(bulk("hello World"));
  const auto shorter = parse(bulk("hello"));
  CHECK_FALSE(verify::check_string_chunk(s.get(), same.get(), 0, 11));
  const Check c = verify::check_string_chunk(s.get(), changed.get(), 262'144, 262'155);
  CHECK(kind(c) == "value differs");
  CHECK(detail(c) == "string differs at byte 262150 of 262155");
  CHECK(detail(verify::check_string_chunk(s.get(), shorter.get(), 0, 11)) ==
        "string differs at byte 5 of 11");
  // Binary bytes compare exactly, NUL included.
  const auto bin = parse(bulk(std::string("a\0b", 3)));
  const auto bin2 = parse(bulk(std::string("a\0c", 3)));
  CHECK(detail(verify::check_string_chunk(bin.get(), bin2.get(), 0, 3)) == "string differs at byte 2 of 3");
}

TEST_CASE("verify lists: LRANGE chunks name the element by its index in the list") {
  const auto s = parse(bulks({"a", "b", "c"}));
  CHECK_FALSE(verify::check_list_chunk(s.get(), parse(bulks({"a", "b", "c"})).get(), 0));
  const Check changed = verify::check_list_chunk(s.get(), parse(bulks({"a", "B", "c"})).get(), 256);
  CHECK(kind(changed) == "value differs");
  CHECK(detail(changed) == "element 257 differs: \"b\" on the source, \"B\" on the destination");
  // The order is the value: the same elements elsewhere differ.
  CHECK(detail(verify::check_list_chunk(s.get(), parse(bulks({"b", "a", "c"})).get(), 0)) ==
        "element 0 differs: \"a\" on the source, \"b\" on the destination");
  // One side shorter: the first missing index, no values.
  CHECK(detail(verify::check_list_chunk(s.get(), parse(bulks({"a", "b"})).get(), 0)) == "element 2 differs");
  CHECK(detail(verify::check_list_chunk(parse(bulks({"a"})).get(), s.get(), 0)) == "element 1 differs");
  // Element bytes are shown escaped.
  CHECK(detail(verify::check_list_chunk(parse(bulks({"x\r\ny"})).get(), parse(bulks({"x\ny"})).get(), 0)) ==
        "element 0 differs: \"x\\r\\ny\" on the source, \"x\\ny\" on the destination");
}

TEST_CASE("verify streams: XRANGE entries, the next chunk's start, XINFO STREAM and XINFO GROUPS") {
  const std::string e1 = array({bulk("5-1"), bulks({"f", "v"})});
  const std::string e2 = array({bulk("5-2"), bulks({"f", "w"})});
  const std::string e2b = array({bulk("5-2"), bulks({"f", "W"})});
  const std::string e3 = array({bulk("6-0"), bulks({"g", "x"})});
  const auto s = parse(array({e1, e2}));
  CHECK_FALSE(verify::check_stream_entries(s.get(), parse(array({e1, e2})).get()));
  const Check changed = verify::check_stream_entries(s.get(), parse(array({e1, e2b})).get());
  CHECK(kind(changed) == "value differs");
  CHECK(detail(changed) == "stream entry 5-2 differs");
  // An entry only on the destination is named by its id there.
  CHECK(detail(verify::check_stream_entries(s.get(), parse(array({e1, e2, e3})).get())) ==
        "stream entry 6-0 differs");
  CHECK(detail(verify::check_stream_entries(s.get(), parse(array({e1})).get())) ==
        "stream entry 5-2 differs");

  CHECK(verify::next_stream_start(s.get()) == "5-3");
  CHECK(verify::next_stream_start(
            parse(array({array({bulk("7-18446744073709551615"), bulks({"f", "v"})})})).get()) == "8-0");
  CHECK_FALSE(verify::next_stream_start(parse("*0\r\n").get()));
  CHECK_FALSE(verify::next_stream_start(
      parse(array({array({bulk("18446744073709551615-18446744073709551615"), bulks({"f", "v"})})})).get()));

  // XINFO STREAM: the length and first/last entries are checked elsewhere; the ids and counters here.
  auto info = [](std::string_view last, std::string_view max_deleted, long long added, long long length) {
    return parse(array({bulk("length"),
                        integer(length),
                        bulk("radix-tree-keys"),
                        integer(1),
                        bulk("radix-tree-nodes"),
                        integer(2),
                        bulk("last-generated-id"),
                        bulk(last),
                        bulk("max-deleted-entry-id"),
                        bulk(max_deleted),
                        bulk("entries-added"),
                        integer(added),
                        bulk("recorded-first-entry-id"),
                        bulk("5-1"),
                        bulk("groups"),
                        integer(0),
                        bulk("first-entry"),
                        kNil,
                        bulk("last-entry"),
                        kNil}));
  };
  const auto base = info("9-0", "0-0", 4, 2);
  CHECK_FALSE(verify::check_stream_info(base.get(), info("9-0", "0-0", 4, 2).get()));
  const Check last = verify::check_stream_info(base.get(), info("5-2", "0-0", 4, 2).get());
  CHECK(kind(last) == "value differs");
  CHECK(detail(last) == "stream last-generated-id 9-0 on the source, 5-2 on the destination");
  CHECK(detail(verify::check_stream_info(base.get(), info("9-0", "3-0", 4, 2).get())) ==
        "stream max-deleted-entry-id 0-0 on the source, 3-0 on the destination");
  CHECK(detail(verify::check_stream_info(base.get(), info("9-0", "0-0", 2, 2).get())) ==
        "stream entries-added 4 on the source, 2 on the destination");
  // A Redis 6 destination reports neither max-deleted-entry-id nor entries-added: only the id is compared.
  const auto old = parse(array({bulk("length"), integer(2), bulk("last-generated-id"), bulk("9-0")}));
  CHECK_FALSE(verify::check_stream_info(base.get(), old.get()));
  const auto old_other = parse(array({bulk("length"), integer(2), bulk("last-generated-id"), bulk("8-0")}));
  CHECK(kind(verify::check_stream_info(base.get(), old_other.get())) == "value differs");

  // XINFO GROUPS: compared as a set by name, whatever order each server lists them in.
  const auto groups = parse(array({group("g1", 1, 2, "5-2"), group("g2", 0, 0, "0-0")}));
  CHECK_FALSE(verify::check_stream_groups(
      groups.get(), parse(array({group("g2", 0, 0, "0-0"), group("g1", 1, 2, "5-2")})).get()));
  const Check pending = verify::check_stream_groups(
      groups.get(), parse(array({group("g1", 1, 1, "5-2"), group("g2", 0, 0, "0-0")})).get());
  CHECK(kind(pending) == "value differs");
  CHECK(detail(pending) ==
        "consumer group \"g1\" differs: last-delivered-id 5-2 / 5-2, pending 2 / 1, consumers 1 / 1 "
        "(source / destination)");
  CHECK(detail(verify::check_stream_groups(groups.get(), parse(array({group("g1", 1, 2, "5-2")})).get())) ==
        "2 consumer groups on the source, 1 on the destination");
  CHECK(detail(verify::check_stream_groups(
            groups.get(), parse(array({group("g1", 1, 2, "5-2"), group("g3", 0, 0, "0-0")})).get())) ==
        "consumer group \"g2\" only on the source");
  CHECK(kind(verify::check_stream_groups(groups.get(), parse("*0\r\n").get())) == "value differs");
  CHECK_FALSE(verify::check_stream_groups(parse("*0\r\n").get(), parse("*0\r\n").get()));
}

TEST_CASE("verify sets: SSCAN members against SMISMEMBER or SISMEMBER answers") {
  const auto items = parse(bulks({"a", "b", "c"}));
  const auto all = parse(integers({1, 1, 1}));
  CHECK_FALSE(verify::check_set_members(items.get(), answers(all)));
  const auto one_missing = parse(integers({1, 0, 1}));
  const Check c = verify::check_set_members(items.get(), answers(one_missing));
  CHECK(kind(c) == "value differs");
  CHECK(detail(c) == "member \"b\" not on the destination");
  // SISMEMBER, one reply per member.
  const auto yes = parse(integer(1));
  const auto no = parse(integer(0));
  CHECK(detail(verify::check_set_members(items.get(), {yes.get(), yes.get(), no.get()})) ==
        "member \"c\" not on the destination");
  // Fewer answers than members never passes as equal.
  CHECK(kind(verify::check_set_members(items.get(), {yes.get()})) == "value differs");
}

TEST_CASE("verify sorted sets: ZSCAN scores against ZMSCORE answers, compared as doubles") {
  const auto items = parse(bulks({"m1", "1.5", "m2", "inf", "m3", "0.1"}));
  CHECK_FALSE(verify::check_zset_members(items.get(), answers(parse(bulks({"1.5", "inf", "0.1"})))));
  // The same double printed by another server version.
  CHECK_FALSE(
      verify::check_zset_members(items.get(), answers(parse(bulks({"1.5", "inf", "0.10000000000000001"})))));
  const Check score = verify::check_zset_members(items.get(), answers(parse(bulks({"1.5", "-inf", "0.1"}))));
  CHECK(kind(score) == "value differs");
  CHECK(detail(score) == "member \"m2\": score inf on the source, -inf on the destination");
  const auto missing = parse(array({bulk("1.5"), kNil, bulk("0.1")}));
  CHECK(detail(verify::check_zset_members(items.get(), answers(missing))) ==
        "member \"m2\" not on the destination");
  // ZSCORE, one reply per member.
  const auto s1 = parse(bulk("1.5"));
  const auto s2 = parse(bulk("inf"));
  const auto s3 = parse(bulk("0.2"));
  CHECK(detail(verify::check_zset_members(items.get(), {s1.get(), s2.get(), s3.get()})) ==
        "member \"m3\": score 0.1 on the source, 0.2 on the destination");
}

TEST_CASE("verify hashes: HSCAN values against HMGET answers, byte-exact") {
  const auto items = parse(bulks({"f1", "v1", "f2", std::string_view("a\0b", 3), "f3", ""}));
  CHECK_FALSE(
      verify::check_hash_fields(items.get(), answers(parse(bulks({"v1", std::string_view("a\0b", 3), ""})))));
  const Check changed =
      verify::check_hash_fields(items.get(), answers(parse(bulks({"v1", std::string_view("a\0c", 3), ""}))));
  CHECK(kind(changed) == "value differs");
  CHECK(detail(changed) == "field \"f2\": \"a\\x00b\" on the source, \"a\\x00c\" on the destination");
  // An empty value is a value; nil is a missing field.
  const auto missing = parse(array({bulk("v1"), bulk(std::string_view("a\0b", 3)), kNil}));
  CHECK(detail(verify::check_hash_fields(items.get(), answers(missing))) ==
        "field \"f3\" not on the destination");
}

TEST_CASE("verify hash field TTLs: HPTTL on both sides within the tolerance") {
  using verify::FieldTtls;
  const auto items = parse(bulks({"f1", "v1", "f2", "v2", "f3", "v3"}));
  const auto src = parse(integers({-1, 100'000, 50'000}));
  // Both sides without field expiration (no HPTTL asked): every field is persistent on both.
  CHECK(verify::check_field_ttls(items.get(), nullptr, nullptr, 5000).outcome == FieldTtls::kEqual);
  // TTLs read a moment apart, within the tolerance.
  CHECK(verify::check_field_ttls(items.get(), src.get(), parse(integers({-1, 96'000, 54'000})).get(), 5000)
            .outcome == FieldTtls::kEqual);

  const FieldTtls far =
      verify::check_field_ttls(items.get(), src.get(), parse(integers({-1, 94'999, 50'000})).get(), 5000);
  CHECK(far.outcome == FieldTtls::kDifferent);
  CHECK(std::string(far.finding.kind) == "field TTL differs");
  CHECK(far.finding.detail ==
        "field \"f2\": TTL 100.000s on the source, 94.999s on the destination (tolerance 5.000s)");
  const FieldTtls lost =
      verify::check_field_ttls(items.get(), src.get(), parse(integers({-1, 100'000, -1})).get(), 5000);
  CHECK(lost.outcome == FieldTtls::kDifferent);
  CHECK(lost.finding.detail ==
        "field \"f3\": TTL 50.000s on the source, persistent on the destination (tolerance 5.000s)");
  // A destination without field expiration has none: a source field TTL differs.
  const FieldTtls none = verify::check_field_ttls(items.get(), src.get(), nullptr, 5000);
  CHECK(none.outcome == FieldTtls::kDifferent);
  CHECK(none.finding.detail ==
        "field \"f2\": TTL 100.000s on the source, persistent on the destination (tolerance 5.000s)");
  // A TTL that appeared on the destination differs as well.
  CHECK(verify::check_field_ttls(items.get(), nullptr, parse(integers({-1, -1, 7000})).get(), 5000).outcome ==
        FieldTtls::kDifferent);
  // A field gone on either side since HSCAN (-2) is not judged here.
  CHECK(verify::check_field_ttls(items.get(), src.get(), parse(integers({-1, -2, -2})).get(), 5000).outcome ==
        FieldTtls::kEqual);

  // Malformed answers name their side.
  CHECK(verify::check_field_ttls(items.get(), parse(integers({-1, -1})).get(), nullptr, 5000).outcome ==
        FieldTtls::kBadSource);
  CHECK(verify::check_field_ttls(items.get(), src.get(),
                                 parse(array({integer(-1), bulk("x"), integer(-1)})).get(), 5000)
            .outcome == FieldTtls::kBadDestination);
}

TEST_CASE("verify cleanup: the compare-and-delete script's answer") {
  using scripts::DeleteAnswer;
  CHECK(scripts::delete_answer(1, false) == DeleteAnswer::kDeleted);
  CHECK(scripts::delete_answer(1, true) == DeleteAnswer::kDeleted);
  CHECK(scripts::delete_answer(0, false) == DeleteAnswer::kKept);
  CHECK(scripts::delete_answer(0, true) == DeleteAnswer::kKept);
  CHECK(scripts::delete_answer(-1, false) == DeleteAnswer::kVanished);
  // After a re-send, the first send deleted the key before the connection dropped.
  CHECK(scripts::delete_answer(-1, true) == DeleteAnswer::kDeleted);
}

TEST_CASE("verify: each kind of difference has its own counter, and every one is a checked key") {
  const std::vector<std::pair<const char*, uint64_t report::Counters::*>> kinds = {
      {verify::kMissing, &report::Counters::missing},
      {verify::kTypeDiffers, &report::Counters::type_differs},
      {verify::kValueDiffers, &report::Counters::value_differs},
      {verify::kTtlDiffers, &report::Counters::ttl_differs},
      {verify::kFieldTtlDiffers, &report::Counters::field_ttl_differs},
  };
  report::Counters all;
  for (const auto& [name, member] : kinds) {
    CAPTURE(name);
    report::Counters c;
    verify::count_difference(c, name);
    CHECK(c.checked == 1);
    CHECK(c.*member == 1);
    CHECK(c.differences() == 1);
    CHECK(c.equal == 0);
    all += c;
  }
  CHECK(all.checked == kinds.size());
  CHECK(all.differences() == kinds.size());
}
