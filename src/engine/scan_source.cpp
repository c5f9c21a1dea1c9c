#include "engine/scan_source.hpp"

#include <algorithm>

#include "resp/reply.hpp"

namespace rmig::engine {

uint32_t key_hash(std::string_view key) noexcept {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : key) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return static_cast<uint32_t>(h ^ (h >> 32));
}

ScanSource::ScanSource(std::string name, std::string match, std::string type, std::size_t count, uint8_t mode)
    : name_(std::move(name)),
      match_(std::move(match)),
      type_(std::move(type)),
      count_(count),
      count_text_(std::to_string(count)),
      mode_(mode) {}

std::unique_ptr<ScanSource> ScanSource::of_keys(std::string name, std::vector<std::string> keys) {
  auto s = std::make_unique<ScanSource>(std::move(name), std::string(), std::string(), 0);
  s->scan_done_ = true;
  if (keys.empty()) return s;
  Batch batch;
  batch.seq = s->next_batch_++;
  batch.next_cursor = "0";
  for (auto& k : keys) {
    s->queue_.push_back(QueuedKey{std::move(k), batch.seq});
    ++batch.pending;
  }
  s->batches_.push_back(std::move(batch));
  return s;
}

std::size_t ScanSource::request(std::string_view* args, std::size_t capacity) {
  if (!wants_keys() || capacity < 8) return 0;
  scanning_ = true;
  std::size_t argc = 0;
  args[argc++] = "SCAN";
  args[argc++] = cursor_;
  if (!match_.empty()) {
    args[argc++] = "MATCH";
    args[argc++] = match_;
  }
  args[argc++] = "COUNT";
  args[argc++] = count_text_;
  if (!type_.empty()) {
    args[argc++] = "TYPE";
    args[argc++] = type_;
  }
  return argc;
}

FetchOutcome ScanSource::on_fetched(const redisReply* r) {
  scanning_ = false;
  if (r == nullptr) return FetchOutcome{FetchOutcome::kLost, resp::ServerError::kOther, {}};
  if (resp::is_error(r)) {
    const std::string_view msg = resp::text(r);
    return FetchOutcome{FetchOutcome::kError, resp::classify_error(msg), std::string(msg)};
  }
  if (!resp::is_array(r) || r->elements != 2 || !resp::is_string(r->element[0]) ||
      !resp::is_array(r->element[1])) {
    return FetchOutcome{FetchOutcome::kMalformed, resp::ServerError::kOther, resp::describe(r)};
  }
  cursor_.assign(r->element[0]->str, r->element[0]->len);
  const redisReply* keys = r->element[1];
  Batch batch;
  batch.seq = next_batch_++;
  batch.epoch = epoch_;
  batch.next_cursor = cursor_;
  for (std::size_t i = 0; i < keys->elements; ++i) {
    const redisReply* k = keys->element[i];
    if (!resp::is_string(k)) continue;
    queue_.push_back(QueuedKey{std::string(k->str, k->len), batch.seq, mode_});
    ++batch.pending;
  }
  batches_.push_back(std::move(batch));
  FetchOutcome out;
  out.moved = settle(~0ull);  // an empty batch completes at once
  if (cursor_ == "0") scan_done_ = true;
  return out;
}

QueuedKey ScanSource::take() {
  QueuedKey q = std::move(queue_.front());
  queue_.pop_front();
  return q;
}

ScanSource::Batch* ScanSource::batch_of(uint64_t seq) noexcept {
  if (batches_.empty() || seq < batches_.front().seq) return nullptr;
  const uint64_t i = seq - batches_.front().seq;
  return i < batches_.size() ? &batches_[i] : nullptr;
}

report::Counters& ScanSource::counters(uint64_t batch) noexcept {
  Batch* b = batch_of(batch);
  return b != nullptr ? b->counters : committed_;
}

bool ScanSource::settle(uint64_t seq) {
  if (Batch* b = batch_of(seq); b != nullptr && b->pending > 0) --b->pending;
  bool moved = false;
  while (!batches_.empty() && batches_.front().pending == 0) {
    committed_ += batches_.front().counters;
    // A batch of an earlier epoch came from another server: its cursor means nothing on this one.
    if (batches_.front().epoch == epoch_) {
      safe_cursor_ = batches_.front().next_cursor;
      if (epoch_ > 0) rescan_committed_ += batches_.front().counters;
    }
    // Every key an earlier attempt may have written is past: its record of them is no longer needed.
    if (recheck_ == 0 && batches_.front().seq >= recheck_last_batch_) written_before_.clear();
    batches_.pop_front();
    moved = true;
  }
  return moved;
}

