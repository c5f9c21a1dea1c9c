#pragma once
// The rewrite path: one key read from the source with its type's own commands, in chunks, and rebuilt on the
// destination under a temporary name in the target's cluster slot (temp_key), then put in place by one RENAME
// (RENAMENX where the target must not be replaced) with its expiry already set, so no reader ever sees half a
// key. The per-type reads and writes are in copy/rewrite/translate.hpp; this is the flow of one key.
//
// A task owns a Rewriter and gives it a range of kOpCount op codes. Contracts:
// - Bounded memory: one read in flight per key, the next one waiting while more than kMaxWriteBytes of the
//   key's writes are unacknowledged or while the window's bytes are used up (then it waits in line until
//   wake(), which the task calls from KeyTask::room()). A read in flight is charged to the window at its
//   expected size, and the unacknowledged writes after it (Engine::hold_bytes).
// - A key is not a snapshot: a big key written on the source while it is copied may land as a mix of before
//   and after. A key read in several chunks is checked to still exist before it is put in place.
// - After a reconnection, redirect or retry (resend) the key is rewritten from the start (the temporary key
//   is deleted first); a RENAME that may have run already is checked instead (the temporary key is gone: it
//   ran).
// - The rewriter counts what it settles itself: placed keys (copied + rewritten, or duplicates),
//   expired, vanished and failed keys, stream parts not recreated, dropped field TTLs. What the task decides
//   comes back as a Step.
// - A live run's key (engine::Job::live) is counted recopied + rewritten when placed, is never probed as a
//   duplicate, and, when it expired or vanished on the source, comes back as Step::kGone (its destination
//   name goes) instead of being counted.

#include <chrono>
#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <vector>

#include "copy/op_range.hpp"
#include "copy/rewrite/translate.hpp"
#include "engine/engine.hpp"
#include "value/kind.hpp"

namespace rmig::copy {

class Rewriter {
 public:
  static constexpr uint8_t kOpCount = 17;
  static constexpr std::size_t kMaxWriteBytes = 4u << 20;      // unacknowledged write bytes per key at most
  static constexpr int64_t kGuardExpiryMs = 24 * 3600 * 1000;  // a temporary key left by a killed run goes

  // How a key is rewritten.
  struct Options {
    uint64_t size_hint = 0;   // the key's size when known (MEMORY USAGE, a DUMP payload's length), else 0
    bool may_replace = true;  // the replace policy may RENAME over an existing target
    bool hand_over = false;   // an existing target: hand the complete temporary key over (Step::kHandedOver)
                              // instead of deleting it, unless it has field TTLs (a merge would drop them)
  };

  // What a reply (or a resend) leads to. kWait: more replies are due, or the rewriter ended the job itself.
  enum class Step : uint8_t {
    kWait,
    kPlaced,      // the key is in place on the destination, counted
    kExists,      // the target exists and was kept (RENAMENX); the temporary key is deleted, nothing counted
    kHandedOver,  // the target exists; the complete temporary key temp(j) is the task's now
    kGone,  // a live run's key expired or vanished on the source (temporary key deleted), nothing counted
  };

  explicit Rewriter(OpRange ops) noexcept : ops_(ops) {}
  void attach(engine::Engine& engine);
  bool owns(uint8_t op) const noexcept { return ops_.owns(op); }
  // A new job in slot j: its state from the previous one goes (once per job, before start), all but the
  // slot's attempt count, which keeps every temporary name of the run distinct.
  void reset(uint32_t j);
  // Rewrites job j's key from the start: PTTL (and TYPE unless Job::type is known), then the chunks; again
  // after a restart of the key by the task (a merge that found its temporary key gone) under a new name.
  void start(uint32_t j, const Options& options);
  // The window's bytes may have room again: reads waiting for it go out (oldest first) while it lasts.
  void wake();
  Step on_reply(uint32_t j, uint8_t op, resp::Reply reply);
  Step resend(uint32_t j);
  // The run is failing: the key is given back. A temporary key of more than one write keeps its guard expiry.
  void give_up(uint32_t j);
  // The temporary key job j builds.
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
  static_assert(kFieldTtl + 1 == kOpCount);
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

