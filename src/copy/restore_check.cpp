#include "copy/restore_check.hpp"

#include "copy/temp_key.hpp"

namespace rmig::copy {

namespace {

constexpr const char* kSameAsRestored =
    "redis.call('RESTORE', KEYS[2], 0, ARGV[1], 'REPLACE')\n"
    "local fresh = redis.call('DUMP', KEYS[2])\n"
    "redis.call('DEL', KEYS[2])\n"
    "if fresh == redis.call('DUMP', KEYS[1]) then return 1 end\n"
    "return 0\n";

}  // namespace

const char* same_as_restored_script() noexcept { return kSameAsRestored; }

std::string restore_check_key(std::string_view target, std::string_view prefix) {
  return temp_key(target, prefix, "check");
}

}  // namespace rmig::copy
