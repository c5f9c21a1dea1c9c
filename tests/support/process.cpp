#include "support/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>

#include "util/escape.hpp"

extern char** environ;

namespace rmig::test {

namespace {

using Clock = std::chrono::steady_clock;

std::string errno_text(int err) { return std::string(std::strerror(err)); }

// RAII for a file descriptor owned by the parent while a child is being set up.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

std::string find_executable(const std::string& name, const std::string& path_var) {
  if (name.find('/') != std::string::npos) return name;
  std::size_t begin = 0;
  while (begin <= path_var.size()) {
    std::size_t end = path_var.find(':', begin);
    if (end == std::string::npos) end = path_var.size();
    std::string dir = path_var.substr(begin, end - begin);
    if (dir.empty()) dir = ".";
    std::string candidate = dir;
    candidate += '/';
    candidate += name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    begin = end + 1;
  }
  throw std::runtime_error("cannot start '" + name + "': not found in PATH (" + path_var + ")");
}

std::vector<std::string> child_environment(const EnvOverrides& overrides) {
  auto name_of = [](std::string_view entry) { return entry.substr(0, entry.find('=')); };
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    std::string_view name = name_of(entry);
    if (overrides.count(std::string(name)) != 0) continue;
    if (std::find(kToolEnvVars.begin(), kToolEnvVars.end(), name) != kToolEnvVars.end()) continue;
    env.emplace_back(entry);
  }
  for (const auto& [name, value] : overrides) {
    if (value) env.push_back(name + "=" + *value);
  }
  return env;
}

std::string env_value(const EnvOverrides& overrides, const std::string& name) {
  if (auto it = overrides.find(name); it != overrides.end()) return it->second.value_or("");
  const char* v = std::getenv(name.c_str());
  return v != nullptr ? v : "";
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (auto& s : strings)
    out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// The child side of an Output: the fd to dup2 onto 1 or 2 (-1 = keep), and for kCapture the parent's read
// end.
struct OutputFds {
  Fd child;
  Fd parent_read;
};

OutputFds open_output(const Output& o) {
  OutputFds fds;
  switch (o.kind) {
    case Output::Kind::kCapture: {
      int p[2];
      if (::pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("pipe2: " + errno_text(errno));
      fds.parent_read = Fd(p[0]);
      fds.child = Fd(p[1]);
      break;
    }
    case Output::Kind::kFile: {
      int fd = ::open(o.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd < 0) throw std::runtime_error("cannot open " + o.path + ": " + errno_text(errno));
      fds.child = Fd(fd);
      break;
    }
    case Output::Kind::kNull: {
      int fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
      if (fd < 0) throw std::runtime_error("cannot open /dev/null: " + errno_text(errno));
      fds.child = Fd(fd);
      break;
    }
    case Output::Kind::kInherit: break;
  }
  return fds;
}

// Stages reported by the child through the exec-error pipe.
enum ChildStage : int { kStageDup = 1, kStageChdir = 2, kStageExec = 3 };

[[noreturn]] void child_fail(int report_fd, int stage) {
  int msg[2] = {stage, errno};
  [[maybe_unused]] auto n = ::write(report_fd, msg, sizeof msg);
  ::_exit(127);
}

// Runs in the forked child of a possibly multi-threaded parent: only async-signal-safe calls from here to
// execve.
[[noreturn]] void exec_child(pid_t parent, int in_fd, int out_fd, int err_fd, int report_fd, const char* cwd,
                             const char* path, char* const* argv, char* const* envp) {
  ::setpgid(0, 0);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  // The parent may have died before prctl took effect.
  if (::getppid() != parent) ::_exit(127);

  // Signal masks and ignored dispositions survive execve; a child that ignores SIGTERM would make shutdown
  // tests pass or fail for the wrong reason.
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGQUIT, SIGCHLD, SIGHUP})
    ::signal(sig, SIG_DFL);

  if (in_fd >= 0 && ::dup2(in_fd, 0) < 0) child_fail(report_fd, kStageDup);
  if (out_fd >= 0 && ::dup2(out_fd, 1) < 0) child_fail(report_fd, kStageDup);
  if (err_fd >= 0 && ::dup2(err_fd, 2) < 0) child_fail(report_fd, kStageDup);
  if (cwd != nullptr && ::chdir(cwd) != 0) child_fail(report_fd, kStageChdir);

  // Inherited sockets and pipes (other children's capture pipes, hiredis connections) would otherwise keep
  // those alive for as long as this child runs.
  if (report_fd > 3) ::close_range(3, static_cast<unsigned>(report_fd) - 1, 0);
  ::close_range(static_cast<unsigned>(report_fd) + 1, ~0U, 0);

  ::execve(path, argv, envp);
  child_fail(report_fd, kStageExec);
}

std::string tail(const std::string& s, std::size_t n) {
  if (s.size() <= n) return s;
  return "..." + s.substr(s.size() - n);
}

}  // namespace

