#pragma once
// The rewrite path's translators: a reply of the source's read commands becomes the write commands that
// rebuild it under the temporary key, one function per type. They are pure (no engine, no connection): the
// Rewriter (copy/rewrite/rewriter.hpp) sends what they produce.
//
//   string  GETRANGE (kStringChunk bytes)   -> SET, then APPEND
//   list    LRANGE (Cursor::count items)     -> RPUSH (order kept)
//   set     SSCAN                            -> SADD
//   zset    ZSCAN                            -> ZADD score member, pairs in reverse (scores as the server
//                                               prints them: exact doubles)
//   hash    HSCAN (+ HPTTL of the fields)    -> HSET, then HPEXPIREAT (HPEXPIRE without a known clock) per
//                                               distinct field expiry
//   stream  XRANGE (Cursor::count entries)   -> XADD with the original IDs; XINFO STREAM / GROUPS ->
//           XSETID and XGROUP CREATE/SETID; XINFO CONSUMERS -> XGROUP CREATECONSUMER; XPENDING -> XCLAIM
//
// Views in a Writes point into the reply translated, the temporary key's name and the Writes' own storage:
// they stay valid while those live and the Writes is not cleared.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "copy/merge.hpp"
#include "engine/clock.hpp"
#include "engine/options.hpp"
#include "resp/reply.hpp"
#include "util/int_text.hpp"
#include "value/kind.hpp"

namespace rmig::copy::rewrite {

inline constexpr std::size_t kStringChunk = 1u << 20;   // bytes per GETRANGE
inline constexpr std::size_t kChunkBytes = 1u << 20;    // target bytes per collection read
inline constexpr std::size_t kMaxChunkElements = 1000;  // elements per command at most
inline constexpr std::size_t kPendingPage = 1000;       // XPENDING entries per read

// Commands to send in order, each with the value bytes it carries (what the window is charged for it).
class Writes {
 public:
  void clear() noexcept;
  // Starts a command.
  void begin();
  // Adds a word to the command begun last; add_value() also counts its bytes as value bytes.
  void add(std::string_view word) { words_.push_back(word); }
  void add_value(std::string_view word);
  // Adds a word the Writes keeps a copy of (a number printed, a name parsed from a reply).
  void add_copy(std::string text);
  // Removes the command begun last.
  void cancel() noexcept;

  std::size_t size() const noexcept { return commands_.size(); }
  bool empty() const noexcept { return commands_.empty(); }
  std::span<const std::string_view> command(std::size_t i) const noexcept;
  std::size_t bytes(std::size_t i) const noexcept { return commands_[i].bytes; }

 private:
  struct Command {
    std::size_t first = 0;
    std::size_t bytes = 0;
  };
  std::vector<std::string_view> words_;
  std::vector<Command> commands_;
  std::deque<std::string> kept_;  // stable addresses for add_copy()
};

// Where the next read of a key starts.
struct Cursor {
  std::string cursor = "0";  // SSCAN/ZSCAN/HSCAN cursor, or the next stream ID ("-" at the start)
  int64_t offset = 0;        // string byte offset, list index
  std::size_t count = kMaxChunkElements;  // elements per read
  bool done = false;                      // the last chunk was read
};

// The cursor of a key's first read.
Cursor first_cursor(value::Kind kind);

// The command that reads the next chunk of `key` (words valid while this object and `key` live).
class ReadCommand {
 public:
  ReadCommand(value::Kind kind, const Cursor& at, std::string_view key);
  ReadCommand(const ReadCommand&) = delete;
  ReadCommand& operator=(const ReadCommand&) = delete;
  std::span<const std::string_view> words() const noexcept { return {words_.data(), count_}; }

