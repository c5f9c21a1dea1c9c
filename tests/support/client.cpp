#include "support/client.hpp"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <algorithm>
#include <cctype>
#include <csignal>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <utility>

#include "util/escape.hpp"

namespace rmig::test {

namespace {

// Commands are sent in chunks so a pipeline of a million commands does not become one huge buffer.
constexpr std::size_t kPipelineChunk = 1000;
constexpr int kMaxRedirects = 16;

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string short_command(const Command& args) {
  std::string s;
  for (std::size_t i = 0; i < args.size() && i < 6; ++i) {
    if (i != 0) s += ' ';
    s += "\"" + rmig::printable_short(args[i], 60) + "\"";
  }
  if (args.size() > 6) s += " ... (" + std::to_string(args.size()) + " args)";
  return s;
}

// "MOVED 3999 127.0.0.1:6381" -> "127.0.0.1:6381"
std::string redirect_target(const std::string& error) {
  auto sp = error.rfind(' ');
  if (sp == std::string::npos) throw std::runtime_error("malformed redirection: " + error);
  return error.substr(sp + 1);
}

std::pair<std::string, int> split_endpoint(const std::string& endpoint) {
  auto colon = endpoint.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("malformed endpoint: " + endpoint);
  return {endpoint.substr(0, colon), std::stoi(endpoint.substr(colon + 1))};
}

}  // namespace

// ---- Reply ----

Reply Reply::from_hiredis(const redisReply* r) {
  Reply out;
  if (r == nullptr) return out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = Type::kString;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = Type::kStatus;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = Type::kError;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = Type::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = Type::kArray;
      out.elements.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i)
        out.elements.push_back(from_hiredis(r->element[i]));
      break;
    default: break;
  }
  return out;
}

bool Reply::is_error(std::string_view prefix) const {
  if (type != Type::kError || str.size() < prefix.size() || str.compare(0, prefix.size(), prefix) != 0) {
    return false;
  }
  return str.size() == prefix.size() || str[prefix.size()] == ' ';
}

std::string Reply::to_string() const {
  switch (type) {
    case Type::kNil: return "(nil)";
    case Type::kString: return "\"" + rmig::printable_short(str, 200) + "\"";
    case Type::kStatus: return str;
    case Type::kError: return "(error) " + str;
    case Type::kInteger: return "(integer) " + std::to_string(integer);
    case Type::kArray: {
      std::string s = "[";
      for (std::size_t i = 0; i < elements.size(); ++i) {
        if (i != 0) s += ", ";
        if (i == 20) {
          s += "... (" + std::to_string(elements.size()) + " elements)";
          break;
        }
        s += elements[i].to_string();
      }
      return s + "]";
    }
  }
  return "?";
}

// ---- KeyReader / KeyWriter ----

Reply KeyReader::checked(const Command& args) {
  Reply r = command(args);
  if (r.is_error()) throw std::runtime_error(describe() + ": " + short_command(args) + " failed: " + r.str);
  return r;
}

void KeyWriter::pipeline_checked(const std::vector<Command>& commands) {
  std::vector<Reply> replies = pipeline(commands);
  for (std::size_t i = 0; i < replies.size(); ++i) {
    if (replies[i].is_error()) {
      throw std::runtime_error(describe() + ": " + short_command(commands[i]) + " failed: " + replies[i].str);
    }
  }
}

// ---- Client ----

Client::Client(ConnectOptions options) : options_(std::move(options)) { connect(); }

Client::Client(Client&& other) noexcept
    : KeyWriter(std::move(other)),
      options_(std::move(other.options_)),
      ctx_(std::exchange(other.ctx_, nullptr)) {}

Client& Client::operator=(Client&& other) noexcept {
  if (this != &other) {
    close();
    options_ = std::move(other.options_);
    ctx_ = std::exchange(other.ctx_, nullptr);
  }
  return *this;
}

Client::~Client() { close(); }

void Client::close() {
  if (ctx_ != nullptr) redisFree(ctx_);
  ctx_ = nullptr;
}

std::string Client::describe() const {
  std::string s = options_.unix_socket.empty() ? options_.host + ":" + std::to_string(options_.port)
                                               : "unix:" + options_.unix_socket;
  if (options_.db != 0) s += " db " + std::to_string(options_.db);
  if (!options_.user.empty()) s += " as " + options_.user;
  return s;
}

void Client::fail(const std::string& what) {
  std::string reason = ctx_ != nullptr && ctx_->err != 0 ? ctx_->errstr : "connection lost";
  // After an I/O error the hiredis context is unusable; the next command reconnects.
  close();
  throw std::runtime_error(describe() + ": " + what + ": " + reason);
}

