#pragma once
// The keys of one source node by SCAN (or a list given beforehand). The cursor rule: the keys of one SCAN
// reply form a batch; batches complete in SCAN order, so when the oldest batch has no key pending, its
// counters join the node's committed counters and the cursor after it becomes the checkpoint cursor. The
// checkpoint cursor therefore never passes a key that is not done, and the counters saved with it are those
// of the keys before it.
//
// After restart() (the node's keys now come from another server: a source failover, a restarted server) the
// scan begins again at "0" in a new epoch. The cursor belongs to the new server from then on: batches of an
// earlier epoch still settle their counters, but only a batch of the current epoch moves the checkpoint
// cursor. Until the new scan is complete, the checkpoint's counters are those of the new scan's keys before
// its cursor, a key the run had met before the restart counted as already there (skipped): a run resumed
// from it continues the new scan and counts each key of the new server once.

#include <cstddef>
#include <deque>
#include <string>
#include <vector>

#include "engine/key_source.hpp"

namespace rmig::engine {

class ScanSource final : public KeySource {
 public:
  // `match`, `type`: SCAN's MATCH and TYPE arguments (empty: none); `count`: the COUNT hint, and how many
  // keys may wait before the next SCAN is sent; `mode`: the LiveMode its keys carry (QueuedKey::mode).
  ScanSource(std::string name, std::string match, std::string type, std::size_t count, uint8_t mode = 0);
  // A source of these keys only (one batch, no SCAN): a sample chosen beforehand.
  static std::unique_ptr<ScanSource> of_keys(std::string name, std::vector<std::string> keys);

  const std::string& name() const noexcept override { return name_; }
  bool wants_keys() const noexcept override {
    return !scanning_ && !scan_done_ && !stopped_ && queue_.size() < count_;
  }
  std::size_t request(std::string_view* args, std::size_t capacity) override;
  FetchOutcome on_fetched(const redisReply* reply) override;
  bool has_key() const noexcept override { return !queue_.empty(); }
  QueuedKey take() override;
  const std::string* peek(std::size_t ahead) const noexcept override {
    return ahead < queue_.size() ? &queue_[ahead].key : nullptr;
  }
  void stop() override {
    queue_.clear();
    stopped_ = true;
  }
  // A stopped source is exhausted too once its queue is empty and no SCAN is on its way.
  bool exhausted() const noexcept override {
    return (scan_done_ || stopped_) && queue_.empty() && !scanning_;
  }

  report::Counters& counters(uint64_t batch) noexcept override;
  bool settle(uint64_t batch) override;
  report::Counters totals() const override;
  NodeProgress progress() const override;

  void resume(const NodeProgress& progress, uint64_t recheck_keys) override;
  bool recheck(uint64_t batch) override;
  void wrote(uint64_t batch, uint32_t hash) override;
  bool written_before(uint32_t hash) const noexcept override;
  bool identify(const std::string& run_id) override;

  bool restart() override;
  uint32_t epoch() const noexcept override { return epoch_; }

  // Test and progress helpers.
  std::size_t waiting() const noexcept { return queue_.size(); }
  const std::string& cursor() const noexcept { return cursor_; }

 private:
  struct Batch {
    uint64_t seq = 0;
    uint32_t epoch = 0;  // the scan it came from (restart())
    std::string next_cursor;
    uint32_t pending = 0;
    report::Counters counters;
    std::vector<uint32_t> written;  // key_hash() of its keys the task wrote
  };
  Batch* batch_of(uint64_t seq) noexcept;

  std::string name_;
  std::string match_;
  std::string type_;
  std::size_t count_;
  std::string count_text_;
  uint8_t mode_ = 0;
  std::string cursor_ = "0";  // where the next SCAN starts
  bool scanning_ = false;
  bool scan_done_ = false;
  bool stopped_ = false;
  std::deque<QueuedKey> queue_;  // scanned, waiting for a job slot
  std::deque<Batch> batches_;    // batches with keys pending, oldest first
  uint64_t next_batch_ = 0;
  std::string safe_cursor_ = "0";
  report::Counters committed_;
  uint32_t epoch_ = 0;
  report::Counters rescan_committed_;  // epoch_ > 0: the committed counters of the current epoch's batches
  // After a resume: the earlier attempts' counters of the keys before the resumed cursor, until a restart
  // takes out those of keys the new scan meets again (restart()).
  report::Counters resumed_;
  std::string server_;                 // the run_id of the node's server, as last identified
  std::string resumed_server_;         // after a resume: the run_id the checkpoint's cursor belongs to
  bool check_resumed_server_ = false;  // a resumed cursor not yet checked against the server
  uint64_t recheck_ = 0;               // after a resume: keys still to treat as possibly copied already
  // After a resume: the keys the checkpoint says were written after its cursor (sorted), kept until the
  // batches of the keys marked recheck are done.
  std::vector<uint32_t> written_before_;
  uint64_t recheck_last_batch_ = 0;
};

}  // namespace rmig::engine
