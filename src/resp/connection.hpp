#pragma once
// One pipelined RESP connection to one server (one per node in a cluster). A command carries what to do
// with its reply (a handler and a 64-bit tag, no allocation); replies pop the FIFO in order. Commands sent
// during a loop iteration are written together once per iteration.
//
// Setup is explicit state: connect (TCP or Unix), TLS handshake, then AUTH, SELECT, READONLY, CLIENT SETNAME
// and PING pipelined; each reply is checked and turned into a clear error naming the endpoint and the fix.
// AUTH, SELECT and READONLY must succeed; CLIENT SETNAME and PING are courtesies that a minimal ACL user may
// be refused, and are skipped then. A server answering LOADING during setup is waited for.
//
// Subscriber mode (opt-in, set_push_handler): on a RESP2 connection that subscribed (PSUBSCRIBE, SUBSCRIBE,
// SSUBSCRIBE), messages arrive unsolicited. With a push handler set, a reply that is a message array
// (is_push_message) goes to the handler; every other reply (each subscription's confirmation, PING's
// ["pong", ""]) pops the FIFO as usual, so a PING is answered after every message queued before it.

#include <chrono>
#include <cstdint>
#include <deque>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "net/endpoint.hpp"
#include "net/loop.hpp"
#include "net/out_buffer.hpp"
#include "net/tls.hpp"
#include "net/transport.hpp"
#include "resp/command.hpp"
#include "resp/reader.hpp"
#include "resp/reply.hpp"
#include "util/result.hpp"

namespace rmig::resp {

struct ConnectOptions {
  net::Endpoint endpoint;
  std::shared_ptr<net::TlsContext> tls;  // null: plain
  std::string user;                      // ACL user; empty: AUTH with the password only (default user)
  std::string password;                  // empty and no user: no AUTH
  // Where the password came from, for "wrong password" messages: "the URL" or "--source-password-file".
  std::string password_origin = "the URL";
  int db = 0;
  bool readonly = false;  // send READONLY (reads from cluster replicas)
  std::string side;       // "source" / "destination": names options in messages
  std::string label;      // e.g. "source redis://user:***@host:6379/0": redacted, starts every error message
  uint32_t connect_timeout_ms = 10'000;  // TCP + TLS + setup commands
  uint32_t reply_timeout_ms = 60'000;    // no byte received while replies are awaited
  uint32_t loading_timeout_ms = 600'000;
};

class Connection final : private net::Transport::Handler, private net::Flushable {
 public:
  enum class State { kIdle, kConnecting, kSetup, kReady, kClosed };

  class ReplyHandler {
   public:
    // A null reply means the connection failed before the reply arrived.
    virtual void on_reply(uint64_t tag, Reply reply) = 0;

   protected:
    virtual ~ReplyHandler() = default;
  };

  // Gets the messages of a subscribed connection (see set_push_handler).
  class PushHandler {
   public:
    // ["message", channel, payload], ["pmessage", pattern, channel, payload] or ["smessage", channel,
    // payload], in the order the server sent them. The handler may close the connection, not destroy it.
    virtual void on_push(Connection& c, Reply message) = 0;

   protected:
    virtual ~PushHandler() = default;
  };

  class Observer {
   public:
    virtual void on_connection_ready(Connection& c) = 0;
    // The connection is closed; the handlers of commands in flight get null replies right after this.
    virtual void on_connection_error(Connection& c, const Error& error) = 0;
    // Some queued bytes were written (for pacing producers on queue size).
    virtual void on_connection_writable(Connection& /*c*/) {}

   protected:
    virtual ~Observer() = default;
  };

  Connection(net::Loop& loop, ConnectOptions options, Observer* observer);
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void set_observer(Observer* observer) noexcept { observer_ = observer; }
  // Subscriber mode: message arrays go to `handler` (null: off, the default; every reply pops the FIFO).
  void set_push_handler(PushHandler* handler) noexcept { push_ = handler; }
  // Starts connecting; valid in kIdle and kClosed (reconnect).
  void connect();
  // Queues a command and returns true: its handler then gets exactly one on_reply (a null reply when the
  // connection fails first). In any state but kReady nothing is queued, the handler is never called, and
  // the result is false: the caller retries once the connection is ready, or reports the command as lost.
  [[nodiscard]] bool send(ReplyHandler& handler, uint64_t tag, const std::string_view* args,
                          std::size_t argc);
  [[nodiscard]] bool send(ReplyHandler& handler, uint64_t tag, std::initializer_list<std::string_view> args) {
    return send(handler, tag, args.begin(), args.size());
  }
  [[nodiscard]] bool send(ReplyHandler& handler, uint64_t tag, const Args& args) {
    return send(handler, tag, args.data(), args.size());
  }
  // As send(), with args[ref_index] referenced rather than copied (see append_command_ref).
  [[nodiscard]] bool send_ref(ReplyHandler& handler, uint64_t tag, const std::string_view* args,
                              std::size_t argc, std::size_t ref_index, std::shared_ptr<const void> owner);

