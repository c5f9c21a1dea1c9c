// The pieces of verify, the lock and the checkpoint that need no server.

#include <doctest/doctest.h>
#include <hiredis/hiredis.h>

#include <cstring>
#include <string>
#include <vector>

#include "app/commands.hpp"
#include "cluster/slot.hpp"
#include "copy/restore_check.hpp"
#include "report/run_report.hpp"
#include "select/rename.hpp"
#include "state/checkpoint.hpp"
#include "state/lock.hpp"
#include "verify/compare.hpp"

using namespace rmig;

namespace {

// Replies built by hand, freed with the tree.
struct Tree {
  std::vector<std::unique_ptr<redisReply>> nodes;
  std::vector<std::unique_ptr<std::string>> texts;
  std::vector<std::unique_ptr<std::vector<redisReply*>>> arrays;

  redisReply* str(const std::string& s, int type = REDIS_REPLY_STRING) {
    texts.push_back(std::make_unique<std::string>(s));
    auto r = std::make_unique<redisReply>();
    std::memset(r.get(), 0, sizeof(redisReply));
    r->type = type;
    r->str = texts.back()->data();
    r->len = texts.back()->size();
    nodes.push_back(std::move(r));
    return nodes.back().get();
  }
  redisReply* integer(long long v) {
    auto r = std::make_unique<redisReply>();
    std::memset(r.get(), 0, sizeof(redisReply));
    r->type = REDIS_REPLY_INTEGER;
    r->integer = v;
    nodes.push_back(std::move(r));
    return nodes.back().get();
  }
  redisReply* array(std::vector<redisReply*> elements) {
    arrays.push_back(std::make_unique<std::vector<redisReply*>>(std::move(elements)));
    auto r = std::make_unique<redisReply>();
    std::memset(r.get(), 0, sizeof(redisReply));
    r->type = REDIS_REPLY_ARRAY;
    r->elements = arrays.back()->size();
    r->element = arrays.back()->data();
    nodes.push_back(std::move(r));
    return nodes.back().get();
  }
};

copy::CopyCommand command() {
  copy::CopyCommand c;
  c.source.endpoint.host = "10.0.0.5";
  c.source.endpoint.port = 6379;
  c.source.password = "secret-one";
  c.destination.endpoint.host = "10.0.0.6";
  c.destination.endpoint.port = 6380;
  c.destination.db = 2;
  c.destination.user = "copier";
  c.destination.password = "secret-two";
  c.source_url = "redis://10.0.0.5:6379/0";
  c.destination_url = "redis://copier:***@10.0.0.6:6380/2";
  return c;
}

}  // namespace

TEST_CASE("verify: replies compare deeply and byte-exact") {
  Tree t;
  auto* a = t.array({t.str("1-1"), t.array({t.str("f"), t.str(std::string("v\0x", 3))})});
  auto* b = t.array({t.str("1-1"), t.array({t.str("f"), t.str(std::string("v\0x", 3))})});
  auto* c = t.array({t.str("1-1"), t.array({t.str("f"), t.str(std::string("v\0y", 3))})});
  CHECK(verify::same_reply(a, b));
  CHECK_FALSE(verify::same_reply(a, c));
  CHECK(verify::same_reply(t.str("ok", REDIS_REPLY_STATUS), t.str("ok")));  // status vs bulk, same bytes
  CHECK_FALSE(verify::same_reply(t.integer(1), t.str("1")));
  CHECK_FALSE(verify::same_reply(t.array({t.str("a")}), t.array({t.str("a"), t.str("b")})));
}

