#pragma once
// Temporary directories and small file helpers for tests.

#include <cstddef>
#include <string>

namespace rmig::test {

// A fresh directory (mkdtemp) removed with its contents on destruction. Set RMIG_KEEP_TEMP=1 to keep it for a
// post-mortem. The path stays short enough for a unix socket inside it.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "rmig");
  TempDir(TempDir&& other) noexcept;
  TempDir& operator=(TempDir&& other) noexcept;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  void remove();
  std::string path_;
};

// Whole file as bytes; empty when it cannot be read.
std::string read_file(const std::string& path);
// Throws std::runtime_error on failure.
void write_file(const std::string& path, const std::string& content);
// The last `lines` lines of text.
std::string tail_lines(const std::string& text, std::size_t lines);

}  // namespace rmig::test
