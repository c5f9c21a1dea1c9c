#pragma once
// Free loopback ports for test servers. A port found free can still be taken before the server binds it
// (other test processes on the machine do the same), so RedisServer retries with new ports when its bind
// fails.

#include <cstdint>

namespace rmig::test {

// Redis Cluster nodes also listen on port + 10000 (the cluster bus).
inline constexpr std::uint16_t kClusterBusOffset = 10000;

// A port that 127.0.0.1 can bind now and that this process has not handed out before. With cluster_bus, the
// port
// + kClusterBusOffset is checked as well (and so the port is at most 55535).
std::uint16_t free_port(bool cluster_bus = false);

// True when 127.0.0.1:port can be bound right now.
bool port_is_free(std::uint16_t port);

}  // namespace rmig::test
