#include "engine/window.hpp"

#include <algorithm>

namespace rmig::engine {

Window::Window(std::size_t keys, std::size_t bytes) : slots_(std::max<std::size_t>(keys, 1)), bytes_(bytes) {
  free_.reserve(slots_);
  for (std::size_t i = slots_; i-- > 0;)
    free_.push_back(static_cast<uint32_t>(i));
}

void Window::learn(std::size_t bytes) noexcept {
  const auto size = std::max(static_cast<double>(bytes), 1.0);
  mean_ = mean_ <= 0 ? size : 0.9 * mean_ + 0.1 * size;
}

}  // namespace rmig::engine
