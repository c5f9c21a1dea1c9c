#pragma once
// Counts complete top-level RESP replies in a byte stream fed in fragments of any size, without building
// reply objects and without buffering: a bulk payload is skipped by arithmetic and a header line is scanned
// in place, so a fragment is looked at once and never copied. This is what makes it a fair probe of a
// server's serve rate: its cost per reply is constant, whatever the size of the reply.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace rmbench {

class RespSkipper {
 public:
  RespSkipper();

  // Consumes all `len` bytes. Returns false on a protocol error; error() then says what was wrong, and the
  // skipper refuses further input.
  bool feed(const char* data, std::size_t len);

  // Complete top-level replies (an array counts once, however deep).
  std::uint64_t replies() const noexcept { return replies_; }
  // Top-level error replies ('-' or '!'); errors nested in arrays (EXEC) are part of their reply.
  std::uint64_t errors() const noexcept { return errors_; }
  // The first top-level error's text, cut to 200 bytes.
  const std::string& first_error() const noexcept { return first_error_; }
  std::uint64_t bytes() const noexcept { return bytes_; }
  // True between two top-level replies: nothing is half-read.
  bool idle() const noexcept { return state_ == State::kType && open_.empty(); }
  bool failed() const noexcept { return state_ == State::kFailed; }
  const std::string& error() const noexcept { return error_; }

 private:
  enum class State { kType, kLine, kBulk, kBulkCr, kBulkLf, kFailed };

  // Scans header-line bytes from p, returns how many were consumed (through '\n' if the line ends here).
  std::size_t scan_line(const char* p, std::size_t len);
  bool finish_line();
  void finish_element();
  bool fail(std::string why);

  State state_ = State::kType;
  char type_ = 0;
  bool line_cr_ = false;  // the previous byte of the current line was '\r'
  bool neg_ = false;      // number header: leading '-'
  bool digits_ = false;   // number header: at least one digit seen
  bool bad_number_ = false;
  bool top_error_ = false;  // the element being read is a top-level error
  std::int64_t number_ = 0;
  std::uint64_t bulk_left_ = 0;
  std::vector<std::int64_t> open_;  // elements still missing in each open aggregate, innermost last
  std::uint64_t replies_ = 0;
  std::uint64_t errors_ = 0;
  std::uint64_t bytes_ = 0;
  std::string first_error_;
  std::string error_;
};

}  // namespace rmbench
