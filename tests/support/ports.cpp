#include "support/ports.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>

namespace rmig::test {

namespace {

// Binds 127.0.0.1:port (0 = any) and returns the bound port, or 0 when the bind fails.
std::uint16_t try_bind(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::uint16_t bound = 0;
  // sockaddr_in -> sockaddr is how the socket API is meant to be called.
  auto* sa = reinterpret_cast<sockaddr*>(&addr);
  if (::bind(fd, sa, sizeof addr) == 0) {
    socklen_t len = sizeof addr;
    if (::getsockname(fd, sa, &len) == 0) bound = ntohs(addr.sin_port);
  }
  ::close(fd);
  return bound;
}

std::mutex g_mu;
// Ports given out by this process: the kernel may offer a port again as soon as the probe socket is closed,
// before the server that was meant to take it has bound it.
std::set<std::uint16_t> g_handed_out;

}  // namespace

bool port_is_free(std::uint16_t port) { return port != 0 && try_bind(port) == port; }

std::uint16_t free_port(bool cluster_bus) {
  std::lock_guard lock(g_mu);
  for (int attempt = 0; attempt < 1000; ++attempt) {
    std::uint16_t port = try_bind(0);
    if (port == 0 || g_handed_out.count(port) != 0) continue;
    if (cluster_bus) {
      if (port > 65535 - kClusterBusOffset) continue;
      auto bus = static_cast<std::uint16_t>(port + kClusterBusOffset);
      if (g_handed_out.count(bus) != 0 || !port_is_free(bus)) continue;
      g_handed_out.insert(bus);
    }
    g_handed_out.insert(port);
    return port;
  }
  throw std::runtime_error("free_port: no free loopback port found after 1000 attempts");
}

}  // namespace rmig::test
