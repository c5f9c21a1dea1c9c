#include "engine/window.hpp"

#include <algorithm>

namespace rmig::engine {

Window::Window(std::size_t keys, std::size_t bytes) : slots_(std::max<std::size_t>(keys, 1)), bytes_(bytes) {
  free_.reserve(slots_);
  for (std::size_t i = slots_; i-- > 0;)
    free_.push_back(static_cast<uint32_t>(i));
}

std::size_t Window::estimate() const noexcept {
  if (mean_ > 0) return std::max<std::size_t>(1, static_cast<std::size_t>(mean_));
  return any_done_ ? 0 : bytes_;
}

void Window::admit(std::size_t& estimate, std::size_t& held) {
  free_.pop_back();
  held = 0;
  estimate = this->estimate();
  bytes_held_ += estimate;
  if (estimate > 0) ++estimated_keys_;
}

void Window::drop_estimate(std::size_t& estimate) noexcept {
  if (estimate == 0) return;
  bytes_held_ -= estimate;
  estimate = 0;
  --estimated_keys_;
}

void Window::hold(std::size_t& estimate, std::size_t& held, std::size_t bytes, bool payload) {
  const bool first = estimate > 0;
  drop_estimate(estimate);
  bytes_held_ -= held;
  held = bytes;
  bytes_held_ += bytes;
  if (first && payload) {
    const auto size = std::max(static_cast<double>(bytes), 1.0);
    mean_ = mean_ <= 0 ? size : 0.9 * mean_ + 0.1 * size;
  }
}

void Window::release(uint32_t slot, std::size_t& estimate, std::size_t& held) {
  drop_estimate(estimate);
  any_done_ = true;
  bytes_held_ -= held;
  held = 0;
  free_.push_back(slot);
}

}  // namespace rmig::engine