std::string quote_command(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    bool plain = !a.empty() && std::all_of(a.begin(), a.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) != 0 || std::strchr("-_./:=,@+%", c) != nullptr;
    });
    out += plain ? a : "\"" + rmig::printable(a) + "\"";
  }
  return out;
}

std::string ExitStatus::describe() const {
  if (term_signal != 0) {
    return "killed by signal " + std::to_string(term_signal) + " (" + ::strsignal(term_signal) + ")";
  }
  return "exit code " + std::to_string(exit_code);
}

std::string RunResult::describe() const {
  ExitStatus st{exit_code, term_signal, max_rss_bytes, seconds};
  std::string s = command + ": " + (timed_out ? "timed out, " : "") + st.describe() + " after " +
                  std::to_string(seconds) + " s";
  s += "\n--- stderr ---\n" + tail(err, 4000);
  s += "\n--- stdout ---\n" + tail(out, 4000);
  return s;
}

struct Process::Impl {
  pid_t pid = -1;
  Fd pidfd;
  std::string command;
  Clock::time_point started;
  std::optional<ExitStatus> status;

  // Captured output, filled by the reader thread.
  std::thread reader;
  Fd stop_read;   // reader's end of the wake-up pipe
  Fd stop_write;  // closing it tells the reader to give up on outputs still open
  mutable std::mutex mu;
  std::condition_variable cv;
  std::string out;
  std::string err;
  bool out_open = false;
  bool err_open = false;

  ~Impl() {
    if (pid > 0 && !status) kill9();
    stop_reader(0ms);
  }

  bool reap(bool block) {
    if (status) return true;
    int wstatus = 0;
    rusage ru{};
    pid_t r;
    do {
      r = ::wait4(pid, &wstatus, block ? 0 : WNOHANG, &ru);
    } while (r < 0 && errno == EINTR);
    if (r == 0) return false;
    ExitStatus st;
    st.seconds = std::chrono::duration<double>(Clock::now() - started).count();
    if (r < 0) {
      // ECHILD: someone else reaped it (a SIGCHLD handler set to SIG_IGN); the status is lost.
      st.exit_code = -1;
    } else if (WIFEXITED(wstatus)) {
      st.exit_code = WEXITSTATUS(wstatus);
      st.max_rss_bytes = static_cast<std::int64_t>(ru.ru_maxrss) * 1024;
    } else if (WIFSIGNALED(wstatus)) {
      st.term_signal = WTERMSIG(wstatus);
      st.max_rss_bytes = static_cast<std::int64_t>(ru.ru_maxrss) * 1024;
    }
    status = st;
    pidfd.reset();
    return true;
  }

