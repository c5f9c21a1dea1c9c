#!/usr/bin/env bash
# Installs what the build and the tests need, builds twice (warnings as errors; once with AddressSanitizer and
# UndefinedBehaviorSanitizer) and runs every test against real redis-server processes that the tests start
# themselves on free loopback ports. Usage: scripts/test.sh [ctest arguments, e.g. -L tls]
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh all

jobs=${JOBS:-$(nproc)}
ctest_args=("$@")

echo "== build: release (warnings as errors)"
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRM_WERROR=ON -DRM_BUILD_TESTS=ON >/dev/null
cmake --build build/release -j"$jobs"

echo "== build: AddressSanitizer + UndefinedBehaviorSanitizer"
cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DRM_SANITIZE=ON -DRM_WERROR=ON -DRM_BUILD_TESTS=ON >/dev/null
cmake --build build/asan -j"$jobs"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

echo "== tests: sanitizer build (all but the heavy, memory-measuring ones)"
ctest --test-dir build/asan --output-on-failure -j2 -LE heavy "${ctest_args[@]}"

echo "== tests: release build"
ctest --test-dir build/release --output-on-failure -j2 "${ctest_args[@]}"

if [ -x scripts/test-container.sh ] && [ "${SKIP_CONTAINER:-0}" != 1 ] && [ ${#ctest_args[@]} -eq 0 ]; then
  echo "== container image"
  scripts/test-container.sh
fi
echo "== all tests passed"
