#include "resp/connection.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>

#include "resp/server_error.hpp"

namespace rmig::resp {

namespace {
using Clock = std::chrono::steady_clock;
constexpr uint64_t kTimerPeriodMs = 250;
constexpr auto kLoadingRetry = std::chrono::seconds(1);
constexpr std::string_view kClientName = "redis-migrate";
constexpr std::size_t kFeedSlice = 4096;

std::string seconds_text(uint32_t ms) { return std::to_string((ms + 999) / 1000) + "s"; }
}  // namespace

// The setup commands, pipelined, and the checks of their replies.
class Connection::Setup final : public ReplyHandler {
 public:
  enum Step : uint64_t { kAuth, kSelect, kReadonly, kSetName, kPing };

  explicit Setup(Connection& c) : c_(c) {}

  void start() {
    const ConnectOptions& o = c_.opts_;
    outstanding_ = 0;
    loading_ = false;
    answered_ = false;
    error_.reset();
    // A user without a password still authenticates as that user (a "nopass" ACL user accepts any password);
    // without AUTH the connection would silently be the default user.
    if (!o.user.empty()) {
      send(kAuth, {"AUTH", o.user, o.password});
    } else if (!o.password.empty()) {
      send(kAuth, {"AUTH", o.password});
    }
    if (o.db != 0) {
      db_text_ = std::to_string(o.db);
      send(kSelect, {"SELECT", db_text_});
    }
    if (o.readonly) send(kReadonly, {"READONLY"});
    send(kSetName, {"CLIENT", "SETNAME", kClientName});
    send(kPing, {"PING"});
  }

  bool loading() const noexcept { return loading_; }
  // Some setup reply arrived: the server speaks RESP on this connection.
  bool answered() const noexcept { return answered_; }

  void on_reply(uint64_t tag, Reply reply) override {
    --outstanding_;
    if (!reply) return;  // the connection failed; its error is reported by fail()
    answered_ = true;
    if (is_error(reply.get())) check_error(static_cast<Step>(tag), text(reply.get()));
    if (outstanding_ == 0) c_.on_setup_done();
  }

  std::optional<Error>& error() noexcept { return error_; }

 private:
  void send(Step step, std::initializer_list<std::string_view> args) {
    ++outstanding_;
    append_command(c_.out_, args.begin(), args.size());
    c_.pending_.push_back(Pending{this, step});
  }

  void check_error(Step step, std::string_view msg) {
    const ConnectOptions& o = c_.opts_;
    ServerError kind = classify_error(msg);
    if (kind == ServerError::kLoading) {
      loading_ = true;
      return;
    }
    // Naming the connection and PING are courtesies: a minimal ACL user (or a managed service that renames
    // commands) may refuse them, and nothing later depends on them. NOAUTH is no refusal of the command: the
    // password is missing, and every later command would fail too.
    if ((step == kSetName || step == kPing) && kind != ServerError::kNoAuth) {
      spdlog::debug("{}: {} refused ({}); carrying on", o.label, step == kPing ? "PING" : "CLIENT SETNAME",
                    msg);
      return;
    }
    if (error_) return;  // the first error explains the others
    error_ = explain(step, kind, msg);
  }

