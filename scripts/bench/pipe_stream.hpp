#pragma once
// One pipelined stream on one plain TCP connection: every command is written as fast as the socket takes it
// while the replies are read concurrently and skipped (RespSkipper). No window: this measures what the server
// can serve or absorb, not what a client's flow control allows.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace rmbench {

struct Chunk {
  std::string_view bytes;  // complete commands; empty when the source is exhausted
  std::uint64_t commands = 0;
};

class CommandSource {
 public:
  virtual ~CommandSource() = default;
  // The next chunk; it stays valid until the following call.
  virtual Chunk next() = 0;
};

struct StreamResult {
  std::uint64_t commands = 0;
  std::uint64_t replies = 0;
  std::uint64_t errors = 0;
  std::string first_error;
  std::uint64_t bytes_out = 0;
  std::uint64_t bytes_in = 0;
  double elapsed_s = 0;  // first write to last reply
};

// A connected, non-blocking TCP socket with TCP_NODELAY. Throws std::runtime_error naming host:port.
class Connection {
 public:
  Connection(const std::string& host, int port);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  int fd() const noexcept { return fd_; }
  const std::string& where() const noexcept { return where_; }

 private:
  int fd_ = -1;
  std::string where_;
};

// Streams every chunk of `source` and returns once each command has had its reply. Throws std::runtime_error
// if the server closes the connection, stays silent for `idle_timeout_s`, or sends something that is not
// RESP.
StreamResult run_stream(Connection& conn, CommandSource& source, int idle_timeout_s = 600);

// Wall-clock seconds on a monotonic clock.
double monotonic_seconds();

}  // namespace rmbench
