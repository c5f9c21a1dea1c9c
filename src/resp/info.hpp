#pragma once
// INFO replies: "# Section\r\nfield:value\r\n...".

#include <map>
#include <string>
#include <string_view>

namespace rmig::resp {

std::map<std::string, std::string, std::less<>> parse_info(std::string_view text);

}  // namespace rmig::resp
