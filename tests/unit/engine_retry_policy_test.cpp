// What the engine does with each error reply, the one backoff, and when a retried key gives up.

#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "engine/retry_policy.hpp"
#include "resp/connection.hpp"

using namespace rmig;
using engine::ErrorAction;
using namespace std::chrono_literals;

namespace {

ErrorAction action(const char* message, bool destination) {
  return engine::error_action(resp::classify_error(message), destination);
}

Error message_for(const char* message, bool destination, const resp::ConnectOptions& options) {
  return engine::error_message(resp::classify_error(message), message,
                               engine::ErrorContext{destination, "node:7000", "RESTORE", &options});
}

}  // namespace

TEST_SUITE("engine_retry_policy") {
  TEST_CASE("cluster redirects are followed on either side") {
    for (bool dst : {true, false}) {
      CHECK(action("MOVED 3999 127.0.0.1:6381", dst) == ErrorAction::kRedirect);
      CHECK(action("ASK 3999 127.0.0.1:6381", dst) == ErrorAction::kRedirect);
    }
  }

  TEST_CASE("conditions that pass by themselves are retried") {
    for (bool dst : {true, false}) {
      CHECK(action("TRYAGAIN Multiple keys request during rehashing of slot", dst) == ErrorAction::kRetry);
      CHECK(action("LOADING Redis is loading the dataset in memory", dst) == ErrorAction::kRetry);
      CHECK(action("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
                   dst) == ErrorAction::kRetry);
      CHECK(action("CLUSTERDOWN The cluster is down", dst) == ErrorAction::kRetry);
      CHECK(action("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.", dst) ==
            ErrorAction::kRetry);
    }
  }

  TEST_CASE("an existing key, a bad payload and unknown errors are the task's") {
    CHECK(action("BUSYKEY Target key name already exists.", true) == ErrorAction::kTask);
    CHECK(action("ERR DUMP payload version or checksum are wrong", true) == ErrorAction::kTask);
    CHECK(action("WRONGTYPE Operation against a key holding the wrong kind of value", false) ==
          ErrorAction::kTask);
    CHECK(action("ERR something nobody planned for", true) == ErrorAction::kTask);
  }

  TEST_CASE("out of memory stops the run on the destination; on the source the task decides") {
    CHECK(action("OOM command not allowed when used memory > 'maxmemory'.", true) == ErrorAction::kStopRun);
    CHECK(action("OOM command not allowed when used memory > 'maxmemory'.", false) == ErrorAction::kTask);
  }

  TEST_CASE("conditions that doom every key stop the run, on either side") {
    for (bool dst : {true, false}) {
      CHECK(action("READONLY You can't write against a read only replica.", dst) == ErrorAction::kStopRun);
      CHECK(action("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist "
                   "to disk.",
                   dst) == ErrorAction::kStopRun);
      CHECK(action("NOPERM User u has no permissions to run the 'restore' command", dst) ==
            ErrorAction::kStopRun);
      CHECK(action("NOAUTH Authentication required.", dst) == ErrorAction::kStopRun);
      CHECK(action("ERR unknown command 'RESTORE', with args beginning with: ", dst) ==
            ErrorAction::kStopRun);
    }
  }

  TEST_CASE("a key outside the user's key patterns fails only that key") {
    CHECK(action("NOPERM this user has no permissions to access one of the keys used as arguments", true) ==
          ErrorAction::kFailKey);
    CHECK(action("NOPERM No permissions to access a key", false) == ErrorAction::kFailKey);
  }

  TEST_CASE("messages name the node, the side and the fix, with the documented exit code") {
    resp::ConnectOptions o;
    o.label = "node:7000";
    const Error ro_dst = message_for("READONLY You can't write against a read only replica.", true, o);
    CHECK(ro_dst.code == ExitCode::kDestinationRefused);
    CHECK(ro_dst.message.find("node:7000 is a read-only replica") == 0);
    CHECK(ro_dst.message.find("point the destination URL at the primary") != std::string::npos);
    const Error ro_src = message_for("READONLY You can't write against a read only replica.", false, o);
    CHECK(ro_src.code == ExitCode::kConnect);
    CHECK(ro_src.message.find("point the source URL at the primary") != std::string::npos);

    const Error oom = message_for("OOM command not allowed when used memory > 'maxmemory'.", true, o);
    CHECK(oom.code == ExitCode::kDestinationRefused);
    CHECK(oom.message.find("raise maxmemory") != std::string::npos);

    const Error auth = message_for("NOAUTH Authentication required.", false, o);
    CHECK(auth.code == ExitCode::kConnect);
    CHECK(auth.message.find("RESTORE refused") != std::string::npos);
    CHECK(auth.message.find("--source-password-file") != std::string::npos);

    const Error key = message_for(
        "NOPERM this user has no permissions to access one of the keys used as arguments", true, o);
    CHECK(key.message.find("RESTORE: NOPERM") == 0);
    CHECK(key.message.find("the destination user's key patterns") != std::string::npos);

    const Error perm = message_for("NOPERM User u has no permissions to run the 'restore' command", true, o);
    CHECK(perm.code == ExitCode::kConnect);
    CHECK(perm.message.find("restore") != std::string::npos);
  }

  TEST_CASE("a retried error is sent again with growing waits until it has lasted longer than the timeout") {
    engine::RetryState s;
    const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
    auto now = t0;
    std::chrono::milliseconds last{0};
    int sends = 0;
    for (;;) {
      const auto due = engine::next_retry(s, now, 10'000ms);
      if (due == std::chrono::steady_clock::time_point{}) break;
      const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(due - now);
      CHECK(wait >= last);
      CHECK(wait <= 3200ms);
      last = wait;
      now = due;
      ++sends;
      REQUIRE(sends < 100);
    }
    // Sent again at 0.1, 0.3, 0.7, 1.5, 3.1, 6.3, 9.5 and 12.7 s: the error at 12.7 s has lasted past 10 s.
    CHECK(sends == 8);
    CHECK(now - t0 > 10'000ms);
    CHECK(now - t0 <= 10'000ms + 3200ms);
    CHECK(s.first_at == t0);
  }

  TEST_CASE("a new job starts its retries from the first wait again") {
    engine::RetryState s;
    const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
    (void)engine::next_retry(s, t0, 1000ms);
    (void)engine::next_retry(s, t0, 1000ms);
    s = engine::RetryState{};
    CHECK(engine::next_retry(s, t0 + 5s, 1000ms) == t0 + 5s + 100ms);
  }
}
