#pragma once
// The rewrite path: one key read from the source with its type's own commands, in chunks, and rebuilt on the
// destination under a temporary name in the target's cluster slot (temp_key), then put in place by one RENAME
// (RENAMENX under the skip policy) with its expiry already set, so no reader ever sees half a key.
//
// It is used when the destination cannot read the source's DUMP payloads (an older server), for keys above
// --big-key-threshold (memory stays bounded by the chunk size, and no single command blocks a server for
// long), and for every key with --mode rewrite.
//
//   string  GETRANGE (1 MB)          -> SET, then APPEND
//   list    LRANGE (<= 1000 items)   -> RPUSH (order kept)
//   set     SSCAN                    -> SADD
//   zset    ZSCAN                    -> ZADD (scores as the server prints them: exact doubles)
//   hash    HSCAN (+ HPTTL of the fields read, when the source has field expiration)
//                                    -> HSET, then HPEXPIREAT per field TTL (absolute on the destination's
//                                       clock; a field whose time ran out in flight is not written). A
//                                       destination without field expiration fails such a key, or with
//                                       --drop-field-ttls takes the fields without their TTLs
//   stream  XRANGE (<= 1000 entries) -> XADD with the original IDs; then XINFO STREAM -> XSETID (last ID, and
//           entries-added / max-deleted-ID where the destination has XSETID's options), XINFO GROUPS ->
//           XGROUP CREATE (last-delivered ID, entries-read), XINFO CONSUMERS -> XGROUP CREATECONSUMER,
//           XPENDING -> XCLAIM ... FORCE RETRYCOUNT IDLE JUSTID (owner, delivery count and idle time of each
//           pending entry)
//
// Element counts adapt to the element sizes so a chunk stays near 1 MB. One read is in flight per key, and
// the next waits while more than 4 MB of its writes are unacknowledged. A read in flight is charged to the
// engine's window at its expected size (the key's previous chunk; else the key's size when known, at most a
// chunk; else a running mean of first chunks, starting at a full chunk) until its reply is processed, and the
// unacknowledged writes after it: a read waits while the window's bytes are used up (woken, before any new
// key is dispatched, when bytes are released), so however many big keys are in progress, the replies in
// flight stay bounded by --window-bytes (plus one chunk).
//
// A key is not a snapshot: a big key written on the source while it is copied may land as a mix of before
// and after. After a reconnection, redirect or retry the key is rewritten from the start (the temporary key
// is deleted first); a RENAME that may have run already is checked instead (the temporary key is gone: it
// ran).

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "engine/engine.hpp"

namespace rmig::copy {

class Rewriter {
 public:
  // The task driving the rewrite decides how a finished key is counted and what follows.
  class Owner {
   public:
    virtual ~Owner() = default;
    // The key is in place on the destination. `duplicate`: the replace policy found the copy this run made
    // earlier of a key SCAN returned twice, and replaced it.
    virtual void rewritten(uint32_t j, uint64_t bytes, bool duplicate) = 0;
    // RENAMENX answered 0: the target exists. Returns true when the owner takes the complete temporary key
    // `temp` over (to merge it into the target, which deletes it); the rewriter's part of the key then ends.
    virtual bool take_existing(uint32_t /*j*/, const std::string& /*temp*/) { return false; }
    // The target exists and the policy keeps it; the temporary key is deleted already.
    virtual void target_exists(uint32_t j) = 0;
    // Whether the replace policy may put the key over an existing target (RENAME); false: RENAMENX, and an
    // existing target goes to take_existing() / target_exists().
    virtual bool may_replace(uint32_t /*j*/) { return true; }
  };

  static constexpr uint8_t kOpCount = 17;
  static constexpr std::size_t kStringChunk = 1u << 20;        // bytes per GETRANGE
  static constexpr std::size_t kChunkBytes = 1u << 20;         // target bytes per collection read
  static constexpr std::size_t kMaxChunkElements = 1000;       // elements per command at most
  static constexpr std::size_t kMaxWriteBytes = 4u << 20;      // unacknowledged write bytes per key at most
  static constexpr int64_t kGuardExpiryMs = 24 * 3600 * 1000;  // a temporary key left by a killed run goes

  // `first_op`: the first of kOpCount op codes of the task that the rewriter's commands use.
  Rewriter(Owner& owner, uint8_t first_op) : owner_(owner), first_op_(first_op) {}
  void attach(engine::Engine& engine);
  bool owns(uint8_t op) const noexcept { return op >= first_op_ && op < first_op_ + kOpCount; }
  // Rewrites job j's key from the start: PTTL (and TYPE unless job.type is known), then the chunks.
  // `size_hint`: the key's size when known (MEMORY USAGE, a DUMP payload's length), else 0.
  void start(uint32_t j, uint64_t size_hint = 0);
  // The window's bytes may have room again: reads waiting for it go out (oldest first) while it lasts.
  void wake();
  void on_reply(uint32_t j, uint8_t op, resp::Reply reply);
  void resend(uint32_t j);
  // The run is failing: the key is given back. A temporary key of more than one write keeps its guard expiry.
  void give_up(uint32_t j);
  // The temporary key job j builds (for messages and tests).
  const std::string& temp(uint32_t j) const { return state_[j].temp; }
  // Job j's key is a hash with field TTLs set on its temporary key (a merge would drop them).
  bool field_ttls(uint32_t j) const { return state_[j].field_expiring; }

