#pragma once
// Child processes for integration tests: redis-server, redis-cli, openssl and the redis-migrate binary.
//
// Every child gets PR_SET_PDEATHSIG(SIGKILL) and its own process group, so nothing outlives the test process
// even when it crashes or is killed. PR_SET_PDEATHSIG fires when the *thread* that forked exits, so start
// long-lived children from the test's main thread (doctest runs test cases there).
//
// Children never inherit the tool's configuration variables (kToolEnvVars) from the test's environment: a
// developer with SOURCE_REDIS_URL exported must not make a test copy from a real server. Pass them explicitly
// to set them.

#include <sys/types.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rmig::test {

using namespace std::chrono_literals;

// Variables the tool reads from its environment (every envname of src/app/cli.cpp, plus DEBUG); removed from
// every child unless set in EnvOverrides. The cli suite checks this list against the variables --help names.
inline constexpr auto kToolEnvVars = std::to_array<std::string_view>(
    {// URLs and the switches operators already use
     "SOURCE_REDIS_URL", "DESTINATION_REDIS_URL", "DRY_RUN", "DEBUG", "REPLACE_DST_KEYS", "CLEAN_UP",
     // connections, per side
     "SOURCE_PASSWORD_FILE", "SOURCE_TLS_CA_FILE", "SOURCE_TLS_CA_DIR", "SOURCE_TLS_CERT", "SOURCE_TLS_KEY",
     "SOURCE_TLS_SERVER_NAME", "SOURCE_TLS_INSECURE", "DESTINATION_PASSWORD_FILE", "DESTINATION_TLS_CA_FILE",
     "DESTINATION_TLS_CA_DIR", "DESTINATION_TLS_CERT", "DESTINATION_TLS_KEY", "DESTINATION_TLS_SERVER_NAME",
     "DESTINATION_TLS_INSECURE",
     // selection
     "MATCH", "EXCLUDE", "TYPE", "ALL_DBS",
     // sharding (JOB_COMPLETION_INDEX: set by a Kubernetes Indexed Job)
     "SHARD", "SHARD_COUNT", "JOB_COMPLETION_INDEX",
     // tuning and paths
     "WINDOW_KEYS", "WINDOW_BYTES", "SCAN_COUNT", "RATE_LIMIT", "MAX_BYTES_PER_SEC", "CONNECT_TIMEOUT",
     "TIMEOUT", "RETRY_TIMEOUT", "MODE", "BIG_KEY_THRESHOLD", "DROP_FIELD_TTLS", "KEEP_IDLE",
     // event loops
     "THREADS",
     // cluster
     "SOURCE_CLUSTER", "DESTINATION_CLUSTER", "READ_FROM",
     // output
     "REPORT_JSON", "PROGRESS_INTERVAL", "LOG_LEVEL", "LOG_FORMAT", "METRICS_PORT",
     // lock and state
     "STATE_PREFIX", "NO_LOCK", "LOCK_TTL", "STATE_FILE", "RESTART",
     // copy, verify, cleanup, unlock
     "ON_CONFLICT", "MERGE_PREFER", "EXAMPLES", "YES", "TTL_TOLERANCE", "SAMPLE", "MAX_DIFFERENCES",
     // the overrides of the checks before a deletion
     "ASSUME_DISTINCT", "ALLOW_EVICTING_DESTINATION",
     // live runs and their cut-over
     "LIVE", "LIVE_PENDING_MAX", "ASSUME_NOTIFICATIONS", "UNTIL_IDLE", "VERIFY_AT_CUTOVER",
     "CUTOVER_TIMEOUT"});

// Name -> value sets a variable in the child; name -> nullopt removes it.
using EnvOverrides = std::map<std::string, std::optional<std::string>>;

// Where one of the child's output streams goes.
struct Output {
  enum class Kind { kCapture, kFile, kNull, kInherit };
  Kind kind = Kind::kCapture;
  std::string path;  // kFile: truncated and written

