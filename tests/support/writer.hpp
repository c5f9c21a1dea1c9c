#pragma once
// An application writing to a server (or a cluster) while a live copy runs: a thread with its own connection
// that touches every command family a live run must follow, at a steady rate, over a fixed set of keys.
//
// Keys are grouped: the 12 keys of group g are "<prefix>{g}:<type>:a" and "...:b" for the six types (string,
// list, set, zset, hash, stream), so all of a group hashes to one cluster slot and multi-key commands
// (RENAME, COPY, MULTI/EXEC, EVAL) stay inside it. Every operation picks a group and a key at random (seeded)
// and one of the operations of the families below:
//   strings   SET (some with PX 100..400 ms: keys that expire while the copy runs), INCR, APPEND, GETDEL
//   lists     LPUSH, RPUSH, LPOP, LPOP of every element (the key disappears), LTRIM
//   sets      SADD, SREM, SPOP of every member
//   zsets     ZADD, ZINCRBY, ZPOPMIN of every member, ZREM
//   hashes    HSET, HINCRBY, HDEL of every field, HPEXPIRE on a field (servers that have it)
//   streams   XADD, XDEL, XTRIM
//   generic   DEL, UNLINK, EXPIRE, PEXPIRE (short: expires), PERSIST, RENAME to the other key of the pair,
//             COPY ... REPLACE, MOVE to another database (standalone only) and MOVE back from it, DUMP +
//             RESTORE ... REPLACE, MULTI/EXEC, EVAL of a script writing three keys
// Replies that are errors (WRONGTYPE after a RENAME, a MOVE onto an existing name, -MOVED inside a
// transaction while a slot migrates) are counted, never fatal: the source stays whatever it acknowledged, and
// the check after a cut-over compares the source with the destination. A dropped connection is reconnected.
//
// stop() returns only after the last command sent was answered: everything the source acknowledged is then
// known, and nothing more is written.

#include <array>
#include <atomic>
#include <cstdint>
#include <exception>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/client.hpp"
#include "support/compare.hpp"

namespace rmig::test {

struct WriterOptions {
  std::string prefix = "w:";
  std::size_t groups = 20;  // 12 keys each
  double rate = 1000;       // operations per second; 0: as fast as the round trips allow
  std::uint64_t seed = 1;
  // A cluster: connect with a ClusterClient (ConnectOptions of any node's plain port), no MOVE.
  bool cluster = false;
  // The database MOVE sends keys to and brings them back from (standalone only); -1: no MOVE.
  int move_db = 1;
  // Fill every key once before the first random operation, so the bulk copy finds all six types.
  bool prefill = true;
};

// The operation families counted in WriterStats (index = Family).
enum class Family : std::uint8_t {
  kString,
  kList,
  kSet,
  kZset,
  kHash,
  kStream,
  kDelete,    // DEL, UNLINK, GETDEL
  kExpire,    // EXPIRE, PEXPIRE (short), PERSIST, SET ... PX short
  kPopEmpty,  // a pop or removal of the last elements: the collection disappears
  kRename,
  kCopy,
  kMove,
  kRestore,
  kMulti,
  kEval,
  kFieldTtl,  // HPEXPIRE (only on servers that have it)
};
inline constexpr std::size_t kFamilies = 16;
const char* family_name(Family f);

struct WriterStats {
  std::array<std::uint64_t, kFamilies> ok{};      // operations whose every reply was not an error
  std::array<std::uint64_t, kFamilies> errors{};  // operations with an error reply
  std::uint64_t operations = 0;
  std::uint64_t reconnects = 0;
  std::string last_error;  // the text of the last error reply or exception
  // "string=120 list=98 ..." with the error counts where there are any.
  std::string summary() const;
};

class Writer {
 public:
  // `connect`: where the writer's own connection goes (the server's unix socket with admin credentials is
  // fine: RedisServer::connect_options(); for a cluster, RedisServer::tcp_connect_options() of a node).
  Writer(ConnectOptions connect, WriterOptions options = {});
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;
  // Stops (as stop()) if still running; never throws.
  ~Writer();

  // Starts the thread; returns once the prefill (if any) is acknowledged, so the bulk copy started after it
  // sees every type. Throws what the prefill threw.
  void start();
  // Asks the thread to stop after the operation in flight and joins it; returns after the last command was
  // acknowledged. Rethrows an exception that ended the thread early (not a dropped connection: those are
  // reconnected).
  void stop();
  bool running() const { return thread_.joinable(); }

  // Thread-safe snapshots.
  WriterStats stats() const;
  std::uint64_t operations() const { return operations_.load(); }
  // Every key name the writer may have written or deleted (in the database it writes to).
  std::vector<std::string> keys() const;
  // The MATCH pattern of the writer's keys ("<prefix>*").
  std::string match() const { return options_.prefix + "*"; }
  // Whether the server has hash field TTLs (HPEXPIRE), known after start().
  bool field_ttls() const { return field_ttls_; }

 private:
  void run();
  void prefill(KeyWriter& c);
  void one(KeyWriter& c, Client* other_db);
  void count(Family f, bool ok, const std::string& error = {});
  std::unique_ptr<KeyWriter> connect_main() const;

  ConnectOptions connect_;
  WriterOptions options_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> started_{false};
  std::atomic<std::uint64_t> operations_{0};
  bool field_ttls_ = false;
  std::exception_ptr error_;
  mutable std::mutex mu_;
  WriterStats stats_;
  std::uint64_t rng_ = 1;
};

// The check after a cut-over: the source and the destination hold exactly the same keys of the selection
// (`match`, a Redis glob; the tool's own keys under options.tool_prefix left out on both sides), with the
// same type, value and TTL (within options.ttl_tolerance_ms), and no destination key of the selection whose
// source key is gone (a deleted, expired, renamed, moved or popped-empty key left behind). Hash field TTLs
// are compared too where both servers have HPEXPIRETIME (counted as value differences). options.include and
// options.check_extra_keys_on_dst are overridden.
CompareResult compare_exact(KeyReader& source, KeyReader& destination, const std::string& match = "*",
                            CompareOptions options = {});

// Redis glob matching (*, ?, [...], \ escapes), as SCAN MATCH does.
bool glob_match(const std::string& pattern, const std::string& text);

}  // namespace rmig::test
