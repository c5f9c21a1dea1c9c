#include "cluster/slot.hpp"

#include <array>

namespace rmig::cluster {

namespace {

constexpr uint16_t kPolynomial = 0x1021;

// One entry per value of the high byte of the running CRC: the remainder of that byte, shifted in MSB first.
constexpr std::array<uint16_t, 256> make_crc16_table() {
  std::array<uint16_t, 256> table{};
  for (unsigned byte = 0; byte < 256; ++byte) {
    unsigned crc = byte << 8;
    for (int bit = 0; bit < 8; ++bit)
      crc = (crc & 0x8000) ? ((crc << 1) ^ kPolynomial) : (crc << 1);
    table[byte] = static_cast<uint16_t>(crc & 0xffff);
  }
  return table;
}

constexpr std::array<uint16_t, 256> kCrc16Table = make_crc16_table();

static_assert(kCrc16Table[1] == 0x1021 && kCrc16Table[255] == 0x1ef0, "CRC16 table must match XMODEM");

}  // namespace

uint16_t crc16(std::string_view bytes) noexcept {
  uint16_t crc = 0;
  for (char ch : bytes) {
    const auto b = static_cast<unsigned char>(ch);
    crc = static_cast<uint16_t>((crc << 8) ^ kCrc16Table[((crc >> 8) ^ b) & 0xff]);
  }
  return crc;
}

std::string_view hash_tag(std::string_view key) noexcept {
  const std::size_t open = key.find('{');
  if (open == std::string_view::npos) return key;
  const std::size_t close = key.find('}', open + 1);
  if (close == std::string_view::npos || close == open + 1) return key;
  return key.substr(open + 1, close - open - 1);
}

uint16_t key_hash_slot(std::string_view key) noexcept {
  // kSlotCount is a power of two, so the modulo is a mask (as in the server).
  return static_cast<uint16_t>(crc16(hash_tag(key)) & (kSlotCount - 1));
}

}  // namespace rmig::cluster
