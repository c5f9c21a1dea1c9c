#pragma once
// TLS as bytes in, bytes out: an SSL object between two memory BIOs. It never sees a file descriptor; the
// transport moves ciphertext between it and the socket. Certificates are verified against the configured CA
// (or the system store) and the host name, unless explicitly told to be insecure.

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <string_view>

#include "net/endpoint.hpp"
#include "net/out_buffer.hpp"
#include "util/result.hpp"

namespace rmig::net {

// The SSL_CTX for one side of the copy: CA, client certificate, verification mode. Shared by all of that
// side's connections (every node of a cluster).
class TlsContext {
 public:
  // `side` names the option prefix for messages ("source" or "destination").
  static Result<std::shared_ptr<TlsContext>> create(const TlsConfig& config, std::string_view side);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  SSL_CTX* get() const noexcept { return ctx_; }
  const TlsConfig& config() const noexcept { return config_; }
  // "CA file /x/ca.pem", "the system CA store"...: named in "certificate not trusted" errors.
  std::string trust_description() const;
  const std::string& side() const noexcept { return side_; }

 private:
  TlsContext(SSL_CTX* ctx, TlsConfig config, std::string side);
  SSL_CTX* ctx_;
  TlsConfig config_;
  std::string side_;
};

class TlsSession {
 public:
  // The largest plaintext a TLS record carries: a read buffer this size takes a whole record per read().
  static constexpr std::size_t kMaxRecord = 16 * 1024;

  // `host` is the URL's host; the name verified and sent as SNI is config.server_name when set.
  static Result<std::unique_ptr<TlsSession>> create(const std::shared_ptr<TlsContext>& ctx,
                                                    const std::string& host);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // Produces the ClientHello (take it with take_ciphertext()).
  Status start();
  // Feeds ciphertext from the network and advances the handshake while it is not done; the decrypted
  // application bytes are then taken with read(). Errors carry a message for the operator (untrusted
  // certificate, name mismatch, peer not speaking TLS...) without the endpoint, which the caller adds.
  Status feed(const char* data, std::size_t len);
  // Decrypts into buf (at most one record, kMaxRecord bytes, per call); 0 when more ciphertext is needed.
  Result<std::size_t> read(char* buf, std::size_t cap);
  bool handshake_done() const noexcept { return done_; }
  // Encrypts application bytes.
  Status write(const char* data, std::size_t len);
  // Moves pending ciphertext into `out`. Returns the number of bytes moved.
  std::size_t take_ciphertext(OutBuffer& out);
  std::size_t pending_ciphertext() const;

 private:
  TlsSession(std::shared_ptr<TlsContext> ctx, SSL* ssl, BIO* net_in, BIO* net_out, std::string name);
  Status advance_handshake();
  Error describe_failure(int ssl_error, std::string_view during) const;

  std::shared_ptr<TlsContext> ctx_;
  SSL* ssl_;
  BIO* net_in_;   // ciphertext from the network, read by SSL
  BIO* net_out_;  // ciphertext written by SSL, to send
  std::string verify_name_;
  bool done_ = false;
};

}  // namespace rmig::net
