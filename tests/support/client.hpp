#pragma once
// Synchronous test clients on hiredis: Client for one server (TCP or unix socket), ClusterClient for a
// cluster. Both implement KeyWriter, so seeding and comparison work the same on a standalone server and on a
// cluster.
//
// Error replies are returned as data (Reply::Type::kError); connection failures, timeouts and protocol errors
// throw std::runtime_error naming the endpoint. Not thread-safe: one client per thread.

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct redisContext;
struct redisReply;

namespace rmig::test {

using namespace std::chrono_literals;

// An owning copy of a redisReply: binary-safe, no hiredis lifetime to manage.
struct Reply {
  enum class Type { kNil, kString, kStatus, kError, kInteger, kArray };
  Type type = Type::kNil;
  std::string str;  // kString, kStatus, kError
  long long integer = 0;
  std::vector<Reply> elements;

  static Reply from_hiredis(const redisReply* r);

  bool is_nil() const { return type == Type::kNil; }
  bool is_error() const { return type == Type::kError; }
  bool is_string() const { return type == Type::kString; }
  bool is_status(std::string_view s) const { return type == Type::kStatus && str == s; }
  bool is_array() const { return type == Type::kArray; }
  bool is_integer() const { return type == Type::kInteger; }
  // True when the error reply starts with `prefix` ("MOVED", "NOAUTH", ...).
  bool is_error(std::string_view prefix) const;

  // Readable and binary-safe, e.g. `1) "a\x00b"  2) (integer) 5`, for assertion messages.
  std::string to_string() const;
};

using Command = std::vector<std::string>;

// What every test client can do for reading.
class KeyReader {
 public:
  KeyReader() = default;
  KeyReader(const KeyReader&) = delete;
  KeyReader& operator=(const KeyReader&) = delete;
  virtual ~KeyReader() = default;

  virtual Reply command(const Command& args) = 0;
  // Sends the commands pipelined (in chunks) and returns one reply per command, in order.
  virtual std::vector<Reply> pipeline(const std::vector<Command>& commands) = 0;
  // All keys matching `match` (SCAN, every primary on a cluster), sorted and without duplicates.
  virtual std::vector<std::string> scan_all(const std::string& match = "*") = 0;
  virtual long long dbsize() = 0;
  // Where the client connects, with credentials left out; for messages.
  virtual std::string describe() const = 0;

  // command() that throws std::runtime_error on an error reply.
  Reply checked(const Command& args);

 protected:
  KeyReader(KeyReader&&) = default;
  KeyReader& operator=(KeyReader&&) = default;
};

// ...and for writing.
class KeyWriter : public KeyReader {
 public:
  virtual void flushall() = 0;

  // pipeline() that throws std::runtime_error naming the first command that got an error reply.
  void pipeline_checked(const std::vector<Command>& commands);

 protected:
  KeyWriter() = default;
  KeyWriter(KeyWriter&&) = default;
  KeyWriter& operator=(KeyWriter&&) = default;
};

struct ConnectOptions {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string unix_socket;  // when set, used instead of host and port
  std::string user;         // empty: AUTH <password> (the default user)
  std::string password;     // empty: no AUTH
  int db = 0;
  std::chrono::milliseconds timeout = 10s;  // connect and per-command
};

class Client final : public KeyWriter {
 public:
  // Connects, authenticates and selects the database; throws std::runtime_error on any failure.
  explicit Client(ConnectOptions options);
  Client(Client&& other) noexcept;
  Client& operator=(Client&& other) noexcept;
  ~Client() override;

  Reply command(const Command& args) override;
  std::vector<Reply> pipeline(const std::vector<Command>& commands) override;
  std::vector<std::string> scan_all(const std::string& match = "*") override;
  long long dbsize() override;
  void flushall() override;
  std::string describe() const override;

  const ConnectOptions& options() const { return options_; }
  // Reconnects with the same options (after a server restart).
  void reconnect();
  // PING answered with PONG.
  bool ping();

 private:
  void connect();
  void close();
  [[noreturn]] void fail(const std::string& what);
  Reply read_reply(const std::string& what);

  ConnectOptions options_;
  redisContext* ctx_ = nullptr;
};

// CRC16/XMODEM as Redis Cluster uses it (poly 0x1021, init 0): "123456789" -> 0x31C3.
std::uint16_t crc16_xmodem(std::string_view bytes);
// The cluster slot of a key: CRC16 of the hash tag (first '{' to the next '}', if non-empty), mod 16384.
int key_slot(std::string_view key);
inline constexpr int kClusterSlots = 16384;

// The key a command works on, by the command's key position; nullopt for keyless commands.
std::optional<std::string> command_key(const Command& args);

// Sends keyed commands to the primary that owns the key's slot (from CLUSTER SLOTS), follows -MOVED
// (refreshing the slot map) and -ASK (ASKING, then the command on the importing node), and retries -TRYAGAIN.
// Keyless commands go to the first primary. scan_all, dbsize and flushall cover every primary.
class ClusterClient final : public KeyWriter {
 public:
  // `seed` gives the first node to ask for the slot map and the credentials used for every node.
  explicit ClusterClient(ConnectOptions seed);
  ClusterClient(ClusterClient&&) noexcept;
  ClusterClient& operator=(ClusterClient&&) noexcept;
  ~ClusterClient() override;

  Reply command(const Command& args) override;
  std::vector<Reply> pipeline(const std::vector<Command>& commands) override;
  std::vector<std::string> scan_all(const std::string& match = "*") override;
  long long dbsize() override;
  void flushall() override;
  std::string describe() const override;

  // Reloads the slot map from CLUSTER SLOTS.
  void refresh_slots();
  // "host:port" of the primaries in the current slot map, sorted.
  std::vector<std::string> primaries() const;
  // "host:port" of the primary owning `slot` in the current slot map.
  std::string node_for_slot(int slot) const;
  // A command sent to one node as is, without redirection.
  Reply command_on(const std::string& endpoint, const Command& args);

  // Redirections followed so far (tests check that a reshard was actually seen).
  struct Stats {
    long long moved = 0;
    long long ask = 0;
    long long tryagain = 0;
  };
  const Stats& stats() const { return stats_; }

 private:
  Client& node(const std::string& endpoint);
  Reply routed(const Command& args, const std::optional<std::string>& key);

  ConnectOptions seed_;
  std::map<std::string, std::unique_ptr<Client>> nodes_;
  std::vector<std::string> slot_owner_;  // kClusterSlots entries, "host:port" (empty: unassigned)
  Stats stats_;
};

}  // namespace rmig::test
