#!/usr/bin/env bash
# Style and static checks: clang-format (the project's .clang-format) and clang-tidy (.clang-tidy) on every
# C++ file. Exits non-zero when a file would be reformatted or clang-tidy reports anything.
# Usage: scripts/lint.sh [--fix]   (--fix reformats in place; clang-tidy findings are fixed by hand)
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files '*.cpp' '*.hpp')
if [ "${1:-}" = --fix ]; then
  clang-format -i $files
else
  bad=$(for f in $files; do clang-format --dry-run "$f" 2>&1 | grep -q warning && echo "$f"; done || true)
  if [ -n "$bad" ]; then
    echo "lint: clang-format would change:" $bad >&2
    exit 1
  fi
fi
# clang-tidy needs compile_commands.json from a configured build.
[ -f build/release/compile_commands.json ] || cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
git ls-files 'src/*.cpp' | xargs -P"$(nproc)" -n4 clang-tidy -p build/release --quiet
echo "lint: clean"