  Error explain(Step step, ServerError kind, std::string_view msg) const {
    const ConnectOptions& o = c_.opts_;
    const std::string& who = o.label;
    const std::string reply = "(" + std::string(msg) + ")";
    const std::string check_pw = "check the password in " + o.password_origin;
    switch (kind) {
      case ServerError::kWrongPass:
        // Redis answers an unknown user, a disabled user and a wrong password with the same WRONGPASS, on
        // purpose: the message cannot tell which one it was, so it says so.
        if (o.user.empty()) {
          return make_error(ExitCode::kConnect,
                            who + ": authentication failed " + reply +
                                ": the password is wrong, or the server's default user is disabled; " +
                                check_pw +
                                ", and give the user name (redis://USER:PASSWORD@host) if the "
                                "server uses ACL users");
        }
        return make_error(ExitCode::kConnect,
                          who + ": authentication failed for user '" + o.user + "' " + reply +
                              ": the server does not say whether the user '" + o.user +
                              "' does not exist, is disabled, or the password is wrong; check the user name "
                              "in the URL and " +
                              check_pw);
      case ServerError::kNoAuth:
        return make_error(ExitCode::kConnect,
                          who +
                              ": the server requires authentication (NOAUTH): put the password in the URL "
                              "(redis://:PASSWORD@host or redis://USER:PASSWORD@host) or use --" +
                              o.side + "-password-file");
      case ServerError::kNoPerm: {
        std::string cmd = denied_command(msg);
        if (cmd.empty()) cmd = step == kSelect ? "select" : step == kReadonly ? "readonly" : "auth";
        return permission_error(o, cmd, msg);
      }
      default: break;
    }
    if (step == kAuth && msg.find("without any password configured") != std::string_view::npos) {
      return make_error(ExitCode::kConnect, who +
                                                ": a password was given but the server has none configured "
                                                "for this user: remove the password from the URL");
    }
    if (step == kSelect) {
      if (msg.find("cluster mode") != std::string_view::npos) {
        return make_error(ExitCode::kUsage, who + ": database " + db_text_ +
                                                " requested but the server runs in cluster mode, where only "
                                                "db 0 exists: remove /" +
                                                db_text_ + " from the URL");
      }
      return make_error(ExitCode::kUsage, who + ": cannot select database " + db_text_ + " " + reply +
                                              ": use a db number below the server's 'databases' setting");
    }
    if (step == kReadonly) {
      return make_error(ExitCode::kUsage, who + ": READONLY refused " + reply +
                                              ": reading from replicas needs a cluster replica node");
    }
    return make_error(ExitCode::kConnect, who + ": setup command failed " + reply);
  }

