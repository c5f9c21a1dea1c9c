#include "copy/restore_check.hpp"

#include "copy/temp_key.hpp"

namespace rmig::copy {

std::string restore_check_key(std::string_view target, std::string_view prefix) {
  return temp_key(target, prefix, "check");
}

}  // namespace rmig::copy
