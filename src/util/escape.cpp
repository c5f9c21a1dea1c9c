#include "util/escape.hpp"

namespace rmig {

namespace {
void append_escaped(std::string& out, unsigned char c) {
  static constexpr char kHex[] = "0123456789abcdef";
  switch (c) {
    case '\\': out += "\\\\"; return;
    case '"': out += "\\\""; return;
    case '\n': out += "\\n"; return;
    case '\r': out += "\\r"; return;
    case '\t': out += "\\t"; return;
    case '\a': out += "\\a"; return;
    case '\b': out += "\\b"; return;
    default: break;
  }
  if (c >= 0x20 && c < 0x7f) {
    out += static_cast<char>(c);
  } else {
    out += "\\x";
    out += kHex[c >> 4];
    out += kHex[c & 0xf];
  }
}
}  // namespace

std::string printable(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() + 8);
  for (char c : bytes)
    append_escaped(out, static_cast<unsigned char>(c));
  return out;
}

std::string printable_short(std::string_view bytes, std::size_t max_len) {
  std::string out;
  for (char c : bytes) {
    if (out.size() >= max_len) {
      out += "...";
      break;
    }
    append_escaped(out, static_cast<unsigned char>(c));
  }
  return out;
}

}  // namespace rmig
