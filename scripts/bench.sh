#!/usr/bin/env bash
# Measures redis-migrate next to the physical limit of the servers it copies between, measured in the same run:
#   limit       = the serve and absorb replays below run AT THE SAME TIME (a copy makes both servers work at
#                 once, and on one machine they compete for its cores as during a copy)
#   serve rate  = DUMP for every key replayed to the source as one pipeline (rm-bench replay, a RESP skipper)
#   absorb rate = RESTORE ... ABSTTL for every key replayed to an empty destination (redis-cli --pipe)
#   mix rate    = the source serving the tool's own reads (PTTL+DUMP, with MEMORY USAGE when it sizes keys)
# each replay alone too, and the CPU time (user+sys) of the tool (wait4) and of each server (/proc/PID/stat)
# per million keys; and checks the targets: tool >= 90% of the limit, tool peak RSS <= 64 MB, TLS >= 70% of
# plain, rewrite path >= 50% of the dump path.
# The live section (--only live) measures a live run (--live) while a load of fixed rates writes to the source:
# the lag from a write acknowledged by the source to its value on the destination, the tool's CPU, pending keys,
# the highest rate held with p99 lag under 1 s; and the cost of a resync of an unchanged keyspace.
# The scaling section (--only scaling) copies one dataset from a 3-primary source cluster to a 3-primary destination
# cluster as one process (defaults), as one process with --threads 1, 2, 3 (when the tool has --threads), and as
# N processes at once with --shard i/N (N = 1, 2, 3); then between two standalone Valkey 8 servers with I/O threads
# off (io-threads 1), on (io-threads 2) and forced (events-per-io-thread 0), one process against two shards at
# once. Columns: keys/s, wall s, the tool's CPU (all processes summed), the servers' CPU, peak RSS, and the
# machine's load, busy cores and other work during the run.
# The method is described in docs/performance.md. Results: build-bench/results.{md,json} (raw: results.tsv).
#
# usage: scripts/bench.sh [--quick] [--only NAME[,NAME...]] [--tool PATH] [--repeat N] [--keep]
#   --quick       datasets 10x smaller (a smoke run of about two minutes)
#   --only NAME   run only these sections: strings mixed strings5m bigkeys tls cluster rewrite live scaling
#                 (repeatable)
#   --tool PATH   measure this redis-migrate binary instead of building build-release/redis-migrate
#   --repeat N    run every timed step N times and keep the best (default 1)
#   --keep        keep the work directory under /tmp (command files, server logs) for inspection
# Environment:
#   RM_BENCH_CLUSTER_URL_FORMAT  printf format of a cluster URL from one node's port (default redis://127.0.0.1:%s)
#   RM_BENCH_CLUSTER_ARGS        extra tool arguments for cluster runs (default none)
#   RM_BENCH_TOOL_ARGS           extra tool arguments for every run, e.g. "--big-key-threshold 0" (default none)
#   RM_BENCH_SERVER              the command that starts a server, words split on spaces (default redis-server),
#                                e.g. "LOADER --library-path LIBS .../redis-server" for another Redis version
#   RM_BENCH_VALKEY8             the command that starts Valkey 8 for the scaling section, words split on spaces
#                                (default: the valkey-server the cross-version tests unpack under
#                                ${RMIG_VERSIONS_CACHE:-/tmp/rmig-versions}/valkey-8.0_*)
set -euo pipefail
CLK_TCK=$(getconf CLK_TCK)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT="$ROOT/build-bench"
ALL_SECTIONS=(strings mixed strings5m bigkeys tls cluster rewrite live scaling)
COMMAND_LINE="scripts/bench.sh"
[ -n "${RM_BENCH_TOOL_ARGS:-}" ] && COMMAND_LINE="RM_BENCH_TOOL_ARGS='$RM_BENCH_TOOL_ARGS' $COMMAND_LINE"
for arg in "$@"; do
  if [[ $arg =~ ^[A-Za-z0-9_./,:=@+-]+$ ]]; then COMMAND_LINE+=" $arg"; else COMMAND_LINE+=" $(printf '%q' "$arg")"; fi
done

QUICK=0
REPEAT=1
KEEP=0
TOOL=
SECTIONS=()

usage() { sed -n '/^# usage:/,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
die() {
  printf 'bench: error: %s\n' "$*" >&2
  exit 1
}
log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" | tee -a "$OUT/bench.log" >&2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --only)
      [ $# -ge 2 ] || die "--only needs a section name"
      IFS=, read -r -a names <<<"$2"
      for n in "${names[@]}"; do
        [[ " ${ALL_SECTIONS[*]} " == *" $n "* ]] || die "unknown section '$n' (known: ${ALL_SECTIONS[*]})"
        SECTIONS+=("$n")
      done
      shift ;;
    --tool)
      [ $# -ge 2 ] || die "--tool needs a path"
      TOOL=$(realpath -e "$2" 2>/dev/null) || die "--tool: no such file: $2"
      shift ;;
    --repeat)
      [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || die "--repeat needs a positive integer"
      REPEAT=$2
      shift ;;
    --keep) KEEP=1 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument '$1'" ;;
  esac
  shift
done
[ ${#SECTIONS[@]} -gt 0 ] || SECTIONS=("${ALL_SECTIONS[@]}")

read -r -a SERVER_CMD <<<"${RM_BENCH_SERVER:-redis-server}"
for cmd in "${SERVER_CMD[0]}" redis-cli redis-benchmark openssl cmake make; do
  command -v "$cmd" >/dev/null || die "$cmd not found; run scripts/install-deps.sh"
done

# Dataset sizes; --quick divides them by 10.
DIV=$((QUICK ? 10 : 1))
STRINGS_N=$((1000000 / DIV))
STRINGS5M_N=$((5000000 / DIV))
VALUE_SIZE=100
MIXED_N=$((200000 / DIV))
MIXED_BYTES=$((300000000 / DIV))
TTL_FRACTION=0.3
BIG_SCALE=$([ "$QUICK" = 1 ] && echo 0.1 || echo 1)
PROBE_KEYS=600
# live: hot keys written by the load (five types), the rates (changes/s) and seconds at each, the resync keyspace.
LIVE_HOT=$((100000 / DIV))
LIVE_RATES=(5000 20000 50000)
LIVE_SECS=$([ "$QUICK" = 1 ] && echo 5 || echo 30)
LIVE_RESYNC_N=$((1000000 / DIV))
CLUSTER_URL_FORMAT=${RM_BENCH_CLUSTER_URL_FORMAT:-redis://127.0.0.1:%s}
read -r -a CLUSTER_ARGS <<<"${RM_BENCH_CLUSTER_ARGS:-}"
read -r -a TOOL_ARGS <<<"${RM_BENCH_TOOL_ARGS:-}"

# 1000000 -> 1m, 20000 -> 20k
short_count() {
  local n=$1
  if [ $((n % 1000000)) -eq 0 ]; then echo "$((n / 1000000))m"; elif [ $((n % 1000)) -eq 0 ]; then echo "$((n / 1000))k"; else echo "$n"; fi
}

mkdir -p "$OUT"
: >"$OUT/bench.log"
RESULTS="$OUT/results.tsv"
: >"$RESULTS"
WORK=$(mktemp -d /tmp/rm-bench.XXXXXX)
SERVER_PIDS=()

stop_pid() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
stop_servers() {
  local pid
  for pid in "${SERVER_PIDS[@]}"; do stop_pid "$pid"; done
  SERVER_PIDS=()
}
cleanup() {
  local rc=$?
  stop_servers
  if [ "$KEEP" = 1 ]; then
    echo "bench: work directory kept: $WORK" >&2
  else
    rm -rf "$WORK"
  fi
  [ "$rc" -eq 0 ] || echo "bench: stopped (exit $rc); servers stopped; log: $OUT/bench.log" >&2
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

rmb() { "$OUT/rm-bench" "$@"; }
rcli() { redis-cli -h 127.0.0.1 -p "$1" "${@:2}"; }
# Value of KEY in a "k=v k=v" line.
kv() {
  local tok
  for tok in $2; do
    if [ "${tok%%=*}" = "$1" ]; then
      echo "${tok#*=}"
      return 0
    fi
  done
  die "no '$1' in: $2"
}
# CPU time (user+sys, in clock ticks) used so far by these processes, from /proc/PID/stat (fields 14 and 15,
# counted after the ")" that ends the command name).
cpu_ticks() {
  local p total=0 f
  for p in "$@"; do
    f=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null) || die "process $p is gone (a server died?)"
    total=$((total + $(echo "$f" | awk '{ print $12 + $13 }')))
  done
  echo "$total"
}
# Seconds between two cpu_ticks readings.
ticks_s() { awk -v a="$1" -v b="$2" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", (b - a) / hz }'; }
# Floating-point helpers.
fmin() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b < a) ? b : a }'; }
fmax() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b > a) ? b : a }'; }
# 1 when B < A (A empty counts as infinite), else 0: whether a new run beats the best so far.
fbetter() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b < a) ? 1 : 0 }'; }
fsum() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a + b }'; }
# One results line: KIND key=value... (tabs and newlines removed from values).
record() {
  local kind=$1 line
  shift
  line=$kind
  local f
  for f in "$@"; do line+=$'\t'"$(printf '%s' "$f" | tr '\t\n' '  ')"; done
  printf '%s\n' "$line" >>"$RESULTS"
}

# start_server NAME PORT [redis-server args...]: sets SERVER_PID.
start_server() {
  local name=$1 port=$2 dir="$WORK/$1" i
  shift 2
  mkdir -p "$dir"
  "${SERVER_CMD[@]}" --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
    --logfile "$dir/redis.log" --daemonize no "$@" </dev/null >/dev/null 2>&1 &
  SERVER_PID=$!
  SERVER_PIDS+=("$SERVER_PID")
  for ((i = 0; i < 100; i++)); do
    [ "$(rcli "$port" ping 2>/dev/null)" = PONG ] && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  tail -5 "$dir/redis.log" >&2 || true
  die "redis-server '$name' on port $port did not start (log: $dir/redis.log)"
}

flush() {
  local p
  for p in "$@"; do rcli "$p" FLUSHALL SYNC >/dev/null; done
}
dbsize_sum() {
  local p total=0
  for p in "$@"; do total=$((total + $(rcli "$p" DBSIZE))); done
  echo "$total"
}
# Keys on the destination other than the tool's own (its run record and run index under redis-migrate:).
user_dbsize_sum() {
  local p total=0 own
  for p in "$@"; do
    own=$(redis-cli -h 127.0.0.1 -p "$p" --scan --pattern 'redis-migrate:*' | wc -l)
    total=$((total + $(rcli "$p" DBSIZE) - own))
  done
  echo "$total"
}