TEST_CASE("verify: stream ids, scores, TTLs, RDB versions") {
  CHECK(verify::next_stream_id("5-3") == "5-4");
  CHECK(verify::next_stream_id("0-0") == "0-1");
  CHECK(verify::next_stream_id("7-18446744073709551615") == "8-0");
  CHECK_FALSE(verify::next_stream_id("18446744073709551615-18446744073709551615"));
  CHECK_FALSE(verify::next_stream_id("5"));
  CHECK_FALSE(verify::next_stream_id("a-1"));

  CHECK(verify::same_score("1.5", "1.5") == true);
  CHECK(verify::same_score("inf", "+inf") == true);
  CHECK(verify::same_score("-inf", "-inf") == true);
  CHECK(verify::same_score("1e+300", "1.0000000000000001e+300") == true);  // the same double, printed twice
  CHECK(verify::same_score("0.1", "0.10000000000000001") == true);
  CHECK(verify::same_score("1.5", "1.25") == false);
  CHECK(verify::same_score("inf", "-inf") == false);
  CHECK_FALSE(verify::same_score("x", "1").has_value());

  CHECK(verify::ttl_equal(-1, -1, 5000));
  CHECK_FALSE(verify::ttl_equal(-1, 1000, 5000));  // a lost TTL
  CHECK_FALSE(verify::ttl_equal(1000, -1, 5000));  // a TTL that appeared
  CHECK(verify::ttl_equal(100'000, 96'000, 5000));
  CHECK(verify::ttl_equal(96'000, 101'000, 5000));
  CHECK_FALSE(verify::ttl_equal(100'000, 94'999, 5000));
  CHECK(verify::ttl_text(-1) == "persistent");
  CHECK(verify::ttl_text(1500) == "1.500s");

  // DUMP footer: 2-byte RDB version, little endian, then an 8-byte CRC.
  std::string payload = std::string(
                            "\x00\x03"
                            "abc",
                            5) +
                        std::string("\x0a\x00", 2) + std::string(8, '\x11');
  CHECK(verify::rdb_version(payload) == 10);
  CHECK_FALSE(verify::rdb_version("short").has_value());
  CHECK(verify::first_difference("abcdef", "abcxef") == 3);
  CHECK(verify::first_difference("abc", "abcd") == 3);
}

TEST_CASE("counters travel through JSON, every field, and verify's exit codes") {
  report::Counters c;
  uint64_t v = 1;
  for (std::size_t i = 0; i < report::kCounterFieldCount; ++i)
    c.*report::kCounterFields[i].member = v++;
  const auto j = report::counters_to_json(c);
  CHECK(j.size() == report::kCounterFieldCount);
  const report::Counters back = report::counters_from_json(j);
  for (std::size_t i = 0; i < report::kCounterFieldCount; ++i)
    CHECK_MESSAGE(back.*report::kCounterFields[i].member == c.*report::kCounterFields[i].member,
                  report::kCounterFields[i].name);
  CHECK(report::counters_from_json(nlohmann::json::array()).scanned == 0);

  report::Counters eq;
  eq.checked = eq.equal = 10;
  CHECK(report::verify_exit_code(eq, std::nullopt, 0) == ExitCode::kOk);
  eq.checked = 11;
  eq.missing = 1;
  CHECK(report::verify_exit_code(eq, std::nullopt, 0) == ExitCode::kKeysFailed);
  report::Counters cl;
  cl.checked = cl.equal = cl.deleted = 5;
  CHECK(report::cleanup_exit_code(cl, std::nullopt, 0) == ExitCode::kOk);
  cl.cleanup_kept = 1;
  CHECK(report::cleanup_exit_code(cl, std::nullopt, 0) == ExitCode::kKeysFailed);
  CHECK(report::cleanup_exit_code(cl, Error{ExitCode::kLocked, "held"}, 0) == ExitCode::kLocked);
}

TEST_CASE("a run record survives a round trip through JSON") {
  state::RunRecord r;
  r.id = "0123456789abcdef";
  r.command = "copy";
  r.status = "interrupted";
  r.source = "redis://a:6379/0";
  r.destination = "redis://b:6379/0";
  r.fingerprint = {{"x", 1}};
  r.command_line = "redis-migrate redis://a redis://b";
  r.host = "pod-1";
  r.pid = 42;
  r.started_ms = 1'700'000'000'000;
  r.updated_ms = 1'700'000'005'000;
  r.finished_ms = 1'700'000'006'000;
  r.attempts = 3;
  r.nodes.push_back(
      engine::NodeProgress{"a:6379", "1234", false, {}, {0x0123abcdu, 0xfffffffeu, 0u}, "0123456789abcdef"});
  r.nodes.back().counters.scanned = 1000;
  r.nodes.back().counters.copied = 990;
  r.nodes.push_back(engine::NodeProgress{"b:6379", "0", true, {}, {}, {}});
  r.totals.copied = 1500;
  r.exit_code = 143;
  r.error = "";
  const auto back = state::RunRecord::from_json(nlohmann::json::parse(r.to_json().dump()));
  REQUIRE(back);
  CHECK(back->id == r.id);
  CHECK(back->status == "interrupted");
  CHECK(back->fingerprint == r.fingerprint);
  CHECK(back->attempts == 3);
  CHECK(back->pid == 42);
  CHECK(back->started_ms == r.started_ms);
  REQUIRE(back->nodes.size() == 2);
  CHECK(back->nodes[0].cursor == "1234");
  CHECK(back->nodes[0].counters.copied == 990);
  CHECK(back->nodes[0].written == std::vector<uint32_t>{0x0123abcdu, 0xfffffffeu, 0u});
  CHECK(back->nodes[1].written.empty());
  CHECK(back->nodes[0].server == "0123456789abcdef");  // the run_id its cursor belongs to
  CHECK(back->nodes[1].server.empty());
  CHECK(back->nodes[1].complete);
  CHECK(back->totals.copied == 1500);
  CHECK(back->exit_code == 143);
  CHECK(r.to_json()["started_at"] == "2023-11-14T22:13:20Z");
  CHECK_FALSE(state::RunRecord::from_json(nlohmann::json::parse(R"({"version": 99, "id": "x"})")));
  CHECK_FALSE(state::RunRecord::from_json(nlohmann::json::parse("[1, 2]")));
}

