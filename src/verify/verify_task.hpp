#pragma once
// Checking one key: is the destination key (under its renamed name) there, of the same type, with the same
// value and a matching TTL? With cleanup, a key that checks equal is then deleted from the source by the
// copy's compare-and-delete script, so a key written meanwhile survives.
//
// Stages, both sides at once:
//   1. TYPE + PTTL on each side: missing, type differs, vanished (gone from the source) are decided here.
//   2. The size (STRLEN, LLEN, SCARD, ZCARD, HLEN, XLEN): different sizes are different values.
//   3. A small key (a string up to kDumpMaxBytes, a collection up to kDumpMaxElements) is dumped on both
//      sides: equal payloads are equal values. Different payloads (another RDB version, a hash table's order
//      depending on each server's hash seed) fall back to stage 4.
//   4. A per-type comparison in chunks: GETRANGE, LRANGE and XRANGE in lockstep; SSCAN, HSCAN and ZSCAN on
//   the
//      source checked with SMISMEMBER, HMGET and ZMSCORE on the destination; XINFO for stream metadata and
//      consumer groups. A hash's chunk whose values match then has its fields' TTLs compared (HPTTL on both
//      sides, within the TTL tolerance: "field TTL differs"); equal DUMP payloads carry equal field TTLs.
//      At most kMaxStreaming keys stream at a time, so memory stays bounded whatever the
//      size of a key.
// Nothing is ever written, except the cleanup's deletions on the source.

#include <chrono>
#include <deque>
#include <string>
#include <vector>

#include "engine/engine.hpp"
#include "report/counters.hpp"

namespace rmig::verify {

struct VerifyOptions {
  uint32_t ttl_tolerance_ms = 5'000;
  std::size_t max_differences = 20;
  bool cleanup = false;  // delete keys that check equal from the source
  bool dry_run = false;  // cleanup: count and list them, delete nothing
  // The destination has SMISMEMBER and ZMSCORE (Redis >= 6.2); otherwise one command per member. Also
  // switched off by the first "unknown command" answer.
  bool multi_lookup = true;
  // Each side may hold hash field TTLs (Redis >= 7.4, Valkey >= 9.0, or unknown): a hash compared field by
  // field also compares its fields' TTLs (HPTTL) with ttl_tolerance_ms. A side without field expiration has
  // none, so a field TTL on the other side differs.
  bool src_field_ttls = true;
  bool dst_field_ttls = true;
};

class VerifyTask final : public engine::KeyTask {
 public:
  static constexpr uint64_t kDumpMaxBytes = 256u << 10;
  static constexpr uint64_t kDumpMaxElements = 256;
  static constexpr uint64_t kChunkBytes = 256u << 10;
  static constexpr uint64_t kChunkElements = 256;
  static constexpr std::size_t kMaxStreaming = 16;

  explicit VerifyTask(VerifyOptions options) : opts_(options) {}

  void attach(engine::Engine& engine) override;
  void start(uint32_t j) override;
  void on_reply(uint32_t j, uint8_t op, resp::Reply reply) override;
  void resend(uint32_t j) override;
  void give_up(uint32_t j) override;
  void finished(uint32_t j) override;

  std::vector<report::Difference> take_differences() { return std::move(differences_); }

 private:
  using Side = engine::Engine::Side;
  enum Op : uint8_t {
    kSrcType = engine::Engine::kFirstTaskOp,
    kDstType,
    kSrcPttl,
    kDstPttl,
    kSrcSize,
    kDstSize,
    kSrcDump,
    kDstDump,
    kSrcChunk,  // lockstep: GETRANGE, LRANGE, XRANGE, XINFO
    kDstChunk,
    kScan,       // SSCAN, HSCAN, ZSCAN on the source
    kLookup,     // SMISMEMBER, HMGET, ZMSCORE on the destination
    kLookupOne,  // SISMEMBER, ZSCORE: one per member
    kSha,
    kDelete,
    kSrcFieldTtl,  // HPTTL of a hash chunk's fields
    kDstFieldTtl,
    kParkOnly,  // never sent: parks a job on a side that is down
  };
  enum Stage : uint8_t { kStageHead = 1, kStageSize, kStageDump, kStageStream, kStageSha, kStageDelete };
  enum class Kind : uint8_t { kString, kList, kSet, kZset, kHash, kStream, kOther };
  enum StreamStep : uint8_t { kEntries = 0, kInfo, kGroups };

