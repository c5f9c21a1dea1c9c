#pragma once
// The fetch stage: PTTL and DUMP of the source key, pipelined back to back, with the time the PTTL was sent
// (Job::sent_at). The payload ends up held by the job (Job::payload_view, Engine::hold) and its PTTL in
// Job::pttl. A vanished key (PTTL -2 or DUMP nil) is counted and its job ended here, as is a key whose
// commands fail; in a live run (Job::live) a vanished key is Step::kGone instead: its destination name goes.
//
// In auto mode (and in a plan with any mode but dump) with a --big-key-threshold, the key's size is asked
// first (MEMORY USAGE with the default sampling: O(1) for small keys), so a big key is never DUMPed whole: it
// is recorded (big_keys(), Counters::big_keys) and reported as Step::kBigKey with Job::type set. A source
// node that refuses MEMORY is sized with TYPE and the type's length command (STRLEN exactly, a collection at
// kElementEstimate bytes per element); one that refuses those too is not sized (its keys are DUMPed whole).
//
// --keep-idle: OBJECT IDLETIME or FREQ goes before the DUMP (which resets the idle time); idle() gives it.
//
// String reads (CopyOptions::string_payload_rdb, a copy in auto mode; never a plan, never a live run's
// change): a string costs the source less read with GETRANGE than DUMPed (no serialisation, no compression
// attempt, no CRC), so on a source node whose keys are mostly strings a key's TYPE is asked first, in place
// of MEMORY USAGE (a selection by type has asked it already), and a string is read with PTTL + GETRANGE 0 N
// (N = the threshold, at most kStringReadMax bytes): its payload is then built (value/string_payload.hpp). A
// string longer than N, an empty one (or one deleted between its PTTL and its GETRANGE), one whose type
// changed since its TYPE (WRONGTYPE) take the usual way (size check, DUMP). The share of strings is learned
// per node from TYPE replies and DUMP payloads' type byte (the mean of the keys seen and four strings, then a
// moving average over about the last 64): under one half, the node's keys are not TYPEd first (a TYPE costs
// more than the strings save). After kUntypedAfter strings in a row (long or empty ones neither count nor
// break the run), a node's keys are read without their TYPE (it costs the source a third of a string's reads)
// until one answers GETRANGE with WRONGTYPE: that key goes the usual way, and the node's keys are TYPEd first
// for the rest of the run (said once, info). So a node of strings only meets no error, and any node at most
// the keys of other types among the reads in flight when the first WRONGTYPE came back (an error reply each,
// in the source's INFO errorstats). A node that refuses TYPE or GETRANGE (ACL, renamed) is DUMPed.

#include <cstdint>
#include <string>
#include <vector>

#include "copy/op_range.hpp"
#include "engine/engine.hpp"
#include "report/counters.hpp"

namespace rmig::copy {

class FetchStage {
 public:
  static constexpr uint8_t kOpCount = 8;
  // Bytes per element assumed for a collection when MEMORY USAGE is refused: about what a small element costs
  // in a hash table.
  static constexpr uint64_t kElementEstimate = 64;

  // What a reply leads to. kWait: more replies are due, or the stage ended the job itself.
  enum class Step : uint8_t { kWait, kFetched, kBigKey, kGone };

  // The longest string read with GETRANGE; a longer one is DUMPed (or rewritten when big).
  static constexpr uint64_t kStringReadMax = 64 * 1024;
  // After this many strings read in a row on a node, its keys are read as strings without a TYPE first.
  static constexpr uint32_t kUntypedAfter = 256;

  explicit FetchStage(OpRange ops) noexcept : ops_(ops) {}
  // `string_reads`: strings may be read with GETRANGE (a copy task; a plan counts DUMP payloads).
  void attach(engine::Engine& engine, bool string_reads = false);
  bool owns(uint8_t op) const noexcept { return ops_.owns(op); }

  // A new job in slot j: its state from the previous one goes (once per job, before start).
  void reset(uint32_t j) { state_[j] = State{}; }
  // Starts job j: the size check where one is needed, else the fetch.
  void start(uint32_t j);
  // Sends the current step of job j again (after a reconnection, a redirect or a retry).
  void resend(uint32_t j);
  Step on_reply(uint32_t j, uint8_t op, resp::Reply& reply);

