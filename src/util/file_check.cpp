#include "util/file_check.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace rmig {

namespace {

std::string stat_problem(const std::string& path, struct stat& st) {
  if (path.empty()) return "is an empty path";
  if (::stat(path.c_str(), &st) == 0) return {};
  switch (errno) {
    case ENOENT: return "does not exist";
    case ENOTDIR: return "does not exist (a part of the path is not a directory)";
    case EACCES: return "cannot be reached (permission denied on a directory of the path)";
    default: return std::string("cannot be examined (") + std::strerror(errno) + ")";
  }
}

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a named pipe (FIFO)";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

std::string open_problem(int err) {
  if (err == EACCES || err == EPERM) {
    return "cannot be read (permission denied): it must be readable by the user running redis-migrate (uid " +
           std::to_string(::getuid()) + ")";
  }
  return std::string("cannot be opened (") + std::strerror(err) + ")";
}

}  // namespace

std::string file_problem(const std::string& path) {
  struct stat st {};
  if (std::string p = stat_problem(path, st); !p.empty()) return p;
  if (!S_ISREG(st.st_mode)) {
    return std::string("is ") + kind_of(st.st_mode) +
           (S_ISDIR(st.st_mode) ? ", not a file" : ", not a regular file");
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return open_problem(errno);
  ::close(fd);
  return {};
}

std::string directory_problem(const std::string& path) {
  struct stat st {};
  if (std::string p = stat_problem(path, st); !p.empty()) return p;
  if (!S_ISDIR(st.st_mode)) return std::string("is ") + kind_of(st.st_mode) + ", not a directory";
  DIR* d = ::opendir(path.c_str());
  if (d == nullptr) return open_problem(errno);
  ::closedir(d);
  return {};
}

Result<std::string> read_small_file(const std::string& path, std::size_t max_bytes, const std::string& what) {
  auto usage = [&](const std::string& problem) {
    return make_error(ExitCode::kUsage, what + ": " + problem);
  };
  // O_NONBLOCK: opening a FIFO for reading must not wait for a writer; fstat then refuses it.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    if (errno == EACCES || errno == EPERM) return usage(open_problem(errno));
    return usage(file_problem(path).empty() ? open_problem(errno) : file_problem(path));
  }
  struct stat st {};
  std::string problem;
  if (::fstat(fd, &st) != 0) {
    problem = std::string("cannot be examined (") + std::strerror(errno) + ")";
  } else if (!S_ISREG(st.st_mode)) {
    problem = std::string("is ") + kind_of(st.st_mode) +
              (S_ISDIR(st.st_mode) ? ", not a file" : ", not a regular file");
  } else if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    problem = "is " + std::to_string(st.st_size) + " bytes, more than the " +
              std::to_string(max_bytes / 1024) + " KB such a file may hold";
  }
  std::string content;
  if (problem.empty()) {
    // Read at most one byte more than allowed: a file that grew since fstat is refused too.
    content.resize(max_bytes + 1);
    std::size_t got = 0;
    while (got < content.size()) {
      const ssize_t n = ::read(fd, content.data() + got, content.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        problem = std::string("cannot be read (") + std::strerror(errno) + ")";
        break;
      }
      if (n == 0) break;
      got += static_cast<std::size_t>(n);
    }
    content.resize(got);
    if (problem.empty() && got > max_bytes) {
      problem = "holds more than the " + std::to_string(max_bytes / 1024) + " KB such a file may hold";
    }
  }
  ::close(fd);
  if (!problem.empty()) return usage(problem);
  return content;
}

}  // namespace rmig
