#pragma once
// The byte transport of one connection: a socket, optionally with a TLS session on top. The RESP layer above
// sees plaintext only and does not know whether TLS is on.
//
// TLS writes are encrypted progressively: plaintext (which may reference a large DUMP payload) is encrypted
// only while the socket's queue holds less than kTlsAhead bytes, so a big value never exists as a whole
// second ciphertext copy.

#include <cstddef>
#include <deque>
#include <memory>
#include <string>

#include "net/endpoint.hpp"
#include "net/loop.hpp"
#include "net/out_buffer.hpp"
#include "net/socket.hpp"
#include "net/tls.hpp"
#include "util/result.hpp"

namespace rmig::net {

class Transport : private Socket::Handler {
 public:
  enum class Stage { kResolve, kConnect, kTlsHandshake, kEstablished };

  class Handler {
   public:
    // Connected, and the TLS handshake (if any) completed.
    virtual void on_transport_ready() = 0;
    virtual void on_transport_data(const char* data, std::size_t len) = 0;
    // Some queued bytes were written; there may be room for more.
    virtual void on_transport_writable() = 0;
    // The transport failed at `stage` and is closed. The message has no endpoint; the caller adds it.
    virtual void on_transport_error(Stage stage, const Error& error) = 0;

   protected:
    virtual ~Handler() = default;
  };

  static constexpr std::size_t kTlsAhead = 1 << 20;

  // `tls` may be null for a plain connection.
  Transport(Loop& loop, Handler& handler, Endpoint endpoint, std::shared_ptr<TlsContext> tls);
  ~Transport() override;
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  void connect();
  void write(OutBuffer&& buf);
  // Bytes accepted by write() that the kernel has not taken yet (plaintext not yet encrypted included).
  std::size_t queued_bytes() const noexcept;
  Stage stage() const noexcept { return stage_; }
  // No handler callback after this returns. Idempotent.
  void close() noexcept;

 private:
  void on_socket_connected() override;
  void on_socket_read(const char* data, std::size_t len) override;
  void on_socket_written() override;
  void on_socket_error(Socket::Phase phase, int uv_error) override;

  void pump_tls();
  void send_tls_output();
  void fail(const Error& e);

  Loop& loop_;
  Handler& handler_;
  Endpoint endpoint_;
  std::shared_ptr<TlsContext> tls_ctx_;
  std::unique_ptr<TlsSession> tls_;
  Socket socket_;
  Stage stage_ = Stage::kResolve;
  bool closed_ = false;
  // TLS only: plaintext waiting to be encrypted, and the position reached in the front buffer.
  std::deque<OutBuffer> plain_queue_;
  std::size_t plain_queued_ = 0;
  std::size_t front_piece_ = 0;
  std::size_t front_offset_ = 0;
  std::unique_ptr<char[]> plain_in_;  // one decrypted record at a time (TlsSession::kMaxRecord)
};

}  // namespace rmig::net
