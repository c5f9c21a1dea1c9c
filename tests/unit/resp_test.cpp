#include <doctest/doctest.h>
#include <hiredis/hiredis.h>

#include <memory>
#include <string>
#include <vector>

#include "net/out_buffer.hpp"
#include "resp/command.hpp"
#include "resp/connection.hpp"
#include "resp/info.hpp"
#include "resp/reader.hpp"
#include "resp/server_error.hpp"

using namespace rmig;

namespace {

std::string flatten(const net::OutBuffer& b) {
  std::string s;
  for (const auto& p : b.pieces())
    s.append(p.data, p.len);
  return s;
}

std::string hiredis_format(const std::vector<std::string>& args) {
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    ptrs.push_back(a.data());
    lens.push_back(a.size());
  }
  char* cmd = nullptr;
  int n = redisFormatCommandArgv(&cmd, static_cast<int>(args.size()), ptrs.data(), lens.data());
  std::string out(cmd, static_cast<size_t>(n));
  redisFreeCommand(cmd);
  return out;
}

// Feeds `wire` to a reader in pieces of `step` bytes and collects the replies' descriptions.
std::vector<std::string> feed_in_steps(const std::string& wire, size_t step) {
  resp::Reader reader;
  std::vector<std::string> out;
  for (size_t i = 0; i < wire.size(); i += step) {
    REQUIRE(reader.feed(wire.data() + i, std::min(step, wire.size() - i)));
    for (;;) {
      auto r = reader.next();
      REQUIRE(r);
      if (!*r) break;
      std::string d = resp::describe(r->get());
      if ((*r)->type == REDIS_REPLY_STRING) d += ":" + std::string((*r)->str, (*r)->len);
      if ((*r)->type == REDIS_REPLY_ARRAY && (*r)->elements == 2 &&
          (*r)->element[1]->type == REDIS_REPLY_ARRAY) {
        d += ":" + std::to_string((*r)->element[1]->elements);
      }
      out.push_back(d);
    }
    reader.compact();
  }
  return out;
}

}  // namespace

TEST_CASE("the reader assembles replies fed in any fragmentation") {
  using namespace std::string_literals;
  const std::string wire =
      "*2\r\n$1\r\n0\r\n*3\r\n$3\r\nk:1\r\n$0\r\n\r\n$4\r\na\r\nb\r\n"  // SCAN reply with a key holding CR/LF
      ":-2\r\n"
      "$-1\r\n"
      "+OK\r\n"
      "-BUSYKEY Target key name already exists.\r\n"
      "$5\r\n\x00\x01\xff\r\n\r\n"s;  // binary payload
  const std::string& full = wire;
  const std::vector<std::string> expected = {
      "(array of 2):3",
      "(integer) -2",
      "(nil)",
      "+OK",
      "-BUSYKEY Target key name already exists.",
      std::string("(string of 5 bytes):") + std::string("\x00\x01\xff\r\n", 5)};
  for (size_t step : {1u, 2u, 3u, 4u, 7u, 13u, 1000u}) {
    CAPTURE(step);
    CHECK(feed_in_steps(full, step) == expected);
  }
}

TEST_CASE("the reader gives back the buffer of a large reply") {
  resp::Reader reader;
  const std::string big(8 << 20, 'x');
  const std::string wire = "$" + std::to_string(big.size()) + "\r\n" + big + "\r\n";
  for (size_t i = 0; i < wire.size(); i += 65536)
    REQUIRE(reader.feed(wire.data() + i, std::min<size_t>(65536, wire.size() - i)));
  REQUIRE(reader.feed("+PART", 5));  // a partial reply stays buffered
  auto r = reader.next();
  REQUIRE(r);
  REQUIRE(*r);
  CHECK((*r)->len == big.size());
  auto none = reader.next();
  REQUIRE(none);
  CHECK_FALSE(*none);
  CHECK(reader.capacity() > (8u << 20));
  reader.compact();
  CHECK(reader.capacity() < (1u << 20));
  REQUIRE(reader.feed("IAL\r\n", 5));
  auto tail = reader.next();
  REQUIRE(tail);
  REQUIRE(*tail);
  CHECK(resp::describe(tail->get()) == "+PARTIAL");
}