void Client::connect() {
  // hiredis writes with write(2): a server killed by a test would otherwise kill the test process with
  // SIGPIPE.
  static std::once_flag ignore_sigpipe;
  std::call_once(ignore_sigpipe, [] { std::signal(SIGPIPE, SIG_IGN); });
  close();
  timeval tv = to_timeval(options_.timeout);
  ctx_ = options_.unix_socket.empty() ? redisConnectWithTimeout(options_.host.c_str(), options_.port, tv)
                                      : redisConnectUnixWithTimeout(options_.unix_socket.c_str(), tv);
  if (ctx_ == nullptr) throw std::runtime_error(describe() + ": cannot allocate a hiredis context");
  if (ctx_->err != 0) fail("cannot connect");
  if (redisSetTimeout(ctx_, tv) != REDIS_OK) fail("cannot set the timeout");
  if (!options_.password.empty()) {
    Command auth = options_.user.empty() ? Command{"AUTH", options_.password}
                                         : Command{"AUTH", options_.user, options_.password};
    Reply r = command(auth);
    if (r.is_error()) {
      close();
      throw std::runtime_error(describe() + ": AUTH failed: " + r.str);
    }
  }
  if (options_.db != 0) {
    Reply r = command({"SELECT", std::to_string(options_.db)});
    if (r.is_error()) {
      close();
      throw std::runtime_error(describe() + ": SELECT failed: " + r.str);
    }
  }
}

void Client::reconnect() { connect(); }

bool Client::ping() { return command({"PING"}).is_status("PONG"); }

Reply Client::read_reply(const std::string& what) {
  void* raw = nullptr;
  if (redisGetReply(ctx_, &raw) != REDIS_OK || raw == nullptr) fail(what);
  auto* r = static_cast<redisReply*>(raw);
  Reply out = Reply::from_hiredis(r);
  freeReplyObject(r);
  return out;
}

Reply Client::command(const Command& args) {
  if (ctx_ == nullptr) connect();
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  if (redisAppendCommandArgv(ctx_, static_cast<int>(args.size()), argv.data(), lens.data()) != REDIS_OK) {
    fail(short_command(args));
  }
  return read_reply(short_command(args));
}

std::vector<Reply> Client::pipeline(const std::vector<Command>& commands) {
  if (ctx_ == nullptr) connect();
  std::vector<Reply> replies;
  replies.reserve(commands.size());
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  for (std::size_t begin = 0; begin < commands.size(); begin += kPipelineChunk) {
    std::size_t end = std::min(commands.size(), begin + kPipelineChunk);
    for (std::size_t i = begin; i < end; ++i) {
      argv.clear();
      lens.clear();
      for (const auto& a : commands[i]) {
        argv.push_back(a.data());
        lens.push_back(a.size());
      }
      if (redisAppendCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data()) != REDIS_OK) {
        fail("pipeline " + short_command(commands[i]));
      }
    }
    for (std::size_t i = begin; i < end; ++i)
      replies.push_back(read_reply("pipeline " + short_command(commands[i])));
  }
  return replies;
}

std::vector<std::string> Client::scan_all(const std::string& match) {
  std::set<std::string> keys;
  std::string cursor = "0";
  do {
    Reply r = checked({"SCAN", cursor, "MATCH", match, "COUNT", "1000"});
    if (!r.is_array() || r.elements.size() != 2 || !r.elements[0].is_string() || !r.elements[1].is_array()) {
      throw std::runtime_error(describe() + ": unexpected SCAN reply " + r.to_string());
    }
    cursor = r.elements[0].str;
    for (auto& k : r.elements[1].elements)
      keys.insert(std::move(k.str));
  } while (cursor != "0");
  return {keys.begin(), keys.end()};
}

long long Client::dbsize() {
  Reply r = checked({"DBSIZE"});
  if (!r.is_integer()) throw std::runtime_error(describe() + ": unexpected DBSIZE reply " + r.to_string());
  return r.integer;
}

void Client::flushall() { checked({"FLUSHALL"}); }

// ---- slots ----

std::uint16_t crc16_xmodem(std::string_view bytes) {
  std::uint16_t crc = 0;
  for (char ch : bytes) {
    crc = static_cast<std::uint16_t>(crc ^ (static_cast<std::uint16_t>(static_cast<unsigned char>(ch)) << 8));
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 0x8000) != 0 ? static_cast<std::uint16_t>((crc << 1) ^ 0x1021)
                                : static_cast<std::uint16_t>(crc << 1);
    }
  }
  return crc;
}

