#include "resp/command.hpp"

#include <hiredis/hiredis.h>

#include <array>
#include <charconv>
#include <cstdlib>

namespace rmig::resp {

namespace {
constexpr std::size_t kStackArgs = 16;

void append_number_line(net::OutBuffer& out, char prefix, std::size_t n) {
  std::array<char, 32> buf{};
  buf[0] = prefix;
  auto [end, ec] = std::to_chars(buf.data() + 1, buf.data() + buf.size() - 2, n);
  (void)ec;
  *end++ = '\r';
  *end++ = '\n';
  out.append(buf.data(), static_cast<std::size_t>(end - buf.data()));
}
}  // namespace

void append_command(net::OutBuffer& out, const std::string_view* args, std::size_t argc) {
  std::array<const char*, kStackArgs> ptr_stack{};
  std::array<std::size_t, kStackArgs> len_stack{};
  std::vector<const char*> ptr_heap;
  std::vector<std::size_t> len_heap;
  const char** ptrs = ptr_stack.data();
  std::size_t* lens = len_stack.data();
  if (argc > kStackArgs) {
    ptr_heap.resize(argc);
    len_heap.resize(argc);
    ptrs = ptr_heap.data();
    lens = len_heap.data();
  }
  for (std::size_t i = 0; i < argc; ++i) {
    ptrs[i] = args[i].data();
    lens[i] = args[i].size();
  }
  char* cmd = nullptr;
  int len = redisFormatCommandArgv(&cmd, static_cast<int>(argc), ptrs, lens);
  if (len < 0 || cmd == nullptr) std::abort();  // only fails when out of memory
  out.append(cmd, static_cast<std::size_t>(len));
  redisFreeCommand(cmd);
}

void append_command_ref(net::OutBuffer& out, const std::string_view* args, std::size_t argc,
                        std::size_t ref_index, std::shared_ptr<const void> owner) {
  append_number_line(out, '*', argc);
  for (std::size_t i = 0; i < argc; ++i) {
    append_number_line(out, '$', args[i].size());
    if (i == ref_index) {
      out.append_shared(args[i].data(), args[i].size(), owner);
    } else {
      out.append(args[i]);
    }
    out.append("\r\n", 2);
  }
}

}  // namespace rmig::resp
