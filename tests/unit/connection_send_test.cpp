// Connection::send reports a command it did not queue: no server, no socket that answers.

#include <doctest/doctest.h>

#include <string_view>
#include <vector>

#include "net/loop.hpp"
#include "resp/connection.hpp"

using namespace rmig;

namespace {

struct Recorder final : resp::Connection::ReplyHandler {
  int calls = 0;
  void on_reply(uint64_t, resp::Reply) override { ++calls; }
};

resp::ConnectOptions nowhere() {
  resp::ConnectOptions o;
  o.endpoint.kind = net::Endpoint::Kind::kUnix;
  o.endpoint.path = "/nonexistent-dir-of-redis-migrate-tests/redis.sock";
  o.label = "test";
  o.connect_timeout_ms = 1'000;
  return o;
}

}  // namespace

TEST_CASE("Connection::send returns false and calls no handler when the connection is not ready") {
  net::Loop loop;
  Recorder handler;
  {
    resp::Connection conn(loop, nowhere(), nullptr);
    const std::string_view args[] = {"PING"};
    // Never connected.
    REQUIRE(conn.state() == resp::Connection::State::kIdle);
    CHECK_FALSE(conn.send(handler, 1, args, 1));
    CHECK_FALSE(conn.send(handler, 2, {"GET", "k"}));
    CHECK_FALSE(conn.send(handler, 3, resp::Args{"SET", "k", "v"}));
    CHECK_FALSE(conn.send_ref(handler, 4, args, 1, 0, nullptr));
    CHECK(conn.in_flight() == 0);
    CHECK(conn.queued_bytes() == 0);

    // Connecting: the socket is not there yet (and never will be).
    conn.connect();
    REQUIRE(conn.state() == resp::Connection::State::kConnecting);
    CHECK_FALSE(conn.send(handler, 5, args, 1));
    CHECK(conn.in_flight() == 0);

    // A sync call says so in words instead of waiting.
    auto r = resp::call_sync(loop, conn, {"PING"});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message.find("test: not connected") != std::string::npos);

    // Closed.
    conn.close();
    REQUIRE(conn.state() == resp::Connection::State::kClosed);
    CHECK_FALSE(conn.send(handler, 6, args, 1));
    CHECK(conn.in_flight() == 0);
  }
  loop.run();
  CHECK(handler.calls == 0);
  CHECK(loop.close() == 0);
}
