#pragma once
// Redis Cluster key slot: CRC16 (XMODEM) of the hash tag when the key has a non-empty {...}, else of the
// whole key, modulo 16384. Used to seed each node of a cluster with exactly the keys it owns.

#include <cstdint>
#include <string_view>

namespace rmbench {

std::uint16_t crc16_xmodem(std::string_view data);
unsigned key_slot(std::string_view key);

}  // namespace rmbench
