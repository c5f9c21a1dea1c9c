#pragma once
// Appends RESP commands (arrays of bulk strings) to a caller-owned buffer; no allocation per command once the
// buffer has grown. The selftest checks the output against hiredis' redisFormatCommandArgv.

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace rmbench {

class CommandWriter {
 public:
  explicit CommandWriter(std::string& out) : out_(out) {}

  // Starts a command of `argc` arguments; exactly that many arg() calls must follow.
  void begin(std::size_t argc) {
    out_.push_back('*');
    append_number(argc);
    out_.append("\r\n", 2);
    ++commands_;
  }
  void arg(std::string_view value) {
    out_.push_back('$');
    append_number(value.size());
    out_.append("\r\n", 2);
    out_.append(value);
    out_.append("\r\n", 2);
  }
  void arg_number(std::int64_t value) {
    char digits[24];
    const auto res = std::to_chars(digits, digits + sizeof digits, value);
    arg(std::string_view(digits, static_cast<std::size_t>(res.ptr - digits)));
  }
  void arg_double(double value) {
    char digits[40];
    const auto res = std::to_chars(digits, digits + sizeof digits, value);
    arg(std::string_view(digits, static_cast<std::size_t>(res.ptr - digits)));
  }

  std::uint64_t commands() const noexcept { return commands_; }
  void reset_count() noexcept { commands_ = 0; }

 private:
  void append_number(std::uint64_t value) {
    char digits[24];
    const auto res = std::to_chars(digits, digits + sizeof digits, value);
    out_.append(digits, static_cast<std::size_t>(res.ptr - digits));
  }

  std::string& out_;
  std::uint64_t commands_ = 0;
};

}  // namespace rmbench
