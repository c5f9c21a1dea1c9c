// Subscriber mode of resp::Connection, at the reader level: which replies of a subscribed RESP2 connection
// are messages for the push handler (is_push_message) and which pop the FIFO; and the key of a keyspace
// channel (engine::keyspace_channel_key), binary safe.

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "engine/notifications.hpp"
#include "resp/connection.hpp"
#include "resp/reader.hpp"
#include "unit/wire.hpp"

using namespace rmig;
namespace wire = rmig::test::wire;

TEST_CASE("feed: message arrays go to the push handler, confirmations and PING answers pop the FIFO") {
  CHECK(resp::is_push_message(
      wire::parse(wire::bulks({"pmessage", "__keyspace@0__:*", "__keyspace@0__:k", "set"})).get()));
  CHECK(resp::is_push_message(wire::parse(wire::bulks({"message", "ch", "payload"})).get()));
  CHECK(resp::is_push_message(wire::parse(wire::bulks({"smessage", "ch", "payload"})).get()));
  // Replies to commands.
  CHECK_FALSE(resp::is_push_message(
      wire::parse(wire::array({wire::bulk("psubscribe"), wire::bulk("__keyspace@0__:*"), wire::integer(1)}))
          .get()));
  CHECK_FALSE(resp::is_push_message(
      wire::parse(wire::array({wire::bulk("subscribe"), wire::bulk("ch"), wire::integer(1)})).get()));
  CHECK_FALSE(resp::is_push_message(wire::parse(wire::bulks({"pong", ""})).get()));
  CHECK_FALSE(resp::is_push_message(wire::parse("+PONG\r\n").get()));
  CHECK_FALSE(resp::is_push_message(wire::parse(wire::bulk("message")).get()));
  // A user's data that looks alike but is not a message's shape: a command's reply of another arity, or a
  // status instead of a bulk string.
  CHECK_FALSE(resp::is_push_message(wire::parse(wire::bulks({"message", "only-two"})).get()));
  CHECK_FALSE(resp::is_push_message(wire::parse(wire::bulks({"pmessage", "a", "b"})).get()));
  CHECK_FALSE(resp::is_push_message(wire::parse("*3\r\n+message\r\n$1\r\na\r\n$1\r\nb\r\n").get()));
  CHECK_FALSE(
      resp::is_push_message(wire::parse(wire::array({wire::kNil, wire::bulk("a"), wire::bulk("b")})).get()));
}

TEST_CASE("feed: a subscribed stream, split anywhere, sorts into pushes and replies in order") {
  const std::string stream =
      wire::array({wire::bulk("psubscribe"), wire::bulk("__keyspace@0__:*"), wire::integer(1)}) +
      wire::bulks({"pmessage", "__keyspace@0__:*", "__keyspace@0__:a", "set"}) +
      wire::bulks({"pmessage", "__keyspace@0__:*", std::string("__keyspace@0__:b\r\n\0:c", 21), "del"}) +
      wire::bulks({"pong", ""}) +
      wire::bulks({"pmessage", "__keyspace@0__:*", "__keyspace@0__:d", "expired"});
  for (std::size_t split = 1; split < stream.size(); split += 7) {
    resp::Reader reader;
    std::vector<std::string> order;
    auto drain = [&] {
      for (;;) {
        auto r = reader.next();
        REQUIRE(r);
        if (!*r) return;
        const redisReply* rep = r->get();
        if (resp::is_push_message(rep)) {
          auto key = engine::keyspace_channel_key(resp::text(rep->element[2]), 0);
          REQUIRE(key);
          order.push_back("push " + std::string(*key) + " " + std::string(resp::text(rep->element[3])));
        } else {
          order.push_back("reply " + std::string(resp::text(rep->element[0])));
        }
      }
    };
    REQUIRE(reader.feed(stream.data(), split));
    drain();
    REQUIRE(reader.feed(stream.data() + split, stream.size() - split));
    drain();
    const std::vector<std::string> expected = {"reply psubscribe", "push a set",
                                               "push " + std::string("b\r\n\0:c", 6) + " del", "reply pong",
                                               "push d expired"};
    CHECK(order == expected);
  }
}

TEST_CASE("feed: the key of a keyspace channel is the rest after the db's prefix, any bytes") {
  CHECK(engine::keyspace_channel_key("__keyspace@0__:user:1", 0) == std::string_view("user:1"));
  CHECK(engine::keyspace_channel_key("__keyspace@0__:", 0) == std::string_view(""));
  CHECK(engine::keyspace_channel_key("__keyspace@12__:a:b:c", 12) == std::string_view("a:b:c"));
  const std::string binary("__keyspace@0__:\xff\x00:\r\n", 20);
  CHECK(engine::keyspace_channel_key(binary, 0) == std::string_view("\xff\x00:\r\n", 5));
  CHECK_FALSE(engine::keyspace_channel_key("__keyspace@1__:k", 0));
  CHECK_FALSE(engine::keyspace_channel_key("__keyevent@0__:set", 0));
  CHECK_FALSE(engine::keyspace_channel_key("__keyspace@0_", 0));
}
