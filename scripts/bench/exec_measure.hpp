#pragma once
// Runs a command as a child process and measures it: wall time and the child's peak resident set size from
// wait4's rusage (what GNU time -v calls "Maximum resident set size"), without needing GNU time, and the
// child's user and system CPU time from the same rusage.

#include <string>
#include <vector>

namespace rmbench {

struct ExecOptions {
  std::string stdin_path;   // empty: inherit
  std::string stdout_path;  // empty: inherit
  std::string stderr_path;  // empty: inherit
};

struct ExecResult {
  long max_rss_kb = 0;
  double elapsed_s = 0;
  double user_s = 0;  // CPU time of the child (and of its children it waited for)
  double sys_s = 0;
  int exit_code = 0;  // 128 + signal when killed by a signal; 127 when the command could not be started
  int signal = 0;
};

ExecResult exec_measure(const std::vector<std::string>& argv, const ExecOptions& options);

}  // namespace rmbench