  // --keep-idle: the key's OBJECT IDLETIME (seconds) or OBJECT FREQ read before its DUMP; -1 when not read.
  int64_t idle(uint32_t j) const noexcept { return state_[j].idle; }
  // The size of a key reported as kBigKey (MEMORY USAGE, or its length estimate).
  uint64_t big_size(uint32_t j) const noexcept { return state_[j].size; }
  // The big keys found (the first BigKeys::kMaxListed; Counters::big_keys counts them all).
  const report::BigKeys& big_keys() const noexcept { return big_keys_; }

 private:
  enum Op : uint8_t { kPttl, kDump, kSize, kSizeType, kLength, kObject, kType, kRange };
  enum class Phase : uint8_t { kIdle, kType, kString, kSize, kFetch };
  // How a source node's keys are sized: MEMORY USAGE, TYPE + length, or not at all (both refused).
  enum class SizeMode : uint8_t { kByMemory, kByLength, kUnsized };

  struct State {
    Phase phase = Phase::kIdle;
    std::string error;  // the PTTL's error, reported with the DUMP's reply
    uint64_t size = 0;  // MEMORY USAGE of a big key while its TYPE is asked; then its size
    int64_t idle = -1;  // see idle()
    // --keep-idle: OBJECT went before the string read, which touched the key: a fallback to DUMP keeps the
    // idle time read then instead of asking again.
    bool idle_read = false;
    bool untyped = false;  // read as a string without its TYPE (see wrong_type())
  };

  // Per source node: the string reads' state.
  struct NodeStrings {
    double share = 1.0;    // average of "the key was a string" (see learn())
    uint32_t seen = 0;     // keys learned from
    uint32_t run = 0;      // strings read in a row (up to kUntypedAfter): past it, TYPE is not asked
    bool mixed = false;    // a GETRANGE answered WRONGTYPE: TYPE first for good
    bool refused = false;  // TYPE or GETRANGE refused: every key is DUMPed
  };

  uint8_t op(Op o) const noexcept { return ops_.at(o); }
  // The usual way: the size check where one is needed, else PTTL + DUMP.
  void size_or_fetch(uint32_t j);
  bool needs_size(uint32_t node) const noexcept;
  NodeStrings& strings(uint32_t node);
  // `readable`: the key was a string the read takes (the share of strings); `string_type`: it was a string at
  // all (the run of strings).
  void learn(uint32_t node, bool readable, bool string_type);
  uint64_t string_read_max() const noexcept;
  void ask_type(uint32_t j);
  void read_string(uint32_t j);
  // GETRANGE answered WRONGTYPE to job j, read without its TYPE: the node's keys are TYPEd first from now on
  // (said once).
  void wrong_type(uint32_t j);
  // PTTL and the value's read (DUMP, or a string's GETRANGE) back to back, OBJECT first with --keep-idle; the
  // time PTTL is sent noted.
  void read_value(uint32_t j, Phase phase, const std::string_view* read, std::size_t argc, Op code);
  Step on_type(uint32_t j, const redisReply* r);
  // The PTTL sent before the value's read answered an error: handled (a redirect, a retry) or the key failed.
  bool pttl_failed(uint32_t j);
  Step on_range(uint32_t j, resp::Reply& reply);
  // TYPE or GETRANGE refused on job j's node (said once): its keys are DUMPed from now on.
  void strings_refused(uint32_t j, std::string_view command, std::string_view message);
  void fetch(uint32_t j);
  void check_size(uint32_t j);
  Step on_size(uint32_t j, const redisReply* r);
  Step on_size_type(uint32_t j, const redisReply* r);
  Step on_length(uint32_t j, const redisReply* r);
  void on_object(uint32_t j, const redisReply* r);
  Step on_dump(uint32_t j, resp::Reply& reply);
  Step found_big(uint32_t j, uint64_t size);
  // The key is gone from the source: counted vanished and ended, or kGone in a live run.
  Step vanished(uint32_t j, bool example);
  SizeMode size_mode(uint32_t node) const noexcept;
  // `command` was refused as a command on job j's node: size its keys the next way (said once), and go on.
  void refused(uint32_t j, SizeMode mode, std::string_view command, std::string_view message);

  OpRange ops_;
  engine::Engine* engine_ = nullptr;
  std::vector<State> state_;         // per job slot
  std::vector<SizeMode> size_mode_;  // per source node
  bool string_reads_ = false;
  std::vector<NodeStrings> strings_;  // per source node
  bool idle_refused_ = false;         // OBJECT was refused once: said once, not sent again
  report::BigKeys big_keys_;
};

}  // namespace rmig::copy
