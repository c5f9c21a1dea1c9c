#!/usr/bin/env bash
# The main job on a local demo: installs what it needs, builds redis-migrate, starts two throwaway
# redis-servers on free loopback ports, seeds the source with a few thousand keys of every type (some with
# TTLs), copies them and prints the summary, then checks the destination key by key. Everything it starts is
# stopped at the end. Usage: scripts/demo.sh [extra redis-migrate options, e.g. --dry-run]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

scripts/install-deps.sh all
echo "== building redis-migrate (release)"
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j"$(nproc)" --target redis-migrate >/dev/null
bin=$root/build/release/src/redis-migrate

work=$(mktemp -d /tmp/redis-migrate-demo.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
start_server() {  # start_server NAME: sets $port (not run in a subshell, so the pid is remembered)
  local name=$1
  for _ in $(seq 50); do
    port=$((20000 + RANDOM % 30000))
    port_in_use "$port" && continue
    mkdir -p "$work/$name"
    redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --dir "$work/$name" \
      --logfile "$work/$name/redis.log" --daemonize no >/dev/null 2>&1 &
    local pid=$!
    for _ in $(seq 100); do
      if redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; then
        pids+=("$pid")
        return 0
      fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.05
    done
    kill "$pid" 2>/dev/null || true
  done
  echo "demo: could not start redis-server" >&2
  return 1
}

start_server source
src=$port
start_server destination
dst=$port
echo "== source on 127.0.0.1:$src, destination on 127.0.0.1:$dst"

# Seed: RESP commands generated with awk and sent with redis-cli --pipe.
n=${DEMO_KEYS:-5000}
awk -v n="$n" '
function cmd(argc, a,   i, s) { s = "*" argc "\r\n"; for (i = 1; i <= argc; i++) s = s "$" length(a[i]) "\r\n" a[i] "\r\n"; printf "%s", s }
BEGIN {
  srand(42)
  for (i = 0; i < n; i++) {
    t = i % 6; delete a
    if (t == 0) { a[1]="SET"; a[2]="demo:string:" i; a[3]="value-" i "-" sprintf("%0*d", 40, i); c=3
                  if (i % 3 == 0) { a[4]="PX"; a[5]=3600000 + i; c=5 } cmd(c, a) }
    else if (t == 1) { a[1]="RPUSH"; a[2]="demo:list:" i; for (j = 0; j < 5; j++) a[3+j]="item-" j; cmd(7, a) }
    else if (t == 2) { a[1]="SADD"; a[2]="demo:set:" i; for (j = 0; j < 5; j++) a[3+j]="member-" j; cmd(7, a) }
    else if (t == 3) { a[1]="ZADD"; a[2]="demo:zset:" i; for (j = 0; j < 4; j++) { a[3+2*j]=j * 1.5; a[4+2*j]="m" j } cmd(10, a) }
    else if (t == 4) { a[1]="HSET"; a[2]="demo:hash:" i; for (j = 0; j < 4; j++) { a[3+2*j]="field" j; a[4+2*j]="v" j } cmd(10, a)
                  if (i % 4 == 0) { delete a; a[1]="PEXPIRE"; a[2]="demo:hash:" i; a[3]=7200000; cmd(3, a) } }
    else { a[1]="XADD"; a[2]="demo:stream:" i; a[3]="*"; a[4]="event"; a[5]="created"; cmd(5, a)
           delete a; a[1]="XADD"; a[2]="demo:stream:" i; a[3]="*"; a[4]="event"; a[5]="updated"; cmd(5, a)
           if (i % 12 == 5) { delete a; a[1]="XGROUP"; a[2]="CREATE"; a[3]="demo:stream:" i; a[4]="workers"; a[5]="0"; cmd(5, a)
             delete a; a[1]="XREADGROUP"; a[2]="GROUP"; a[3]="workers"; a[4]="w1"; a[5]="COUNT"; a[6]="1"; a[7]="STREAMS"; a[8]="demo:stream:" i; a[9]=">"; cmd(9, a) } }
  }
}' | redis-cli -p "$src" --pipe >/dev/null
echo "== seeded $(redis-cli -p "$src" dbsize) keys into the source"

echo "== redis-migrate redis://127.0.0.1:$src/0 redis://127.0.0.1:$dst/0 $*"
set +e
"$bin" "redis://127.0.0.1:$src/0" "redis://127.0.0.1:$dst/0" --progress-interval 1 "$@"
rc=$?
set -e
own=$(redis-cli -p "$dst" --scan --pattern 'redis-migrate:*' | wc -l)
echo "== redis-migrate exited with $rc; the destination holds $(($(redis-cli -p "$dst" dbsize) - own)) keys" \
  "(plus $own of the tool's own: its run record and run index, see README \"Lock and resume\")"

if [ -x "$bin" ] && "$bin" --help 2>/dev/null | grep -q '^ *verify'; then
  echo "== verify"
  "$bin" verify "redis://127.0.0.1:$src/0" "redis://127.0.0.1:$dst/0" || rc=$?
fi
exit "$rc"