report::Counters ScanSource::totals() const {
  report::Counters c = committed_;
  for (const auto& b : batches_)
    c += b.counters;
  return c;
}

NodeProgress ScanSource::progress() const {
  NodeProgress p{name_,      safe_cursor_,    scan_done_ && batches_.empty() && queue_.empty(),
                 committed_, written_before_, server_};
  if (epoch_ > 0 && !p.complete) {
    // The new scan's keys before its cursor, each once: a key met before the restart (a duplicate now) is
    // one that was already there for a run resumed from this point.
    p.counters = rescan_committed_;
    p.counters.scanned += p.counters.duplicates;
    p.counters.skipped += p.counters.duplicates;
    p.counters.duplicates = 0;
  }
  for (const auto& b : batches_)
    p.written.insert(p.written.end(), b.written.begin(), b.written.end());
  std::sort(p.written.begin(), p.written.end());
  p.written.erase(std::unique(p.written.begin(), p.written.end()), p.written.end());
  return p;
}

void ScanSource::resume(const NodeProgress& p, uint64_t recheck_keys) {
  committed_ = p.counters;
  resumed_ = p.complete ? report::Counters() : p.counters;
  resumed_server_ = p.server;
  server_ = p.server;
  check_resumed_server_ = !p.complete && p.cursor != "0";
  cursor_ = p.complete ? "0" : p.cursor;
  safe_cursor_ = cursor_;
  scan_done_ = p.complete;
  recheck_ = p.complete ? 0 : recheck_keys;
  written_before_ = p.complete ? std::vector<uint32_t>() : p.written;
  std::sort(written_before_.begin(), written_before_.end());
}

bool ScanSource::recheck(uint64_t batch) {
  if (recheck_ == 0) return false;
  --recheck_;
  recheck_last_batch_ = batch;
  return true;
}

void ScanSource::wrote(uint64_t batch, uint32_t hash) {
  if (Batch* b = batch_of(batch); b != nullptr) b->written.push_back(hash);
}

bool ScanSource::restart() {
  if (scan_done_ || stopped_) return false;  // every key was listed: the ones in flight are read anew
  ++epoch_;
  // Keys still waiting are listed again by the new scan: dropped (their batches settle, uncounted).
  while (!queue_.empty()) {
    const uint64_t seq = queue_.front().batch;
    queue_.pop_front();
    if (Batch* b = batch_of(seq); b != nullptr && b->pending > 0) --b->pending;
  }
  cursor_ = "0";
  safe_cursor_ = "0";
  scanning_ = false;  // a reply still on its way is of the old epoch: dropped by the caller
  rescan_committed_ = {};
  // An earlier attempt's records name keys of the old position: the new scan meets them again as duplicates
  // of this run, or as keys already there.
  recheck_ = 0;
  written_before_.clear();
  // A resumed source: the earlier attempts counted the keys before the resumed cursor, and the new scan meets
  // every one of them still on the source again, unknown to this process's seen filter (it counts them as it
  // finds them: skipped, as they are on the destination). Their earlier counts go, so each key counts once;
  // the keys that left the source (deleted by --cleanup, expired, vanished) are not met again and keep
  // theirs.
  const report::Counters& r = resumed_;
  const uint64_t gone = r.deleted + r.expired + r.vanished;
  auto take = [](uint64_t& from, uint64_t n) { from -= std::min(from, n); };
  take(committed_.scanned, r.scanned > gone ? r.scanned - gone : 0);
  take(committed_.copied, r.copied > r.deleted ? r.copied - r.deleted : 0);
  take(committed_.skipped, r.skipped);
  take(committed_.failed, r.failed);
  take(committed_.merged, r.merged);
  take(committed_.conflicts, r.conflicts);
  take(committed_.cleanup_kept, r.cleanup_kept);
  take(committed_.cleanup_failed, r.cleanup_failed);
  resumed_ = {};
  (void)settle(~0ull);  // old batches emptied by the drop complete now (their counters, not their cursor)
  return true;
}

bool ScanSource::identify(const std::string& run_id) {
  const bool other =
      check_resumed_server_ && (run_id.empty() || resumed_server_.empty() || run_id != resumed_server_);
  check_resumed_server_ = false;
  server_ = run_id;
  return other;
}

bool ScanSource::written_before(uint32_t hash) const noexcept {
  return !written_before_.empty() && std::binary_search(written_before_.begin(), written_before_.end(), hash);
}

}  // namespace rmig::engine
