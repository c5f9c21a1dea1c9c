#pragma once

namespace rmig::app {

// Parses the command line and the environment, runs the selected command and returns the process exit code.
// Never throws.
int main(int argc, char** argv) noexcept;

}  // namespace rmig::app