# seed_on TARGETS KIND ARGS...: runs rm-bench seed-KIND on every target ("PORT" or "PORT@SLOTS"); sets SEED_S.
seed_on() {
  local targets=$1 kind=$2 t port slots out
  shift 2
  SEED_S=0
  for t in $targets; do
    port=${t%%@*}
    slots=
    [[ $t == *@* ]] && slots=${t#*@}
    out=$(rmb "seed-$kind" 127.0.0.1 "$port" "$@" ${slots:+--slots "$slots"}) || die "seeding $kind on port $port failed"
    echo "seed-$kind :$port $out" >>"$OUT/bench.log"
    SEED_S=$(fsum "$SEED_S" "$(kv elapsed_s "$out")")
  done
}

ports_of() {
  local t
  for t in $1; do printf '%s ' "${t%%@*}"; done
}

# --- the tool ------------------------------------------------------------------------------------------------------

TOOL_REASON=  # non-empty: why the tool cannot run at all
PROBED=()     # "label=ok" or "label=reason", one per feature probed in this run

# CPU_SRC_PIDS / CPU_DST_PIDS: the server processes whose CPU time a tool run records (empty: none).
CPU_SRC_PIDS=''
CPU_DST_PIDS=''

# run_tool_once SRC_URL DST_URL "DST_PORTS" EXPECTED ARGS...: sets RUN_OK (1/0), RUN_NOTE, RUN_S, RUN_RSS_KB,
# RUN_CPU_S (the tool's user+sys), RUN_SRC_CPU_S and RUN_DST_CPU_S (the servers', when CPU_*_PIDS are set).
run_tool_once() {
  local src=$1 dst=$2 dst_ports=$3 expected=$4 report="$WORK/report.json" res exit_code got fields copied
  local s0=0 d0=0 s1=0 d1=0
  shift 4
  rm -f "$report"
  RUN_OK=0 RUN_NOTE='' RUN_S='' RUN_RSS_KB='' RUN_CPU_S='' RUN_SRC_CPU_S='' RUN_DST_CPU_S=''
  # shellcheck disable=SC2086
  flush $dst_ports
  # shellcheck disable=SC2086
  [ -z "$CPU_SRC_PIDS" ] || s0=$(cpu_ticks $CPU_SRC_PIDS)
  # shellcheck disable=SC2086
  [ -z "$CPU_DST_PIDS" ] || d0=$(cpu_ticks $CPU_DST_PIDS)
  res=$(rmb exec --stdout "$WORK/tool.out" --stderr "$WORK/tool.err" -- \
    "$TOOL" --report-json "$report" "${TOOL_ARGS[@]}" "$@" "$src" "$dst") || die "rm-bench exec failed"
  # shellcheck disable=SC2086
  [ -z "$CPU_SRC_PIDS" ] || s1=$(cpu_ticks $CPU_SRC_PIDS)
  # shellcheck disable=SC2086
  [ -z "$CPU_DST_PIDS" ] || d1=$(cpu_ticks $CPU_DST_PIDS)
  echo "tool $* $src $dst: $res" >>"$OUT/bench.log"
  exit_code=$(kv exit "$res")
  if [ "$exit_code" != 0 ]; then
    RUN_NOTE="exit $exit_code: $(tail -n 1 "$WORK/tool.err" 2>/dev/null | cut -c1-160)"
    return 0
  fi
  if ! fields=$(rmb report-get "$report" 2>&1); then
    RUN_NOTE="exit 0 but no usable --report-json: $fields"
    return 0
  fi
  echo "report: $fields" >>"$OUT/bench.log"
  copied=$(kv copied "$fields")
  # shellcheck disable=SC2086
  got=$(user_dbsize_sum $dst_ports)
  if [ "$copied" != "$expected" ] || [ "$got" != "$expected" ]; then
    RUN_NOTE="copied=$copied, destination holds $got keys, expected $expected"
    return 0
  fi
  RUN_OK=1 RUN_S=$(kv elapsed_s "$res") RUN_RSS_KB=$(kv max_rss_kb "$res") RUN_CPU_S=$(kv cpu_s "$res")
  [ -z "$CPU_SRC_PIDS" ] || RUN_SRC_CPU_S=$(ticks_s "$s0" "$s1")
  [ -z "$CPU_DST_PIDS" ] || RUN_DST_CPU_S=$(ticks_s "$d0" "$d1")
}

# measure_tool PREFIX SRC_URL DST_URL "DST_PORTS" EXPECTED ARGS...: best of REPEAT runs; sets TOOL_FIELDS, an array
# of PREFIX_status/_s/_rss_kb/_note fields for record(). The peak RSS reported is the highest of the runs; the
# CPU times (PREFIX_cpu_s, PREFIX_src_cpu_s, PREFIX_dst_cpu_s) are those of the fastest run.
measure_tool() {
  local prefix=$1 i best='' rss=0 cpu='' src_cpu='' dst_cpu=''
  shift
  for ((i = 0; i < REPEAT; i++)); do
    run_tool_once "$@"
    if [ "$RUN_OK" != 1 ]; then
      log "  tool run failed: $RUN_NOTE"
      TOOL_FIELDS=("${prefix}_status=failed" "${prefix}_note=$RUN_NOTE")
      return 0
    fi
    log "  tool: ${RUN_S}s, peak RSS $((RUN_RSS_KB / 1024)) MB, CPU s: tool $RUN_CPU_S${RUN_SRC_CPU_S:+, source $RUN_SRC_CPU_S}${RUN_DST_CPU_S:+, destination $RUN_DST_CPU_S}"
    if [ "$(fbetter "$best" "$RUN_S")" = 1 ]; then
      best=$RUN_S cpu=$RUN_CPU_S src_cpu=$RUN_SRC_CPU_S dst_cpu=$RUN_DST_CPU_S
    fi
    [ "$RUN_RSS_KB" -gt "$rss" ] && rss=$RUN_RSS_KB
  done
  TOOL_FIELDS=("${prefix}_status=ok" "${prefix}_s=$best" "${prefix}_rss_kb=$rss" "${prefix}_cpu_s=$cpu"
    "${prefix}_src_cpu_s=$src_cpu" "${prefix}_dst_cpu_s=$dst_cpu")
}

# probe LABEL SRC_TARGETS DST_PORTS SRC_URL DST_URL ARGS...: a small mixed copy; returns 0 when the tool copies it
# correctly, else sets PROBE_REASON. The result is cached per label. Leaves both sides empty.
probe() {
  local label=$1 src_targets=$2 dst_ports=$3 entry
  shift 3
  for entry in "${PROBED[@]}"; do
    if [ "${entry%%=*}" = "$label" ]; then
      PROBE_REASON=${entry#*=}
      [ "$PROBE_REASON" = ok ]
      return
    fi
  done
  # Seeded even when the tool cannot run, so that every section's seeding (per cluster node too) is exercised.
  # shellcheck disable=SC2046
  flush $(ports_of "$src_targets")
  seed_on "$src_targets" mixed "$PROBE_KEYS" "$TTL_FRACTION" $((PROBE_KEYS * 1500))
  # shellcheck disable=SC2046
  [ "$(dbsize_sum $(ports_of "$src_targets"))" = "$PROBE_KEYS" ] || die "seeding $PROBE_KEYS probe keys for $label failed"
  if [ -n "$TOOL_REASON" ]; then
    PROBE_REASON=$TOOL_REASON
  else
    run_tool_once "$1" "$2" "$dst_ports" "$PROBE_KEYS" "${@:3}"
    if [ "$RUN_OK" = 1 ]; then PROBE_REASON=ok; else PROBE_REASON="probe copy of $PROBE_KEYS keys: $RUN_NOTE"; fi
  fi
  # shellcheck disable=SC2046,SC2086
  flush $(ports_of "$src_targets") $dst_ports
  PROBED+=("$label=$PROBE_REASON")
  if [ "$PROBE_REASON" = ok ]; then
    log "  $label: available"
  else
    log "  $label: not available ($PROBE_REASON)"
  fi
  [ "$PROBE_REASON" = ok ]
}

# --- physical limits -------------------------------------------------------------------------------------------------

# tool_mix PORT KIND: the reads the tool sends the source per key in this run (rm-bench gen-dump-cmds --mix). A
# dataset of strings (KIND strings) in auto mode: PTTL and GETRANGE, without TYPE once 256 strings in a row were
# read (src/copy/fetch_stage.hpp; the first window's TYPEs, 2 in 1,000 keys, are left out). Else
# PTTL and DUMP, plus MEMORY USAGE first when it sizes keys: auto mode, a --big-key-threshold, and a node that
# does not prove all its keys under it (INFO memory's used_memory_dataset over the threshold, and no INFO keysizes
# showing only strings shorter than it; src/copy/key_size_bound.hpp). (The mixed dataset's strings, a sixth of its
# keys, are DUMPed: under half, they are not worth a TYPE each.)
tool_mix() {
  local port=$1 kind=${2:-} threshold=64000000 data i auto=1
  for ((i = 0; i < ${#TOOL_ARGS[@]}; i++)); do
    case "${TOOL_ARGS[$i]}" in
      --big-key-threshold) threshold=${TOOL_ARGS[$((i + 1))]:-} ;;
      --big-key-threshold=*) threshold=${TOOL_ARGS[$i]#*=} ;;
      --mode) [ "${TOOL_ARGS[$((i + 1))]:-}" = dump ] && threshold=0 && auto=0 ;;
      --cleanup) auto=0 ;;
    esac
  done
  if [ "$kind" = strings ] && [ "$auto" = 1 ]; then
    echo pttl-getrange
    return
  fi
  [[ $threshold =~ ^[0-9]+$ ]] || die "tool_mix: give --big-key-threshold in bytes in RM_BENCH_TOOL_ARGS"
  data=$(rcli "$port" INFO memory | tr -d '\r' | sed -n 's/^used_memory_dataset://p')
  # The keysizes bound: every key a string of the histogram (counts add up to keys=), twice the largest bucket
  # plus 1 KB; 0 when there is none.
  local bound
  bound=$({ rcli "$port" INFO keyspace; rcli "$port" INFO keysizes; } | tr -d '\r' | awk -F'[:,=]' '
    function bytes(b) { if (b ~ /K$/) return b * 1024; if (b ~ /M$/) return b * 1048576; if (b ~ /G$/) return b * 1073741824; return b + 0 }
    /^db[0-9]+:keys=/ { keys[$1] = $3; next }
    /^db[0-9]+_distrib_/ {
      split($1, name, "_distrib_"); strings = (name[2] == "strings_sizes")
      for (i = 2; i + 1 <= NF; i += 2) {
        if ($(i + 1) + 0 == 0) continue
        if (!strings) bad = 1
        counted[name[1]] += $(i + 1)
        if (bytes($i) > top) top = bytes($i)
      }
      seen = 1
    }
    END {
      if (!seen || bad) { print 0; exit }
      for (d in keys) if (counted[d] != keys[d]) { print 0; exit }
      for (d in counted) if (!(d in keys)) { print 0; exit }
      printf "%.0f\n", (top == 0 ? 1 : top * 2 - 1) + 1024
    }')
  if [ "${bound:-0}" -gt 0 ] && { [ "${data:-0}" -eq 0 ] || [ "$bound" -lt "$data" ]; }; then data=$bound; fi
  if [ "$threshold" -gt 0 ] && [ "${data:-0}" -gt "$threshold" ]; then echo size-pttl-dump; else echo pttl-dump; fi
}

# make_files PORT [KIND]: the command files of the source: serve (DUMP only), mix (the tool's reads, $DS_MIX)
# and absorb; sets DS_KEYS, DS_PAYLOAD, DS_MIX.
make_files() {
  local port=$1 kind=${2:-} out
  out=$(rmb gen-dump-cmds 127.0.0.1 "$port" "$WORK/serve.resp" --mix dump) || die "gen-dump-cmds failed"
  echo "gen-dump-cmds dump: $out" >>"$OUT/bench.log"
  DS_MIX=$(tool_mix "$port" "$kind")
  out=$(rmb gen-dump-cmds 127.0.0.1 "$port" "$WORK/mix.resp" --mix "$DS_MIX") || die "gen-dump-cmds failed"
  echo "gen-dump-cmds $DS_MIX: $out" >>"$OUT/bench.log"
  out=$(rmb gen-restore 127.0.0.1 "$port" "$WORK/absorb.resp") || die "gen-restore failed"
  echo "gen-restore: $out" >>"$OUT/bench.log"
  DS_KEYS=$(kv keys "$out")
  DS_PAYLOAD=$(kv payload_bytes "$out")
  [ "$(kv scanned "$out")" = "$(rcli "$port" DBSIZE)" ] ||
    die "SCAN saw $(kv scanned "$out") keys but DBSIZE is $(rcli "$port" DBSIZE)"
  log "  command files: $DS_KEYS keys, $((DS_PAYLOAD / 1048576)) MB of DUMP payload; the tool's reads: $DS_MIX"
}

# payload_of PORTS...: total DUMP payload bytes of the keys on these servers (the MB of the tables).
payload_of() {
  local p out total=0
  for p in "$@"; do
    out=$(rmb gen-restore 127.0.0.1 "$p" /dev/null) || die "gen-restore on port $p failed"
    total=$((total + $(kv payload_bytes "$out")))
  done
  echo "$total"
}

# measure_serve PORT [FILE [LABEL]]: best of REPEAT replays of the serve file (DUMP only) or FILE; sets SERVE_S,
# SERVE_BYTES_IN and SERVE_CPU_S (the source's CPU in the fastest replay; SRC_PID).
measure_serve() {
  local port=$1 file=${2:-$WORK/serve.resp} label=${3:-serve} i out c0 cpu
  SERVE_S=
  for ((i = 0; i < REPEAT; i++)); do
    c0=$(cpu_ticks "$SRC_PID")
    out=$(rmb replay 127.0.0.1 "$port" "$file") || die "replay of the $label file failed"
    cpu=$(ticks_s "$c0" "$(cpu_ticks "$SRC_PID")")
    echo "$label: $out source_cpu_s=$cpu" >>"$OUT/bench.log"
    [ "$(kv errors "$out")" = 0 ] || die "the source answered the $label file with errors: $out"
    log "  $label: $(kv elapsed_s "$out")s ($(kv replies_per_s "$out") replies/s), source CPU ${cpu}s"
    if [ "$(fbetter "$SERVE_S" "$(kv elapsed_s "$out")")" = 1 ]; then
      SERVE_S=$(kv elapsed_s "$out") SERVE_CPU_S=$cpu
    fi
    SERVE_BYTES_IN=$(kv bytes_in "$out")
  done
}

# absorb_once PORT EXPECTED: one redis-cli --pipe replay of the absorb file into the (empty) destination, checked;
# prints rm-bench exec's line.
absorb_once() {
  local port=$1 expected=$2 res got
  res=$(rmb exec --stdin "$WORK/absorb.resp" --stdout "$WORK/pipe.out" --stderr "$WORK/pipe.err" -- \
    redis-cli -h 127.0.0.1 -p "$port" --pipe) || die "rm-bench exec failed"
  echo "absorb: $res $(tail -n 1 "$WORK/pipe.out")" >>"$OUT/bench.log"
  if [ "$(kv exit "$res")" != 0 ] || ! grep -q '^errors: 0,' "$WORK/pipe.out"; then
    die "redis-cli --pipe reported errors: $(tail -n 1 "$WORK/pipe.out") $(tail -n 1 "$WORK/pipe.err")"
  fi
  got=$(rcli "$port" DBSIZE)
  [ "$got" = "$expected" ] || die "after RESTORE replay the destination holds $got keys, expected $expected"
  echo "$res"
}

# measure_absorb PORT EXPECTED: best of REPEAT redis-cli --pipe replays into an empty destination; sets ABSORB_S
# and ABSORB_CPU_S (the destination's CPU in the fastest replay; DST_PID).
measure_absorb() {
  local port=$1 expected=$2 i res c0 cpu
  ABSORB_S=
  for ((i = 0; i < REPEAT; i++)); do
    flush "$port"
    c0=$(cpu_ticks "$DST_PID")
    res=$(absorb_once "$port" "$expected")
    cpu=$(ticks_s "$c0" "$(cpu_ticks "$DST_PID")")
    log "  absorb: $(kv elapsed_s "$res")s, destination CPU ${cpu}s"
    if [ "$(fbetter "$ABSORB_S" "$(kv elapsed_s "$res")")" = 1 ]; then
      ABSORB_S=$(kv elapsed_s "$res") ABSORB_CPU_S=$cpu
    fi
  done
  flush "$port"
}

# measure_both SRC_PORT DST_PORT EXPECTED: the limit. The serve replay (DUMP only) and the absorb replay run at
# the same time, best of REPEAT; the time of a round is the longer of the two. Sets BOTH_S, BOTH_SRC_CPU_S and
# BOTH_DST_CPU_S (the servers' CPU in the fastest round).
measure_both() {
  local src_port=$1 dst_port=$2 expected=$3 i s0 d0 s1 d1 serve_pid absorb_pid serve absorb t
  BOTH_S=
  for ((i = 0; i < REPEAT; i++)); do
    flush "$dst_port"
    s0=$(cpu_ticks "$SRC_PID")
    d0=$(cpu_ticks "$DST_PID")
    rmb replay 127.0.0.1 "$src_port" "$WORK/serve.resp" >"$WORK/both.serve" &
    serve_pid=$!
    absorb_once "$dst_port" "$expected" >"$WORK/both.absorb" &
    absorb_pid=$!
    wait "$serve_pid" || die "replay of the serve file (at the same time as the absorb replay) failed"
    wait "$absorb_pid" || die "the absorb replay (at the same time as the serve replay) failed"
    s1=$(cpu_ticks "$SRC_PID")
    d1=$(cpu_ticks "$DST_PID")
    serve=$(cat "$WORK/both.serve")
    absorb=$(cat "$WORK/both.absorb")
    echo "both: serve $serve; absorb $absorb" >>"$OUT/bench.log"
    [ "$(kv errors "$serve")" = 0 ] || die "the source answered DUMP with errors: $serve"
    t=$(fmax "$(kv elapsed_s "$serve")" "$(kv elapsed_s "$absorb")")
    log "  both at once: ${t}s (serve $(kv elapsed_s "$serve")s, absorb $(kv elapsed_s "$absorb")s), CPU s: source $(ticks_s "$s0" "$s1"), destination $(ticks_s "$d0" "$d1")"
    if [ "$(fbetter "$BOTH_S" "$t")" = 1 ]; then
      BOTH_S=$t BOTH_SRC_CPU_S=$(ticks_s "$s0" "$s1") BOTH_DST_CPU_S=$(ticks_s "$d0" "$d1")
    fi
  done
  flush "$dst_port"
}

# start_pair NAME: a source and a destination server; sets SRC_PORT, SRC_PID, DST_PORT, DST_PID.
start_pair() {
  SRC_PORT=$(rmb free-port)
  start_server "$1-source" "$SRC_PORT"
  SRC_PID=$SERVER_PID
  DST_PORT=$(rmb free-port)
  start_server "$1-destination" "$DST_PORT"
  DST_PID=$SERVER_PID
}

# --- sections --------------------------------------------------------------------------------------------------------

# dataset_section NAME KIND SEED_ARGS...: seed, limits, tool; one "dataset" record.
dataset_section() {
  local name=$1 kind=$2
  shift 2
  log "dataset $name"
  start_pair "$name"
  local src="redis://127.0.0.1:$SRC_PORT" dst="redis://127.0.0.1:$DST_PORT" tool_ok=0
  probe tool "$SRC_PORT" "$DST_PORT" "$src" "$dst" && tool_ok=1
  seed_on "$SRC_PORT" "$kind" "$@"
  log "  seeded $(rcli "$SRC_PORT" DBSIZE) keys in ${SEED_S}s ($(rcli "$SRC_PORT" INFO memory | tr -d '\r' | sed -n 's/^used_memory_human://p') used)"
  make_files "$SRC_PORT" "$kind"
  measure_both "$SRC_PORT" "$DST_PORT" "$DS_KEYS"
  measure_serve "$SRC_PORT" "$WORK/mix.resp" "mix ($DS_MIX)"
  local mix_s=$SERVE_S mix_cpu=$SERVE_CPU_S
  measure_serve "$SRC_PORT"
  measure_absorb "$DST_PORT" "$DS_KEYS"
  rm -f "$WORK/serve.resp" "$WORK/mix.resp" "$WORK/absorb.resp"
  if [ "$tool_ok" = 1 ]; then
    CPU_SRC_PIDS=$SRC_PID CPU_DST_PIDS=$DST_PID
    measure_tool tool "$src" "$dst" "$DST_PORT" "$DS_KEYS"
    CPU_SRC_PIDS='' CPU_DST_PIDS=''
  else
    TOOL_FIELDS=("tool_status=unavailable" "tool_note=$PROBE_REASON")
  fi
  record dataset "name=$name" "keys=$DS_KEYS" "payload_bytes=$DS_PAYLOAD" "seed_s=$SEED_S" "serve_s=$SERVE_S" \
    "serve_bytes_in=$SERVE_BYTES_IN" "serve_src_cpu_s=$SERVE_CPU_S" "absorb_s=$ABSORB_S" \
    "absorb_dst_cpu_s=$ABSORB_CPU_S" "both_s=$BOTH_S" "both_src_cpu_s=$BOTH_SRC_CPU_S" \
    "both_dst_cpu_s=$BOTH_DST_CPU_S" "mix=$DS_MIX" "mix_s=$mix_s" "mix_src_cpu_s=$mix_cpu" "${TOOL_FIELDS[@]}"
  stop_servers
}

bigkeys_section() {
  local name="bigkeys-x$BIG_SCALE"
  log "dataset $name"
  start_pair bigkeys
  local src="redis://127.0.0.1:$SRC_PORT" dst="redis://127.0.0.1:$DST_PORT" tool_ok=0 rewrite_ok=0
  local rewrite_reason
  probe tool "$SRC_PORT" "$DST_PORT" "$src" "$dst" && tool_ok=1
  probe rewrite "$SRC_PORT" "$DST_PORT" "$src" "$dst" --mode rewrite && rewrite_ok=1
  rewrite_reason=$PROBE_REASON
  seed_on "$SRC_PORT" bigkeys "$BIG_SCALE"
  log "  seeded in ${SEED_S}s ($(rcli "$SRC_PORT" INFO memory | tr -d '\r' | sed -n 's/^used_memory_human://p') used)"
  make_files "$SRC_PORT"
  measure_serve "$SRC_PORT"
  measure_absorb "$DST_PORT" "$DS_KEYS"
  rm -f "$WORK/serve.resp" "$WORK/mix.resp" "$WORK/absorb.resp"
  local common=("name=$name" "keys=$DS_KEYS" "payload_bytes=$DS_PAYLOAD" "seed_s=$SEED_S" "serve_s=$SERVE_S"
    "absorb_s=$ABSORB_S")
  if [ "$tool_ok" = 1 ]; then
    # --mode dump: in auto mode these keys are over the default --big-key-threshold and would be rewritten.
    measure_tool tool "$src" "$dst" "$DST_PORT" "$DS_KEYS" --mode dump
  else
    TOOL_FIELDS=("tool_status=unavailable" "tool_note=$PROBE_REASON")
  fi
  record bigkeys "${common[@]}" mode=dump "${TOOL_FIELDS[@]}"
  if [ "$rewrite_ok" = 1 ]; then
    measure_tool tool "$src" "$dst" "$DST_PORT" "$DS_KEYS" --mode rewrite
  else
    TOOL_FIELDS=("tool_status=unavailable" "tool_note=$rewrite_reason")
  fi
  record bigkeys "${common[@]}" mode=rewrite "${TOOL_FIELDS[@]}"
  stop_servers
}

rewrite_section() {
  local name
  name="mixed-$(short_count "$MIXED_N")"
  log "rewrite path vs dump path on $name"
  start_pair rewrite
  local src="redis://127.0.0.1:$SRC_PORT" dst="redis://127.0.0.1:$DST_PORT" keys
  if ! probe rewrite "$SRC_PORT" "$DST_PORT" "$src" "$dst" --mode rewrite; then
    record unavailable section=rewrite "reason=$PROBE_REASON"
    stop_servers
    return 0
  fi
  # Probes flush both sides, so they all run before the dataset is seeded.
  local dump_ok=0 dump_fields=("dump_status=unavailable" "dump_note=tool not available")
  probe tool "$SRC_PORT" "$DST_PORT" "$src" "$dst" && dump_ok=1
  seed_on "$SRC_PORT" mixed "$MIXED_N" "$TTL_FRACTION" "$MIXED_BYTES"
  keys=$(rcli "$SRC_PORT" DBSIZE)
  if [ "$dump_ok" = 1 ]; then
    measure_tool dump "$src" "$dst" "$DST_PORT" "$keys"
    dump_fields=("${TOOL_FIELDS[@]}")
  fi
  measure_tool rewrite "$src" "$dst" "$DST_PORT" "$keys" --mode rewrite
  record rewrite "name=$name" "keys=$keys" "${dump_fields[@]}" "${TOOL_FIELDS[@]}"
  stop_servers
}

make_certs() {
  local dir="$WORK/tls"
  [ -f "$dir/ca.crt" ] && return 0
  mkdir -p "$dir"
  {
    openssl genrsa -out "$dir/ca.key" 2048
    openssl req -x509 -new -nodes -sha256 -key "$dir/ca.key" -days 2 -subj /CN=rm-bench-ca -out "$dir/ca.crt"
    openssl genrsa -out "$dir/server.key" 2048
    openssl req -new -sha256 -key "$dir/server.key" -subj /CN=localhost -out "$dir/server.csr"
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$dir/san.ext"
    openssl x509 -req -sha256 -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
      -days 2 -extfile "$dir/san.ext" -out "$dir/server.crt"
  } >>"$OUT/bench.log" 2>&1 || die "openssl could not generate the test certificates (see $OUT/bench.log)"
}

tls_section() {
  local name dir="$WORK/tls"
  name="strings-$(short_count "$STRINGS_N")"
  log "TLS to TLS vs plain on $name"
  make_certs
  local tls_args=(--tls-cert-file "$dir/server.crt" --tls-key-file "$dir/server.key" --tls-ca-cert-file "$dir/ca.crt"
    --tls-auth-clients no)
  local src_tls dst_tls
  SRC_PORT=$(rmb free-port)
  src_tls=$(rmb free-port)
  start_server tls-source "$SRC_PORT" --tls-port "$src_tls" "${tls_args[@]}"
  DST_PORT=$(rmb free-port)
  dst_tls=$(rmb free-port)
  start_server tls-destination "$DST_PORT" --tls-port "$dst_tls" "${tls_args[@]}"
  local p
  for p in "$src_tls" "$dst_tls"; do
    [ "$(redis-cli --tls --cacert "$dir/ca.crt" -h 127.0.0.1 -p "$p" ping 2>&1)" = PONG ] ||
      die "redis-server does not answer TLS on port $p (built without TLS?)"
  done
  local plain_src="redis://127.0.0.1:$SRC_PORT" plain_dst="redis://127.0.0.1:$DST_PORT"
  local tls_src="rediss://127.0.0.1:$src_tls" tls_dst="rediss://127.0.0.1:$dst_tls"
  local tls_opts=(--source-tls-ca-file "$dir/ca.crt" --destination-tls-ca-file "$dir/ca.crt")
  if ! probe tls "$SRC_PORT" "$DST_PORT" "$tls_src" "$tls_dst" "${tls_opts[@]}"; then
    record unavailable section=tls "reason=$PROBE_REASON"
    stop_servers
    return 0
  fi
  # Probes flush both sides, so they all run before the dataset is seeded.
  local plain_ok=0 plain_fields=("plain_status=unavailable" "plain_note=tool not available")
  probe tool "$SRC_PORT" "$DST_PORT" "$plain_src" "$plain_dst" && plain_ok=1
  seed_on "$SRC_PORT" strings "$STRINGS_N" "$VALUE_SIZE"
  local keys payload
  keys=$(rcli "$SRC_PORT" DBSIZE)
  if [ "$plain_ok" = 1 ]; then
    measure_tool plain "$plain_src" "$plain_dst" "$DST_PORT" "$keys"
    plain_fields=("${TOOL_FIELDS[@]}")
  fi
  measure_tool tls "$tls_src" "$tls_dst" "$DST_PORT" "$keys" "${tls_opts[@]}"
  payload=$(payload_of "$SRC_PORT")
  record tls "name=$name" "keys=$keys" "payload_bytes=$payload" "${plain_fields[@]}" "${TOOL_FIELDS[@]}"
  stop_servers
}

# start_cluster NAME: three primaries, no replicas; sets CLUSTER_TARGETS ("PORT@SLOTS ..."), CLUSTER_PORTS and
# CLUSTER_PIDS.
start_cluster() {
  local name=$1 i port nodes=() slots
  CLUSTER_TARGETS='' CLUSTER_PORTS='' CLUSTER_PIDS=''
  for i in 1 2 3; do
    port=$(rmb free-port --with-bus)
    start_server "$name-$i" "$port" --cluster-enabled yes --cluster-config-file "$WORK/$name-$i/nodes.conf" \
      --cluster-node-timeout 5000
    nodes+=("127.0.0.1:$port")
    CLUSTER_PORTS+="$port "
    CLUSTER_PIDS+="$SERVER_PID "
  done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >>"$OUT/bench.log" 2>&1 ||
    die "redis-cli --cluster create failed for $name (see $OUT/bench.log)"
  for port in $CLUSTER_PORTS; do
    for ((i = 0; i < 100; i++)); do
      rcli "$port" CLUSTER INFO | grep -q '^cluster_state:ok' && break
      sleep 0.2
    done
    rcli "$port" CLUSTER INFO | grep -q '^cluster_state:ok' || die "cluster $name did not reach cluster_state:ok"
    slots=$(rcli "$port" CLUSTER NODES | awk '/myself/ { s = ""; for (i = 9; i <= NF; i++) if ($i !~ /^\[/) s = s (s ? "," : "") $i; print s }')
    [ -n "$slots" ] || die "node $port of cluster $name owns no slots"
    CLUSTER_TARGETS+="$port@$slots "
  done
}

cluster_section() {
  local name
  name="strings-$(short_count "$STRINGS_N")"
  log "cluster to cluster on $name"
  start_cluster cluster-source
  local src_targets=$CLUSTER_TARGETS src_ports=$CLUSTER_PORTS
  start_cluster cluster-destination
  local dst_ports=$CLUSTER_PORTS src dst keys payload
  # shellcheck disable=SC2059
  src=$(printf "$CLUSTER_URL_FORMAT" "${src_ports%% *}")
  # shellcheck disable=SC2059
  dst=$(printf "$CLUSTER_URL_FORMAT" "${dst_ports%% *}")
  # The probe seeds the cluster node by node (keys filtered by slot), which checks the seeding plumbing too.
  if ! probe cluster "$src_targets" "$dst_ports" "$src" "$dst" "${CLUSTER_ARGS[@]}"; then
    record unavailable section=cluster "reason=$PROBE_REASON"
    stop_servers
    return 0
  fi
  seed_on "$src_targets" strings "$STRINGS_N" "$VALUE_SIZE"
  # shellcheck disable=SC2086
  keys=$(dbsize_sum $src_ports)
  [ "$keys" = "$STRINGS_N" ] || die "cluster seeding gave $keys keys, expected $STRINGS_N"
  log "  seeded $keys keys over 3 primaries in ${SEED_S}s"
  # shellcheck disable=SC2086
  payload=$(payload_of $src_ports)
  measure_tool tool "$src" "$dst" "$dst_ports" "$keys" "${CLUSTER_ARGS[@]}"
  record cluster "name=$name" "keys=$keys" "payload_bytes=$payload" "${TOOL_FIELDS[@]}"
  stop_servers
}

# --- scaling ---------------------------------------------------------------------------------------------------------
# What a copy gains from more event loops (--threads N, one process) and from more processes (--shard i/N, N
# processes at once, as the pods of a Kubernetes Indexed Job run), on the same servers and data:
#   rows      every row runs once per round, REPEAT rounds, so a change of the machine's load hits every row; the
#             fastest run of each row is kept (its CPU figures with it; peak RSS the highest of the runs)
#   wall      from starting the processes to the last one's exit (date +%s%N in this script)
#   tool CPU  user+sys of every process (wait4 in rm-bench exec), summed
#   servers   user+sys of the source's and of the destination's server processes (/proc/PID/stat), each side summed
#   RSS       ru_maxrss of each process: the highest, and the sum (the processes peak at about the same time)
#   load      /proc/loadavg (1 min) when the run started; it counts this bench's own processes of the run before
#   busy      the machine's busy CPU time in the run (/proc/stat), in cores: all of them (nproc) when the cores, not
#             the processes' parallelism, bound the run
#   others    that busy time less the tool's and the servers': the other work on the machine, in cores

# Busy CPU time of the whole machine so far, in clock ticks (user nice system irq softirq steal of /proc/stat).
machine_busy_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }

# io_stats PORT: the server's io_threaded_reads_processed + io_threaded_writes_processed (INFO stats; 0 on a
# server without I/O threads, or whose I/O threads stayed idle).
io_stats() {
  rcli "$1" INFO stats | tr -d '\r' | awk -F: '
    $1 == "io_threaded_reads_processed" || $1 == "io_threaded_writes_processed" { n += $2 } END { print n + 0 }'
}

# run_group_once SRC_URL DST_URL "DST_PORTS" EXPECTED N SHARDED ARGS...: N tool processes started at once (process
# i with --shard i/N when SHARDED is 1), each under rm-bench exec. The run counts when every process exits 0, the
# copied counts of their reports add up to EXPECTED and the destination holds EXPECTED keys. Sets GROUP_OK,
# GROUP_NOTE, GROUP_S, GROUP_CPU_S, GROUP_RSS_MAX_KB, GROUP_RSS_SUM_KB, GROUP_SRC_CPU_S, GROUP_DST_CPU_S (the
# servers CPU_SRC_PIDS and CPU_DST_PIDS), GROUP_BUSY_CORES, GROUP_OTHER_CORES, GROUP_LOAD and, when
# IO_STATS_PORTS ("SRC DST") is set, GROUP_IO_SRC and GROUP_IO_DST (the reads and writes each server's I/O threads
# did in the run).
run_group_once() {
  local src=$1 dst=$2 dst_ports=$3 expected=$4 n=$5 sharded=$6 i t0 t1 m0 m1 s0 s1 d0 d1 res fields
  local c copied=0 got rss io_s0=0 io_d0=0 pids=() shard_args=()
  shift 6
  GROUP_OK=0 GROUP_NOTE='' GROUP_S='' GROUP_CPU_S=0 GROUP_RSS_MAX_KB=0 GROUP_RSS_SUM_KB=0
  GROUP_IO_SRC='' GROUP_IO_DST=''
  # shellcheck disable=SC2086
  flush $dst_ports
  GROUP_LOAD=$(cut -d' ' -f1 /proc/loadavg)
  if [ -n "${IO_STATS_PORTS:-}" ]; then
    io_s0=$(io_stats "${IO_STATS_PORTS% *}")
    io_d0=$(io_stats "${IO_STATS_PORTS#* }")
  fi
  # shellcheck disable=SC2086
  s0=$(cpu_ticks $CPU_SRC_PIDS)
  # shellcheck disable=SC2086
  d0=$(cpu_ticks $CPU_DST_PIDS)
  m0=$(machine_busy_ticks)
  t0=$(date +%s%N)
  for ((i = 0; i < n; i++)); do
    shard_args=()
    [ "$sharded" = 1 ] && shard_args=(--shard "$i/$n")
    rm -f "$WORK/report.$i.json"
    rmb exec --stdout "$WORK/tool.$i.out" --stderr "$WORK/tool.$i.err" -- "$TOOL" --report-json \
      "$WORK/report.$i.json" "${TOOL_ARGS[@]}" "$@" "${shard_args[@]}" "$src" "$dst" >"$WORK/exec.$i" &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do wait "${pids[$i]}" || die "rm-bench exec failed"; done
  t1=$(date +%s%N)
  m1=$(machine_busy_ticks)
  # shellcheck disable=SC2086
  s1=$(cpu_ticks $CPU_SRC_PIDS)
  # shellcheck disable=SC2086
  d1=$(cpu_ticks $CPU_DST_PIDS)
  for ((i = 0; i < n; i++)); do
    res=$(cat "$WORK/exec.$i")
    shard_args=()
    [ "$sharded" = 1 ] && shard_args=(--shard "$i/$n")
    echo "tool $* ${shard_args[*]} $src $dst: $res" >>"$OUT/bench.log"
    if [ "$(kv exit "$res")" != 0 ]; then
      GROUP_NOTE="process $((i + 1)) of $n: exit $(kv exit "$res"): $(tail -n 1 "$WORK/tool.$i.err" 2>/dev/null | cut -c1-160)"
      return 0
    fi
    if ! fields=$(rmb report-get "$WORK/report.$i.json" 2>&1); then
      GROUP_NOTE="process $((i + 1)) of $n: exit 0 but no usable --report-json: $fields"
      return 0
    fi
    echo "report: $fields" >>"$OUT/bench.log"
    c=$(kv copied "$fields")
    [[ $c =~ ^[0-9]+$ ]] || { GROUP_NOTE="process $((i + 1)) of $n: no copied count in its report"; return 0; }
    copied=$((copied + c))
    GROUP_CPU_S=$(fsum "$GROUP_CPU_S" "$(kv cpu_s "$res")")
    rss=$(kv max_rss_kb "$res")
    GROUP_RSS_SUM_KB=$((GROUP_RSS_SUM_KB + rss))
    [ "$rss" -le "$GROUP_RSS_MAX_KB" ] || GROUP_RSS_MAX_KB=$rss
  done
  # shellcheck disable=SC2086
  got=$(user_dbsize_sum $dst_ports)
  if [ "$copied" != "$expected" ] || [ "$got" != "$expected" ]; then
    GROUP_NOTE="copied=$copied (all processes), destination holds $got keys, expected $expected"
    return 0
  fi
  GROUP_OK=1
  GROUP_S=$(awk -v d=$((t1 - t0)) 'BEGIN { printf "%.2f", d / 1e9 }')
  GROUP_SRC_CPU_S=$(ticks_s "$s0" "$s1")
  GROUP_DST_CPU_S=$(ticks_s "$d0" "$d1")
  GROUP_BUSY_CORES=$(awk -v m=$((m1 - m0)) -v hz="$CLK_TCK" -v w="$GROUP_S" 'BEGIN { printf "%.2f", m / hz / w }')
  GROUP_OTHER_CORES=$(awk -v m=$((m1 - m0)) -v hz="$CLK_TCK" -v t="$GROUP_CPU_S" -v s="$GROUP_SRC_CPU_S" \
    -v d="$GROUP_DST_CPU_S" -v w="$GROUP_S" 'BEGIN { o = m / hz - t - s - d; if (o < 0) o = 0; printf "%.2f", o / w }')
  if [ -n "${IO_STATS_PORTS:-}" ]; then
    GROUP_IO_SRC=$(($(io_stats "${IO_STATS_PORTS% *}") - io_s0))
    GROUP_IO_DST=$(($(io_stats "${IO_STATS_PORTS#* }") - io_d0))
  fi
}

# scaling_rows SETUP SRC_URL DST_URL "DST_PORTS" EXPECTED ROW...: each ROW is "LABEL|N|SHARDED|ARGS" (ARGS split on
# spaces); REPEAT rounds of every row in turn; one "scaling" record per row (its fastest run).
scaling_rows() {
  local setup=$1 src=$2 dst=$3 dst_ports=$4 expected=$5 round idx label n sharded args extra
  shift 5
  local rows=("$@") best_s=() best_fields=() rss_max=() rss_sum=() failed=()
  for ((round = 1; round <= REPEAT; round++)); do
    for idx in "${!rows[@]}"; do
      IFS='|' read -r label n sharded args <<<"${rows[$idx]}"
      [ -z "${failed[$idx]:-}" ] || continue
      read -r -a extra <<<"$args"
      run_group_once "$src" "$dst" "$dst_ports" "$expected" "$n" "$sharded" "${extra[@]}"
      if [ "$GROUP_OK" != 1 ]; then
        log "  $label, round $round: failed: $GROUP_NOTE"
        failed[idx]=$GROUP_NOTE
        continue
      fi
      log "  $label, round $round: ${GROUP_S}s ($(awk -v k="$expected" -v s="$GROUP_S" 'BEGIN { printf "%.0f", k / s }') keys/s), CPU s: tool $GROUP_CPU_S, source $GROUP_SRC_CPU_S, destination $GROUP_DST_CPU_S; peak RSS $((GROUP_RSS_MAX_KB / 1024)) MB; load $GROUP_LOAD, machine busy $GROUP_BUSY_CORES cores, others ${GROUP_OTHER_CORES}${GROUP_IO_SRC:+; I/O-threaded reads+writes: source $GROUP_IO_SRC, destination $GROUP_IO_DST}"
      [ "${GROUP_RSS_MAX_KB}" -le "${rss_max[$idx]:-0}" ] || rss_max[idx]=$GROUP_RSS_MAX_KB
      [ "${GROUP_RSS_SUM_KB}" -le "${rss_sum[$idx]:-0}" ] || rss_sum[idx]=$GROUP_RSS_SUM_KB
      if [ "$(fbetter "${best_s[$idx]:-}" "$GROUP_S")" = 1 ]; then
        best_s[idx]=$GROUP_S
        best_fields[idx]="s=$GROUP_S"$'\t'"cpu_s=$GROUP_CPU_S"$'\t'"src_cpu_s=$GROUP_SRC_CPU_S"$'\t'"dst_cpu_s=$GROUP_DST_CPU_S"$'\t'"load=$GROUP_LOAD"$'\t'"busy_cores=$GROUP_BUSY_CORES"$'\t'"others_cores=$GROUP_OTHER_CORES"$'\t'"io_src=$GROUP_IO_SRC"$'\t'"io_dst=$GROUP_IO_DST"
      fi
    done
  done
  for idx in "${!rows[@]}"; do
    IFS='|' read -r label n sharded args <<<"${rows[$idx]}"
    if [ -n "${failed[$idx]:-}" ]; then
      record scaling "setup=$setup" "run=$label" "processes=$n" "keys=$expected" status=failed "note=${failed[$idx]}"
    else
      local f=()
      IFS=$'\t' read -r -a f <<<"${best_fields[$idx]}"
      record scaling "setup=$setup" "run=$label" "processes=$n" "keys=$expected" status=ok "${f[@]}" \
        "rss_max_kb=${rss_max[$idx]}" "rss_sum_kb=${rss_sum[$idx]}"
    fi
  done
}

# The Valkey 8 that starts the standalone rows: RM_BENCH_VALKEY8, else the build the cross-version tests unpack
# (tests/support/versions.cpp: valkey-tools from bookworm-backports, dpkg-deb -x into RMIG_VERSIONS_CACHE, started
# directly). Sets VALKEY8_CMD (array) or VALKEY8_REASON.
find_valkey8() {
  local dir
  VALKEY8_CMD=() VALKEY8_REASON=''
  if [ -n "${RM_BENCH_VALKEY8:-}" ]; then
    read -r -a VALKEY8_CMD <<<"$RM_BENCH_VALKEY8"
  else
    for dir in "${RMIG_VERSIONS_CACHE:-/tmp/rmig-versions}"/valkey-8.0_*; do
      [ -f "$dir/complete" ] && [ -x "$dir/usr/bin/valkey-server" ] && VALKEY8_CMD=("$dir/usr/bin/valkey-server") && break
    done
  fi
  if [ ${#VALKEY8_CMD[@]} -eq 0 ]; then
    VALKEY8_REASON="no Valkey 8 unpacked under ${RMIG_VERSIONS_CACHE:-/tmp/rmig-versions} (run a test that uses it once, e.g. build/release/tests/integration_tests --test-suite=rewrite, or set RM_BENCH_VALKEY8)"
  elif ! "${VALKEY8_CMD[@]}" --version 2>/dev/null | grep -q 'v=8\.'; then
    VALKEY8_REASON="'${VALKEY8_CMD[*]} --version' does not say v=8."
    VALKEY8_CMD=()
  fi
}

scaling_section() {
  local name has_threads=0 has_shard=0 rows=() help
  name="strings-$(short_count "$STRINGS_N")"
  log "scaling: cluster to cluster (3 -> 3 primaries) on $name: threads, shard processes"
  if [ -n "$TOOL_REASON" ]; then
    record unavailable section=scaling "reason=$TOOL_REASON"
    return 0
  fi
  # Read whole first: grep -q stops at its first match, and under pipefail a writer cut off by that fails the test.
  help=$("$TOOL" --help 2>&1 || true)
  grep -qE '^[[:space:]]*--threads([ =,]|$)' <<<"$help" && has_threads=1
  grep -qE '^[[:space:]]*--shard([ =,]|$)' <<<"$help" && has_shard=1
  rows=("one process, defaults|1|0|")
  if [ "$has_threads" = 1 ]; then
    rows+=("--threads 1|1|0|--threads 1" "--threads 2|1|0|--threads 2" "--threads 3|1|0|--threads 3")
  else
    log "  --threads rows skipped: the tool's --help has no --threads"
    record scaling-note "setup=cluster" "note=--threads rows skipped: the tool's --help has no --threads"
  fi
  if [ "$has_shard" = 1 ]; then
    rows+=("1 shard process (--shard 0/1)|1|1|" "2 shard processes (--shard i/2)|2|1|"
      "3 shard processes (--shard i/3)|3|1|")
  else
    log "  shard rows skipped: the tool's --help has no --shard"
    record scaling-note "setup=cluster" "note=shard rows skipped: the tool's --help has no --shard"
  fi

  start_cluster scaling-source
  local src_targets=$CLUSTER_TARGETS src_ports=$CLUSTER_PORTS src_pids=$CLUSTER_PIDS
  start_cluster scaling-destination
  local dst_ports=$CLUSTER_PORTS dst_pids=$CLUSTER_PIDS src dst keys
  # shellcheck disable=SC2059
  src=$(printf "$CLUSTER_URL_FORMAT" "${src_ports%% *}")
  # shellcheck disable=SC2059
  dst=$(printf "$CLUSTER_URL_FORMAT" "${dst_ports%% *}")
  if ! probe cluster "$src_targets" "$dst_ports" "$src" "$dst" "${CLUSTER_ARGS[@]}"; then
    record unavailable section=scaling "reason=$PROBE_REASON"
    stop_servers
    return 0
  fi
  seed_on "$src_targets" strings "$STRINGS_N" "$VALUE_SIZE"
  # shellcheck disable=SC2086
  keys=$(dbsize_sum $src_ports)
  [ "$keys" = "$STRINGS_N" ] || die "cluster seeding gave $keys keys, expected $STRINGS_N"
  log "  seeded $keys keys over 3 primaries in ${SEED_S}s"
  if [ ${#CLUSTER_ARGS[@]} -gt 0 ]; then
    local r
    for r in "${!rows[@]}"; do rows[r]+=" ${CLUSTER_ARGS[*]}"; done
  fi
  CPU_SRC_PIDS=$src_pids CPU_DST_PIDS=$dst_pids
  scaling_rows "cluster 3 -> 3, $("${SERVER_CMD[@]}" --version | sed -n 's/^\([A-Za-z]*\) server v=\([^ ]*\).*/\1 \2/p')" \
    "$src" "$dst" "$dst_ports" "$keys" "${rows[@]}"
  CPU_SRC_PIDS='' CPU_DST_PIDS=''
  stop_servers

  log "scaling: standalone Valkey 8 to Valkey 8 on $name, I/O threads off and on: one process vs 2 shard processes"
  find_valkey8
  if [ -n "$VALKEY8_REASON" ]; then
    log "  not available: $VALKEY8_REASON"
    record unavailable section=scaling-standalone "reason=$VALKEY8_REASON"
    return 0
  fi
  if [ "$has_shard" = 0 ]; then
    record unavailable section=scaling-standalone "reason=the tool's --help has no --shard"
    return 0
  fi
  local saved_cmd=("${SERVER_CMD[@]}") conf version label server_args n=0 div
  version=$("${VALKEY8_CMD[@]}" --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')
  SERVER_CMD=("${VALKEY8_CMD[@]}")
  # io-threads 2 alone hands a client's reads and writes to an I/O thread only once an event-loop turn has at
  # least events-per-io-thread (default 2) events per thread; events-per-io-thread 0 hands every one to them
  # (Valkey calls it a setting for tests): what I/O threads do for this few connections when forced. Forced, they
  # spin for work on the cores the rest needs and the copy is ten times slower here: a tenth of the keys.
  for conf in "1|1|--io-threads 1" "2|1|--io-threads 2" \
    "2, events-per-io-thread 0|10|--io-threads 2 --events-per-io-thread 0"; do
    label=${conf%%|*}
    div=${conf#*|}
    div=${div%%|*}
    read -r -a server_args <<<"${conf##*|}"
    n=$((n + 1))
    SRC_PORT=$(rmb free-port)
    start_server "scaling-valkey-$n-source" "$SRC_PORT" "${server_args[@]}"
    SRC_PID=$SERVER_PID
    DST_PORT=$(rmb free-port)
    start_server "scaling-valkey-$n-destination" "$DST_PORT" "${server_args[@]}"
    DST_PID=$SERVER_PID
    seed_on "$SRC_PORT" strings $((STRINGS_N / div)) "$VALUE_SIZE"
    keys=$(rcli "$SRC_PORT" DBSIZE)
    [ "$keys" = $((STRINGS_N / div)) ] || die "seeding gave $keys keys, expected $((STRINGS_N / div))"
    log "  io-threads $label: seeded $keys keys in ${SEED_S}s"
    CPU_SRC_PIDS=$SRC_PID CPU_DST_PIDS=$DST_PID IO_STATS_PORTS="$SRC_PORT $DST_PORT"
    scaling_rows "standalone Valkey $version, io-threads $label (both sides)" "redis://127.0.0.1:$SRC_PORT" \
      "redis://127.0.0.1:$DST_PORT" "$DST_PORT" "$keys" "one process|1|0|" "2 shard processes (--shard i/2)|2|1|"
    CPU_SRC_PIDS='' CPU_DST_PIDS='' IO_STATS_PORTS=''
    stop_servers
  done
  SERVER_CMD=("${saved_cmd[@]}")
}

# scaling_markdown: the scaling section's table from results.tsv, printed and appended to results.md (rm-bench
# render does not know it).
scaling_markdown() {
  grep -qE '^scaling' "$RESULTS" || return 0
  {
    printf '\n## Scaling: event loops (--threads) and processes (--shard i/N)\n\n'
    printf 'The fastest of the rounds per row (rows interleaved round by round). keys/s and wall s: from starting the '
    printf 'processes to the last exit. CPU: user+sys seconds per million keys; tool = every process summed; source, '
    printf 'destination = their server processes summed. Peak RSS: the largest process / all processes summed. '
    printf 'load: 1-minute load average when the run started; busy: the machine'"'"'s busy CPU during the run, in '
    printf 'cores (%s cores in all); others: that less the tool'"'"'s and the servers'"'"', the other work on the machine.\n\n' "$(nproc)"
    printf '| setup | run | processes | keys | keys/s | wall s | tool CPU s/M keys | source CPU s/M | destination CPU s/M | peak RSS MB (max / sum) | load | busy, cores | others, cores | I/O-threaded reads+writes: source / destination |\n'
    printf '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
    awk -F'\t' '$1 == "scaling" { delete f; for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = substr($i, length(kv[1]) + 2) }
        if (f["status"] != "ok") { printf "| %s | %s | %s | %s | FAIL: %s ||||||||||\n", f["setup"], f["run"], f["processes"], f["keys"], f["note"]; next }
        m = f["keys"] / 1e6
        printf "| %s | %s | %s | %s | %.0f | %s | %.2f | %.2f | %.2f | %.1f / %.1f | %s | %s | %s | %s |\n", f["setup"], f["run"],
          f["processes"], f["keys"], f["keys"] / f["s"], f["s"], f["cpu_s"] / m, f["src_cpu_s"] / m, f["dst_cpu_s"] / m,
          f["rss_max_kb"] / 1024, f["rss_sum_kb"] / 1024, f["load"], f["busy_cores"], f["others_cores"],
          (f["io_src"] == "" ? "" : f["io_src"] " / " f["io_dst"]) }
      $1 == "scaling-note" { for (i = 2; i <= NF; i++) { split($i, kv, "="); g[kv[1]] = substr($i, length(kv[1]) + 2) }
        notes = notes "\n- " g["note"] }
      END { if (notes != "") print notes }' "$RESULTS"
  } | tee -a "$OUT/results.md"
}

# --- live sync ---------------------------------------------------------------------------------------------------
# What is measurable from outside a live run, and how:
#   lag       end to end, the way an application sees it: every 100 ms a script on the source stores its own
#             TIME (us) in the key live:lagprobe; a reader on the destination polls that key every 20 ms with the
#             destination's TIME (same machine, same clock). The lag of a probe value is the reader's time when
#             it first sees it minus the value (resolution 20 ms; a value overwritten before it was ever seen
#             yields no sample, so under a growing lag the samples are the later values). p50/p99/max over the
#             window. Besides, the tool's own view: the lag of its progress lines (the age of the oldest pending
#             change, one sample per --progress-interval) and lag_ms_max / pending_max of its report.
#   rate      the writes the source actually served in the window (INFO commandstats of the load's commands),
#             next to the target: one redis-benchmark burst per type every 200 ms (-r HOT random keys per type).
#   CPU       user+sys of the tool's process in the window (/proc/PID/stat), in cores.
#   resync    a live run (--live --replace --until-idle 1) onto an exact copy: RESTOREs the destination served
#             (INFO commandstats, should be 0) and the wall time up to the live phase, next to a full copy's time.

# live_seed PORT HOT: HOT keys of each of the five types the load writes (names as redis-benchmark's
# __rand_int__ makes them: 12 digits), through redis-cli --pipe.
live_seed() {
  local port=$1 hot=$2
  awk -v n="$hot" 'function cmd(a, b, c, d,   s) {
      s = "*" (2 + (c != "") + (d != "")) "\r\n"
      s = s "$" length(a) "\r\n" a "\r\n$" length(b) "\r\n" b "\r\n"
      if (c != "") s = s "$" length(c) "\r\n" c "\r\n"
      if (d != "") s = s "$" length(d) "\r\n" d "\r\n"
      printf "%s", s
    }
    BEGIN {
      for (i = 0; i < n; i++) {
        k = sprintf("%012d", i)
        cmd("SET", "live:s:" k, "v" i)
        cmd("HSET", "live:h:" k, "f", "v")
        cmd("RPUSH", "live:l:" k, "v")
        cmd("SADD", "live:t:" k, "m")
        cmd("ZADD", "live:z:" k, "1", "m")
      }
    }' | redis-cli -h 127.0.0.1 -p "$port" --pipe >>"$OUT/bench.log" 2>&1 || die "seeding the live keys failed"
}

# The load's commands (one per type, plus deletions of strings), for redis-benchmark and INFO commandstats.
LIVE_LOAD=("SET live:s:__rand_int__ __rand_int__" "HSET live:h:__rand_int__ f__rand_int__ v"
  "LPUSH live:l:__rand_int__ __rand_int__" "SADD live:t:__rand_int__ __rand_int__"
  "ZINCRBY live:z:__rand_int__ 1 m__rand_int__" "DEL live:s:__rand_int__")
load_calls() {
  rcli "$1" INFO commandstats | tr -d '\r' | awk -F'[:=,]' '
    $1 ~ /^cmdstat_(set|hset|lpush|sadd|zincrby|del)$/ { n += $3 } END { print n + 0 }'
}

# live_load PORT RATE SECONDS HOT: RATE commands/s for SECONDS, one burst per type every 200 ms.
live_load() {
  local port=$1 rate=$2 secs=$3 hot=$4 per tick ticks start now due c pids p
  per=$((rate / 5 / ${#LIVE_LOAD[@]}))
  [ "$per" -ge 1 ] || per=1
  ticks=$((secs * 5))
  start=$(date +%s%N)
  for ((tick = 0; tick < ticks; tick++)); do
    pids=()
    for c in "${LIVE_LOAD[@]}"; do
      # shellcheck disable=SC2086
      redis-benchmark -h 127.0.0.1 -p "$port" -c 2 -P 16 -r "$hot" -n "$per" -q $c >/dev/null 2>&1 &
      pids+=($!)
    done
    # Only the bursts: the tool and the lag probes run in the background too.
    for p in "${pids[@]}"; do wait "$p" || true; done
    now=$(date +%s%N)
    due=$((start + (tick + 1) * 200000000))
    [ "$due" -le "$now" ] || sleep "$(awk -v d=$((due - now)) 'BEGIN { printf "%.3f", d / 1e9 }')"
  done
}

# lag_stats FILE: "p50 p99 max count" of the numbers (ms) in FILE, or "- - - 0".
lag_stats() {
  sort -n "$1" | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "- - - 0"; exit }
    p50 = v[int((NR - 1) * 0.50) + 1]; p99 = v[int((NR - 1) * 0.99) + 1]
    printf "%.0f %.0f %.0f %d\n", p50, p99, v[NR], NR }'
}

# probe_lags READER_OUTPUT START_US: the lag (ms) of every probe value the reader saw, one per line. The reader
# prints three lines per poll: its seconds, its microseconds, the probe value (us, or empty). Values written
# before START_US (the previous window's last one) are left out.
probe_lags() {
  awk -v start="$2" 'NR % 3 == 1 { s = $1 } NR % 3 == 2 { us = $1 } NR % 3 == 0 {
      if ($1 != "" && $1 + 0 >= start + 0 && !($1 in seen)) {
        seen[$1] = 1; printf "%.1f\n", (s * 1e6 + us - $1) / 1000 } }' "$1"
}

# progress_lags FILE FROM TO: the lag (ms) of the tool's progress lines FROM..TO of FILE ("lag N ms", "lag Ns",
# "lag=N").
progress_lags() {
  sed -n "${2},${3}p" "$1" | grep -oE 'lag[ =:]+[0-9.]+ ?(ms|s)?' | awk '{
      gsub(/lag[ =:]+/, ""); v = $0 + 0; if ($0 ~ /[0-9]s$/ || $0 ~ / s$/) v *= 1000; print v }'
}

# json_number FILE NAME: the first number named NAME in the report's live object (the report's top level has
# counters of the same names, e.g. deleted: those of --cleanup); "count" is that of its resyncs.
json_number() {
  [ -f "$1" ] || return 0
  tr -d '\n' <"$1" | awk -v name="$2" '{
      i = index($0, "\"live\":"); if (!i) exit
      s = substr($0, i)
      if (match(s, "\"" name "\": *-?[0-9.eE+]+")) { v = substr(s, RSTART, RLENGTH); sub(/.*: */, "", v); print v } }'
}

# wait_live PID ERRFILE DST_URL SECONDS: until the run is in its live phase (a progress line "live | pending ...",
# or `status` saying "phase live"); 1 when the run ended or the time passed.
wait_live() {
  local pid=$1 err=$2 dst=$3 secs=$4 i
  for ((i = 0; i < secs * 5; i++)); do
    kill -0 "$pid" 2>/dev/null || return 1
    grep -qE 'live \| pending' "$err" 2>/dev/null && return 0
    "$TOOL" status "$dst" 2>/dev/null | grep -qiE 'phase[ :=]+live|live phase' && return 0
    sleep 0.2
  done
  return 1
}

live_section() {
  log "live sync: ${LIVE_RATES[*]} changes/s over $(short_count $((LIVE_HOT * 5))) hot keys, ${LIVE_SECS}s each"
  if [ -n "$TOOL_REASON" ]; then
    record unavailable section=live "reason=$TOOL_REASON"
    return 0
  fi
  local live_help
  live_help=$("$TOOL" --help 2>&1 || true)
  if ! grep -q -- '--live' <<<"$live_help"; then
    record unavailable section=live "reason=the tool has no --live option"
    log "  not available: the tool has no --live option"
    return 0
  fi
  SRC_PORT=$(rmb free-port)
  start_server live-source "$SRC_PORT" --notify-keyspace-events KEA
  SRC_PID=$SERVER_PID
  DST_PORT=$(rmb free-port)
  start_server live-destination "$DST_PORT"
  DST_PID=$SERVER_PID
  local src="redis://127.0.0.1:$SRC_PORT" dst="redis://127.0.0.1:$DST_PORT" report="$WORK/live.json"
  local err="$WORK/live.err" pid t0
  live_seed "$SRC_PORT" "$LIVE_HOT"
  log "  seeded $(rcli "$SRC_PORT" DBSIZE) keys"
  rm -f "$report"
  t0=$(date +%s%N)
  "$TOOL" --live --progress-interval 0.5 --report-json "$report" "${TOOL_ARGS[@]}" "$src" "$dst" \
    >"$WORK/live.out" 2>"$err" &
  pid=$!
  if ! wait_live "$pid" "$err" "$dst" 600; then
    local why
    why="the live run did not reach its live phase: $(tail -n 1 "$err" | cut -c1-160)"
    log "  $why"
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    record unavailable section=live "reason=$why"
    stop_servers
    return 0
  fi
  log "  bulk copy done, live phase after $(awk -v d=$(($(date +%s%N) - t0)) 'BEGIN { printf "%.1f", d / 1e9 }')s"
  local rate held=0 c0 c1 w0 w1 l0 l1 e0 e1 reader writer achieved cores p50 p99 pmax pn t50 t99 tmax tn
  for rate in "${LIVE_RATES[@]}"; do
    c0=$(cpu_ticks "$pid")
    w0=$(load_calls "$SRC_PORT")
    l0=$(($(wc -l <"$err") + 1))
    e0=$(date +%s%N)
    redis-cli -h 127.0.0.1 -p "$SRC_PORT" -r $((LIVE_SECS * 10)) -i 0.1 EVAL \
      "local t = redis.call('TIME') redis.call('SET', 'live:lagprobe', t[1] .. string.format('%06d', tonumber(t[2]))) return 1" 0 \
      >/dev/null 2>&1 &
    writer=$!
    redis-cli -h 127.0.0.1 -p "$DST_PORT" -r $((LIVE_SECS * 50 + 100)) -i 0.02 EVAL \
      "local t = redis.call('TIME') return {t[1], t[2], redis.call('GET', 'live:lagprobe') or ''}" 0 \
      >"$WORK/lag.$rate" 2>/dev/null &
    reader=$!
    live_load "$SRC_PORT" "$rate" "$LIVE_SECS" "$LIVE_HOT"
    wait "$writer" || true
    sleep 2  # the reader sees the last probe values
    kill "$reader" 2>/dev/null || true
    wait "$reader" 2>/dev/null || true
    e1=$(date +%s%N)
    c1=$(cpu_ticks "$pid")
    w1=$(load_calls "$SRC_PORT")
    l1=$(wc -l <"$err")
    achieved=$(awk -v n=$((w1 - w0)) -v s="$LIVE_SECS" 'BEGIN { printf "%.0f", n / s }')
    cores=$(awk -v t=$((c1 - c0)) -v hz="$CLK_TCK" -v d=$((e1 - e0)) 'BEGIN { printf "%.2f", t / hz / (d / 1e9) }')
    probe_lags "$WORK/lag.$rate" $((e0 / 1000)) >"$WORK/lag.$rate.ms"
    progress_lags "$err" "$l0" "$l1" >"$WORK/plag.$rate.ms"
    read -r p50 p99 pmax pn < <(lag_stats "$WORK/lag.$rate.ms")
    read -r t50 t99 tmax tn < <(lag_stats "$WORK/plag.$rate.ms")
    log "  $rate/s (served $achieved/s): lag p50 ${p50} ms, p99 ${p99} ms, max ${pmax} ms ($pn samples); tool's lag p50 ${t50}, p99 ${t99}, max ${tmax} ms ($tn lines); tool CPU $cores cores"
    if [ "$p99" != - ] && [ "$p99" -lt 1000 ] && [ "$achieved" -ge $((rate * 9 / 10)) ]; then held=$rate; fi
    record live "rate=$rate" "served_per_s=$achieved" "seconds=$LIVE_SECS" "hot_keys=$((LIVE_HOT * 5))" \
      "lag_p50_ms=$p50" "lag_p99_ms=$p99" "lag_max_ms=$pmax" "lag_samples=$pn" "tool_lag_p50_ms=$t50" \
      "tool_lag_p99_ms=$t99" "tool_lag_max_ms=$tmax" "tool_lag_samples=$tn" "tool_cpu_cores=$cores"
  done
  # The cut-over: SIGUSR1, then the exit.
  local cut0 cut_ms rc=0 same
  cut0=$(date +%s%N)
  kill -USR1 "$pid"
  wait "$pid" || rc=$?
  cut_ms=$((($(date +%s%N) - cut0) / 1000000))
  same=$([ "$(rcli "$SRC_PORT" DBSIZE)" = "$(user_dbsize_sum "$DST_PORT")" ] && echo yes || echo NO)
  log "  cut-over (SIGUSR1): exit $rc after ${cut_ms} ms; report: pending_max $(json_number "$report" pending_max), lag_ms_max $(json_number "$report" lag_ms_max), resyncs $(json_number "$report" count); same key count: $same"
  record live-cutover "exit=$rc" "cutover_ms=$cut_ms" "report_cutover_ms=$(json_number "$report" cutover_ms)" \
    "pending_max=$(json_number "$report" pending_max)" "lag_ms_max=$(json_number "$report" lag_ms_max)" \
    "changes=$(json_number "$report" changes)" "recopied=$(json_number "$report" recopied)" \
    "deleted=$(json_number "$report" deleted)" "held_rate=$held" "same_dbsize=$same"

  # The resync of an unchanged keyspace: a full copy first (its time), then a live run onto that exact copy.
  flush "$SRC_PORT" "$DST_PORT"
  seed_on "$SRC_PORT" strings "$LIVE_RESYNC_N" "$VALUE_SIZE"
  log "  resync: seeded $(rcli "$SRC_PORT" DBSIZE) keys"
  measure_tool copy "$src" "$dst" "$DST_PORT" "$LIVE_RESYNC_N"
  local copy_fields=("${TOOL_FIELDS[@]}") r0 r1 res
  r0=$(rcli "$DST_PORT" INFO commandstats | tr -d '\r' | awk -F'[:=,]' '$1 == "cmdstat_restore" { print $3 }')
  rm -f "$report"
  t0=$(date +%s%N)
  "$TOOL" --live --replace --until-idle 1 --progress-interval 0.5 --report-json "$report" "${TOOL_ARGS[@]}" \
    "$src" "$dst" >"$WORK/resync.out" 2>"$WORK/resync.err" &
  pid=$!
  local live_s=-
  if wait_live "$pid" "$WORK/resync.err" "$dst" 600; then
    live_s=$(awk -v d=$(($(date +%s%N) - t0)) 'BEGIN { printf "%.2f", d / 1e9 }')
  fi
  rc=0
  wait "$pid" || rc=$?
  res=$(awk -v d=$(($(date +%s%N) - t0)) 'BEGIN { printf "%.2f", d / 1e9 }')
  r1=$(rcli "$DST_PORT" INFO commandstats | tr -d '\r' | awk -F'[:=,]' '$1 == "cmdstat_restore" { print $3 }')
  local written=$((${r1:-0} - ${r0:-0}))
  log "  resync of $(short_count "$LIVE_RESYNC_N") unchanged keys: live phase after ${live_s}s, exit $rc after ${res}s (--until-idle 1), RESTOREs $written, unchanged $(json_number "$report" unchanged), recopied $(json_number "$report" recopied)"
  record live-resync "keys=$LIVE_RESYNC_N" "exit=$rc" "resync_s=$live_s" "total_s=$res" "restores=$written" \
    "unchanged=$(json_number "$report" unchanged)" "recopied=$(json_number "$report" recopied)" "${copy_fields[@]}"
  stop_servers
}

# live_markdown: the live section's tables from results.tsv, appended to results.md (rm-bench render does not
# know them).
live_markdown() {
  grep -qE '^live' "$RESULTS" || return 0
  {
    printf '\n## Live sync (--live)\n\n'
    printf 'Lag: a write acknowledged by the source until its value is on the destination, measured from outside '
    printf '(a probe key every 100 ms, polled every 20 ms on the destination); the tool'"'"'s lag: its progress '
    printf 'lines (age of the oldest pending change). CPU: the tool, in cores.\n\n'
    printf '| target changes/s | served/s | lag p50 ms | lag p99 ms | lag max ms | tool lag p50 / p99 / max ms | tool CPU cores | p99 < 1 s |\n'
    printf '|---|---|---|---|---|---|---|---|\n'
    awk -F'\t' '$1 == "live" { for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = substr($i, length(kv[1]) + 2) }
        printf "| %s | %s | %s | %s | %s | %s / %s / %s | %s | %s |\n", f["rate"], f["served_per_s"], f["lag_p50_ms"],
          f["lag_p99_ms"], f["lag_max_ms"], f["tool_lag_p50_ms"], f["tool_lag_p99_ms"], f["tool_lag_max_ms"],
          f["tool_cpu_cores"], (f["lag_p99_ms"] != "-" && f["lag_p99_ms"] + 0 < 1000) ? "yes" : "no" }' "$RESULTS"
    awk -F'\t' '$1 == "live-cutover" { for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = substr($i, length(kv[1]) + 2) }
        printf "\nHighest rate held (p99 lag < 1 s, >= 90%% of the target served): %s changes/s. Cut-over by SIGUSR1: exit %s after %s ms (report: cutover_ms %s); pending max %s, lag_ms_max %s; changes %s, recopied %s, deleted %s; same key count: %s.\n",
          f["held_rate"], f["exit"], f["cutover_ms"], f["report_cutover_ms"], f["pending_max"], f["lag_ms_max"],
          f["changes"], f["recopied"], f["deleted"], f["same_dbsize"] }' "$RESULTS"
    awk -F'\t' '$1 == "live-resync" { for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = substr($i, length(kv[1]) + 2) }
        printf "\nResync of %s unchanged keys (--live --replace onto an exact copy): live phase after %s s (full copy: %s s), RESTOREs on the destination %s (should be 0), unchanged %s, recopied %s, exit %s.\n",
          f["keys"], f["resync_s"], f["copy_s"], f["restores"], f["unchanged"], f["recopied"], f["exit"] }' "$RESULTS"
  } >>"$OUT/results.md"
}

# --- main ------------------------------------------------------------------------------------------------------------

log "building rm-bench"
{ cmake -S "$ROOT/scripts/bench" -B "$OUT" -DCMAKE_BUILD_TYPE=Release && make -C "$OUT" -j2 rm-bench; } \
  >>"$OUT/bench.log" 2>&1 || die "building rm-bench failed (see $OUT/bench.log)"
rmb selftest >>"$OUT/bench.log" || die "rm-bench selftest failed; measurements would not be exact"

if [ -z "$TOOL" ]; then
  log "building redis-migrate (Release)"
  if (cd "$ROOT" && cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DRM_BUILD_TESTS=OFF &&
    make -C build-release -j2 redis-migrate) >"$OUT/tool-build.log" 2>&1; then
    for candidate in "$ROOT/build-release/redis-migrate" "$ROOT/build-release/src/redis-migrate"; do
      [ -x "$candidate" ] && TOOL=$candidate && break
    done
    [ -n "$TOOL" ] || TOOL_REASON="the Release build made no redis-migrate binary"
  else
    TOOL_REASON="Release build failed, see build-bench/tool-build.log"
  fi
fi
[ -n "$TOOL_REASON" ] || [ -x "$TOOL" ] || TOOL_REASON="$TOOL is not executable"
[ -z "$TOOL_REASON" ] || log "tool not available: $TOOL_REASON"

avail_gb=$(df -Pk /tmp | awk 'NR == 2 { print int($4 / 1048576) }')
[ "$avail_gb" -ge 4 ] || log "warning: only ${avail_gb} GB free under /tmp; the command files of the big datasets need several GB"

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
git_rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$ROOT" diff --quiet HEAD 2>/dev/null || git_rev+="+dirty"
record meta "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)" "command=$COMMAND_LINE" "git=$git_rev" \
  "host=$(uname -sr), $cpu, $(awk '/MemTotal/ { printf "%d GB RAM", $2 / 1048576 }' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)" \
  "cpus=$(nproc)" "redis=$("${SERVER_CMD[@]}" --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')" "quick=$QUICK" "repeat=$REPEAT" \
  "tool=${TOOL#"$ROOT/"}"
log "work directory $WORK; sections: ${SECTIONS[*]}"

for section in "${SECTIONS[@]}"; do
  case "$section" in
    strings) dataset_section "strings-$(short_count "$STRINGS_N")" strings "$STRINGS_N" "$VALUE_SIZE" ;;
    mixed) dataset_section "mixed-$(short_count "$MIXED_N")" mixed "$MIXED_N" "$TTL_FRACTION" "$MIXED_BYTES" ;;
    strings5m) dataset_section "strings-$(short_count "$STRINGS5M_N")" strings "$STRINGS5M_N" "$VALUE_SIZE" ;;
    bigkeys) bigkeys_section ;;
    tls) tls_section ;;
    cluster) cluster_section ;;
    rewrite) rewrite_section ;;
    live) live_section ;;
    scaling) scaling_section ;;
  esac
done

echo
rmb render "$RESULTS" --markdown "$OUT/results.md" --json "$OUT/results.json"
live_markdown
scaling_markdown
echo
log "results: $OUT/results.md and $OUT/results.json (raw: $OUT/results.tsv, log: $OUT/bench.log)"
