#pragma once
// Where a server lives and how to reach it at the byte level (TCP or Unix socket, plain or TLS).
// Credentials and the database belong to the connection layer, not here.

#include <cstdint>
#include <string>

namespace rmig::net {

struct TlsConfig {
  bool enabled = false;
  std::string ca_file;      // PEM bundle of trusted CAs; empty = system store
  std::string ca_dir;       // hashed CA directory; empty = system store
  std::string cert_file;    // client certificate (mutual TLS)
  std::string key_file;     // client private key (mutual TLS)
  std::string server_name;  // SNI and name to verify; empty = the URL's host
  bool insecure = false;    // skip certificate and host name verification
};

struct Endpoint {
  enum class Kind { kTcp, kUnix };
  Kind kind = Kind::kTcp;
  std::string host;  // TCP host name or address, IPv6 without brackets
  uint16_t port = 6379;
  std::string path;  // Unix socket path
  TlsConfig tls;

  // "host:port", "[::1]:port" or the socket path: for messages, never holds secrets.
  std::string to_string() const {
    if (kind == Kind::kUnix) return path;
    if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
    return host + ":" + std::to_string(port);
  }
};

}  // namespace rmig::net
