#include "value/string_payload.hpp"

#include <charconv>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

#include "util/crc64.hpp"

namespace rmig::value {

namespace {

// RDB encodings (rdb.h).
constexpr unsigned char kTypeString = 0;
constexpr unsigned char kEncInt8 = 0xc0;
constexpr unsigned char kEncInt16 = 0xc1;
constexpr unsigned char kEncInt32 = 0xc2;
constexpr unsigned char kLen32 = 0x80;
constexpr unsigned char kLen64 = 0x81;
constexpr std::size_t kFooter = 2 + 8;  // RDB version, CRC-64

// The integer encoding's bytes (0 when the value is stored verbatim): rdbTryIntegerEncoding accepts at most
// 11 characters that read back exactly as they were written (no sign +, no leading zero, no "-0", no spaces).
std::size_t int_encoding(std::string_view v, long long* out) noexcept {
  if (v.empty() || v.size() > 11) return 0;
  long long n = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || end != v.data() + v.size()) return 0;
  char back[24];
  const auto printed = std::to_chars(back, back + sizeof back, n);
  if (std::string_view(back, static_cast<std::size_t>(printed.ptr - back)) != v) return 0;
  *out = n;
  if (n >= std::numeric_limits<int8_t>::min() && n <= std::numeric_limits<int8_t>::max()) return 2;
  if (n >= std::numeric_limits<int16_t>::min() && n <= std::numeric_limits<int16_t>::max()) return 3;
  if (n >= std::numeric_limits<int32_t>::min() && n <= std::numeric_limits<int32_t>::max()) return 5;
  return 0;
}

// The bytes of rdbSaveLen(len).
std::size_t length_bytes(std::size_t len) noexcept {
  if (len < (1U << 6)) return 1;
  if (len < (1U << 14)) return 2;
  if (len <= std::numeric_limits<uint32_t>::max()) return 5;
  return 9;
}

}  // namespace

std::size_t string_payload_size(std::string_view value) noexcept {
  long long n = 0;
  const std::size_t as_int = int_encoding(value, &n);
  const std::size_t body = as_int != 0 ? as_int : length_bytes(value.size()) + value.size();
  return 1 + body + kFooter;
}

void write_string_payload(std::string_view value, int rdb_version, char* out) {
  auto* p = reinterpret_cast<unsigned char*>(out);
  *p++ = kTypeString;
  long long n = 0;
  const std::size_t as_int = int_encoding(value, &n);
  if (as_int != 0) {
    const auto u = static_cast<uint32_t>(static_cast<int32_t>(n));
    *p++ = as_int == 2 ? kEncInt8 : as_int == 3 ? kEncInt16 : kEncInt32;
    for (std::size_t i = 0; i + 1 < as_int; ++i)  // little-endian
      *p++ = static_cast<unsigned char>(u >> (8 * i));
  } else {
    const std::size_t len = value.size();
    switch (length_bytes(len)) {
      case 1: *p++ = static_cast<unsigned char>(len); break;
      case 2:
        *p++ = static_cast<unsigned char>(0x40 | (len >> 8));
        *p++ = static_cast<unsigned char>(len & 0xff);
        break;
      case 5:
        *p++ = kLen32;
        for (int shift = 24; shift >= 0; shift -= 8)  // big-endian
          *p++ = static_cast<unsigned char>(len >> shift);
        break;
      default:
        *p++ = kLen64;
        for (int shift = 56; shift >= 0; shift -= 8)
          *p++ = static_cast<unsigned char>(static_cast<uint64_t>(len) >> shift);
        break;
    }
    if (len > 0) std::memcpy(p, value.data(), len);
    p += len;
  }
  *p++ = static_cast<unsigned char>(rdb_version & 0xff);
  *p++ = static_cast<unsigned char>((rdb_version >> 8) & 0xff);
  const auto covered = static_cast<std::size_t>(p - reinterpret_cast<unsigned char*>(out));
  const uint64_t crc = crc64(0, std::string_view(out, covered));
  for (int i = 0; i < 8; ++i)
    *p++ = static_cast<unsigned char>(crc >> (8 * i));
}

std::optional<std::string> string_payload_value(std::string_view payload) {
  if (payload.size() < 2 + kFooter || static_cast<unsigned char>(payload[0]) != kTypeString)
    return std::nullopt;
  const auto* p = reinterpret_cast<const unsigned char*>(payload.data()) + 1;
  const std::size_t room = payload.size() - 1 - kFooter;  // bytes between the type byte and the footer
  const unsigned char first = p[0];
  if (first == kEncInt8 || first == kEncInt16 || first == kEncInt32) {
    const std::size_t n = first == kEncInt8 ? 1 : first == kEncInt16 ? 2 : 4;
    if (room != 1 + n) return std::nullopt;
    uint32_t u = 0;
    for (std::size_t i = 0; i < n; ++i)
      u |= static_cast<uint32_t>(p[1 + i]) << (8 * i);
    const int64_t v = n == 1   ? static_cast<int8_t>(u)
                      : n == 2 ? static_cast<int16_t>(u)
                               : static_cast<int32_t>(u);
    return std::to_string(v);
  }
  std::size_t header = 0;
  uint64_t len = 0;
  if ((first >> 6) == 0) {
    header = 1;
    len = first & 0x3f;
  } else if ((first >> 6) == 1) {
    if (room < 2) return std::nullopt;
    header = 2;
    len = (static_cast<uint64_t>(first & 0x3f) << 8) | p[1];
  } else if (first == kLen32 || first == kLen64) {
    header = first == kLen32 ? 5 : 9;
    if (room < header) return std::nullopt;
    for (std::size_t i = 1; i < header; ++i)
      len = (len << 8) | p[i];
  } else {
    return std::nullopt;  // LZF (0xc3) or not a string encoding
  }
  if (room != header + len) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(p + header), static_cast<std::size_t>(len));
}

}  // namespace rmig::value
