#include "resp/command.hpp"

#include <array>
#include <charconv>
#include <cstdlib>
#include <cstring>

namespace rmig::resp {

namespace {

void append_number_line(net::OutBuffer& out, char prefix, std::size_t n) {
  std::array<char, 32> buf{};
  buf[0] = prefix;
  auto [end, ec] = std::to_chars(buf.data() + 1, buf.data() + buf.size() - 2, n);
  (void)ec;
  *end++ = '\r';
  *end++ = '\n';
  out.append(buf.data(), static_cast<std::size_t>(end - buf.data()));
}
}  // namespace

void append_command(net::OutBuffer& out, const std::string_view* args, std::size_t argc) {
  // One reservation for the whole command: "*N\r\n" and "$len\r\n...\r\n" per argument, at most 24 bytes of
  // framing each. Formatted in place: hiredis's redisFormatCommandArgv (the byte-for-byte reference in the
  // unit tests) builds every command with sprintf in its own allocation, which cost more than a third of the
  // copier's instructions on a mixed dataset.
  std::size_t total = 24;
  for (std::size_t i = 0; i < argc; ++i)
    total += args[i].size() + 24;
  if (total > net::OutBuffer::kChunkSize) {
    // A large command goes through the chunked path rather than one oversized chunk.
    append_number_line(out, '*', argc);
    for (std::size_t i = 0; i < argc; ++i) {
      append_number_line(out, '$', args[i].size());
      out.append(args[i]);
      out.append("\r\n", 2);
    }
    return;
  }
  char* const begin = out.reserve(total);
  char* p = begin;
  auto number_line = [&p](char prefix, std::size_t n) {
    *p++ = prefix;
    p = std::to_chars(p, p + 20, n).ptr;
    *p++ = '\r';
    *p++ = '\n';
  };
  number_line('*', argc);
  for (std::size_t i = 0; i < argc; ++i) {
    number_line('$', args[i].size());
    if (!args[i].empty()) std::memcpy(p, args[i].data(), args[i].size());
    p += args[i].size();
    *p++ = '\r';
    *p++ = '\n';
  }
  out.commit(static_cast<std::size_t>(p - begin));
}

void append_command_ref(net::OutBuffer& out, const std::string_view* args, std::size_t argc,
                        std::size_t ref_index, std::shared_ptr<const void> owner) {
  append_number_line(out, '*', argc);
  for (std::size_t i = 0; i < argc; ++i) {
    append_number_line(out, '$', args[i].size());
    if (i == ref_index) {
      out.append_shared(args[i].data(), args[i].size(), std::move(owner));  // one referenced argument
    } else {
      out.append(args[i]);
    }
    out.append("\r\n", 2);
  }
}

}  // namespace rmig::resp
