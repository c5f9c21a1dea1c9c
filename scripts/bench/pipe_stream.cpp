#include "pipe_stream.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <vector>

#include "resp_skipper.hpp"

namespace rmbench {
namespace {

constexpr std::size_t kReadBuffer = 1u << 20;
constexpr std::size_t kMaxWrite = 1u << 20;

std::string errno_text(int err) { return std::strerror(err); }

}  // namespace

double monotonic_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

Connection::Connection(const std::string& host, int port) : where_(host + ":" + std::to_string(port)) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
  if (rc != 0) throw std::runtime_error("cannot resolve " + where_ + ": " + gai_strerror(rc));
  int last_errno = 0;
  for (addrinfo* ai = res; ai != nullptr && fd_ < 0; ai = ai->ai_next) {
    const int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last_errno = errno;
      continue;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
      fd_ = fd;
    } else {
      last_errno = errno;
      close(fd);
    }
  }
  freeaddrinfo(res);
  if (fd_ < 0) throw std::runtime_error("cannot connect to " + where_ + ": " + errno_text(last_errno));
  const int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fcntl(fd_, F_SETFL, fcntl(fd_, F_GETFL) | O_NONBLOCK);
}

Connection::~Connection() {
  if (fd_ >= 0) close(fd_);
}

StreamResult run_stream(Connection& conn, CommandSource& source, int idle_timeout_s) {
  StreamResult result;
  RespSkipper skipper;
  std::vector<char> in(kReadBuffer);
  Chunk chunk = source.next();
  result.commands = chunk.commands;
  std::size_t offset = 0;
  bool sent_all = chunk.bytes.empty();
  const double start = monotonic_seconds();

  while (!sent_all || skipper.replies() < result.commands) {
    pollfd pfd{conn.fd(), static_cast<short>(POLLIN | (sent_all ? 0 : POLLOUT)), 0};
    const int ready = poll(&pfd, 1, idle_timeout_s * 1000);
    if (ready < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error("poll on " + conn.where() + ": " + errno_text(errno));
    }
    if (ready == 0) {
      throw std::runtime_error(conn.where() + " sent nothing for " + std::to_string(idle_timeout_s) +
                               " s after " + std::to_string(skipper.replies()) + " of " +
                               std::to_string(result.commands) + " replies");
    }
    if ((pfd.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      const ssize_t n = read(conn.fd(), in.data(), in.size());
      if (n == 0) {
        throw std::runtime_error(
            conn.where() + " closed the connection after " + std::to_string(skipper.replies()) + " of " +
            std::to_string(result.commands) + " replies" +
            (skipper.errors() > 0 ? " (first error: " + skipper.first_error() + ")" : ""));
      }
      if (n < 0 && errno != EAGAIN && errno != EINTR) {
        throw std::runtime_error("read from " + conn.where() + ": " + errno_text(errno));
      }
      if (n > 0 && !skipper.feed(in.data(), static_cast<std::size_t>(n))) {
        throw std::runtime_error("bad reply stream from " + conn.where() + ": " + skipper.error());
      }
    }
    if (!sent_all && (pfd.revents & POLLOUT) != 0) {
      for (;;) {
        const std::size_t len = std::min(chunk.bytes.size() - offset, kMaxWrite);
        const ssize_t n = write(conn.fd(), chunk.bytes.data() + offset, len);
        if (n < 0) {
          if (errno == EAGAIN || errno == EINTR) break;
          throw std::runtime_error("write to " + conn.where() + ": " + errno_text(errno));
        }
        offset += static_cast<std::size_t>(n);
        result.bytes_out += static_cast<std::uint64_t>(n);
        if (offset < chunk.bytes.size()) continue;
        chunk = source.next();
        offset = 0;
        result.commands += chunk.commands;
        if (chunk.bytes.empty()) {
          sent_all = true;
          break;
        }
      }
    }
  }
  result.elapsed_s = monotonic_seconds() - start;
  if (skipper.replies() != result.commands || !skipper.idle()) {
    throw std::runtime_error(conn.where() + " sent more replies than commands (" +
                             std::to_string(skipper.replies()) + " for " + std::to_string(result.commands) +
                             ")");
  }
  result.replies = skipper.replies();
  result.errors = skipper.errors();
  result.first_error = skipper.first_error();
  result.bytes_in = skipper.bytes();
  return result;
}

}  // namespace rmbench
