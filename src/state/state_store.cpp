#include "state/state_store.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <thread>

#include "cluster/slot.hpp"
#include "resp/server_error.hpp"

namespace rmig::state {

namespace {

using Clock = std::chrono::steady_clock;
using resp::ServerError;

constexpr int kMaxRedirects = 5;
constexpr auto kBusyRetryFor = std::chrono::seconds(10);
constexpr auto kBusyPause = std::chrono::milliseconds(100);

bool retry_later(ServerError e) {
  return e == ServerError::kLoading || e == ServerError::kTryAgain || e == ServerError::kClusterDown ||
         e == ServerError::kBusy || e == ServerError::kMasterDown;
}

}  // namespace

// ---- StateClient ----

StateClient::StateClient(net::Loop& loop, resp::ConnectOptions seed) : loop_(loop), seed_(std::move(seed)) {}

StateClient::~StateClient() = default;

resp::ConnectOptions StateClient::node(const std::string& host, int port) const {
  return resp::cluster_node_options(seed_, host, port);
}

resp::ConnectOptions StateClient::options_for(std::string_view key) const {
  auto it = slot_node_.find(cluster::key_hash_slot(key));
  return it == slot_node_.end() ? seed_ : it->second;
}

Result<resp::Connection*> StateClient::connection(const resp::ConnectOptions& options) {
  const std::string id = options.endpoint.to_string();
  auto it = conns_.find(id);
  if (it != conns_.end() && it->second->ready()) return it->second.get();
  auto conn = std::make_unique<resp::Connection>(loop_, options, nullptr);
  if (auto st = resp::open_sync(loop_, *conn); !st) return st.error();
  resp::Connection* raw = conn.get();
  conns_[id] = std::move(conn);
  return raw;
}

Result<resp::Reply> StateClient::call(std::string_view key, const resp::Args& args) {
  resp::ConnectOptions target = options_for(key);
  bool asking = false;
  int redirects = 0;
  const auto give_up_at = Clock::now() + kBusyRetryFor;
  for (;;) {
    auto conn = connection(target);
    if (!conn) return conn.error();
    if (asking) {
      auto a = resp::call_sync(loop_, **conn, {"ASKING"});
      if (!a) return a.error();
    }
    auto reply = resp::call_sync(loop_, **conn, args);
    if (!reply) {
      conns_.erase(target.endpoint.to_string());
      return reply.error();
    }
    const redisReply* r = reply->get();
    if (!resp::is_error(r)) return reply;
    const std::string_view msg = resp::text(r);
    const ServerError kind = resp::classify_error(msg);
    if ((kind == ServerError::kMoved || kind == ServerError::kAsk) && ++redirects <= kMaxRedirects) {
      auto to = resp::parse_redirect(msg);
      if (!to) return reply;
      target = node(to->host, to->port);
      asking = kind == ServerError::kAsk;
      if (!asking && to->slot >= 0) slot_node_[to->slot] = target;
      continue;
    }
    if (retry_later(kind) && Clock::now() < give_up_at) {
      // Start-up and end-of-run code only: nothing else waits on the loop meanwhile.
      std::this_thread::sleep_for(kBusyPause);
      continue;
    }
    return reply;
  }
}

// ---- StateLink ----

StateLink::StateLink(net::Loop& loop, resp::ConnectOptions first, resp::ConnectOptions seed)
    : loop_(loop),
      current_(std::move(first)),
      seed_(std::move(seed)),
      timer_(loop, this, &StateLink::on_timer) {
  timer_.unref();
}

StateLink::~StateLink() {
  close();
  conn_.reset();
  retired_.reset();
}

void StateLink::open() {
  closed_ = false;
  connect_to(current_);
}

void StateLink::connect_to(resp::ConnectOptions options) {
  if (conn_) {
    // Its commands in flight get null replies now (their callbacks run); the object itself may be on the
    // stack (a MOVED reply), so it is freed on the next timer tick.
    conn_->set_observer(nullptr);
    conn_->close();
    retired_ = std::move(conn_);
    timer_.start(0);
  }
  current_ = std::move(options);
  resp::Connection::Observer* observer = this;
  conn_ = std::make_unique<resp::Connection>(loop_, current_, observer);
  conn_->connect();
}

bool StateLink::send(const std::vector<std::string>& args, Callback callback) {
  if (closed_ || !ready()) return false;
  std::vector<std::string_view> views(args.begin(), args.end());
  callbacks_.push_back(std::move(callback));
  conn_->send(*this, 0, views.data(), views.size());
  return true;
}

void StateLink::close() noexcept {
  closed_ = true;
  timer_.stop();
  moving_ = false;
  if (conn_) {
    conn_->set_observer(nullptr);
    conn_->close();
  }
}

void StateLink::on_reply(uint64_t /*tag*/, resp::Reply reply) {
  if (callbacks_.empty()) return;
  Callback cb = std::move(callbacks_.front());
  callbacks_.pop_front();
  const redisReply* r = reply.get();
  if (resp::is_error(r) && !closed_) {
    const ServerError kind = resp::classify_error(resp::text(r));
    if (kind == ServerError::kMoved) {
      if (auto to = resp::parse_redirect(resp::text(r)); to && !moving_) {
        // The key's slot moved (a reshard or a failover): follow it for the next commands.
        moving_ = true;
        move_to_ = resp::cluster_node_options(seed_, to->host, to->port);
        timer_.start(0);
      }
    }
  }
  if (cb) cb(r);
}

void StateLink::on_connection_ready(resp::Connection& /*c*/) { attempts_ = 0; }

void StateLink::on_connection_error(resp::Connection& c, const Error& error) {
  if (closed_) return;
  ++attempts_;
  spdlog::debug("{}: {} (attempt {})", c.label(), error.message, attempts_);
  // 100 ms doubling to 3.2 s; after three failures start over from the URL's node, which redirects to
  // wherever the key lives now.
  if (attempts_ >= 3) current_ = seed_;
  timer_.start(100u << std::min<uint32_t>(attempts_, 5));
}

void StateLink::on_timer(void* self_ptr) {
  auto* self = static_cast<StateLink*>(self_ptr);
  self->retired_.reset();
  if (self->closed_) return;
  if (self->moving_) {
    self->moving_ = false;
    return self->connect_to(self->move_to_);
  }
  if (self->conn_ && self->conn_->state() == resp::Connection::State::kClosed)
    self->connect_to(self->current_);
}

}  // namespace rmig::state