TEST_CASE("a protocol error is reported, not crashed on") {
  resp::Reader reader;
  REQUIRE(reader.feed("?what\r\n", 7));
  auto r = reader.next();
  CHECK_FALSE(r);
}

TEST_CASE("commands are formatted as redisFormatCommandArgv formats them, also with a referenced argument") {
  const std::vector<std::vector<std::string>> cases = {
      {"PING"},
      {"RESTORE", "key", "0", std::string("\x00\x09payload\xff", 10)},
      {"RESTORE", "k e y\r\n", "12345", std::string(100000, 'p'), "REPLACE"},
      {"SET", "", ""},
      {"SADD", "k",  "1",  "2",  "3",  "4",  "5",  "6",  "7",  "8",
       "9",    "10", "11", "12", "13", "14", "15", "16", "17", "18"},
      {"HSET", std::string(70000, 'k'), "f", "v"},
  };
  for (const auto& args : cases) {
    std::vector<std::string_view> views(args.begin(), args.end());
    net::OutBuffer plain;
    resp::append_command(plain, views);
    CHECK(flatten(plain) == hiredis_format(args));
    if (args.size() >= 4) {
      auto owner = std::make_shared<std::string>(args[3]);
      views[3] = *owner;
      net::OutBuffer ref;
      resp::append_command_ref(ref, views.data(), views.size(), 3, owner);
      CHECK(flatten(ref) == hiredis_format(args));
      if (args[3].size() >= net::OutBuffer::kReferenceThreshold) {
        // The payload is referenced, not copied.
        bool referenced = false;
        for (const auto& p : ref.pieces())
          referenced |= p.data == owner->data();
        CHECK(referenced);
      }
    }
  }
}

TEST_CASE("the output buffer keeps order across chunks and references") {
  net::OutBuffer b;
  std::string expected;
  auto big = std::make_shared<std::string>(200000, 'B');
  for (int i = 0; i < 5000; ++i) {
    std::string piece = "cmd" + std::to_string(i) + ";";
    b.append(piece);
    expected += piece;
    if (i % 1000 == 0) {
      b.append_shared(big->data(), big->size(), big);
      expected += *big;
    }
  }
  CHECK(b.size() == expected.size());
  CHECK(flatten(b) == expected);
}

TEST_CASE("server errors are classified") {
  using resp::ServerError;
  CHECK(resp::classify_error("BUSYKEY Target key name already exists.") == ServerError::kBusyKey);
  CHECK(resp::classify_error("OOM command not allowed when used memory > 'maxmemory'.") == ServerError::kOom);
  CHECK(resp::classify_error("READONLY You can't write against a read only replica.") ==
        ServerError::kReadOnly);
  CHECK(resp::classify_error("NOAUTH Authentication required.") == ServerError::kNoAuth);
  CHECK(resp::classify_error("WRONGPASS invalid username-password pair or user is disabled.") ==
        ServerError::kWrongPass);
  CHECK(resp::classify_error("NOPERM this user has no permissions to run the 'dump' command") ==
        ServerError::kNoPerm);
  CHECK(resp::classify_error("LOADING Redis is loading the dataset in memory") == ServerError::kLoading);
  CHECK(resp::classify_error("MOVED 3999 127.0.0.1:6381") == ServerError::kMoved);
  CHECK(resp::classify_error("ASK 3999 127.0.0.1:6381") == ServerError::kAsk);
  CHECK(resp::classify_error("TRYAGAIN Multiple keys request during rehashing of slot") ==
        ServerError::kTryAgain);
  CHECK(resp::classify_error("CLUSTERDOWN The cluster is down") == ServerError::kClusterDown);
  CHECK(resp::classify_error("ERR DUMP payload version or checksum are wrong") == ServerError::kBadPayload);
  CHECK(resp::classify_error("ERR Bad data format") == ServerError::kBadPayload);
  CHECK(resp::classify_error("MISCONF Redis is configured to save RDB snapshots") == ServerError::kMisconf);
  CHECK(resp::classify_error("NOSCRIPT No matching script. Please use EVAL.") == ServerError::kNoScript);
  CHECK(resp::classify_error("ERR unknown command 'RESTORE', with args beginning with: ") ==
        ServerError::kUnknownCommand);
  CHECK(resp::classify_error("ERR something else") == ServerError::kOther);
  CHECK(resp::denied_command("NOPERM this user has no permissions to run the 'dump' command") == "dump");
  CHECK(resp::denied_command("NOPERM User alice has no permissions to run the 'RESTORE' command") ==
        "restore");
  CHECK(resp::denied_command("NOPERM this user has no permissions to run the 'client|setname' command") ==
        "client|setname");
  CHECK(resp::denied_command("ERR unknown command 'RESTORE', with args beginning with: ") == "restore");
  // Redis 7.0 script errors name no command, and "can't" must not be mistaken for a quote.
  CHECK(resp::denied_command("ERR The user executing the script can't run this command or subcommand script: "
                             "8edc, on @user_script:9.") == "");
  CHECK(
      resp::denied_command("ERR ACL failure in script: User x has no permissions to run the 'unlink' command "
                           "script: 8a2f, on @user_script:9.") == "unlink");

  auto moved = resp::parse_redirect("MOVED 3999 127.0.0.1:6381");
  REQUIRE(moved);
  CHECK(moved->slot == 3999);
  CHECK(moved->host == "127.0.0.1");
  CHECK(moved->port == 6381);
  auto v6 = resp::parse_redirect("ASK 1 ::1:7000");
  REQUIRE(v6);
  CHECK(v6->host == "::1");
  CHECK(v6->port == 7000);
  CHECK_FALSE(resp::parse_redirect("MOVED x"));
}