  Connection& c_;
  int outstanding_ = 0;
  bool loading_ = false;
  bool answered_ = false;
  std::optional<Error> error_;
  std::string db_text_;
};

Connection::Connection(net::Loop& loop, ConnectOptions options, Observer* observer)
    : loop_(loop), opts_(std::move(options)), observer_(observer), timer_(loop, this, &Connection::on_timer) {
  timer_.unref();
}

Connection::~Connection() {
  loop_.cancel_flush(*this);
  // Handlers are not called back from a destructor: their owners are going away too.
  pending_.clear();
  if (transport_) transport_->close();
}

void Connection::connect() {
  if (state_ != State::kIdle && state_ != State::kClosed) return;
  reader_ = std::make_unique<Reader>();
  setup_ = std::make_unique<Setup>(*this);
  out_ = net::OutBuffer();
  net::Transport::Handler& handler = *this;
  transport_ = std::make_unique<net::Transport>(loop_, handler, opts_.endpoint, opts_.tls);
  state_ = State::kConnecting;
  deadline_ = Clock::now() + std::chrono::milliseconds(opts_.connect_timeout_ms);
  loading_since_ = {};
  timer_.start(kTimerPeriodMs, kTimerPeriodMs);
  transport_->connect();
}

void Connection::on_transport_ready() {
  state_ = State::kSetup;
  start_setup();
}

void Connection::start_setup() {
  setup_->start();
  last_read_ = Clock::now();
  loop_.schedule_flush(*this);
}

void Connection::on_setup_done() {
  if (auto& err = setup_->error()) return fail(*err);
  if (setup_->loading()) {
    auto now = Clock::now();
    if (loading_since_ == Clock::time_point{}) loading_since_ = now;
    if (!loading_logged_) {
      spdlog::warn("{}: the server is loading its dataset (LOADING); waiting for it", opts_.label);
      loading_logged_ = true;
    }
    // Retried by the timer; the connect deadline becomes the loading deadline.
    deadline_ = loading_since_ + std::chrono::milliseconds(opts_.loading_timeout_ms);
    return;
  }
  if (loading_since_ != Clock::time_point{}) spdlog::info("{}: the server finished loading", opts_.label);
  loading_since_ = {};
  loading_logged_ = false;
  state_ = State::kReady;
  last_read_ = Clock::now();
  if (observer_ != nullptr) observer_->on_connection_ready(*this);
}

bool Connection::send(ReplyHandler& handler, uint64_t tag, const std::string_view* args, std::size_t argc) {
  if (state_ != State::kReady) return false;
  if (pending_.empty()) last_read_ = Clock::now();
  append_command(out_, args, argc);
  pending_.push_back(Pending{&handler, tag});
  loop_.schedule_flush(*this);
  return true;
}

bool Connection::send_ref(ReplyHandler& handler, uint64_t tag, const std::string_view* args, std::size_t argc,
                          std::size_t ref_index, std::shared_ptr<const void> owner) {
  if (state_ != State::kReady) return false;
  if (pending_.empty()) last_read_ = Clock::now();
  append_command_ref(out_, args, argc, ref_index, std::move(owner));
  pending_.push_back(Pending{&handler, tag});
  loop_.schedule_flush(*this);
  return true;
}

void Connection::flush() {
  if (!transport_ || out_.empty()) return;
  transport_->write(std::move(out_));
  out_ = net::OutBuffer();
}

std::size_t Connection::queued_bytes() const noexcept {
  return out_.size() + (transport_ ? transport_->queued_bytes() : 0);
}

void Connection::on_transport_data(const char* data, std::size_t len) {
  last_read_ = Clock::now();
  // A TLS record (handshake 0x16 or alert 0x15, then major version 3) where a RESP reply was expected: the
  // port speaks TLS and this connection does not.
  if (state_ == State::kSetup && !opts_.tls && len >= 2 && (data[0] == 0x15 || data[0] == 0x16) &&
      data[1] == 0x03) {
    return fail(make_error(ExitCode::kConnect, opts_.label +
                                                   ": the server answered with TLS: this is a TLS port; use "
                                                   "rediss:// (see --" +
                                                   opts_.side + "-tls-ca-file)"));
  }
  // hiredis 0.14 moves the unconsumed rest of its buffer to the front after every reply once 1 KB has been
  // consumed, so feeding a 256 KB read at once costs about len^2/2048 bytes of copying (a hundred times the
  // data). Fed in kFeedSlice pieces, with the replies taken out after each, that stays below the data size.
  const auto live = [this] { return state_ == State::kSetup || state_ == State::kReady; };
  dispatching_ = true;
  for (std::size_t off = 0; off < len && live();) {
    const std::size_t n = std::min(kFeedSlice, len - off);
    if (auto st = reader_->feed(data + off, n); !st) {
      dispatching_ = false;
      return fail(make_error(ExitCode::kConnect, opts_.label + ": " + st.error().message));
    }
    off += n;
    while (live()) {
      auto next = reader_->next();
      if (!next) {
        dispatching_ = false;
        return fail(make_error(ExitCode::kConnect, opts_.label + ": " + next.error().message));
      }
      Reply reply = std::move(next).value();
      if (!reply) break;
      if (push_ != nullptr && is_push_message(reply.get())) {
        push_->on_push(*this, std::move(reply));
        continue;
      }
      if (pending_.empty()) {
        dispatching_ = false;
        return fail(make_error(ExitCode::kConnect, opts_.label +
                                                       ": protocol error: a reply arrived with no command "
                                                       "waiting for it (" +
                                                       describe(reply.get()) + ")"));
      }
      Pending p = pending_.front();
      pending_.pop_front();
      p.handler->on_reply(p.tag, std::move(reply));
    }
  }
  dispatching_ = false;
  if (reader_ && live()) reader_->compact();
}

void Connection::on_transport_writable() {
  if (observer_ != nullptr && state_ == State::kReady) observer_->on_connection_writable(*this);
}

void Connection::on_transport_error(net::Transport::Stage stage, const Error& error) {
  std::string msg = opts_.label + ": " + error.message;
  switch (stage) {
    case net::Transport::Stage::kResolve: msg += ": check the host name in the URL"; break;
    case net::Transport::Stage::kConnect:
      msg += ": check that the server is running and that the host, port and firewall allow it";
      break;
    case net::Transport::Stage::kTlsHandshake: break;
    case net::Transport::Stage::kEstablished:
      // A TLS port drops a client whose first bytes are not a TLS handshake, before any reply.
      if (state_ == State::kSetup && !opts_.tls && !setup_->answered()) {
        std::string why = error.message;  // "connection lost (connection reset by the server)"
        if (auto open = why.find('('); open != std::string::npos && why.back() == ')') {
          why = why.substr(open + 1, why.size() - open - 2);
        }
        msg = opts_.label + ": the server dropped the connection without answering (" + why +
              "): this looks like a TLS port; use rediss://";
      }
      break;
  }
  fail(transient_error(msg));
}

Error Connection::timeout_error() const {
  const std::string t = seconds_text(opts_.connect_timeout_ms);
  if (loading_since_ != Clock::time_point{}) {
    return make_error(ExitCode::kConnect, opts_.label + ": the server is still loading its dataset after " +
                                              seconds_text(opts_.loading_timeout_ms) +
                                              ": retry when it is up");
  }
  if (state_ == State::kSetup) {
    return make_error(ExitCode::kConnect,
                      opts_.label + ": no answer to the first commands within " + t +
                          (opts_.tls ? std::string(": the server accepted TLS but does not reply")
                                     : ": if this is a TLS port, use rediss://"));
  }
  if (transport_ && transport_->stage() == net::Transport::Stage::kTlsHandshake) {
    // A plain Redis port takes the ClientHello for the start of an inline command and waits for its end.
    return make_error(ExitCode::kConnect, opts_.label + ": no answer to the TLS handshake within " + t +
                                              ": this looks like a plain (non-TLS) port; use redis://, or "
                                              "the server's TLS port");
  }
  return make_error(ExitCode::kConnect,
                    opts_.label + ": cannot connect within " + t +
                        " (no answer): check the host, port, firewall and security groups");
}

void Connection::on_timer() {
  auto now = Clock::now();
  switch (state_) {
    case State::kConnecting: {
      if (now > deadline_) {
        Error e = timeout_error();
        e.transient = true;
        fail(e);
      }
      return;
    }
    case State::kSetup: {
      if (now > deadline_) {
        Error e = timeout_error();
        e.transient = loading_since_ == Clock::time_point{};  // still LOADING after the wait: give up
        return fail(e);
      }
      // Waiting out LOADING: resend the setup once all its replies are in and the retry delay passed.
      if (setup_->loading() && pending_.empty() && now - last_read_ >= kLoadingRetry) {
        start_setup();
      }
      return;
    }
    case State::kReady: {
      if (!pending_.empty() && now - last_read_ > std::chrono::milliseconds(opts_.reply_timeout_ms)) {
        fail(transient_error(opts_.label + ": no reply for " + seconds_text(opts_.reply_timeout_ms) +
                             " (server stopped, overloaded or unreachable)"));
      }
      return;
    }
    default: return;
  }
}

void Connection::fail(const Error& error) {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  timer_.stop();
  loop_.cancel_flush(*this);
  if (transport_) transport_->close();
  out_.clear();
  if (observer_ != nullptr) observer_->on_connection_error(*this, error);
  fail_pending();
}

void Connection::close() noexcept {
  if (state_ == State::kClosed || state_ == State::kIdle) {
    state_ = State::kClosed;
    return;
  }
  state_ = State::kClosed;
  timer_.stop();
  loop_.cancel_flush(*this);
  if (transport_) transport_->close();
  out_.clear();
  fail_pending();
}

void Connection::fail_pending() noexcept {
  // Handlers may not send on this connection (it is closed), so the queue only shrinks.
  std::deque<Pending> pending;
  pending.swap(pending_);
  for (Pending& p : pending)
    p.handler->on_reply(p.tag, Reply());
}

bool is_push_message(const redisReply* r) noexcept {
  if (!is_array(r) || r->elements < 3) return false;
  const redisReply* kind = r->element[0];
  if (kind == nullptr || kind->type != REDIS_REPLY_STRING) return false;
  const std::string_view k(kind->str, kind->len);
  if (k == "pmessage") return r->elements == 4;
  return (k == "message" || k == "smessage") && r->elements == 3;
}

ConnectOptions cluster_node_options(const ConnectOptions& seed, const std::string& host, int port) {
  ConnectOptions o = seed;
  o.endpoint.kind = net::Endpoint::Kind::kTcp;
  o.endpoint.host = host;
  o.endpoint.port = static_cast<uint16_t>(port);
  o.readonly = false;
  o.label = seed.side + " node " + o.endpoint.to_string();
  return o;
}

std::string acl_rule_fix(const ConnectOptions& options, std::string_view command) {
  const std::string user = options.user.empty() ? "default" : options.user;
  if (command.empty()) return "check the ACL rules of user '" + user + "'";
  const std::string rule = "+" + std::string(command);
  return "add the ACL rule " + rule + " to user '" + user + "' (ACL SETUSER " + user + " " + rule + ")";
}

Error permission_error(const ConnectOptions& options, std::string_view command, std::string_view server_msg,
                       std::string_view why) {
  const std::string user = options.user.empty() ? "default" : options.user;
  std::string upper(command);
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::toupper(ch)); });
  return make_error(ExitCode::kConnect, options.label + ": user '" + user + "' may not run " + upper + " (" +
                                            std::string(server_msg) + ")" + std::string(why) + ": " +
                                            acl_rule_fix(options, command));
}