  State state() const noexcept { return state_; }
  bool ready() const noexcept { return state_ == State::kReady; }
  std::size_t in_flight() const noexcept { return pending_.size(); }
  // Bytes queued but not yet taken by the kernel.
  std::size_t queued_bytes() const noexcept;
  const ConnectOptions& options() const noexcept { return opts_; }
  const std::string& label() const noexcept { return opts_.label; }
  // Closes without notifying the observer; handlers of commands in flight get null replies.
  void close() noexcept;

 private:
  struct Pending {
    ReplyHandler* handler;
    uint64_t tag;
  };
  class Setup;

  void on_transport_ready() override;
  void on_transport_data(const char* data, std::size_t len) override;
  void on_transport_writable() override;
  void on_transport_error(net::Transport::Stage stage, const Error& error) override;
  void flush() override;

  void start_setup();
  void on_setup_done();
  void fail(const Error& error);
  void fail_pending() noexcept;
  void on_timer();
  Error timeout_error() const;

  net::Loop& loop_;
  ConnectOptions opts_;
  Observer* observer_;
  PushHandler* push_ = nullptr;
  std::unique_ptr<net::Transport> transport_;
  std::unique_ptr<Reader> reader_;
  std::unique_ptr<Setup> setup_;
  net::OutBuffer out_;
  std::deque<Pending> pending_;
  State state_ = State::kIdle;
  net::Timer timer_;
  std::chrono::steady_clock::time_point deadline_{};
  std::chrono::steady_clock::time_point last_read_{};
  std::chrono::steady_clock::time_point loading_since_{};
  bool loading_logged_ = false;
  bool dispatching_ = false;
};

// A message a subscribed RESP2 connection receives unsolicited: an array whose first element is the string
// "message" (3 elements), "pmessage" (4) or "smessage" (3). Subscription confirmations ("psubscribe", ...)
// and PING's ["pong", ""] are replies to commands, not messages.
bool is_push_message(const redisReply* r) noexcept;

// A cluster node of the side `seed` belongs to (met through discovery or a redirect): the same credentials
// and TLS settings and db (SELECTed on every connect), no READONLY, labelled "<side> node host:port".
ConnectOptions cluster_node_options(const ConnectOptions& seed, const std::string& host, int port);

// The fix for a command the ACL user may not run: "add the ACL rule +dump to user 'src' (ACL SETUSER src
// +dump)". `command` is lower case as Redis names it ("dump", "client|setname").
std::string acl_rule_fix(const ConnectOptions& options, std::string_view command);

// A command the ACL user may not run dooms every key: "<label>: user 'src' may not run DUMP (<server
// message>)<why>: <acl_rule_fix>", exit code 3.
Error permission_error(const ConnectOptions& options, std::string_view command, std::string_view server_msg,
                       std::string_view why = {});

// A command the server does not run at all (renamed or disabled with rename-command: "unknown command"), or
// that the ACL user may not run: "<label>: SCAN is refused (<server message>)<why>: <fix>", exit code 3.
// NOPERM gives permission_error's ACL rule; an unknown command says the server renamed or disabled it.
Error refused_command_error(const ConnectOptions& options, std::string_view command,
                            std::string_view server_msg, std::string_view why = {});

// Whether the server runs each of `probes` (commands with harmless arguments: a key under the tool's prefix
// that cannot exist, a payload RESTORE rejects before writing), asked at start: one refusal message per
// probe, or nullopt when the command is there. They are queued in a transaction that is then discarded (MULTI
// ... DISCARD): the server checks each queued command's name, arity and ACL, and runs none, so nothing is
// written and no command statistics move. Where MULTI itself is refused (a minimal ACL user), each probe is
// sent as it is. Only "unknown command" and a NOPERM for the command itself are refusals; any other answer
// (QUEUED, nil, an argument error, a redirect, a key outside the user's key patterns) shows the command is
// there. COMMAND INFO cannot tell: a renamed command is listed under its new name, and the old one answers
// "unknown command" only when sent.
Result<std::vector<std::optional<std::string>>> command_refusals(net::Loop& loop, Connection& conn,
                                                                 const std::vector<Args>& probes);

// Runs the loop until the connection is ready or failed. For start-up code only (never from a callback).
Status open_sync(net::Loop& loop, Connection& conn);

// Sends one command and runs the loop until its reply arrives. For start-up and tooling code only.
Result<Reply> call_sync(net::Loop& loop, Connection& conn, const Args& args);

}  // namespace rmig::resp