  std::optional<ExitStatus> wait_for(std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    auto backoff = 1ms;
    while (!reap(false)) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left <= 0ms) return std::nullopt;
      if (pidfd.get() >= 0) {
        pollfd p{pidfd.get(), POLLIN, 0};
        ::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 1000)));
      } else {
        std::this_thread::sleep_for(std::min(backoff, left));
        backoff = std::min(backoff * 2, 20ms);
      }
    }
    return status;
  }

  ExitStatus kill9() {
    if (!status && pid > 0) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      reap(true);
    }
    return *status;
  }

  void start_reader(Fd out_fd, Fd err_fd) {
    out_open = out_fd.get() >= 0;
    err_open = err_fd.get() >= 0;
    if (!out_open && !err_open) return;
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("pipe2: " + errno_text(errno));
    stop_read = Fd(p[0]);
    stop_write = Fd(p[1]);
    reader = std::thread([this, o = out_fd.release(), e = err_fd.release()] { read_loop(o, e); });
  }

  void read_loop(int out_fd, int err_fd) {
    char buf[65536];
    while (out_fd >= 0 || err_fd >= 0) {
      pollfd fds[3] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}, {stop_read.get(), POLLIN, 0}};
      if (::poll(fds, 3, -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (fds[2].revents != 0) break;
      for (int i = 0; i < 2; ++i) {
        if (fds[i].fd < 0 || fds[i].revents == 0) continue;
        ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        std::lock_guard lock(mu);
        if (n > 0) {
          (i == 0 ? out : err).append(buf, static_cast<std::size_t>(n));
        } else {
          ::close(fds[i].fd);
          (i == 0 ? out_fd : err_fd) = -1;
          (i == 0 ? out_open : err_open) = false;
        }
        cv.notify_all();
      }
    }
    if (out_fd >= 0) ::close(out_fd);
    if (err_fd >= 0) ::close(err_fd);
    std::lock_guard lock(mu);
    out_open = err_open = false;
    cv.notify_all();
  }

  // Waits up to `grace` for the outputs to close (a grandchild may still hold them), then stops the reader.
  void stop_reader(std::chrono::milliseconds grace) {
    if (!reader.joinable()) return;
    {
      std::unique_lock lock(mu);
      cv.wait_for(lock, grace, [&] { return !out_open && !err_open; });
    }
    stop_write.reset();
    reader.join();
  }
};

Process::Process() = default;
Process::Process(Process&&) noexcept = default;
Process& Process::operator=(Process&&) noexcept = default;
Process::~Process() = default;

Process Process::start(ProcessOptions options) {
  if (options.argv.empty()) throw std::invalid_argument("Process::start: empty argv");
  auto impl = std::make_unique<Impl>();
  impl->command = quote_command(options.argv);

  std::string path = find_executable(options.argv[0], env_value(options.env, "PATH"));
  std::vector<std::string> env_strings = child_environment(options.env);
  std::vector<std::string> argv_strings = options.argv;
  std::vector<char*> argv = c_strings(argv_strings);
  std::vector<char*> envp = c_strings(env_strings);

  Fd in(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  OutputFds out = open_output(options.out);
  OutputFds err = open_output(options.err);
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) throw std::runtime_error("pipe2: " + errno_text(errno));
  Fd report_read(report[0]);
  Fd report_write(report[1]);
  const char* cwd = options.cwd.empty() ? nullptr : options.cwd.c_str();

  pid_t parent = ::getpid();
  impl->started = Clock::now();
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork: " + errno_text(errno));
  if (pid == 0) {
    exec_child(parent, in.get(), out.child.get(), err.child.get(), report_write.get(), cwd, path.c_str(),
               argv.data(), envp.data());
  }
  impl->pid = pid;
  // Also set from the parent so that kill(-pid) works even before the child has run.
  ::setpgid(pid, pid);
  report_write.reset();
  in.reset();
  out.child.reset();
  err.child.reset();

  int msg[2] = {0, 0};
  ssize_t n;
  do {
    n = ::read(report_read.get(), msg, sizeof msg);
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof msg)) {
    impl->reap(true);
    const char* what = msg[0] == kStageChdir ? "chdir to " : msg[0] == kStageDup ? "dup2 for " : "exec ";
    std::string target = msg[0] == kStageChdir ? options.cwd : path;
    throw std::runtime_error("cannot start " + impl->command + ": " + what + target + ": " +
                             errno_text(msg[1]));
  }

  int pfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pfd >= 0) {
    ::fcntl(pfd, F_SETFD, FD_CLOEXEC);
    impl->pidfd = Fd(pfd);
  }
  impl->start_reader(std::move(out.parent_read), std::move(err.parent_read));

  Process p;
  p.impl_ = std::move(impl);
  return p;
}