int key_slot(std::string_view key) {
  auto open = key.find('{');
  if (open != std::string_view::npos) {
    auto close = key.find('}', open + 1);
    if (close != std::string_view::npos && close != open + 1) key = key.substr(open + 1, close - open - 1);
  }
  return crc16_xmodem(key) & (kClusterSlots - 1);
}

std::optional<std::string> command_key(const Command& args) {
  if (args.empty()) return std::nullopt;
  static const std::set<std::string> kKeyless = {
      "ACL",      "ASKING", "AUTH",    "BGREWRITEAOF", "BGSAVE",   "CLIENT",    "CLUSTER",  "COMMAND",
      "CONFIG",   "DBSIZE", "DEBUG",   "DISCARD",      "ECHO",     "EXEC",      "FLUSHALL", "FLUSHDB",
      "FUNCTION", "HELLO",  "INFO",    "KEYS",         "LASTSAVE", "LATENCY",   "MODULE",   "MONITOR",
      "MULTI",    "PING",   "PUBLISH", "RANDOMKEY",    "READONLY", "READWRITE", "ROLE",     "SAVE",
      "SCAN",     "SCRIPT", "SELECT",  "SHUTDOWN",     "SLOWLOG",  "SWAPDB",    "TIME",     "WAIT"};
  std::string cmd = upper(args[0]);
  if (kKeyless.count(cmd) != 0) return std::nullopt;
  auto at = [&](std::size_t i) -> std::optional<std::string> {
    if (i < args.size()) return args[i];
    return std::nullopt;
  };
  if (cmd == "XINFO" || cmd == "XGROUP" || cmd == "OBJECT") return at(2);
  if (cmd == "MEMORY") return args.size() > 2 && upper(args[1]) == "USAGE" ? at(2) : std::nullopt;
  if (cmd == "XREAD" || cmd == "XREADGROUP") {
    for (std::size_t i = 1; i < args.size(); ++i) {
      if (upper(args[i]) == "STREAMS") return at(i + 1);
    }
    return std::nullopt;
  }
  if (cmd == "EVAL" || cmd == "EVALSHA" || cmd == "EVAL_RO" || cmd == "EVALSHA_RO" || cmd == "FCALL" ||
      cmd == "FCALL_RO") {
    return args.size() > 3 && args[2] != "0" ? at(3) : std::nullopt;
  }
  return at(1);
}

// ---- ClusterClient ----

ClusterClient::ClusterClient(ConnectOptions seed) : seed_(std::move(seed)) {
  // Cluster nodes are reached over TCP at the addresses CLUSTER SLOTS announces; every node connection
  // SELECTs the seed's db (numbered databases of a Valkey 9 cluster; otherwise 0).
  seed_.unix_socket.clear();
  refresh_slots();
}

ClusterClient::ClusterClient(ClusterClient&&) noexcept = default;
ClusterClient& ClusterClient::operator=(ClusterClient&&) noexcept = default;
ClusterClient::~ClusterClient() = default;

std::string ClusterClient::describe() const {
  std::string s = "cluster via " + seed_.host + ":" + std::to_string(seed_.port);
  if (!seed_.user.empty()) s += " as " + seed_.user;
  return s;
}

Client& ClusterClient::node(const std::string& endpoint) {
  auto it = nodes_.find(endpoint);
  if (it != nodes_.end()) return *it->second;
  ConnectOptions o = seed_;
  o.unix_socket.clear();
  std::tie(o.host, o.port) = split_endpoint(endpoint);
  return *nodes_.emplace(endpoint, std::make_unique<Client>(std::move(o))).first->second;
}

void ClusterClient::refresh_slots() {
  std::vector<std::string> candidates{seed_.host + ":" + std::to_string(seed_.port)};
  for (const auto& [endpoint, client] : nodes_)
    candidates.push_back(endpoint);
  std::string errors;
  for (const auto& endpoint : candidates) {
    try {
      Client& c = node(endpoint);
      Reply r = c.checked({"CLUSTER", "SLOTS"});
      std::vector<std::string> owners(kClusterSlots);
      if (!r.is_array()) throw std::runtime_error("unexpected CLUSTER SLOTS reply " + r.to_string());
      for (const auto& range : r.elements) {
        if (!range.is_array() || range.elements.size() < 3 || !range.elements[0].is_integer() ||
            !range.elements[1].is_integer() || !range.elements[2].is_array() ||
            range.elements[2].elements.size() < 2) {
          throw std::runtime_error("unexpected CLUSTER SLOTS entry " + range.to_string());
        }
        const auto& primary = range.elements[2].elements;
        // An empty host means "the address you reached me on".
        std::string host = primary[0].str.empty() ? split_endpoint(endpoint).first : primary[0].str;
        std::string owner = host + ":" + std::to_string(primary[1].integer);
        for (long long s = range.elements[0].integer; s <= range.elements[1].integer && s < kClusterSlots;
             ++s) {
          owners[static_cast<std::size_t>(s)] = owner;
        }
      }
      slot_owner_ = std::move(owners);
      return;
    } catch (const std::exception& e) {
      errors += std::string("\n  ") + e.what();
    }
  }
  throw std::runtime_error(describe() + ": cannot load the slot map:" + errors);
}

