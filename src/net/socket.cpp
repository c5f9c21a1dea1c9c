#include "net/socket.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstring>
#include <new>
#include <vector>

namespace rmig::net {

namespace {
constexpr std::size_t kReadBufferSize = 256 * 1024;
}

union Socket::Stream {
  uv_handle_t handle;
  uv_stream_t stream;
  uv_tcp_t tcp;
  uv_pipe_t pipe;
};

struct Socket::Resolve {
  uv_getaddrinfo_t req{};
  Socket* owner = nullptr;
};

struct Socket::Connect {
  uv_connect_t req{};
};

struct Socket::Write {
  uv_write_t req{};
  OutBuffer buf;
  std::vector<uv_buf_t> bufs;
};

Socket::Socket(Loop& loop, Handler& handler) : loop_(loop), handler_(handler) {}

Socket::~Socket() { close(); }

std::string Socket::describe(int uv_error) {
  switch (uv_error) {
    case UV_ECONNREFUSED: return "connection refused";
    case UV_ETIMEDOUT: return "connection timed out";
    case UV_EOF: return "connection closed by the server";
    case UV_ECONNRESET: return "connection reset by the server";
    case UV_EPIPE: return "connection closed by the server (broken pipe)";
    case UV_ENOENT: return "no such socket file";
    case UV_EACCES: return "permission denied";
    case UV_ENETUNREACH: return "network unreachable";
    case UV_EHOSTUNREACH: return "host unreachable";
    case UV_EAI_NONAME: return "unknown host name";
    case UV_EAI_AGAIN: return "temporary failure in name resolution";
    case UV_EAI_FAIL: return "name resolution failed";
    default: return uv_strerror(uv_error);
  }
}

void Socket::connect(const Endpoint& endpoint) {
  read_buf_ = std::make_unique<char[]>(kReadBufferSize);
  if (endpoint.kind == Endpoint::Kind::kUnix) {
    stream_ = new Stream{};
    uv_pipe_init(loop_.get(), &stream_->pipe, 0);
    stream_->handle.data = this;
    auto* c = new Connect{};
    uv_pipe_connect(&c->req, &stream_->pipe, endpoint.path.c_str(), [](uv_connect_t* req, int status) {
      std::unique_ptr<Connect> guard(reinterpret_cast<Connect*>(req));
      if (auto* self = static_cast<Socket*>(req->handle->data)) self->on_connected(status);
    });
    return;
  }
  resolve_ = new Resolve{};
  resolve_->owner = this;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  std::string port = std::to_string(endpoint.port);
  int rc = uv_getaddrinfo(
      loop_.get(), &resolve_->req,
      [](uv_getaddrinfo_t* req, int status, addrinfo* res) {
        std::unique_ptr<Resolve> r(reinterpret_cast<Resolve*>(req));
        if (r->owner == nullptr) {
          uv_freeaddrinfo(res);
          return;
        }
        r->owner->resolve_ = nullptr;
        r->owner->on_resolved(status, res);
      },
      endpoint.host.c_str(), port.c_str(), &hints);
  if (rc != 0) {
    delete resolve_;
    resolve_ = nullptr;
    fail(Phase::kResolve, rc);
  }
}

void Socket::on_resolved(int status, addrinfo* res) noexcept {
  if (status != 0) {
    uv_freeaddrinfo(res);
    fail(Phase::kResolve, status);
    return;
  }
  addrs_ = res;
  next_addr_ = res;
  try_next_address();
}

void Socket::try_next_address() noexcept {
  if (next_addr_ == nullptr) {
    fail(Phase::kConnect, last_error_ != 0 ? last_error_ : UV_EHOSTUNREACH);
    return;
  }
  addrinfo* ai = next_addr_;
  next_addr_ = ai->ai_next;
  stream_ = new (std::nothrow) Stream{};
  auto* c = new (std::nothrow) Connect{};
  if (stream_ == nullptr || c == nullptr) {
    // Out of memory in a callback: fail the connection rather than throw through libuv.
    delete stream_;
    stream_ = nullptr;
    delete c;
    fail(Phase::kConnect, UV_ENOMEM);
    return;
  }
  uv_tcp_init(loop_.get(), &stream_->tcp);
  stream_->handle.data = this;
  uv_tcp_nodelay(&stream_->tcp, 1);
  uv_tcp_keepalive(&stream_->tcp, 1, 60);
  int rc = uv_tcp_connect(&c->req, &stream_->tcp, ai->ai_addr, [](uv_connect_t* req, int status) {
    std::unique_ptr<Connect> guard(reinterpret_cast<Connect*>(req));
    if (auto* self = static_cast<Socket*>(req->handle->data)) self->on_connected(status);
  });
  if (rc != 0) {
    delete c;
    last_error_ = rc;
    close_stream();
    try_next_address();
  }
}

void Socket::on_connected(int status) noexcept {
  if (status != 0) {
    last_error_ = status;
    close_stream();
    if (addrs_ != nullptr) {
      try_next_address();
    } else {
      fail(Phase::kConnect, status);
    }
    return;
  }
  if (addrs_ != nullptr) {
    uv_freeaddrinfo(addrs_);
    addrs_ = next_addr_ = nullptr;
  }
  connected_ = true;
  start_reading();
  if (!closed_) handler_.on_socket_connected();
}

void Socket::start_reading() noexcept {
  uv_read_start(
      &stream_->stream,
      [](uv_handle_t* h, std::size_t, uv_buf_t* buf) {
        auto* self = static_cast<Socket*>(h->data);
        if (self == nullptr) {
          buf->base = nullptr;
          buf->len = 0;
          return;
        }
        buf->base = self->read_buf_.get();
        buf->len = kReadBufferSize;
      },
      [](uv_stream_t* s, ssize_t nread, const uv_buf_t*) {
        auto* self = static_cast<Socket*>(s->data);
        if (self == nullptr) return;
        if (nread > 0) {
          self->handler_.on_socket_read(self->read_buf_.get(), static_cast<std::size_t>(nread));
        } else if (nread < 0) {
          self->fail(Phase::kRead, static_cast<int>(nread));
        }
      });
}

void Socket::write(OutBuffer&& buf) {
  if (closed_ || stream_ == nullptr || !connected_ || buf.empty()) return;
  auto* w = new Write{};
  w->buf = std::move(buf);
  w->bufs.reserve(w->buf.pieces().size());
  for (const auto& p : w->buf.pieces()) {
    w->bufs.push_back(uv_buf_init(const_cast<char*>(p.data), static_cast<unsigned>(p.len)));
  }
  int rc = uv_write(&w->req, &stream_->stream, w->bufs.data(), static_cast<unsigned>(w->bufs.size()),
                    [](uv_write_t* req, int status) {
                      std::unique_ptr<Write> guard(reinterpret_cast<Write*>(req));
                      auto* self = static_cast<Socket*>(req->handle->data);
                      if (self == nullptr) return;
                      if (status != 0) {
                        self->drain_then_fail(Phase::kWrite, status);
                      } else {
                        self->handler_.on_socket_written();
                      }
                    });
  if (rc != 0) {
    delete w;
    drain_then_fail(Phase::kWrite, rc);
  }
}

void Socket::drain_then_fail(Phase phase, int uv_error) noexcept {
  // A peer that refuses us often says why and closes at once (a TLS alert about our client certificate, an
  // error reply); our next write then fails with a reset while that explanation still sits in the receive
  // buffer. Deliver it first, so the handler can report the cause rather than the reset.
  uv_os_fd_t fd = -1;
  if (!closed_ && stream_ != nullptr && uv_fileno(&stream_->handle, &fd) == 0) {
    for (;;) {
      ssize_t n = ::recv(fd, read_buf_.get(), kReadBufferSize, MSG_DONTWAIT);
      if (n <= 0) break;
      handler_.on_socket_read(read_buf_.get(), static_cast<std::size_t>(n));
      if (closed_) return;  // the handler found the cause and closed the socket
    }
  }
  fail(phase, uv_error);
}

std::size_t Socket::write_queue_size() const noexcept {
  if (stream_ == nullptr || !connected_) return 0;
  return uv_stream_get_write_queue_size(&stream_->stream);
}

void Socket::fail(Phase phase, int uv_error) noexcept {
  if (closed_) return;
  close();
  handler_.on_socket_error(phase, uv_error);
}

void Socket::close_stream() noexcept {
  if (stream_ == nullptr) return;
  stream_->handle.data = nullptr;
  uv_close(&stream_->handle, [](uv_handle_t* h) { delete reinterpret_cast<Stream*>(h); });
  stream_ = nullptr;
}

void Socket::close() noexcept {
  if (closed_) return;
  closed_ = true;
  connected_ = false;
  if (resolve_ != nullptr) {
    resolve_->owner = nullptr;
    uv_cancel(reinterpret_cast<uv_req_t*>(&resolve_->req));
    resolve_ = nullptr;
  }
  if (addrs_ != nullptr) {
    uv_freeaddrinfo(addrs_);
    addrs_ = next_addr_ = nullptr;
  }
  close_stream();
}

}  // namespace rmig::net
