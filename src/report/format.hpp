#pragma once
// Numbers for people: 1,234,567 keys, 12.3 MB, 1m20s.

#include <cstdint>
#include <string>

namespace rmig::report {

std::string thousands(uint64_t n);
std::string human_bytes(uint64_t bytes);
std::string human_duration(double seconds);
// "SIGINT", "SIGTERM", "SIGHUP" (the signals that interrupt a run), else "signal N".
std::string signal_name(int signum);

}  // namespace rmig::report