  struct SideRead {
    std::string type;
    int64_t pttl = -2;
    int64_t size = -1;
  };

  struct State {
    int pending = 0;
    SideRead src, dst;
    Kind kind = Kind::kOther;
    bool ttl_ok = true;
    resp::Reply held;  // the first reply of a lockstep pair
    bool held_src = false;
    bool streaming = false;  // holds one of the kMaxStreaming slots
    bool waiting = false;    // waits for one
    uint64_t offset = 0;     // GETRANGE byte / LRANGE index
    std::string cursor;      // SSCAN/HSCAN/ZSCAN cursor, or the next XRANGE start
    uint8_t step = kEntries;
    bool last_chunk = false;
    resp::Reply chunk;                 // the source's scan chunk, while the destination is asked about it
    std::vector<resp::Reply> singles;  // one-per-member lookup replies
    resp::Reply src_ttls, dst_ttls;    // a hash chunk's HPTTL answers
    bool field_ttl_phase = false;      // the chunk's values matched; its field TTLs are asked
    std::string sha;                   // cleanup: SHA-1 of the source's DUMP that was compared
    bool use_eval = false;             // the cleanup script is not in the source's script cache
    std::chrono::steady_clock::time_point read_at{};  // when both PTTLs were sent
  };

  // Sends to both sides, or parks the job on the side that is down and returns false (resend() comes back).
  bool both_up(uint32_t j);
  bool up(uint32_t j, Side side);
  bool abandon_if_failing(uint32_t j);
  void send(uint32_t j, Side side, std::initializer_list<std::string_view> args, uint8_t op);
  void send_args(uint32_t j, Side side, const std::vector<std::string_view>& args, uint8_t op);
  // An error (or malformed) reply: the engine's handling (redirects, retries, fatal conditions) or a per-key
  // failure.
  void reply_error(uint32_t j, Side side, const char* command, const redisReply* r);
  // Collects one reply of a lockstep pair; true with both in `src` and `dst`.
  bool pair(State& st, bool from_src, resp::Reply& reply, resp::Reply& src, resp::Reply& dst);

  void head(uint32_t j);
  void on_head(uint32_t j, uint8_t op, const redisReply* r);
  void size(uint32_t j);
  void on_size(uint32_t j, uint8_t op, const redisReply* r);
  void dump(uint32_t j);
  void on_dump(uint32_t j, uint8_t op, resp::Reply reply);
  void begin_stream(uint32_t j);
  void sha(uint32_t j);
  void on_sha(uint32_t j, const redisReply* r);
  void stream(uint32_t j);
  void on_chunk(uint32_t j, uint8_t op, resp::Reply reply);
  void on_scan(uint32_t j, resp::Reply reply);
  void lookup(uint32_t j);
  void on_lookup(uint32_t j, uint8_t op, resp::Reply reply);
  void check_lookup(uint32_t j, const redisReply* multi);
  // The chunk is done: the next one, or the end of the value.
  void chunk_done(uint32_t j);
  void field_ttls(uint32_t j);
  void on_field_ttl(uint32_t j, uint8_t op, resp::Reply reply);
  void compare_stream_info(uint32_t j, const redisReply* s, const redisReply* d);
  void compare_groups(uint32_t j, const redisReply* s, const redisReply* d);

  void value_equal(uint32_t j);
  void difference(uint32_t j, const char* kind, std::string detail);
  void remove(uint32_t j);
  void on_delete(uint32_t j, const redisReply* r);
  void release_stream_slot(uint32_t j);

  VerifyOptions opts_;
  engine::Engine* engine_ = nullptr;
  std::vector<State> state_;
  scripts::ScriptCommands source_scripts_;  // EVALSHA / UNLINK on the source, as probed at start
  std::size_t streaming_ = 0;
  std::deque<uint32_t> waiters_;
  bool skip_dump_ = false;  // the two sides write different RDB versions: payloads never match
  std::vector<report::Difference> differences_;
};

}  // namespace rmig::verify
