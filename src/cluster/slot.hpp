#pragma once
// Redis Cluster key -> slot mapping. A key lives in slot CRC16(tag) mod 16384, where the tag is the content
// of the first "{...}" when that content is non-empty and the whole key otherwise, so that callers can force
// related keys into one slot ("{user1000}.following", "{user1000}.followers").

#include <cstdint>
#include <string_view>

namespace rmig::cluster {

inline constexpr uint16_t kSlotCount = 16384;

// CRC16-CCITT as Redis Cluster uses it (the XMODEM variant: polynomial 0x1021, initial value 0, no
// reflection, no final xor). crc16("123456789") == 0x31C3.
uint16_t crc16(std::string_view bytes) noexcept;

// The bytes of key that are hashed: the content between the first '{' and the first '}' after it, when that
// content is non-empty; otherwise the whole key. Only the first '{' counts: "{}{a}" hashes whole, "{{a}}"
// hashes
// "{a". The result points into key.
std::string_view hash_tag(std::string_view key) noexcept;

// The cluster slot of key, in [0, kSlotCount).
uint16_t key_hash_slot(std::string_view key) noexcept;

}  // namespace rmig::cluster