TEST_CASE("the fingerprint: the same command resumes, another one does not, passwords stay out") {
  const copy::CopyCommand base = command();
  const auto fp = state::fingerprint(base, "copy");
  const std::string id = state::run_id(fp);
  CHECK(id.size() == 16);
  CHECK(fp.dump().find("secret") == std::string::npos);
  CHECK(state::run_id(state::fingerprint(base, "copy")) == id);

  // Tuning may change between attempts.
  copy::CopyCommand tuned = base;
  tuned.options.window.keys = 64;
  tuned.options.rate_limit_keys = 100;
  tuned.progress_interval_ms = 0;
  tuned.source.password = "rotated";
  CHECK(state::run_id(state::fingerprint(tuned, "copy")) == id);

  // What is copied, and where, may not.
  CHECK(state::run_id(state::fingerprint(base, "cleanup")) != id);
  copy::CopyCommand other = base;
  other.options.selection.match = {"user:*"};
  CHECK(state::run_id(state::fingerprint(other, "copy")) != id);
  other = base;
  other.options.conflict = engine::ConflictPolicy::kReplace;
  CHECK(state::run_id(state::fingerprint(other, "copy")) != id);
  other = base;
  other.destination.db = 3;
  CHECK(state::run_id(state::fingerprint(other, "copy")) != id);
  other = base;
  auto rules = select::RenameRules::build({select::RuleSpec{select::RuleSpec::Kind::kPrefix, "a:", "b:"}});
  REQUIRE(rules);
  other.options.selection.rename = std::make_shared<const select::RenameRules>(std::move(*rules));
  CHECK(state::run_id(state::fingerprint(other, "copy")) != id);

  CHECK(state::run_key("redis-migrate:", id) == "redis-migrate:run:" + id);
  CHECK(state::run_index_key("mig:") == "mig:run:index");
}

TEST_CASE("the lock's value names its holder") {
  const std::string value = state::lock_value("redis-migrate redis://a redis://b");
  const auto j = nlohmann::json::parse(value);
  CHECK(j["pid"].get<long long>() > 0);
  CHECK_FALSE(j["host"].get<std::string>().empty());
  CHECK(j["started_at"].get<std::string>().size() == 20);
  CHECK(j["token"].get<std::string>().size() == 16);
  CHECK(state::lock_value("x") != state::lock_value("x"));  // two runs never hold the same value
  const auto h = state::parse_lock_value(value, 25'000);
  CHECK(h.command == "redis-migrate redis://a redis://b");
  const std::string text = h.describe();
  CHECK(text.find("host " + j["host"].get<std::string>() + " pid ") == 0);
  CHECK(text.find(", until 20") != std::string::npos);
  CHECK(text.find("(in 25s)") != std::string::npos);
  // A value the tool did not write is shown as it is.
  CHECK(state::parse_lock_value("whatever", -1).describe() == "value \"whatever\", with no expiry");
}

TEST_CASE("the restore check's temporary key shares its target's slot, under the tool's prefix") {
  for (const std::string& target :
       std::vector<std::string>{"user:{42}:profile", "plain-key", std::string("\xff\x00bin", 5)}) {
    const std::string k = copy::restore_check_key(target, "redis-migrate:");
    CHECK(k.find("redis-migrate:") != std::string::npos);
    CHECK(k != target);
    CHECK(cluster::key_hash_slot(k) == cluster::key_hash_slot(target));
  }
}

TEST_CASE("the command line kept in records hides passwords") {
  std::vector<std::string> args = {
      "redis-migrate", "redis://:pw1@h1:6379/0", "--destination=rediss://u:pw2@h2", "--match", "a:*",
      "redis://h3"};
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  const std::string line = app::redacted_command_line(static_cast<int>(argv.size()), argv.data());
  CHECK(line.find("pw1") == std::string::npos);
  CHECK(line.find("pw2") == std::string::npos);
  CHECK(line.find("redis-migrate ") == 0);
  CHECK(line.find("--match a:*") != std::string::npos);
  CHECK(line.find("redis://h3") != std::string::npos);
  CHECK(line.find("--destination=") != std::string::npos);
}