Error refused_command_error(const ConnectOptions& options, std::string_view command,
                            std::string_view server_msg, std::string_view why) {
  if (classify_error(server_msg) == ServerError::kNoPerm)
    return permission_error(options, command, server_msg, why);
  std::string upper(command);
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::toupper(ch)); });
  return make_error(ExitCode::kConnect, options.label + ": " + upper + " is refused (" +
                                            std::string(server_msg) + ")" + std::string(why) +
                                            ": the server does not know " + upper +
                                            " under that name (renamed or disabled with rename-command, as "
                                            "some managed services do); allow " +
                                            upper + " on the " + options.side + ", or ask its provider");
}

Result<std::vector<std::optional<std::string>>> command_refusals(net::Loop& loop, Connection& conn,
                                                                 const std::vector<Args>& probes) {
  auto multi = call_sync(loop, conn, {"MULTI"});
  if (!multi) return multi.error();
  const bool queued = is_status(multi->get(), "OK");
  std::vector<std::optional<std::string>> out;
  out.reserve(probes.size());
  for (const Args& args : probes) {
    auto r = call_sync(loop, conn, args);
    if (!r) return r.error();
    std::optional<std::string> refusal;
    if (is_error(r->get())) {
      const std::string_view msg = text(r->get());
      const ServerError kind = classify_error(msg);
      if (kind == ServerError::kUnknownCommand || kind == ServerError::kNoPerm) refusal = std::string(msg);
    }
    out.push_back(std::move(refusal));
  }
  if (queued) {
    auto discard = call_sync(loop, conn, {"DISCARD"});
    if (!discard) return discard.error();
  }
  return out;
}

