#!/usr/bin/env bash
# Installs what the build and the tests need, builds twice (warnings as errors: a release build with every test,
# and an AddressSanitizer + UndefinedBehaviorSanitizer build of the binary and the unit tests) and runs every test
# against real redis-server processes that the tests start themselves on free loopback ports:
#   - unit tests in both builds;
#   - the integration suites (each starts the redis-migrate binary) against the sanitizer build's binary, so every
#     copy, verify and failure path runs under ASan/UBSan, with leak detection;
#   - the heavy, memory-measuring suites against the release binary (sanitizers multiply RSS);
#   - the container image (from the release build's binary), its copy and the compose demo (which builds the image
#     from source: scripts/test-container.sh --prepare-source compiles that in the background, at the lowest
#     priority).
# Usage: scripts/test.sh [ctest arguments, e.g. -L tls]: with arguments, only the integration suites they select
# run (against the sanitizer build's binary) and the container test is skipped. JOBS sets the compile jobs.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$SECONDS
prepare_pid=
trap '[ -n "$prepare_pid" ] && kill "$prepare_pid" 2>/dev/null; true' EXIT
step() { printf '== [%3ds] %s\n' $((SECONDS - t0)) "$*"; }

scripts/install-deps.sh all

jobs=${JOBS:-$(nproc)}
ctest_args=("$@")

container=0
if [ -x scripts/test-container.sh ] && [ "${SKIP_CONTAINER:-0}" != 1 ] && [ ${#ctest_args[@]} -eq 0 ]; then
  container=1
  # Packages, base image and package layers for the container test come over the network: fetch them while
  # the compiler has the CPU. Then build the image from source as the compose demo does, at the lowest CPU
  # priority: that compile takes the CPU the builds and tests below leave idle.
  mkdir -p build
  rm -f build/container-prepare.rc
  (
    rc=0
    scripts/test-container.sh --prepare >build/container-prepare.log 2>&1 || rc=$?
    echo "$rc" >build/container-prepare.rc
    [ "$rc" = 0 ] || exit "$rc"
    exec scripts/test-container.sh --prepare-source >build/container-source.log 2>&1
  ) &
  prepare_pid=$!
fi

step "build: release, as the image ships it (warnings as errors), with the tests"
# Boost.URL linked statically as in the image, whose runtime stage has no Boost: the container test builds the
# image from this binary.
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DRM_WERROR=ON -DRM_BUILD_TESTS=ON \
  -DBoost_USE_STATIC_LIBS=ON >/dev/null
cmake --build build/release -j"$jobs"

step "build: AddressSanitizer + UndefinedBehaviorSanitizer: the binary and the unit tests"
cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DRM_SANITIZE=ON -DRM_WERROR=ON -DRM_BUILD_TESTS=ON >/dev/null
cmake --build build/asan -j"$jobs" --target redis-migrate unit_tests

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
sanitized_binary=$PWD/build/asan/src/redis-migrate

if [ ${#ctest_args[@]} -gt 0 ]; then
  step "tests: ${ctest_args[*]} against the sanitizer build's binary"
  RM_BINARY=$sanitized_binary ctest --test-dir build/release --output-on-failure -j2 "${ctest_args[@]}"
  step "selected tests passed"
  exit 0
fi

step "tests: unit, sanitizer and release builds"
# Two entries each (tests/CMakeLists.txt splits off the command-line permutation case): one per core.
ctest --test-dir build/asan --output-on-failure -j2 -L unit
ctest --test-dir build/release --output-on-failure -j2 -L unit

step "tests: integration suites against the sanitizer build's binary"
# Three at a time on two cores: the suites spend much of their time waiting on servers (measured: -j2 102 s,
# -j3 71 s, with the cluster suite's 61 s the floor). The longest suites start first (their COST in
# tests/CMakeLists.txt).
RM_BINARY=$sanitized_binary ctest --test-dir build/release --output-on-failure -j3 -LE 'unit|heavy'

step "tests: heavy suites against the release binary"
# Side by side: each measures the tool's own peak RSS, which the other does not change (measured: 78 s together,
# 109 s one after the other).
ctest --test-dir build/release --output-on-failure -j2 -L heavy

if [ "$container" = 1 ]; then
  step "container image"
  while [ ! -s build/container-prepare.rc ] && kill -0 "$prepare_pid" 2>/dev/null; do sleep 1; done
  cat build/container-prepare.log
  [ "$(cat build/container-prepare.rc 2>/dev/null)" = 0 ] ||
    { echo "test.sh: preparing the container test failed" >&2; exit 1; }
  # The image under test from the release binary; the compose demo waits for the build from source.
  RM_IMAGE_BINARY=$PWD/build/release/src/redis-migrate RM_SOURCE_BUILD_PID=$prepare_pid scripts/test-container.sh
  source_rc=0
  wait "$prepare_pid" || source_rc=$?
  prepare_pid=
  cat build/container-source.log
  [ "$source_rc" = 0 ] || { echo "test.sh: building the image from source failed ($source_rc)" >&2; exit 1; }
fi
step "all tests passed"
