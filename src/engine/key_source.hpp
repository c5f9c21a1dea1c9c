#pragma once
// Where the engine's keys come from. A key source hands out keys in batches and knows how far its keys are
// done ("done up to here", the checkpoint of one source node). Today's source is the per-node SCAN
// (ScanSource); a live change feed would be a second one.

#include <cstdint>
#include <string>
#include <vector>

#include "report/counters.hpp"
#include "resp/reply.hpp"
#include "resp/server_error.hpp"

namespace rmig::engine {

// Where a source node's keys stand, for a checkpoint: every key before `cursor` is done and counted in
// `counters`; keys after it are not (even if some were handled already).
struct NodeProgress {
  std::string name;
  std::string cursor = "0";
  bool complete = false;  // the source reached its end and every key is done
  report::Counters counters;
  // Keys after the cursor that the run wrote on the destination (key_hash() of the source key): a resumed run
  // that finds one of them already there counts it copied, any other such key skipped.
  std::vector<uint32_t> written;
  // The run_id of the server the cursor belongs to ("" when unknown: INFO refused, or an older record). A run
  // resumed on another server (or one that cannot say) scans the node again from the beginning: a SCAN cursor
  // means nothing on another server.
  std::string server;
};

// 32 bits of FNV-1a of a key name, as NodeProgress::written holds them.
uint32_t key_hash(std::string_view key) noexcept;

// A key waiting for a job slot, and the batch it came with.
struct QueuedKey {
  std::string key;
  uint64_t batch = 0;
  uint8_t mode = 0;  // engine::LiveMode of the job (0: kNone)
};

// What a source's answer to its request for keys means for the run.
struct FetchOutcome {
  // kKeys: keys (maybe none) were added; kLost: no reply (the connection dropped), ask again once it is back;
  // kError: the server answered an error; kMalformed: a reply of the wrong shape.
  enum Kind { kKeys, kLost, kError, kMalformed } kind = kKeys;
  resp::ServerError error = resp::ServerError::kOther;  // kError: the error's kind
  std::string message;                                  // kError, kMalformed: the reply
  bool moved = false;  // kKeys: the done-up-to-here point moved (an empty batch completed at once)
};

class KeySource {
 public:
  virtual ~KeySource() = default;

  // The node's identity (host:port), as reported and as checkpoints name it.
  virtual const std::string& name() const noexcept = 0;

  // -- keys --
  // More keys are wanted now: not enough wait, no request is on its way, and the source has more.
  virtual bool wants_keys() const noexcept = 0;
  // The command to send to the node for more keys, or argc 0 when none is needed now (wants_keys() false).
  // The views stay valid until on_fetched().
  virtual std::size_t request(std::string_view* args, std::size_t capacity) = 0;
  // The reply to request()'s command (null: the connection dropped; it is asked again later).
  virtual FetchOutcome on_fetched(const redisReply* reply) = 0;
  virtual bool has_key() const noexcept = 0;
  virtual QueuedKey take() = 0;
  // The key `ahead` places after the next one take() gives, when it is known already (for prefetching what
  // its job will touch); null otherwise.
  virtual const std::string* peek(std::size_t /*ahead*/) const noexcept { return nullptr; }
  // Drops the keys waiting and asks for no more (the run stops).
  virtual void stop() = 0;
  // No key waits, none is asked for, and none will come.
  virtual bool exhausted() const noexcept = 0;

  // -- done up to here --
  // The counters of a key of `batch` (the batch's until it completes, then the committed ones).
  virtual report::Counters& counters(uint64_t batch) noexcept = 0;
  // A key of `batch` is done (also for a key never handed out: filtered). True when the done-up-to-here
  // point moved.
  virtual bool settle(uint64_t batch) = 0;
  // Every counter: committed and of the batches still pending.
  virtual report::Counters totals() const = 0;
  virtual NodeProgress progress() const = 0;

  // -- resuming --
  // Continues from a checkpoint: the source starts at its point, with its counters; the first
  // `recheck_keys` keys handed out are to be rechecked (recheck()). Call before the first request().
  virtual void resume(const NodeProgress& progress, uint64_t recheck_keys) = 0;
  // A key of `batch` is handed to a task: whether the previous attempt may have written it already.
  virtual bool recheck(uint64_t batch) = 0;
  // The task wrote a key of `batch` (hash: key_hash()): recorded until the batch is done.
  virtual void wrote(uint64_t batch, uint32_t hash) = 0;
  // Whether the checkpoint this run resumed records the key as written by an earlier attempt.
  virtual bool written_before(uint32_t hash) const noexcept = 0;
  // The node's server says it is `run_id` ("" when it cannot say), recorded with the checkpoint. True when
  // the cursor a resumed run continues belongs to another server (or either cannot say): the node must scan
  // again from the beginning (restart()).
  virtual bool identify(const std::string& /*run_id*/) { return false; }

  // -- a new server behind the node (a source failover, a restart) --
  // The node's keys now come from another server, where the old position means nothing: a source that had
  // not reached its end starts again from its beginning (true); one that had keeps going (false: the keys
  // still in flight are read on the new server). Keys of the old position still waiting or in flight settle
  // their counters as usual but never move the done-up-to-here point.
  virtual bool restart() = 0;
  // How many times restart() started the source again: a request's reply names the epoch it was sent in,
  // and a reply of an earlier epoch is dropped.
  virtual uint32_t epoch() const noexcept = 0;
};

}  // namespace rmig::engine
