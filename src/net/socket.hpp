#pragma once
// A TCP or Unix stream socket on the loop: resolve, connect (trying every address), read, write.
// Bytes in, bytes out; it knows nothing of TLS or RESP.

#include <uv.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "net/endpoint.hpp"
#include "net/loop.hpp"
#include "net/out_buffer.hpp"

namespace rmig::net {

class Socket {
 public:
  enum class Phase { kResolve, kConnect, kRead, kWrite };

  class Handler {
   public:
    virtual void on_socket_connected() = 0;
    virtual void on_socket_read(const char* data, std::size_t len) = 0;
    // A write request completed; the queue may have room again.
    virtual void on_socket_written() = 0;
    // Any failure, including the peer closing the connection (UV_EOF). The socket is unusable afterwards.
    virtual void on_socket_error(Phase phase, int uv_error) = 0;

   protected:
    virtual ~Handler() = default;
  };

  Socket(Loop& loop, Handler& handler);
  ~Socket();
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  void connect(const Endpoint& endpoint);
  // Takes the buffer's contents; they stay alive until written. No-op on a closed socket.
  void write(OutBuffer&& buf);
  // Bytes handed to write() that the kernel has not taken yet.
  std::size_t write_queue_size() const noexcept;
  bool connected() const noexcept { return connected_; }
  // Stops reading and closes; no handler callback after this returns. Safe to call twice.
  void close() noexcept;

  // A human description of a libuv error code, e.g. "connection refused".
  static std::string describe(int uv_error);

 private:
  union Stream;
  struct Resolve;
  struct Connect;
  struct Write;

  void on_resolved(int status, struct addrinfo* res) noexcept;
  void try_next_address() noexcept;
  void on_connected(int status) noexcept;
  void start_reading() noexcept;
  void fail(Phase phase, int uv_error) noexcept;
  void drain_then_fail(Phase phase, int uv_error) noexcept;
  void close_stream() noexcept;

  Loop& loop_;
  Handler& handler_;
  Stream* stream_ = nullptr;
  Resolve* resolve_ = nullptr;
  struct addrinfo* addrs_ = nullptr;
  struct addrinfo* next_addr_ = nullptr;
  int last_error_ = 0;
  bool connected_ = false;
  bool closed_ = false;
  std::unique_ptr<char[]> read_buf_;
};

}  // namespace rmig::net