  struct State {
    Phase phase = Phase::kIdle;
    value::Kind kind = value::Kind::kUnknown;
    Options options;
    std::string temp;
    uint32_t attempt = 0;  // names the temporary key of each start
    bool started = false;  // start() ran since the last reset()
    rewrite::Cursor at;
    bool reading = false;                  // a source read is in flight
    bool waiting = false;                  // a read waits for room in the window's bytes (in waiting_)
    std::size_t read_charge = 0;           // the expected bytes of the read in flight, held in the window
    std::size_t last_read = 0;             // bytes of the key's previous chunk
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
    // hashes: an HSCAN page waiting for its fields' TTLs (HPTTL sent at ttl_sent_at)
    resp::Reply hash_chunk;
    std::chrono::steady_clock::time_point ttl_sent_at{};
    uint64_t fields_expired = 0;      // fields not written: their TTL ran out in flight
    bool field_expiring = false;      // a field TTL was set on the temporary key
    bool field_ttls_dropped = false;  // --drop-field-ttls dropped a field TTL of this key
    Outcome outcome = Outcome::kNone;
    std::string message;      // kFailed
    Step step = Step::kWait;  // what the task is told when the current call returns
    // streams
    rewrite::StreamInfo info;
    std::vector<rewrite::StreamGroup> groups;
    std::size_t group = 0;
    std::string pending_start;
  };

  uint8_t op(Op o) const noexcept { return ops_.at(o); }
  Step take_step(uint32_t j) noexcept;
  // Empties job j's state for a new attempt under the same temporary name.
  void restart(uint32_t j);
  void prepare(uint32_t j);
  void on_pttl(uint32_t j, const redisReply* r);
  void on_type(uint32_t j, const redisReply* r);
  void begin_read(uint32_t j);
  void read_next(uint32_t j);
  void on_read(uint32_t j, resp::Reply reply);
  void on_hash_page(uint32_t j, resp::Reply reply);
  void on_exists_source(uint32_t j, const redisReply* r);
  // A hash page with its fields' HPTTL answers (null: none read).
  void on_field_ttl(uint32_t j, const redisReply* r);
  void write_hash_chunk(uint32_t j, const redisReply* items, const redisReply* ttls);
  // What the read brought: the next read's expected size, and the running mean of first reads.
  void note_read(uint32_t j, std::size_t bytes, bool first);
  // Sends a chunk's writes (none: the chunk brought nothing); the only write of a key has its finalize
  // pipelined behind it.
  void chunk_written(uint32_t j, bool first);
  // Sends every command of writes_ (`write_op` for each); false when a link went down on the way.
  bool write_all(uint32_t j, uint8_t write_op);
  // Sends one write of `bytes` value bytes; the first write of a key may bring the guard expiry.
  bool write(uint32_t j, std::span<const std::string_view> args, std::size_t bytes, uint8_t write_op);
  void on_write(uint32_t j, uint8_t op, const redisReply* r);
  void maybe_advance(uint32_t j);
  // streams (stream_flow.cpp)
  void stream_meta(uint32_t j);
  void on_stream_info(uint32_t j, const redisReply* r);
  void on_stream_groups(uint32_t j, const redisReply* r);
  void next_group(uint32_t j);
  void on_consumers(uint32_t j, const redisReply* r);
  void read_pending(uint32_t j);
  void on_pending(uint32_t j, const redisReply* r);
  // finalize (finalize.cpp)
  void finalize(uint32_t j);
  void on_recheck(uint32_t j, const redisReply* r);
  void send_rename(uint32_t j);
  void on_rename(uint32_t j, const redisReply* r);
  void on_check_temp(uint32_t j, const redisReply* r);
  void check_temp(uint32_t j);
  // The RENAME went through: the key is in place.
  void placed(uint32_t j);
  // Ends the key with `outcome`, deleting the temporary key first when it may exist.
  void discard(uint32_t j, Outcome outcome, std::string message = {});
  void send_discard(uint32_t j);
  void settle(uint32_t j);
  void fail(uint32_t j, std::string message);
  // An error reply of a source or destination command: the engine's handling, else the key fails.
  void error(uint32_t j, engine::Engine::Side side, std::string_view command, const redisReply* r);
  void update_held(uint32_t j);
  // Sets job j's window charge to `bytes`; a charge that went down may let waiting reads go.
  void hold(uint32_t j, std::size_t bytes);
  // The bytes a read of job j is expected to bring.
  std::size_t expected_read(const State& st) const noexcept;

  OpRange ops_;
  engine::Engine* engine_ = nullptr;
  std::vector<State> state_;                       // per job slot
  rewrite::Writes writes_;                         // the chunk being sent (reused)
  std::deque<uint32_t> waiting_;                   // jobs whose next read waits for room in the window
  double first_read_mean_ = rewrite::kChunkBytes;  // running mean of first chunks, for unknown sizes
  bool waking_ = false;
};

}  // namespace rmig::copy
