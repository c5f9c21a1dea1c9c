#include "resp_skipper.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

namespace rmbench {
namespace {

constexpr std::size_t kMaxDepth = 64;
constexpr std::size_t kErrorTextMax = 200;
constexpr std::int64_t kMaxLength = std::int64_t{1} << 40;

bool is_scalar_line(char type) {
  return type == '+' || type == '-' || type == ':' || type == '_' || type == ',' || type == '#' ||
         type == '(';
}
bool is_bulk(char type) { return type == '$' || type == '=' || type == '!'; }
bool is_aggregate(char type) { return type == '*' || type == '%' || type == '~'; }

}  // namespace

RespSkipper::RespSkipper() { open_.reserve(kMaxDepth); }

bool RespSkipper::fail(std::string why) {
  state_ = State::kFailed;
  error_ = std::move(why);
  return false;
}

bool RespSkipper::feed(const char* data, std::size_t len) {
  if (state_ == State::kFailed) return false;
  bytes_ += len;
  std::size_t i = 0;
  while (i < len) {
    switch (state_) {
      case State::kType: {
        type_ = data[i++];
        if (!is_scalar_line(type_) && !is_bulk(type_) && !is_aggregate(type_)) {
          // '>' (push) and '|' (attribute) only appear after HELLO 3, which nothing here sends.
          return fail("unexpected RESP type byte 0x" + std::to_string(static_cast<unsigned char>(type_)) +
                      " after " + std::to_string(bytes_ - len + i - 1) + " bytes");
        }
        top_error_ = open_.empty() && (type_ == '-' || type_ == '!');
        line_cr_ = neg_ = digits_ = bad_number_ = false;
        number_ = 0;
        state_ = State::kLine;
        break;
      }
      case State::kLine:
        i += scan_line(data + i, len - i);
        if (state_ == State::kFailed) return false;
        break;
      case State::kBulk: {
        const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(bulk_left_, len - i));
        if (top_error_ && errors_ == 0 && first_error_.size() < kErrorTextMax) {
          first_error_.append(data + i, std::min(take, kErrorTextMax - first_error_.size()));
        }
        i += take;
        bulk_left_ -= take;
        if (bulk_left_ == 0) state_ = State::kBulkCr;
        break;
      }
      case State::kBulkCr:
        if (data[i++] != '\r') return fail("bulk payload not followed by CRLF");
        state_ = State::kBulkLf;
        break;
      case State::kBulkLf:
        if (data[i++] != '\n') return fail("bulk payload not followed by CRLF");
        finish_element();
        break;
      case State::kFailed: return false;
    }
  }
  return true;
}

std::size_t RespSkipper::scan_line(const char* p, std::size_t len) {
  const auto* nl = static_cast<const char*>(std::memchr(p, '\n', len));
  const std::size_t n = nl != nullptr ? static_cast<std::size_t>(nl - p) : len;
  if (is_scalar_line(type_)) {
    if (n > 0) {
      if (top_error_ && errors_ == 0 && first_error_.size() < kErrorTextMax) {
        first_error_.append(p, std::min(n, kErrorTextMax - first_error_.size()));
      }
      line_cr_ = p[n - 1] == '\r';
    }
  } else {
    for (std::size_t k = 0; k < n; ++k) {
      const char c = p[k];
      if (line_cr_) bad_number_ = true;  // a '\r' that is not the last byte of the line
      if (c == '\r') {
        line_cr_ = true;
      } else if (c == '-' && !neg_ && !digits_) {
        neg_ = true;
      } else if (c >= '0' && c <= '9' && number_ < kMaxLength) {
        number_ = number_ * 10 + (c - '0');
        digits_ = true;
      } else {
        bad_number_ = true;
      }
    }
  }
  if (nl == nullptr) return len;
  if (!line_cr_) {
    fail("header line not ended by CRLF");
  } else {
    finish_line();
  }
  return n + 1;
}

bool RespSkipper::finish_line() {
  if (is_scalar_line(type_)) {
    if (top_error_ && errors_ == 0 && !first_error_.empty() && first_error_.back() == '\r') {
      first_error_.pop_back();
    }
    finish_element();
    return true;
  }
  if (bad_number_ || !digits_ || number_ >= kMaxLength) return fail("malformed length in RESP header");
  if (neg_) {
    if (number_ != 1 || type_ == '=' || type_ == '!') return fail("negative length in RESP header");
    finish_element();  // null bulk string or null array
    return true;
  }
  if (is_bulk(type_)) {
    bulk_left_ = static_cast<std::uint64_t>(number_);
    state_ = bulk_left_ == 0 ? State::kBulkCr : State::kBulk;
    return true;
  }
  if (number_ == 0) {
    finish_element();
    return true;
  }
  if (open_.size() == kMaxDepth) return fail("RESP aggregates nested too deep");
  open_.push_back(type_ == '%' ? number_ * 2 : number_);
  state_ = State::kType;
  return true;
}

void RespSkipper::finish_element() {
  state_ = State::kType;
  while (!open_.empty()) {
    if (--open_.back() > 0) return;
    open_.pop_back();
  }
  ++replies_;
  if (top_error_) {
    ++errors_;
    top_error_ = false;
  }
}

}  // namespace rmbench
