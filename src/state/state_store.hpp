#pragma once
// Connections for the tool's own keys on the destination (the lease and the run records), apart from the
// engine's: on a cluster each key lives on the node owning its slot, found by following MOVED and ASK from
// any node, so no topology is needed.
//
// StateClient is synchronous (it runs the loop until the reply is in): for start-up, the end of a run and the
// status and unlock commands. StateLink is asynchronous, for writes while a run goes on: best effort, it
// reconnects by itself and never stops the run.

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "net/loop.hpp"
#include "resp/connection.hpp"
#include "util/result.hpp"

namespace rmig::state {

class StateClient {
 public:
  // `seed`: the destination's options as given (any node of a cluster).
  StateClient(net::Loop& loop, resp::ConnectOptions seed);
  ~StateClient();
  StateClient(const StateClient&) = delete;
  StateClient& operator=(const StateClient&) = delete;

  // Sends a command about `key` to the node that owns it and returns its reply (an error reply is a value).
  // Redirects are followed; LOADING, TRYAGAIN, CLUSTERDOWN and BUSY are retried for a few seconds.
  // Connection failures are errors naming the endpoint.
  Result<resp::Reply> call(std::string_view key, const resp::Args& args);
  // Where `key` was last sent: host:port, for messages and for a StateLink.
  resp::ConnectOptions options_for(std::string_view key) const;

 private:
  Result<resp::Connection*> connection(const resp::ConnectOptions& options);
  resp::ConnectOptions node(const std::string& host, int port) const;

  net::Loop& loop_;
  resp::ConnectOptions seed_;
  std::map<std::string, std::unique_ptr<resp::Connection>> conns_;  // by host:port
  std::map<int, resp::ConnectOptions> slot_node_;                   // learnt from MOVED
};

class StateLink final : private resp::Connection::Observer, private resp::Connection::ReplyHandler {
 public:
  using Callback = std::function<void(const redisReply* reply)>;  // null: not answered (connection lost)

  // `first`: the node that owns the key (StateClient::options_for); `seed`: where to start over when that
  // node stays unreachable (a failover moves the key's slot).
  StateLink(net::Loop& loop, resp::ConnectOptions first, resp::ConnectOptions seed);
  ~StateLink() override;
  StateLink(const StateLink&) = delete;
  StateLink& operator=(const StateLink&) = delete;

  void open();
  // Queues a command; false (and no callback) when the connection is not up right now.
  bool send(const std::vector<std::string>& args, Callback callback);
  bool ready() const noexcept { return conn_ && conn_->ready(); }
  void close() noexcept;

 private:
  void on_reply(uint64_t tag, resp::Reply reply) override;
  void on_connection_ready(resp::Connection& c) override;
  void on_connection_error(resp::Connection& c, const Error& error) override;
  static void on_timer(void* self);
  void connect_to(resp::ConnectOptions options);

  net::Loop& loop_;
  resp::ConnectOptions current_;
  resp::ConnectOptions seed_;
  std::unique_ptr<resp::Connection> conn_;
  std::unique_ptr<resp::Connection> retired_;  // replaced inside its own callback: freed on the next tick
  std::deque<Callback> callbacks_;
  net::Timer timer_;
  uint32_t attempts_ = 0;
  bool closed_ = false;
  bool moving_ = false;
  resp::ConnectOptions move_to_;
};

}  // namespace rmig::state
