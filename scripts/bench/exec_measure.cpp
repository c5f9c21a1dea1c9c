#include "exec_measure.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "pipe_stream.hpp"

namespace rmbench {
namespace {

// In the child only: async-signal-safe calls, then exec or _exit.
void redirect_or_die(const std::string& path, int target, int flags) {
  if (path.empty()) return;
  const int fd = open(path.c_str(), flags | O_CLOEXEC, 0644);
  if (fd < 0 || dup2(fd, target) < 0) {
    const char msg[] = "rm-bench exec: cannot open a redirection file\n";
    (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
    _exit(127);
  }
}

}  // namespace

ExecResult exec_measure(const std::vector<std::string>& argv, const ExecOptions& options) {
  if (argv.empty()) throw std::invalid_argument("exec: no command given");
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  const double start = monotonic_seconds();
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    redirect_or_die(options.stdin_path, STDIN_FILENO, O_RDONLY);
    redirect_or_die(options.stdout_path, STDOUT_FILENO, O_WRONLY | O_CREAT | O_TRUNC);
    redirect_or_die(options.stderr_path, STDERR_FILENO, O_WRONLY | O_CREAT | O_TRUNC);
    execvp(args[0], args.data());
    const char msg[] = "rm-bench exec: cannot execute the command\n";
    (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
    _exit(127);
  }
  int status = 0;
  rusage usage{};
  while (wait4(pid, &status, 0, &usage) < 0) {
    if (errno != EINTR) throw std::runtime_error(std::string("wait4: ") + std::strerror(errno));
  }
  ExecResult result;
  result.elapsed_s = monotonic_seconds() - start;
  result.max_rss_kb = usage.ru_maxrss;  // kilobytes on Linux
  result.user_s =
      static_cast<double>(usage.ru_utime.tv_sec) + static_cast<double>(usage.ru_utime.tv_usec) / 1e6;
  result.sys_s =
      static_cast<double>(usage.ru_stime.tv_sec) + static_cast<double>(usage.ru_stime.tv_usec) / 1e6;
  if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
    result.exit_code = 128 + result.signal;
  } else {
    result.exit_code = WEXITSTATUS(status);
  }
  return result;
}

}  // namespace rmbench