  static Output capture() { return {}; }
  static Output file(std::string file_path) { return {Kind::kFile, std::move(file_path)}; }
  static Output null() { return {Kind::kNull, {}}; }
  static Output inherit() { return {Kind::kInherit, {}}; }
};

struct ProcessOptions {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH unless it contains '/'
  EnvOverrides env;
  std::string cwd;  // empty: the test's working directory
  Output out;
  Output err;
};

// How a child ended. exit_code is -1 when it was killed by a signal; term_signal is 0 when it exited.
struct ExitStatus {
  int exit_code = -1;
  int term_signal = 0;
  std::int64_t max_rss_bytes = 0;  // peak resident set size (wait4 ru_maxrss)
  double seconds = 0;              // from start to exit

  bool exited() const { return term_signal == 0; }
  std::string describe() const;  // "exit code 3" / "killed by signal 9 (Killed)"
};

// Outcome of run(): the exit status plus the captured output.
struct RunResult {
  int exit_code = -1;
  int term_signal = 0;
  std::string out;
  std::string err;
  double seconds = 0;
  std::int64_t max_rss_bytes = 0;
  bool timed_out = false;  // the child was killed with SIGKILL because it overran the timeout
  std::string command;     // the argv, quoted

  // For assertion messages: command, status, and the tails of stderr and stdout.
  std::string describe() const;
};

enum class Stream { kOut, kErr, kEither };

// A running child. Movable, not copyable. The destructor kills (SIGKILL, whole process group) and reaps a
// child that is still running, so a failing test leaves no process behind.
class Process {
 public:
  // Forks and execs; throws std::runtime_error when the program cannot be executed.
  static Process start(ProcessOptions options);

  Process();
  Process(Process&&) noexcept;
  Process& operator=(Process&&) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process();

  pid_t pid() const;
  const std::string& command() const;  // quoted argv, for messages

  // True until the child has exited (and reaps it when it has).
  bool running();
  // Waits for the exit; nullopt if the child is still running after `timeout`.
  std::optional<ExitStatus> wait(std::chrono::milliseconds timeout);
  ExitStatus wait();

  // Signals the child only (not its process group): tests of graceful shutdown send SIGTERM or SIGINT this
  // way.
  void send_signal(int sig);
  // SIGKILL to the child's whole process group, then reaps it.
  ExitStatus kill9();

  // Output captured so far (Output::capture() only).
  std::string out() const;
  std::string err() const;
  // Waits until the captured output contains `needle`; false on timeout or when the child closed its output
  // first.
  bool wait_for_output(std::string_view needle, std::chrono::milliseconds timeout,
                       Stream stream = Stream::kEither);

  // Waits for the exit (SIGKILL after `timeout`) and the end of the captured output.
  RunResult finish(std::chrono::milliseconds timeout = 120s);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Runs a command to completion with stdout and stderr captured. Never throws for a non-zero exit; throws when
// the program cannot be executed.
RunResult run(const std::vector<std::string>& argv, const EnvOverrides& env = {},
              std::chrono::milliseconds timeout = 120s);
RunResult run(ProcessOptions options, std::chrono::milliseconds timeout = 120s);

// The redis-migrate binary under test: $RM_BINARY when set (scripts/test.sh points the integration tests of
// the release build at the sanitizer build's binary), otherwise the one built beside the tests.
using ToolProcess = Process;
std::string tool_path();
// Whether that binary was built with AddressSanitizer (it then holds more memory, so RSS bounds do not
// apply).
bool tool_sanitized();
RunResult run_tool(const std::vector<std::string>& args, const EnvOverrides& env = {},
                   std::chrono::milliseconds timeout = 120s);
ToolProcess start_tool(const std::vector<std::string>& args, const EnvOverrides& env = {});

// Shell-style quoting of an argv for messages (binary bytes escaped).
std::string quote_command(const std::vector<std::string>& argv);

}  // namespace rmig::test
