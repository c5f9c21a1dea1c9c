#pragma once

namespace rmbench {

// Runs the helper's own unit tests; returns the process exit code (0 when all pass).
int run_selftest();

}  // namespace rmbench
