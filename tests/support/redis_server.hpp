#pragma once
// A real redis-server process for one test: free loopback ports, its own temporary directory (log, unix
// socket, ACL file, AOF, nodes.conf), stopped and removed by the destructor.
//
// The test talks to it through client(), which connects over the server's unix socket with admin credentials,
// so it works whatever the TLS or ACL setup under test is. The tool under test gets url() / tls_url().

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "support/client.hpp"
#include "support/files.hpp"
#include "support/process.hpp"

namespace rmig::test {

// The user every ACL-enabled test server has, so the test's own client can always read and write everything.
inline constexpr const char* kAdminUser = "rmadmin";
inline constexpr const char* kAdminPassword = "rmadmin";

struct ServerOptions {
  std::string binary = "redis-server";  // a name in PATH or a path (another Redis version)
  // Put before `binary` in the argv: a dynamic loader and its options for a build made for a newer C library
  // (ld-linux-x86-64.so.2 --library-path DIRS); the program then sees `binary` as its argv[0].
  std::vector<std::string> launcher;
  // Appended after the defaults, so they override them; must not change --port, --tls-port or --dir.
  std::vector<std::string> extra_args;
  bool tls = false;
  bool tls_only = false;  // implies tls; the plain port is 0 (disabled)
  bool tls_auth_clients = false;
  std::string cert_file;  // empty: test_certs().server_cert
  std::string key_file;   // empty: test_certs().server_key
  std::string ca_file;    // empty: test_certs().ca_cert
  std::string requirepass;
  // ACL rules, one user per entry, e.g. "user alice on >pw ~* +@all" (the leading "user " may be left out).
  // Written to an aclfile together with the kAdminUser line; with requirepass set and no "default" entry, the
  // default user keeps requirepass as its password.
  std::vector<std::string> acl_users;
  bool persistence = false;  // appendonly yes, appendfsync everysec: restart() brings the data back
  bool cluster = false;      // cluster-enabled, nodes.conf in dir(), cluster-node-timeout 2000
  // With cluster and tls: the cluster bus and replication use TLS too (tls-cluster, tls-replication).
  bool tls_cluster = false;
  std::map<std::string, std::string> env;  // e.g. LD_LIBRARY_PATH for another Redis build
  std::chrono::milliseconds start_timeout = 20s;
};

class RedisServer {
 public:
  // Starts the server and waits until it answers PING; throws std::runtime_error with the log tail otherwise.
  explicit RedisServer(ServerOptions options = {});
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;
  ~RedisServer();

  const std::string& host() const { return host_; }
  int port() const { return port_; }          // 0 with tls_only
  int tls_port() const { return tls_port_; }  // 0 without tls
  std::string unix_socket() const { return dir_.file("redis.sock"); }
  const std::string& dir() const { return dir_.path(); }
  pid_t pid() const { return process_.pid(); }
  const ServerOptions& options() const { return options_; }

  // redis://127.0.0.1:P/db; the _as variants carry credentials (percent-encoded).
  std::string url(int db = 0) const;
  std::string url_as(const std::string& user, const std::string& password, int db = 0) const;
  // rediss://localhost:T/db: "localhost" so that host-name verification has a name to check.
  std::string tls_url(int db = 0) const;
  std::string tls_url_as(const std::string& user, const std::string& password, int db = 0) const;
  // "127.0.0.1:P" (the TLS port with tls_only).
  std::string endpoint() const;

  // The test's admin connection: unix socket, admin credentials, database db.
  ConnectOptions connect_options(int db = 0) const;
  Client client(int db = 0) const;
  // The same over TCP on the plain port (for a ClusterClient seed); throws with tls_only.
  ConnectOptions tcp_connect_options(int db = 0) const;
  // Credentials the admin connection uses (empty user: the default user).
  const std::string& admin_user() const { return admin_user_; }
  const std::string& admin_password() const { return admin_password_; }

  // "7.0.15", from INFO server.
  std::string redis_version() const;
  // The server log (for failure messages), whole or its last lines.
  std::string log() const;
  std::string log_tail(std::size_t lines = 40) const;

  bool running();
  // SIGTERM (and SIGCONT, in case it is paused), SIGKILL after 5 s; waits for the exit. No-op when not
  // running.
  void stop();
  // SIGKILL, no chance to write anything.
  void kill9();
  // SIGSTOP / SIGCONT: the server keeps its sockets but answers nothing.
  void pause();
  void resume();
  // What restart() waits for: PONG (the data is loaded), or any answer, LOADING included (the port accepts
  // connections while the server still reads its AOF or dump.rdb).
  enum class Until { kServing, kAccepting };
  // stop(), then start again with the same options, ports and directory: with persistence (or after a SAVE)
  // the data is back once it is loaded. Throws like the constructor when the server does not come up.
  void restart(Until until = Until::kServing);

 private:
  enum class StartOutcome { kReady, kPortClash };
  void pick_ports();
  void write_acl_file() const;
  std::vector<std::string> arguments() const;
  StartOutcome spawn_and_wait(Until until = Until::kServing);
  [[noreturn]] void start_failed(const std::string& why);

  ServerOptions options_;
  TempDir dir_;
  std::string host_ = "127.0.0.1";
  int port_ = 0;
  int tls_port_ = 0;
  std::string admin_user_;
  std::string admin_password_;
  Process process_;
};

// A field of INFO (any section), e.g. info_field(c, "redis_version"); empty when absent.
std::string info_field(KeyReader& client, const std::string& field, const std::string& section = "");
std::string redis_version(KeyReader& client);

// Percent-encodes everything but RFC 3986 unreserved characters (for credentials in URLs).
std::string url_encode(const std::string& s);

}  // namespace rmig::test
