#pragma once
// Files the operator names (password files, TLS certificates and keys, CA directories): why one cannot be
// used, in plain words, checked without ever blocking on it (a FIFO is refused, never opened for a read that
// waits for a writer).

#include <cstddef>
#include <string>

#include "util/result.hpp"

namespace rmig {

// Empty when `path` is a regular file this process can open for reading; otherwise what is wrong with it:
// "does not exist", "is a directory, not a file", "is a named pipe (FIFO), not a regular file", "cannot be
// read (permission denied)"...
std::string file_problem(const std::string& path);

// The same for a directory this process can list.
std::string directory_problem(const std::string& path);

// The whole content of a regular file of at most `max_bytes`. Errors are usage errors (exit code 2) that
// start with `what` (e.g. "--source-password-file /run/secrets/pw") and say what to do.
Result<std::string> read_small_file(const std::string& path, std::size_t max_bytes, const std::string& what);

}  // namespace rmig
