#pragma once
// Expected failures travel as values: Error carries the exit code it maps to and one line for the operator
// (what failed, where, what to do). Result<T> follows the shape of std::expected.

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace rmig {

// The process exit codes, documented in --help and the README.
enum class ExitCode : int {
  kOk = 0,                  // everything selected was copied or legitimately skipped/expired/vanished
  kKeysFailed = 1,          // some keys failed (or, for verify, differences were found)
  kUsage = 2,               // usage or configuration error
  kConnect = 3,             // cannot connect or authenticate (incl. TLS, missing ACL permissions)
  kLocked = 4,              // another run holds the destination's lock
  kDestinationRefused = 5,  // the destination refuses writes (read-only replica, out of memory, MISCONF)
  kReportNotWritten = 6,    // the work finished but its --report-json could not be written in full
  kInterrupted = 130,       // stopped by SIGINT (128 + 2); SIGTERM gives 143, SIGHUP 129
};

constexpr int to_int(ExitCode c) noexcept { return static_cast<int>(c); }

struct Error {
  ExitCode code = ExitCode::kConnect;
  std::string message;
  // A network-level failure (connection lost, refused, timed out) that may heal: a running copy reconnects.
  // Authentication, permission and configuration errors are not transient.
  bool transient = false;
};

inline Error make_error(ExitCode code, std::string message) { return Error{code, std::move(message), false}; }
inline Error transient_error(std::string message) {
  return Error{ExitCode::kConnect, std::move(message), true};
}

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Error error)
      : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }
  T& value() & {
    assert(has_value());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(has_value());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(has_value());
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const& {
    assert(!has_value());
    return std::get<1>(v_);
  }
  Error&& error() && {
    assert(!has_value());
    return std::get<1>(std::move(v_));
  }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT(google-explicit-constructor)
  bool has_value() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  const Error& error() const& {
    assert(!ok_);
    return error_;
  }
  Error&& error() && {
    assert(!ok_);
    return std::move(error_);
  }

 private:
  Error error_;
  bool ok_ = true;
};

using Status = Result<void>;

}  // namespace rmig
