#pragma once
// Commands to RESP bytes, appended straight into a connection's output buffer.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "net/out_buffer.hpp"

namespace rmig::resp {

// A command's arguments, binary-safe. Views must stay valid until append_command returns.
using Args = std::vector<std::string_view>;

// Appends the command in RESP, byte for byte as hiredis's redisFormatCommandArgv formats it.
void append_command(net::OutBuffer& out, const std::string_view* args, std::size_t argc);
inline void append_command(net::OutBuffer& out, const Args& args) {
  append_command(out, args.data(), args.size());
}

// Appends a command with one large argument (args[ref_index], e.g. a DUMP payload) referenced rather than
// copied: the header and the other arguments are copied, the large one is kept alive by `owner` until the
// write completes. The bytes are identical to what redisFormatCommandArgv produces for the same arguments.
void append_command_ref(net::OutBuffer& out, const std::string_view* args, std::size_t argc,
                        std::size_t ref_index, std::shared_ptr<const void> owner);

}  // namespace rmig::resp
