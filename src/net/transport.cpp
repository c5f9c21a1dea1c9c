#include "net/transport.hpp"

namespace rmig::net {

Transport::Transport(Loop& loop, Handler& handler, Endpoint endpoint, std::shared_ptr<TlsContext> tls)
    : loop_(loop),
      handler_(handler),
      endpoint_(std::move(endpoint)),
      tls_ctx_(std::move(tls)),
      socket_(loop, *this) {}

Transport::~Transport() { close(); }

void Transport::connect() {
  stage_ = endpoint_.kind == Endpoint::Kind::kUnix ? Stage::kConnect : Stage::kResolve;
  socket_.connect(endpoint_);
}

void Transport::close() noexcept {
  if (closed_) return;
  closed_ = true;
  socket_.close();
  plain_queue_.clear();
  plain_queued_ = 0;
}

void Transport::fail(const Error& e) {
  if (closed_) return;
  Stage at = stage_;
  close();
  handler_.on_transport_error(at, e);
}

void Transport::on_socket_connected() {
  if (!tls_ctx_) {
    stage_ = Stage::kEstablished;
    handler_.on_transport_ready();
    return;
  }
  stage_ = Stage::kTlsHandshake;
  auto session = TlsSession::create(tls_ctx_, endpoint_.host);
  if (!session) return fail(session.error());
  tls_ = std::move(session).value();
  if (auto st = tls_->start(); !st) return fail(st.error());
  OutBuffer hello;
  tls_->take_ciphertext(hello);
  socket_.write(std::move(hello));
}

void Transport::on_socket_read(const char* data, std::size_t len) {
  if (!tls_) {
    handler_.on_transport_data(data, len);
    return;
  }
  const bool was_done = tls_->handshake_done();
  Status st = tls_->feed(data, len);
  send_tls_output();
  if (!st) return fail(st.error());
  if (!was_done && tls_->handshake_done()) {
    stage_ = Stage::kEstablished;
    handler_.on_transport_ready();
    if (closed_) return;
    pump_tls();
  }
  // Each record goes up as soon as it is decrypted, from one reused buffer: no zero-filled growth of a
  // string, no second copy of the plaintext.
  if (!plain_in_) plain_in_ = std::make_unique<char[]>(TlsSession::kMaxRecord);
  while (!closed_ && tls_->handshake_done()) {
    auto n = tls_->read(plain_in_.get(), TlsSession::kMaxRecord);
    if (!n) {
      send_tls_output();  // the alert telling the server why
      return fail(n.error());
    }
    if (*n == 0) break;
    handler_.on_transport_data(plain_in_.get(), *n);
  }
  if (!closed_) send_tls_output();
}

void Transport::send_tls_output() {
  // Handshake messages, alerts and key update answers that SSL produced while reading.
  if (tls_->pending_ciphertext() == 0) return;
  OutBuffer out;
  tls_->take_ciphertext(out);
  socket_.write(std::move(out));
}

void Transport::on_socket_written() {
  if (tls_) pump_tls();
  if (!closed_) handler_.on_transport_writable();
}

void Transport::on_socket_error(Socket::Phase phase, int uv_error) {
  std::string what = Socket::describe(uv_error);
  switch (phase) {
    case Socket::Phase::kResolve:
      return fail(
          make_error(ExitCode::kConnect, "cannot resolve host name '" + endpoint_.host + "' (" + what + ")"));
    case Socket::Phase::kConnect:
      stage_ = Stage::kConnect;  // the name resolved: the caller's advice is about the port, not the name
      return fail(make_error(ExitCode::kConnect, "cannot connect (" + what + ")"));
    case Socket::Phase::kRead:
    case Socket::Phase::kWrite:
      if (stage_ == Stage::kTlsHandshake) {
        return fail(make_error(ExitCode::kConnect, "connection closed during the TLS handshake (" + what +
                                                       "): is this a plain (non-TLS) port? use redis://"));
      }
      return fail(make_error(ExitCode::kConnect, "connection lost (" + what + ")"));
  }
}

void Transport::write(OutBuffer&& buf) {
  if (closed_ || buf.empty()) return;
  if (!tls_) {
    socket_.write(std::move(buf));
    return;
  }
  plain_queued_ += buf.size();
  plain_queue_.push_back(std::move(buf));
  if (tls_->handshake_done()) pump_tls();
}

void Transport::pump_tls() {
  while (!plain_queue_.empty() && socket_.write_queue_size() < kTlsAhead && !closed_) {
    OutBuffer cipher;
    std::size_t budget = kTlsAhead;
    while (!plain_queue_.empty() && budget > 0) {
      OutBuffer& front = plain_queue_.front();
      const auto& pieces = front.pieces();
      while (front_piece_ < pieces.size() && budget > 0) {
        const auto& p = pieces[front_piece_];
        std::size_t n = std::min(p.len - front_offset_, budget);
        if (auto st = tls_->write(p.data + front_offset_, n); !st) return fail(st.error());
        front_offset_ += n;
        budget -= n;
        plain_queued_ -= n;
        if (front_offset_ == p.len) {
          ++front_piece_;
          front_offset_ = 0;
        }
      }
      if (front_piece_ == pieces.size()) {
        plain_queue_.pop_front();  // releases the references to payloads now encrypted
        front_piece_ = 0;
        front_offset_ = 0;
      }
    }
    tls_->take_ciphertext(cipher);
    socket_.write(std::move(cipher));
  }
}

std::size_t Transport::queued_bytes() const noexcept { return socket_.write_queue_size() + plain_queued_; }

}  // namespace rmig::net