 private:
  IntText from_, to_, count_text_;
  std::array<std::string_view, 6> words_{};
  std::size_t count_ = 0;
};

// The command name of a kind's reads, for messages.
const char* read_name(value::Kind kind) noexcept;

// The element count of the next read, aiming at kChunkBytes whatever the element size, from what the last
// read brought (`current` when it brought nothing).
std::size_t adapt_count(std::size_t bytes, std::size_t elements, std::size_t current) noexcept;

struct Chunk {
  enum class Status : uint8_t {
    kOk,
    kMalformed,    // the reply is not what the read command returns
    kEmptyString,  // a first GETRANGE read nothing: an empty string, or a key deleted since TYPE (ask EXISTS)
    kFieldTtlsRefused,  // a field has a TTL the destination cannot hold (and --drop-field-ttls is not given)
  };
  Status status = Status::kOk;
  std::size_t bytes = 0;     // value bytes read
  std::size_t elements = 0;  // elements read (fields, members, items, entries)
};

// One chunk of a string, list, set, zset or stream (not a hash: see below). Advances `at` (done, offset,
// cursor) and appends the writes; `first`: nothing was written to the temporary key yet.
Chunk translate(value::Kind kind, const redisReply* reply, Cursor& at, std::string_view temp, bool first,
                Writes& out);
Chunk translate_string(const redisReply* reply, Cursor& at, std::string_view temp, bool first, Writes& out);
Chunk translate_list(const redisReply* reply, Cursor& at, std::string_view temp, Writes& out);
Chunk translate_set(const redisReply* reply, Cursor& at, std::string_view temp, Writes& out);
Chunk translate_zset(const redisReply* reply, Cursor& at, std::string_view temp, Writes& out);
Chunk translate_stream(const redisReply* reply, Cursor& at, std::string_view temp, Writes& out);

// The element array of a SSCAN/ZSCAN/HSCAN reply, advancing `at`; nullptr when malformed (or, `pairs`, of
// odd length).
const redisReply* scan_page(const redisReply* reply, Cursor& at, bool pairs);

// ---- hashes ----

// HPTTL key FIELDS n f1 ... fn for the fields of an HSCAN page (`items`: field, value, ...).
void field_ttl_query(std::string_view key, const redisReply* items, Writes& out);

// Where the field TTLs go.
struct FieldTtlTarget {
  bool destination_has = true;  // the destination has hash field expiration
  bool drop = false;            // --drop-field-ttls
  // The destination's clock: known, expiries go as absolute times (HPEXPIREAT), else as remaining ms.
  const engine::ServerClock* clock = nullptr;
  std::chrono::steady_clock::time_point asked_at{};  // when HPTTL was sent
  int64_t in_flight_ns = 0;                          // time since then
};

struct HashChunk : Chunk {
  uint64_t fields_expired = 0;  // fields left out: their TTL ran out in flight
  bool dropped = false;         // a field TTL was dropped (--drop-field-ttls)
  bool expiring = false;        // the writes set field TTLs (HPEXPIREAT follows HSET)
};

// An HSCAN page and its fields' HPTTL answers (`ttls` null: none read) -> HSET, then one HPEXPIREAT per
// distinct expiry. A field gone since HSCAN (-2) or whose time ran out in flight is left out.
HashChunk translate_hash(const redisReply* items, const redisReply* ttls, const FieldTtlTarget& target,
                         std::string_view temp, Writes& out);

// ---- streams ----

// The smallest stream ID after `id` ("ms-seq"); empty when `id` does not parse or is the largest.
std::string next_stream_id(std::string_view id);

struct StreamInfo {
  std::string last_id;  // last-generated-id (empty: malformed)
  std::string entries_added;
  std::string max_deleted;
};
struct StreamGroup {
  std::string name;
  std::string last_delivered;
  std::string entries_read;  // empty: unknown
};

StreamInfo parse_stream_info(const redisReply* reply);
// false when malformed.
bool parse_stream_groups(const redisReply* reply, std::vector<StreamGroup>& groups);
// The writes that make the temporary stream (MKSTREAM when no entry was written: `created` false) and give
// it its last ID (XSETID with ENTRIESADDED / MAXDELETEDID where the destination has them) and its groups.
void stream_setup(const StreamInfo& info, const std::vector<StreamGroup>& groups, bool created,
                  const engine::DestinationTraits& destination, std::string_view temp, Writes& out);
// XINFO CONSUMERS of `group` -> XGROUP CREATECONSUMER (where the destination has it). Returns the consumers
// that cannot be recreated (no CREATECONSUMER and no pending entries), or -1 when malformed.
int64_t stream_consumers(const redisReply* reply, std::string_view group,
                         const engine::DestinationTraits& destination, std::string_view temp, Writes& out);
// An XPENDING page of `group` -> XCLAIM temp group consumer 0 id IDLE ms RETRYCOUNT n FORCE JUSTID per
// entry. Returns false when malformed; `next` is where the next page starts, empty when this was the last.
bool stream_pending(const redisReply* reply, std::string_view group, std::string_view temp, Writes& out,
                    std::string& next);

}  // namespace rmig::copy::rewrite
