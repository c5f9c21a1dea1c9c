#include "app/main.hpp"

#include <cstdio>

namespace rmig::app {

int main(int /*argc*/, char** /*argv*/) noexcept {
  std::fputs("redis-migrate: not implemented yet\n", stderr);
  return 2;
}

}  // namespace rmig::app
