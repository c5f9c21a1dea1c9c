#include "support/redis_server.hpp"

#include <algorithm>
#include <cctype>
#include <csignal>
#include <cstdio>
#include <stdexcept>
#include <thread>

#include "support/certs.hpp"
#include "support/ports.hpp"

namespace rmig::test {

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kStartAttempts = 5;
constexpr auto kStopGrace = 5s;

bool starts_with(const std::string& s, std::string_view prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

std::string url_encode(const std::string& s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

std::string info_field(KeyReader& client, const std::string& field, const std::string& section) {
  Command cmd{"INFO"};
  if (!section.empty()) cmd.push_back(section);
  Reply r = client.checked(cmd);
  std::string prefix = field + ":";
  std::size_t pos = 0;
  while (pos < r.str.size()) {
    std::size_t end = r.str.find("\r\n", pos);
    if (end == std::string::npos) end = r.str.size();
    if (r.str.compare(pos, prefix.size(), prefix) == 0) {
      return r.str.substr(pos + prefix.size(), end - pos - prefix.size());
    }
    pos = end + 2;
  }
  return {};
}

std::string redis_version(KeyReader& client) { return info_field(client, "redis_version", "server"); }

RedisServer::RedisServer(ServerOptions options) : options_(std::move(options)), dir_("rmig-redis") {
  if (options_.tls_only) options_.tls = true;
  if (options_.tls_cluster && !(options_.tls && options_.cluster)) {
    throw std::invalid_argument("ServerOptions: tls_cluster needs tls and cluster");
  }
  if (options_.tls) {
    const TestCerts& certs = test_certs();
    if (options_.cert_file.empty()) options_.cert_file = certs.server_cert;
    if (options_.key_file.empty()) options_.key_file = certs.server_key;
    if (options_.ca_file.empty()) options_.ca_file = certs.ca_cert;
  }
  if (!options_.acl_users.empty()) {
    admin_user_ = kAdminUser;
    admin_password_ = kAdminPassword;
    write_acl_file();
  } else {
    admin_password_ = options_.requirepass;
  }
  for (int attempt = 1;; ++attempt) {
    pick_ports();
    if (spawn_and_wait() == StartOutcome::kReady) return;
    if (attempt == kStartAttempts) start_failed("ports kept clashing with other processes");
  }
}

RedisServer::~RedisServer() {
  try {
    stop();
  } catch (...) {
    // Process's destructor kills it anyway.
  }
}

void RedisServer::pick_ports() {
  // The cluster bus listens on (tls-port if tls-cluster else port) + 10000.
  port_ = options_.tls_only ? 0 : free_port(options_.cluster && !options_.tls_cluster);
  tls_port_ = options_.tls ? free_port(options_.cluster && options_.tls_cluster) : 0;
}

void RedisServer::write_acl_file() const {
  std::string text = std::string("user ") + kAdminUser + " on >" + kAdminPassword + " ~* &* +@all\n";
  bool has_default = false;
  for (const auto& line : options_.acl_users) {
    std::string entry = starts_with(line, "user ") ? line : "user " + line;
    if (starts_with(entry, "user default ")) has_default = true;
    text += entry + "\n";
  }
  // Without a "default" entry, loading an aclfile resets the default user to nopass, dropping requirepass.
  if (!has_default && !options_.requirepass.empty()) {
    text += "user default on >" + options_.requirepass + " ~* &* +@all\n";
  }
  write_file(dir_.file("users.acl"), text);
}

std::vector<std::string> RedisServer::arguments() const {
  std::vector<std::string> a = {options_.binary,
                                "--bind",
                                host_,
                                "--port",
                                std::to_string(port_),
                                "--save",
                                "",
                                "--appendonly",
                                options_.persistence ? "yes" : "no",
                                "--daemonize",
                                "no",
                                "--dir",
                                dir_.path(),
                                "--logfile",
                                dir_.file("redis.log"),
                                "--unixsocket",
                                unix_socket(),
                                "--unixsocketperm",
                                "700"};
  auto add = [&](std::initializer_list<std::string> args) { a.insert(a.end(), args); };
  if (options_.persistence) add({"--appendfsync", "everysec"});
  if (options_.tls) {
    add({"--tls-port", std::to_string(tls_port_), "--tls-cert-file", options_.cert_file, "--tls-key-file",
         options_.key_file, "--tls-ca-cert-file", options_.ca_file, "--tls-auth-clients",
         options_.tls_auth_clients ? "yes" : "no"});
  }
  if (!options_.acl_users.empty()) {
    // masteruser/masterauth: replicas of a cluster authenticate to their primary like any client.
    add({"--aclfile", dir_.file("users.acl"), "--masteruser", kAdminUser, "--masterauth", kAdminPassword});
  } else if (!options_.requirepass.empty()) {
    add({"--requirepass", options_.requirepass, "--masterauth", options_.requirepass});
  }
  if (options_.cluster) {
    add({"--cluster-enabled", "yes", "--cluster-config-file", dir_.file("nodes.conf"),
         "--cluster-node-timeout", "2000"});
    if (options_.tls_cluster) add({"--tls-cluster", "yes", "--tls-replication", "yes"});
  }
  a.insert(a.end(), options_.extra_args.begin(), options_.extra_args.end());
  a.insert(a.begin(), options_.launcher.begin(), options_.launcher.end());
  return a;
}

RedisServer::StartOutcome RedisServer::spawn_and_wait(Until until) {
  ProcessOptions p;
  p.argv = arguments();
  for (const auto& [k, v] : options_.env)
    p.env[k] = v;
  // Errors before the log file is open (bad arguments) go to stdout.
  p.out = Output::file(dir_.file("stdout.log"));
  p.err = Output::file(dir_.file("stderr.log"));
  // A stale socket from a killed run would accept nothing and confuse the readiness check.
  std::remove(unix_socket().c_str());
  // Only what this start wrote counts: an earlier attempt's bind error must not be read as this one's.
  std::size_t log_offset = log().size();
  process_ = Process::start(std::move(p));

  auto deadline = Clock::now() + options_.start_timeout;
  auto backoff = 2ms;
  std::string last_error;
  ConnectOptions o = connect_options();
  o.timeout = 1s;
  while (Clock::now() < deadline) {
    if (!process_.running()) {
      std::string whole_log = log();
      std::string output = whole_log.substr(std::min(log_offset, whole_log.size())) +
                           read_file(dir_.file("stdout.log")) + read_file(dir_.file("stderr.log"));
      if (output.find("Address already in use") != std::string::npos) return StartOutcome::kPortClash;
      start_failed("it exited: " + process_.wait().describe());
    }
    try {
      Client c(o);
      Reply r = c.command({"PING"});
      if (r.is_status("PONG")) return StartOutcome::kReady;
      // LOADING while the AOF is read back after restart(); anything else is a setup error.
      if (!r.is_error("LOADING")) start_failed("PING answered " + r.to_string());
      if (until == Until::kAccepting) return StartOutcome::kReady;
      last_error = r.to_string();
    } catch (const std::runtime_error& e) {
      last_error = e.what();
      // Wrong credentials will not fix themselves.
      if (last_error.find("AUTH failed") != std::string::npos) start_failed(last_error);
    }
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, 50ms);
  }
  start_failed("no PONG within " + std::to_string(options_.start_timeout.count()) + " ms (" + last_error +
               ")");
}

void RedisServer::start_failed(const std::string& why) {
  std::string command = process_.command();
  process_.kill9();
  std::string msg = "redis-server failed to start: " + why + "\n  command: " + command +
                    "\n--- redis.log (tail) ---\n" + log_tail(40);
  std::string out = read_file(dir_.file("stdout.log")) + read_file(dir_.file("stderr.log"));
  if (!out.empty()) msg += "\n--- stdout/stderr ---\n" + tail_lines(out, 20);
  msg += "\n(set RMIG_KEEP_TEMP=1 to keep " + dir_.path() + ")";
  throw std::runtime_error(msg);
}

std::string RedisServer::url(int db) const {
  if (port_ == 0) throw std::logic_error("url(): the server has no plain port (tls_only)");
  return "redis://" + host_ + ":" + std::to_string(port_) + "/" + std::to_string(db);
}

std::string RedisServer::url_as(const std::string& user, const std::string& password, int db) const {
  if (port_ == 0) throw std::logic_error("url_as(): the server has no plain port (tls_only)");
  return "redis://" + url_encode(user) + ":" + url_encode(password) + "@" + host_ + ":" +
         std::to_string(port_) + "/" + std::to_string(db);
}

std::string RedisServer::tls_url(int db) const {
  if (tls_port_ == 0) throw std::logic_error("tls_url(): the server has no TLS port");
  return "rediss://localhost:" + std::to_string(tls_port_) + "/" + std::to_string(db);
}

std::string RedisServer::tls_url_as(const std::string& user, const std::string& password, int db) const {
  if (tls_port_ == 0) throw std::logic_error("tls_url_as(): the server has no TLS port");
  return "rediss://" + url_encode(user) + ":" + url_encode(password) +
         "@localhost:" + std::to_string(tls_port_) + "/" + std::to_string(db);
}

std::string RedisServer::endpoint() const {
  return host_ + ":" + std::to_string(port_ != 0 ? port_ : tls_port_);
}

ConnectOptions RedisServer::connect_options(int db) const {
  ConnectOptions o;
  o.unix_socket = unix_socket();
  o.user = admin_user_;
  o.password = admin_password_;
  o.db = db;
  return o;
}

ConnectOptions RedisServer::tcp_connect_options(int db) const {
  if (port_ == 0) throw std::logic_error("tcp_connect_options(): the server has no plain port (tls_only)");
  ConnectOptions o = connect_options(db);
  o.unix_socket.clear();
  o.host = host_;
  o.port = port_;
  return o;
}

Client RedisServer::client(int db) const { return Client(connect_options(db)); }

std::string RedisServer::redis_version() const {
  Client c = client();
  return rmig::test::redis_version(c);
}

std::string RedisServer::log() const { return read_file(dir_.file("redis.log")); }

std::string RedisServer::log_tail(std::size_t lines) const { return tail_lines(log(), lines); }

bool RedisServer::running() { return process_.pid() > 0 && process_.running(); }

void RedisServer::stop() {
  if (!running()) return;
  process_.send_signal(SIGTERM);
  process_.send_signal(SIGCONT);
  if (!process_.wait(kStopGrace)) process_.kill9();
}

void RedisServer::kill9() {
  if (process_.pid() > 0) process_.kill9();
}

void RedisServer::pause() { process_.send_signal(SIGSTOP); }

void RedisServer::resume() { process_.send_signal(SIGCONT); }

void RedisServer::restart(Until until) {
  stop();
  if (spawn_and_wait(until) != StartOutcome::kReady) {
    start_failed("restart on the same ports failed: a port was taken meanwhile");
  }
}

}  // namespace rmig::test
