#pragma once
// SHA-1 as lowercase hex, the form Redis's redis.sha1hex() and SCRIPT LOAD give.

#include <string>
#include <string_view>

namespace rmig {

std::string sha1_hex(std::string_view data);

}  // namespace rmig
