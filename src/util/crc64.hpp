#pragma once
// CRC-64/Jones as Redis and Valkey compute it over a DUMP payload (reflected polynomial 0x95ac9329ac4bc9b5,
// initial value 0, no final xor): the check value of "123456789" is 0xe9c6d914c4b8d9ca. Slice-by-8 tables.

#include <cstdint>
#include <string_view>

namespace rmig {

// The CRC of `data` continuing from `crc` (0 for a new one).
uint64_t crc64(uint64_t crc, std::string_view data) noexcept;

}  // namespace rmig
