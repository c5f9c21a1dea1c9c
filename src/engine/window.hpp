#pragma once
// The bounded window: job slots (--window-keys) and the bytes the jobs hold (--window-bytes: DUMP payloads,
// rewrite-path chunks in flight). A key whose payload has not arrived is charged estimate(): the running mean
// of payload sizes; before any size is known, the whole byte budget (one key at a time) until a first payload
// arrives, and nothing once a key finished without one (docs/internals.md, "Window estimates"). No sockets.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace rmig::engine {

class Window {
 public:
  // `keys` slots (at least one), `bytes` of payloads held at once.
  Window(std::size_t keys, std::size_t bytes);

  std::size_t slots() const noexcept { return slots_; }
  std::size_t active() const noexcept { return slots_ - free_.size(); }
  std::size_t bytes_held() const noexcept { return bytes_held_; }
  // A slot is free and the bytes held are under the limit.
  bool has_room() const noexcept { return !free_.empty() && bytes_held_ < bytes_; }
  // The slot admit() takes next (has_room() must be true).
  uint32_t next_slot() const noexcept { return free_.back(); }
  // A job's share of the bytes is two numbers the job keeps: `estimate`, charged at dispatch until its real
  // size is known, and `held`, the real bytes it holds (a payload, or chunks in flight).
  //
  // Takes next_slot() for a new job and charges it the estimate.
  void admit(std::size_t& estimate, std::size_t& held) {
    free_.pop_back();
    held = 0;
    estimate = this->estimate();
    bytes_held_ += estimate;
    if (estimate > 0) ++estimated_keys_;
  }
  // The job now holds `bytes` (replacing its estimate and what it held before). `payload`: a payload whose
  // size teaches the estimate (only the first one of a job, which was charged an estimate).
  void hold(std::size_t& estimate, std::size_t& held, std::size_t bytes, bool payload) {
    const bool first = estimate > 0;
    drop_estimate(estimate);
    bytes_held_ -= held;
    held = bytes;
    bytes_held_ += bytes;
    if (first && payload) learn(bytes);
  }
  // The job is done: its slot and bytes return to the window.
  void release(uint32_t slot, std::size_t& estimate, std::size_t& held) {
    drop_estimate(estimate);
    any_done_ = true;
    bytes_held_ -= held;
    held = 0;
    free_.push_back(slot);
  }
  // Keys in flight still charged an estimate (waiting for the source).
  std::size_t estimated_keys() const noexcept { return estimated_keys_; }
  // The running mean of payload sizes (0: none known yet).
  double mean_payload() const noexcept { return mean_; }
  // The charge of the next key dispatched.
  std::size_t estimate() const noexcept {
    if (mean_ > 0) return mean_ < 1 ? 1 : static_cast<std::size_t>(mean_);
    return any_done_ ? 0 : bytes_;
  }
  // Most keys in the window have their payload and wait for the destination's answers.
  bool waiting_for_destination() const noexcept {
    return active() > 0 && (active() - estimated_keys_) * 2 >= active();
  }

 private:
  void drop_estimate(std::size_t& estimate) noexcept {
    if (estimate == 0) return;
    bytes_held_ -= estimate;
    estimate = 0;
    --estimated_keys_;
  }
  // A payload of `bytes` joins the running mean.
  void learn(std::size_t bytes) noexcept;

  std::size_t slots_;
  std::size_t bytes_;
  std::vector<uint32_t> free_;
  std::size_t bytes_held_ = 0;
  double mean_ = 0;        // running mean of payload sizes
  bool any_done_ = false;  // a key has finished (before that, nothing says whether payloads are held)
  std::size_t estimated_keys_ = 0;
};

}  // namespace rmig::engine
