#include "engine/pacing.hpp"

#include <algorithm>

namespace rmig::engine {

bool Pacing::allows(Clock::time_point now) noexcept {
  if (!limited()) return true;
  const double dt =
      tokens_at_ == Clock::time_point{} ? 0.0 : std::chrono::duration<double>(now - tokens_at_).count();
  tokens_at_ = now;
  if (keys_per_sec_ > 0) {
    const double rate = static_cast<double>(keys_per_sec_);
    key_tokens_ = std::min(std::max(rate / 10.0, 1.0), key_tokens_ + dt * rate);
  }
  if (bytes_per_sec_ > 0) {
    const double rate = static_cast<double>(bytes_per_sec_);
    byte_tokens_ = std::min(rate / 10.0, byte_tokens_ + dt * rate);
  }
  const bool keys_ok = keys_per_sec_ == 0 || key_tokens_ >= 1.0;
  const bool bytes_ok = bytes_per_sec_ == 0 || (byte_tokens_ > 0.0 && (avg_payload_ > 0 || unmeasured_ == 0));
  if (!keys_ok || !bytes_ok) return false;
  if (keys_per_sec_ > 0) key_tokens_ -= 1.0;
  return true;
}

void Pacing::dispatched(Charge& charge) noexcept {
  charge = Charge{};
  if (bytes_per_sec_ == 0) return;
  charge.reserved = avg_payload_;
  charge.measuring = true;
  byte_tokens_ -= avg_payload_;
  if (avg_payload_ <= 0) ++unmeasured_;
}

void Pacing::measured(Charge& charge, std::size_t bytes) noexcept {
  if (bytes_per_sec_ == 0) return;
  const auto held = static_cast<double>(bytes);
  if (!charge.measuring) {
    byte_tokens_ -= held;
    return;
  }
  byte_tokens_ -= held - charge.reserved;
  if (charge.reserved <= 0) --unmeasured_;
  charge.measuring = false;
  avg_payload_ = avg_payload_ <= 0 ? std::max(held, 1.0) : 0.9 * avg_payload_ + 0.1 * std::max(held, 1.0);
}

void Pacing::finished(Charge& charge) noexcept {
  if (!charge.measuring) return;
  if (charge.reserved <= 0) --unmeasured_;
  charge.measuring = false;
}

}  // namespace rmig::engine