TEST_CASE("ACL denials: a refused command is told apart from a refused key") {
  using resp::ServerError;
  // Commands, as Redis 6.0-7.0 and 7.2+ word them, sent directly and from a script.
  for (const char* m :
       {"NOPERM this user has no permissions to run the 'dump' command",
        "NOPERM this user has no permissions to run the 'dump' command or its subcommand",
        "NOPERM User keyuser has no permissions to run the 'dump' command",
        "ERR The user executing the script can't run this command or subcommand script: 8edc, on "
        "@user_script:9.",
        "ERR ACL failure in script: User x has no permissions to run the 'unlink' command script: "
        "8a2f, on @user_script:9."}) {
    CAPTURE(m);
    CHECK(resp::classify_error(m) == ServerError::kNoPerm);
  }
  // Keys outside the user's ~patterns.
  for (const char* m :
       {"NOPERM this user has no permissions to access one of the keys used as arguments",
        "NOPERM No permissions to access a key",
        "NOPERM User alice has no permissions to access the 'secret' key",
        "ERR The user executing the script can't access at least one of the keys mentioned in the "
        "command arguments script: 4238, on @user_script:1.",
        "ERR ACL failure in script: No permissions to access a key script: 4238, on "
        "@user_script:1."}) {
    CAPTURE(m);
    CHECK(resp::classify_error(m) == ServerError::kNoPermKey);
  }
  CHECK(resp::classify_error("ERR Error running script (call to f_abc): @user_script:1: oops") ==
        ServerError::kOther);
}

TEST_CASE("the fix for a refused command names the rule and the user") {
  resp::ConnectOptions o;
  o.user = "migrate-src";
  CHECK(resp::acl_rule_fix(o, "dump") ==
        "add the ACL rule +dump to user 'migrate-src' (ACL SETUSER migrate-src +dump)");
  o.user.clear();
  CHECK(resp::acl_rule_fix(o, "select") ==
        "add the ACL rule +select to user 'default' (ACL SETUSER default +select)");
}

TEST_CASE("INFO text is parsed into fields") {
  auto info = resp::parse_info(
      "# Server\r\nredis_version:7.0.15\r\nrun_id:abc\r\n\r\n# Keyspace\r\ndb0:keys=3,expires=1\r\n");
  CHECK(info["redis_version"] == "7.0.15");
  CHECK(info["run_id"] == "abc");
  CHECK(info["db0"] == "keys=3,expires=1");
}
