#!/usr/bin/env bash
# Installs the Debian packages needed to build, test and demo redis-migrate.
# Idempotent: packages already present are not reinstalled; apt-get update runs only when something is missing.
set -euo pipefail

BUILD_PKGS=(g++ cmake make pkg-config libhiredis-dev libuv1-dev libssl-dev libboost-url1.81-dev libspdlog-dev
  libcli11-dev nlohmann-json3-dev libre2-dev prometheus-cpp-dev)
TEST_PKGS=(doctest-dev redis-server redis-tools openssl procps)

want=("${BUILD_PKGS[@]}")
case "${1:-all}" in
  build) ;;
  all | test) want+=("${TEST_PKGS[@]}") ;;
  *) echo "usage: $0 [build|test|all]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
# Debian's redis-server package starts a system instance where an init system runs; the tests start their own.