Status open_sync(net::Loop& loop, Connection& conn) {
  struct Waiter final : Connection::Observer {
    bool done = false;
    std::optional<Error> error;
    void on_connection_ready(Connection&) override { done = true; }
    void on_connection_error(Connection&, const Error& e) override {
      error = e;
      done = true;
    }
  } waiter;
  conn.set_observer(&waiter);
  conn.connect();
  while (!waiter.done) {
    if (uv_run(loop.get(), UV_RUN_ONCE) == 0 && !waiter.done) {
      waiter.error = make_error(ExitCode::kConnect, conn.label() + ": connection stalled");
      break;
    }
  }
  conn.set_observer(nullptr);
  if (waiter.error) return *waiter.error;
  return {};
}

Result<Reply> call_sync(net::Loop& loop, Connection& conn, const Args& args) {
  struct Waiter final : Connection::ReplyHandler, Connection::Observer {
    bool done = false;
    Reply reply;
    std::optional<Error> error;
    void on_reply(uint64_t, Reply r) override {
      reply = std::move(r);
      done = true;
    }
    void on_connection_ready(Connection&) override {}
    void on_connection_error(Connection&, const Error& e) override { error = e; }
  } waiter;
  conn.set_observer(&waiter);
  if (!conn.send(waiter, 0, args)) {
    conn.set_observer(nullptr);
    return make_error(ExitCode::kConnect, conn.label() + ": not connected");
  }
  while (!waiter.done) {
    if (uv_run(loop.get(), UV_RUN_ONCE) == 0 && !waiter.done) break;
  }
  conn.set_observer(nullptr);
  if (waiter.error) return *waiter.error;
  if (!waiter.reply) return make_error(ExitCode::kConnect, conn.label() + ": connection lost");
  return std::move(waiter.reply);
}

}  // namespace rmig::resp