pid_t Process::pid() const { return impl_ ? impl_->pid : -1; }

const std::string& Process::command() const {
  static const std::string kNone = "(no process)";
  return impl_ ? impl_->command : kNone;
}

bool Process::running() { return impl_ && !impl_->reap(false); }

std::optional<ExitStatus> Process::wait(std::chrono::milliseconds timeout) {
  if (!impl_) throw std::logic_error("Process::wait on an empty Process");
  return impl_->wait_for(timeout);
}

ExitStatus Process::wait() {
  if (!impl_) throw std::logic_error("Process::wait on an empty Process");
  impl_->reap(true);
  return *impl_->status;
}

void Process::send_signal(int sig) {
  if (impl_ && !impl_->reap(false)) ::kill(impl_->pid, sig);
}

ExitStatus Process::kill9() {
  if (!impl_) throw std::logic_error("Process::kill9 on an empty Process");
  return impl_->kill9();
}

std::string Process::out() const {
  if (!impl_) return {};
  std::lock_guard lock(impl_->mu);
  return impl_->out;
}

std::string Process::err() const {
  if (!impl_) return {};
  std::lock_guard lock(impl_->mu);
  return impl_->err;
}

bool Process::wait_for_output(std::string_view needle, std::chrono::milliseconds timeout, Stream stream) {
  if (!impl_) return false;
  auto& i = *impl_;
  auto found = [&] {
    bool in_out = stream != Stream::kErr && i.out.find(needle) != std::string::npos;
    bool in_err = stream != Stream::kOut && i.err.find(needle) != std::string::npos;
    return in_out || in_err;
  };
  std::unique_lock lock(i.mu);
  i.cv.wait_for(lock, timeout, [&] { return found() || (!i.out_open && !i.err_open); });
  return found();
}

RunResult Process::finish(std::chrono::milliseconds timeout) {
  if (!impl_) throw std::logic_error("Process::finish on an empty Process");
  RunResult r;
  r.command = impl_->command;
  std::optional<ExitStatus> st = impl_->wait_for(timeout);
  if (!st) {
    r.timed_out = true;
    st = impl_->kill9();
  }
  impl_->stop_reader(2s);
  r.exit_code = st->exit_code;
  r.term_signal = st->term_signal;
  r.seconds = st->seconds;
  r.max_rss_bytes = st->max_rss_bytes;
  std::lock_guard lock(impl_->mu);
  r.out = impl_->out;
  r.err = impl_->err;
  return r;
}

RunResult run(const std::vector<std::string>& argv, const EnvOverrides& env,
              std::chrono::milliseconds timeout) {
  ProcessOptions o;
  o.argv = argv;
  o.env = env;
  return run(std::move(o), timeout);
}

RunResult run(ProcessOptions options, std::chrono::milliseconds timeout) {
  return Process::start(std::move(options)).finish(timeout);
}

std::string tool_path() {
  const char* env = std::getenv("RM_BINARY");
  return env != nullptr && *env != '\0' ? env : RM_BINARY_PATH;
}

bool tool_sanitized() {
  static const bool sanitized = [] {
    std::ifstream in(tool_path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return bytes.find("__asan_init") != std::string::npos;
  }();
  return sanitized;
}

RunResult run_tool(const std::vector<std::string>& args, const EnvOverrides& env,
                   std::chrono::milliseconds timeout) {
  std::vector<std::string> argv{tool_path()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, env, timeout);
}

ToolProcess start_tool(const std::vector<std::string>& args, const EnvOverrides& env) {
  ProcessOptions o;
  o.argv = {tool_path()};
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  o.env = env;
  return Process::start(std::move(o));
}

}  // namespace rmig::test