std::vector<std::string> ClusterClient::primaries() const {
  std::set<std::string> p;
  for (const auto& owner : slot_owner_) {
    if (!owner.empty()) p.insert(owner);
  }
  return {p.begin(), p.end()};
}

std::string ClusterClient::node_for_slot(int slot) const {
  return slot_owner_.at(static_cast<std::size_t>(slot));
}

Reply ClusterClient::command_on(const std::string& endpoint, const Command& args) {
  return node(endpoint).command(args);
}

Reply ClusterClient::routed(const Command& args, const std::optional<std::string>& key) {
  std::string target;
  if (key) {
    target = node_for_slot(key_slot(*key));
  } else {
    auto p = primaries();
    if (p.empty()) throw std::runtime_error(describe() + ": no primary owns any slot");
    target = p.front();
  }
  bool asking = false;
  Reply r;
  for (int attempt = 0; attempt < kMaxRedirects; ++attempt) {
    if (target.empty())
      throw std::runtime_error(describe() + ": slot of " + short_command(args) + " is unassigned");
    Client& c = node(target);
    if (asking) {
      std::vector<Reply> replies = c.pipeline({{"ASKING"}, args});
      r = std::move(replies[1]);
    } else {
      r = c.command(args);
    }
    asking = false;
    if (r.is_error("MOVED")) {
      ++stats_.moved;
      target = redirect_target(r.str);
      refresh_slots();
    } else if (r.is_error("ASK")) {
      ++stats_.ask;
      target = redirect_target(r.str);
      asking = true;
    } else if (r.is_error("TRYAGAIN") || r.is_error("CLUSTERDOWN")) {
      // Multi-key commands during a slot migration, or a cluster still settling: wait for it to finish.
      ++stats_.tryagain;
      std::this_thread::sleep_for(50ms);
      if (key) target = node_for_slot(key_slot(*key));
    } else {
      return r;
    }
  }
  return r;
}

Reply ClusterClient::command(const Command& args) { return routed(args, command_key(args)); }

std::vector<Reply> ClusterClient::pipeline(const std::vector<Command>& commands) {
  std::vector<Reply> replies(commands.size());
  std::vector<std::optional<std::string>> keys(commands.size());
  std::map<std::string, std::vector<std::size_t>> by_node;
  auto p = primaries();
  if (p.empty()) throw std::runtime_error(describe() + ": no primary owns any slot");
  for (std::size_t i = 0; i < commands.size(); ++i) {
    keys[i] = command_key(commands[i]);
    std::string target = keys[i] ? node_for_slot(key_slot(*keys[i])) : p.front();
    by_node[target].push_back(i);
  }
  for (const auto& [endpoint, indexes] : by_node) {
    std::vector<Command> batch;
    batch.reserve(indexes.size());
    for (std::size_t i : indexes)
      batch.push_back(commands[i]);
    std::vector<Reply> got = node(endpoint).pipeline(batch);
    for (std::size_t j = 0; j < indexes.size(); ++j)
      replies[indexes[j]] = std::move(got[j]);
  }
  // Redirected commands are replayed one by one, in their original order.
  bool refreshed = false;
  for (std::size_t i = 0; i < commands.size(); ++i) {
    const Reply& r = replies[i];
    if (r.is_error("MOVED") && !refreshed) {
      ++stats_.moved;
      refresh_slots();
      refreshed = true;
    }
    if (r.is_error("MOVED") || r.is_error("ASK") || r.is_error("TRYAGAIN") || r.is_error("CLUSTERDOWN")) {
      replies[i] = routed(commands[i], keys[i]);
    }
  }
  return replies;
}

std::vector<std::string> ClusterClient::scan_all(const std::string& match) {
  std::set<std::string> keys;
  for (const auto& endpoint : primaries()) {
    for (auto& k : node(endpoint).scan_all(match))
      keys.insert(std::move(k));
  }
  return {keys.begin(), keys.end()};
}

long long ClusterClient::dbsize() {
  long long total = 0;
  for (const auto& endpoint : primaries())
    total += node(endpoint).dbsize();
  return total;
}

void ClusterClient::flushall() {
  for (const auto& endpoint : primaries())
    node(endpoint).flushall();
}

}  // namespace rmig::test