 private:
  enum Op : uint8_t {
    kPttl,
    kType,
    kRead,
    kExistsSource,
    kStreamInfo,
    kStreamGroups,
    kConsumers,
    kPending,
    kWrite,
    kClaim,
    kExpire,
    kRename,
    kDiscard,
    kCheckTemp,
    kIgnore,
    kRecheck,
    kFieldTtl,
  };
  enum class Type : uint8_t { kUnknown, kString, kList, kSet, kZset, kHash, kStream };
  enum class Phase : uint8_t {
    kIdle,
    kPrepare,
    kRead,
    kStreamMeta,
    kStreamGroup,
    kRecheck,
    kFinalize,
    kCheck,
    kDiscard
  };
  enum class Outcome : uint8_t { kNone, kExpired, kVanished, kExists, kFailed };

  struct Group {
    std::string name;
    std::string last_delivered;
    std::string entries_read;  // empty: unknown
  };

  struct State {
    Phase phase = Phase::kIdle;
    Type type = Type::kUnknown;
    std::string temp;
    uint32_t attempt = 0;  // names the temporary key of each start
    std::string cursor;    // SCAN cursor, or the next stream ID to read
    int64_t offset = 0;    // string byte offset, list index
    std::size_t count = kMaxChunkElements;
    bool reading = false;                  // a source read is in flight
    bool waiting = false;                  // a read waits for room in the window's bytes (in waiting_)
    std::size_t read_charge = 0;           // the expected bytes of the read in flight, held in the window
    std::size_t last_read = 0;             // bytes of the key's previous chunk
    uint64_t size_hint = 0;                // the key's size when known
    bool source_done = false;              // the last chunk was read
    bool created = false;                  // something was written to the temporary key
    bool guarded = false;                  // the temporary key has the guard expiry
    bool rechecked = false;                // the source key still existed after its last chunk
    bool finalize_sent = false;            // finalize pipelined behind the only write
    bool probing = false;                  // replace policy, maybe a duplicate: RENAMENX first
    bool duplicate = false;                // the probe found the target: RENAME it over, count a duplicate
    bool expiring = false;                 // finalize set an expiry
    uint32_t writes = 0;                   // unacknowledged writes
    std::vector<std::size_t> write_sizes;  // of the unacknowledged writes, oldest at write_head
    std::size_t write_head = 0;
    std::size_t write_bytes = 0;
    uint64_t total_bytes = 0;
    uint64_t not_recreated = 0;  // stream parts the destination could not be given
    // hashes: an HSCAN chunk waiting for its fields' TTLs (HPTTL sent at ttl_sent_at)
    resp::Reply hash_chunk;
    std::chrono::steady_clock::time_point ttl_sent_at{};
    uint64_t fields_expired = 0;      // fields not written: their TTL ran out in flight
    bool field_expiring = false;      // a field TTL was set on the temporary key
    bool field_ttls_dropped = false;  // --drop-field-ttls dropped a field TTL of this key
    Outcome outcome = Outcome::kNone;
    std::string message;  // kFailed
    // streams
    std::string last_id, entries_added, max_deleted;
    std::vector<Group> groups;
    std::size_t group = 0;
    std::string pending_start;
  };

  uint8_t op(Op o) const noexcept { return static_cast<uint8_t>(first_op_ + o); }
  void prepare(uint32_t j);
  void on_pttl(uint32_t j, const redisReply* r);
  void on_type(uint32_t j, const redisReply* r);
  void begin_read(uint32_t j);
  void read_next(uint32_t j);
  void on_read(uint32_t j, resp::Reply reply);
  void on_exists_source(uint32_t j, const redisReply* r);
  // A hash chunk with its fields' HPTTL answers (null: none read): HSET, then the field expiries.
  void on_field_ttl(uint32_t j, const redisReply* r);
  void write_hash_chunk(uint32_t j, const redisReply* items, const redisReply* ttls);
  // What follows a chunk's write: `args` empty when the chunk brought nothing to write.
  void chunk_written(uint32_t j, const std::vector<std::string_view>& args, std::size_t bytes, bool first);
  // Sends one write of `bytes` value bytes; the first write of a key may bring the guard expiry.
  bool write(uint32_t j, const std::string_view* args, std::size_t argc, std::size_t bytes, uint8_t write_op);
  void on_write(uint32_t j, uint8_t op, const redisReply* r);
  void maybe_advance(uint32_t j);
  void stream_meta(uint32_t j);
  void on_stream_info(uint32_t j, const redisReply* r);
  void on_stream_groups(uint32_t j, const redisReply* r);
  void next_group(uint32_t j);
  void on_consumers(uint32_t j, const redisReply* r);
  void read_pending(uint32_t j);
  void on_pending(uint32_t j, const redisReply* r);
  void finalize(uint32_t j);
  void on_recheck(uint32_t j, const redisReply* r);
  void send_rename(uint32_t j);
  void on_rename(uint32_t j, const redisReply* r);
  void on_check_temp(uint32_t j, const redisReply* r);
  // The RENAME went through: the key is in place.
  void placed(uint32_t j);
  // Ends the key with `outcome`, deleting the temporary key first when it may exist.
  void discard(uint32_t j, Outcome outcome, std::string message = {});
  void settle(uint32_t j);
  void fail(uint32_t j, std::string message);
  // An error reply of a source or destination command: the engine's handling, else the key fails.
  void error(uint32_t j, engine::Engine::Side side, std::string_view command, const redisReply* r);
  void update_held(uint32_t j);
  // Sets job j's window charge to `bytes`; a charge that went down may let waiting reads go.
  void hold(uint32_t j, std::size_t bytes);
  // The bytes a read of job j is expected to bring.
  std::size_t expected_read(const State& st) const noexcept;

  Owner& owner_;
  uint8_t first_op_;
  engine::Engine* engine_ = nullptr;
  std::vector<State> state_;
  std::deque<uint32_t> waiting_;          // jobs whose next read waits for room in the window's bytes
  double first_read_mean_ = kChunkBytes;  // running mean of the first chunk's bytes, for keys of unknown size
  bool waking_ = false;
};

}  // namespace rmig::copy
