#!/usr/bin/env bash
# Builds the container image and tests it, then runs the docker-compose demo:
#   - the image: size (at most 90 MB, reported), entrypoint, no CMD, non-root user, OCI labels, no compiler and
#     no apt lists inside, every shared library found;
#   - the container against redis-servers on loopback (host network): --help and --version, usage and exit 2
#     with neither arguments nor environment, a bad URL (clear error, exit 2), a real copy compared key by key,
#     a copy configured only through environment variables (password from a mounted file, JSON logs), and
#     SIGTERM mid-copy (exit 143, summary printed, every key on the destination equal to the source's), and
#     --metrics-port scraped over HTTP during a paced copy;
#   - `compose up --build --abort-on-container-exit --exit-code-from migrate`: its exit code, the migrate
#     container's own exit code, and the destination compared key by key with the source.
# Uses docker when an engine answers (`docker info`), otherwise podman, buildah and podman-compose from Debian,
# configured through environment variables under $RM_CONTAINER_DIR (default /tmp/redis-migrate-container, kept
# between runs as a cache), with a debian:bookworm-slim base image made by debootstrap when it is missing:
# the machine needs no registry, only Debian's mirror. Run as root (or with sudo for the installs).
# Environment: RM_CONTAINER_DIR, CONTAINER_ENGINE=docker|podman (skip the detection), JOBS (compile jobs, 2),
# SIGTERM_KEYS (keys for the SIGTERM test, 200000), RM_IMAGE_BINARY (a Release binary built on this machine, which
# must be Debian bookworm like the image, with -DBoost_USE_STATIC_LIBS=ON: the image under test is built from it,
# through the Dockerfile's `binary` stage, instead of compiling the source again; the compose demo still builds
# the image from source), RM_SOURCE_BUILD_PID (a `--prepare-source` running in the background: the compose demo
# waits for it to end, then finds the image's layers in the cache).
# `--prepare` does only the network-bound part: packages, base image, and the image's package layers (the
# Dockerfile's toolchain and runtime stages, the compose demo's redis image) into the layer cache.
# `--prepare-source` then builds the image from source exactly as the compose demo does, at the lowest CPU
# priority. scripts/test.sh runs both in the background while it compiles and tests: the compile there takes
# only the CPU that the tests leave idle.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$SECONDS
prepare_only=0
case "${1:-}" in
  --prepare) prepare_only=1 ;;
  --prepare-source) prepare_only=2 ;;
  '') ;;
  *) echo "usage: $0 [--prepare | --prepare-source]" >&2; exit 2 ;;
esac

ctr=${RM_CONTAINER_DIR:-/tmp/redis-migrate-container}
image=localhost/redis-migrate:ci
max_image_mb=90
version=$(sed -n 's/^project(redis-migrate VERSION \([0-9][0-9.]*\).*/\1/p' CMakeLists.txt)
revision=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
name=rm-ctr-test-$$
work=$(mktemp -d /tmp/redis-migrate-ctr-test.XXXXXX)

say() { printf '== [%3ds] %s\n' $((SECONDS - t0)) "$*"; }
fail() {
  printf 'test-container: FAIL: %s\n' "$*" >&2
  exit 1
}
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

engine=${CONTAINER_ENGINE:-}
if [ -z "$engine" ]; then
  if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then engine=docker; else engine=podman; fi
fi

# ---------------------------------------------------------------- cleanup: servers, containers, compose, work dir
pids=()
compose_up=0
cleanup() {
  local rc=$?
  set +e
  if [ "$compose_up" = 1 ]; then compose down >"$work/compose-down.log" 2>&1; fi
  if [ -n "${engine_ready:-}" ]; then
    "$engine" rm -f "$name-sigterm" "$name-metrics" >/dev/null 2>&1
  fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  if [ "$rc" -ne 0 ] && [ -d "$work" ]; then
    for f in "$work"/*.log; do
      [ -s "$f" ] || continue
      printf -- '--- last lines of %s\n' "${f##*/}" >&2
      tail -n 25 "$f" >&2
    done
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- packages
ensure_pkgs() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >"$work/apt.log" 2>&1
}

# ---------------------------------------------------------------- podman: configuration and base image
# Everything lives under $ctr and is selected by environment variables; nothing is written to /etc.
podman_config() {
  mkdir -p "$ctr"/{conf,storage,runroot,tmp,libpod-tmp,networks}
  cat >"$ctr/conf/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$ctr/storage"
runroot = "$ctr/runroot"
[storage.options.overlay]
mountopt = "nodev"
EOF
  # runc: crun 1.8 refuses a hybrid cgroup layout. The default rlimits (nofile 1048576, nproc 4194304) fail
  # with "setrlimit ... Operation not permitted" where CAP_SYS_RESOURCE is missing: ask for no more than the
  # hard limit. Host network everywhere: no bridge, no firewall changes. No registry: never pull.
  local nofile
  nofile=$(ulimit -Hn)
  [ "$nofile" = unlimited ] && nofile=1048576
  cat >"$ctr/conf/containers.conf" <<EOF
[containers]
netns = "host"
default_ulimits = ["nofile=$nofile:$nofile", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
tmp_dir = "$ctr/libpod-tmp"
pull_policy = "never"
[network]
network_config_dir = "$ctr/networks"
EOF
  export CONTAINERS_STORAGE_CONF=$ctr/conf/storage.conf
  export CONTAINERS_CONF=$ctr/conf/containers.conf
  export TMPDIR=$ctr/tmp
  export BUILDAH_ISOLATION=chroot
}

# debian:bookworm-slim made with debootstrap, with the official slim image's apt and dpkg settings, so that
# `FROM debian:bookworm-slim` resolves without a registry.
make_base_image() {
  local rootfs=$ctr/rootfs mirror sources
  sources=/etc/apt/sources.list.d/debian.sources
  if [ -f "$sources" ]; then
    mirror=$(awk '/^URIs:/ { print $2; exit }' "$sources")
  else
    mirror=$(awk '$1 == "deb" && $0 !~ /security/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
  fi
  mirror=${mirror:-http://deb.debian.org/debian}
  say "building the base image debian:bookworm-slim with debootstrap from $mirror"
  rm -rf "$rootfs"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1
  # The host's apt sources, and its tolerance of a dated mirror snapshot whose Release files have expired.
  rm -f "$rootfs/etc/apt/sources.list"
  if [ -f "$sources" ]; then cp "$sources" "$rootfs/etc/apt/sources.list.d/"; else cp /etc/apt/sources.list "$rootfs/etc/apt/"; fi
  printf 'Acquire::Check-Valid-Until "false";\nAcquire::Check-Date "false";\n' \
    >"$rootfs/etc/apt/apt.conf.d/99no-check-valid"
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
    >"$rootfs/etc/apt/apt.conf.d/99no-recommends"
  cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  echo 'Acquire::GzipIndexes "true";' >"$rootfs/etc/apt/apt.conf.d/docker-gzip-indexes"
  echo 'Acquire::Languages "none";' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"
  echo 'force-unsafe-io' >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
EOF
  printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
  chmod 755 "$rootfs/usr/sbin/policy-rc.d"
  find "$rootfs/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete 2>/dev/null || true
  rm -rf "$rootfs"/usr/share/{man,info,groff,lintian}/* "$rootfs"/usr/share/locale/* \
    "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/var/cache/debconf/*-old "$rootfs"/var/lib/dpkg/*-old "$rootfs"/var/log/*.log "$rootfs"/tmp/*
  tar --numeric-owner -C "$rootfs" -c . |
    podman import --change 'CMD ["bash"]' - docker.io/library/debian:bookworm-slim >"$work/import.log" 2>&1
  rm -rf "$rootfs"
}

# podman-compose 1.0.3 adds "--net <project>_default --network-alias <service>" even with network_mode: host,
# which podman rejects: run a copy that leaves them out when network_mode is set.
patch_podman_compose() {
  local src=/usr/lib/python3/dist-packages/podman_compose.py
  python3 - "$src" "$ctr/podman_compose.py" <<'EOF'
import sys
src, dst = sys.argv[1], sys.argv[2]
s = open(src).read()
old = "    assert_cnt_nets(compose, cnt)\n    podman_args.extend(get_net_args(compose, cnt))\n"
new = ("    if not cnt.get('network_mode', None):  # patched: no --net/--network-alias with network_mode\n"
       "        assert_cnt_nets(compose, cnt)\n        podman_args.extend(get_net_args(compose, cnt))\n")
if s.count(old) != 1:
    sys.exit("podman_compose.py is not the expected version 1.0.3: cannot patch it for network_mode: host")
open(dst, "w").write(s.replace(old, new))
EOF
}

# The demo runs as its own compose project, so it cannot touch a demo someone started by hand.
project=$name
compose_cmd=()
compose() { "${compose_cmd[@]}" "$@"; }

# ---------------------------------------------------------------- local redis-servers on loopback
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {  # prints a port nobody listens on
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 30000))
    port_in_use "$p" || { echo "$p"; return 0; }
  done
  fail "no free port found"
}
start_server() {  # start_server NAME [redis-server options...]: sets $port; not run in a subshell, so the pid is kept
  local label=$1 pid
  shift
  mkdir -p "$work/$label"
  for _ in 1 2 3; do  # another program may take the free port first: try another one
    port=$(free_port)
    redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --dir "$work/$label" \
      --logfile "$work/$label/redis.log" --daemonize no "$@" >/dev/null 2>&1 &
    pid=$!
    pids+=("$pid")
    for _ in $(seq 100); do
      if redis-cli -p "$port" ping 2>/dev/null | grep -qE 'PONG|NOAUTH'; then return 0; fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.05
    done
    kill "$pid" 2>/dev/null || true
  done
  fail "redis-server $label did not start (see $work/$label/redis.log)"
}
seed() {  # seed PORT KEYS: the demo's mixed dataset
  SEED_PORT=$1 SEED_KEYS=$2 docker/redis/seed.sh >"$work/seed-$1.log" 2>&1 || fail "seeding port $1 failed"
}

# ---------------------------------------------------------------- key-by-key comparison
# One line per key of db 0: hex(key) type pttl digest. The digest is of the value in a canonical form (members
# of sets and fields of hashes sorted, so a hashtable's order on each server does not matter; streams with
# their consumer groups, consumers and pending entries), computed by a Lua script on the server, either for a
# SCAN batch (ARGV: scan CURSOR COUNT; the first line of the reply is the next cursor) or for given keys (ARGV:
# keys HEXKEY...; the first line is 0).
digest_lua=$(
  cat <<'EOF'
local sha = redis.sha1hex
local function hex(s) return (string.gsub(s, '.', function(c) return string.format('%02x', string.byte(c)) end)) end
local function unhex(h) return (string.gsub(h, '..', function(x) return string.char(tonumber(x, 16)) end)) end
local function flat(x, out)
  if type(x) == 'table' then
    if x.ok then out[#out + 1] = x.ok else for _, v in ipairs(x) do flat(v, out) end end
  elseif x == false then out[#out + 1] = '(nil)'
  else out[#out + 1] = tostring(x) end
  return out
end
local function seq(t) local p = {} for i, v in ipairs(t) do p[i] = #v .. ':' .. v end return sha(table.concat(p)) end
local function bag(t) local p = {} for i, v in ipairs(t) do p[i] = sha(v) end table.sort(p) return sha(table.concat(p)) end
local function map(t) local m = {} for i = 1, #t - 1, 2 do m[t[i]] = t[i + 1] end return m end
local function stream(k)
  local p = {seq(flat(redis.call('XRANGE', k, '-', '+'), {}))}
  local s = map(redis.call('XINFO', 'STREAM', k))
  p[2] = table.concat(flat({s['last-generated-id'], s['entries-added'], s['max-deleted-entry-id']}, {}), ',')
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', k)) do
    g = map(g)
    p[#p + 1] = table.concat(flat({g['name'], g['pending'], g['last-delivered-id'], g['entries-read']}, {}), ',')
    for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', k, g['name'])) do
      c = map(c)
      p[#p + 1] = c['name'] .. ',' .. c['pending']
    end
    for _, e in ipairs(redis.call('XPENDING', k, g['name'], '-', '+', 1000000)) do
      p[#p + 1] = e[1] .. ',' .. e[2] .. ',' .. e[4]
    end
  end
  return seq(p)
end
local function line(k)
  local t = redis.call('TYPE', k).ok
  local d = '-'
  if t == 'string' then d = sha(redis.call('GET', k))
  elseif t == 'list' then d = seq(redis.call('LRANGE', k, 0, -1))
  elseif t == 'set' then d = bag(redis.call('SMEMBERS', k))
  elseif t == 'zset' then d = seq(redis.call('ZRANGE', k, 0, -1, 'WITHSCORES'))
  elseif t == 'hash' then
    local h, p = redis.call('HGETALL', k), {}
    for i = 1, #h - 1, 2 do p[#p + 1] = #h[i] .. ':' .. h[i] .. h[i + 1] end
    d = bag(p)
  elseif t == 'stream' then d = stream(k) end
  return hex(k) .. ' ' .. t .. ' ' .. redis.call('PTTL', k) .. ' ' .. d
end
local out = {}
if ARGV[1] == 'scan' then
  local scan = redis.call('SCAN', ARGV[2], 'COUNT', ARGV[3])
  out[1] = scan[1]
  -- the tool's own keys (its lock and run records) are not data: never copied, never compared
  for _, k in ipairs(scan[2]) do
    if k:sub(1, 14) ~= 'redis-migrate:' then out[#out + 1] = line(k) end
  end
else
  out[1] = '0'
  for i = 2, #ARGV do out[#out + 1] = line(unhex(ARGV[i])) end
end
return out
EOF
)
digests() {  # digests PORT PASSWORD scan|keys [HEXKEYS_FILE]: key lines as above, sorted
  local port=$1 cursor=0 out auth=()
  [ -z "$2" ] || auth=("REDISCLI_AUTH=$2")
  if [ "$3" = keys ]; then
    cut -d ' ' -f 1 "$4" |
      xargs -r -n 500 env "${auth[@]}" redis-cli -p "$port" --no-auth-warning --raw EVAL "$digest_lua" 0 keys
  else
    while :; do
      out=$(env "${auth[@]}" redis-cli -p "$port" --no-auth-warning --raw EVAL "$digest_lua" 0 scan "$cursor" 1000)
      cursor=${out%%$'\n'*}
      [[ $cursor =~ ^[0-9]+$ ]] || { echo "$out"; return 1; }
      printf '%s\n' "$out"
      [ "$cursor" = 0 ] && break
    done
  fi | grep ' ' | sort -u
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# compare_keys SRC_PORT DST_PORT all|subset [DST_PASSWORD]: every destination key equals its source key: type,
# value, and TTL (never longer on the destination, at most a minute shorter). With "all" the two key sets are
# the same; with "subset" the destination may lack keys, and only its keys are read on the source, after the
# destination, so the time between the two reads is allowed on top of the destination's TTL.
# Prints how many keys were compared.
compare_keys() {
  local src=$1 dst=$2 mode=$3 start slack=50
  if [ "$mode" = all ]; then
    digests "$src" '' scan >"$work/src.keys" || fail "reading the keys of port $src"
    digests "$dst" "${4:-}" scan >"$work/dst.keys" || fail "reading the keys of port $dst"
  else
    start=$(now_ms)
    digests "$dst" "${4:-}" scan >"$work/dst.keys" || fail "reading the keys of port $dst"
    digests "$src" '' keys "$work/dst.keys" >"$work/src.keys" || fail "reading the keys of port $src"
    slack=$((slack + $(now_ms) - start))
  fi
  awk -v mode="$mode" -v slack="$slack" '
    function fail(msg) { if (++bad <= 5) print "  " msg > "/dev/stderr" }
    NR == FNR { type[$1] = $2; ttl[$1] = $3; dig[$1] = $4; next }
    {
      n_dst++
      if (!($1 in type) || type[$1] == "none") { fail("key " $1 " (hex) is on the destination only"); next }
      seen[$1] = 1
      if ($2 != type[$1] || $4 != dig[$1]) { fail("key " $1 " (hex) differs: " type[$1] " " dig[$1] " vs " $2 " " $4); next }
      s = ttl[$1] + 0; d = $3 + 0
      if ((s < 0 || d < 0) ? s != d : (d > s + slack || d < s - 60000))
        fail("key " $1 " (hex): TTL " d " ms on the destination, " s " ms on the source")
    }
    END {
      if (mode == "all") for (k in type) if (!(k in seen)) fail("key " k " (hex) is missing on the destination")
      if (bad) { print "  " bad " differences in " n_dst " destination keys" > "/dev/stderr"; exit 1 }
      if (n_dst == 0) { print "  the destination is empty" > "/dev/stderr"; exit 1 }
      print n_dst
    }' "$work/src.keys" "$work/dst.keys"
}

# ---------------------------------------------------------------- helpers for running the image
run_image() {  # run_image OUT ERR [engine run options...] -- [arguments]: sets $rc
  local out=$1 err=$2
  shift 2
  local opts=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do
    opts+=("$1")
    shift
  done
  [ $# -gt 0 ] && shift
  rc=0
  "$engine" run --rm --network host "${opts[@]}" "$image" "$@" >"$out" 2>"$err" || rc=$?
}
expect_rc() {  # expect_rc WANT WHAT ERRFILE
  [ "$rc" = "$1" ] || { cat "$3" >&2; fail "$2: exit code $rc, expected $1"; }
}
report_field() { grep -o "\"$2\": *[0-9]*" "$1" | head -n 1 | grep -o '[0-9]*$'; }

# ================================================================ 1. engine and image
if [ "$engine" = podman ]; then
  [ "$(id -u)" -eq 0 ] || fail "without a Docker engine this needs root (podman with storage under $ctr)"
  ensure_pkgs podman buildah debootstrap runc podman-compose python3 redis-server redis-tools
  podman_config
  engine_ready=1
  podman image exists docker.io/library/debian:bookworm-slim || make_base_image
  patch_podman_compose
  compose_cmd=(python3 "$ctr/podman_compose.py" -p "$project")
  build_opts=(--pull=never --network host --isolation chroot)
else
  ensure_pkgs redis-server redis-tools
  engine_ready=1
  if docker compose version >/dev/null 2>&1; then compose_cmd=(docker compose -p "$project")
  else compose_cmd=(docker-compose -p "$project"); fi
  build_opts=(--network host)
fi
say "engine: $engine ($("$engine" --version | head -n 1))"

if [ "$prepare_only" = 1 ]; then
  # The package layers of the image and the compose demo's redis image: network-bound work that scripts/test.sh
  # runs in the background while it compiles, so that the test proper finds them in the layer cache.
  for target in toolchain runtime; do
    say "preparing the $target layer"
    "$engine" build "${build_opts[@]}" --target "$target" -t "localhost/redis-migrate-$target:cache" . \
      >"$work/prepare-$target.log" 2>&1 || fail "building the $target stage failed"
  done
  say "preparing the compose demo's redis image"
  "$engine" build "${build_opts[@]}" -t redis-migrate-demo-redis:latest docker/redis >"$work/prepare-redis.log" 2>&1 ||
    fail "building docker/redis failed"
  say "prepared in $((SECONDS - t0)) s"
  exit 0
fi
if [ "$prepare_only" = 2 ]; then
  # Exactly the build `compose up --build` runs for the migrate service (no build arguments).
  say "building the image from source, as the compose demo does (nice 19)"
  # In the background, so that a SIGTERM (scripts/test.sh ending early) stops the build at once.
  nice -n 19 "$engine" build "${build_opts[@]}" -t localhost/redis-migrate-source:cache . \
    >"$work/prepare-source.log" 2>&1 &
  build_pid=$!
  trap 'kill "$build_pid" 2>/dev/null; exit 143' TERM
  wait "$build_pid" || fail "building the image from source failed"
  say "built from source in $((SECONDS - t0)) s"
  exit 0
fi

binary_opts=()
binary_from="compiled from source"
if [ -n "${RM_IMAGE_BINARY:-}" ]; then
  [ -x "$RM_IMAGE_BINARY" ] || fail "RM_IMAGE_BINARY=$RM_IMAGE_BINARY is not an executable file"
  mkdir "$work/binary"
  cp "$RM_IMAGE_BINARY" "$work/binary/redis-migrate"
  strip "$work/binary/redis-migrate"
  binary_opts=(--build-context "binary=$work/binary")
  binary_from="from $RM_IMAGE_BINARY"
fi
say "building $image (version $version, revision $revision), the binary $binary_from"
build_start=$SECONDS
"$engine" build "${build_opts[@]}" "${binary_opts[@]}" --build-arg VERSION="$version" --build-arg REVISION="$revision" \
  --build-arg JOBS="${JOBS:-2}" -t "$image" . >"$work/build.log" 2>&1 || fail "image build failed"
say "image built in $((SECONDS - build_start)) s"

say "checking the image"
inspect() { "$engine" image inspect --format "$1" "$image"; }
size=$(inspect '{{.Size}}')
size_mb=$(awk -v b="$size" 'BEGIN { printf "%.1f", b / 1000000 }')
say "image size: $size_mb MB ($size bytes; limit $max_image_mb MB)"
awk -v b="$size" -v m="$max_image_mb" 'BEGIN { exit !(b <= m * 1000000) }' ||
  fail "the image is $size_mb MB, more than $max_image_mb MB"
[ "$(inspect '{{json .Config.Entrypoint}}')" = '["redis-migrate"]' ] ||
  fail "entrypoint is $(inspect '{{json .Config.Entrypoint}}'), expected [\"redis-migrate\"]"
case $(inspect '{{json .Config.Cmd}}') in null | '[]') ;; *) fail "the image has a CMD: $(inspect '{{json .Config.Cmd}}')" ;; esac
user=$(inspect '{{.Config.User}}')
case $user in '' | 0 | 0:* | root | root:*) fail "the image runs as root (user '$user')" ;; esac
for label in title description version revision source licenses; do
  value=$(inspect "{{index .Config.Labels \"org.opencontainers.image.$label\"}}")
  case $value in '' | '<no value>') fail "label org.opencontainers.image.$label is missing" ;; esac
done
[ "$(inspect '{{index .Config.Labels "org.opencontainers.image.version"}}')" = "$version" ] ||
  fail "version label is not $version"
grep -q "^ARG VERSION=$version\$" Dockerfile || fail "the Dockerfile's default VERSION differs from CMakeLists.txt's $version"
# shellcheck disable=SC2016 # expanded by the container's shell
run_image "$work/inside.out" "$work/inside.err" --entrypoint /bin/sh -- -c '
  id -u
  for tool in cc gcc g++ c++ cmake make ld; do command -v "$tool" && echo "found a build tool: $tool"; done
  find /var/lib/apt/lists -type f | sed "s/^/apt list left: /"
  ldd /usr/local/bin/redis-migrate | grep "not found"
  [ "$(grep -c "BEGIN CERTIFICATE" /usr/lib/ssl/cert.pem)" -ge 50 ] || echo "no CA store at /usr/lib/ssl/cert.pem"
  true'
expect_rc 0 "looking inside the image" "$work/inside.err"
[ "$(head -n 1 "$work/inside.out")" != 0 ] || fail "the container runs as uid 0"
if [ "$(wc -l <"$work/inside.out")" -gt 1 ]; then cat "$work/inside.out" >&2; fail "the runtime image holds more than it should"; fi

# ================================================================ 2. the container against local servers
say "starting local redis-servers"
start_server source
src=$port
start_server destination
dst=$port
password=ctr-test-$RANDOM$RANDOM
start_server destination-auth --requirepass "$password"
dst_auth=$port
seed "$src" 20000
src_keys=$(redis-cli -p "$src" dbsize)

say "--help, --version, no arguments, a bad URL"
run_image "$work/help.out" "$work/help.err" -- --help
expect_rc 0 "--help" "$work/help.err"
grep -q 'SOURCE_REDIS_URL' "$work/help.out" || fail "--help does not mention SOURCE_REDIS_URL"
run_image "$work/version.out" "$work/version.err" -- --version
expect_rc 0 "--version" "$work/version.err"
grep -qx "redis-migrate $version" "$work/version.out" || fail "--version printed '$(cat "$work/version.out")'"
run_image "$work/noargs.out" "$work/noargs.err" --
expect_rc 2 "no arguments and no environment" "$work/noargs.err"
if ! grep -q 'SOURCE_URL' "$work/noargs.err" || ! grep -q 'missing the source and destination URLs' "$work/noargs.err"; then
  cat "$work/noargs.err" >&2
  fail "no arguments: the usage and the reason were not printed"
fi
run_image "$work/badurl.out" "$work/badurl.err" -- "http://127.0.0.1:$src/0" "redis://127.0.0.1:$dst/0"
expect_rc 2 "a bad URL" "$work/badurl.err"
grep -q 'source URL' "$work/badurl.err" || { cat "$work/badurl.err" >&2; fail "a bad URL: the error does not name the source URL"; }

say "copy with URLs as arguments ($src_keys keys)"
run_image "$work/copy.json" "$work/copy.err" -- "redis://127.0.0.1:$src/0" "redis://127.0.0.1:$dst/0" --report-json -
expect_rc 0 "copy" "$work/copy.err"
[ "$(report_field "$work/copy.json" copied)" = "$src_keys" ] ||
  { cat "$work/copy.json" >&2; fail "the report does not say copied: $src_keys"; }
n=$(compare_keys "$src" "$dst" all) || fail "the destination differs from the source after the copy"
say "  $n keys equal on both sides; $(grep -m 1 '^ *copied ' "$work/copy.err" | sed 's/^ *//; s/  */ /g')"

say "copy configured through environment variables only (password file, JSON logs)"
printf '%s\n' "$password" >"$work/destination-password"
chmod 644 "$work/destination-password"
run_image "$work/env.out" "$work/env.err" \
  -e "SOURCE_REDIS_URL=redis://127.0.0.1:$src/0" -e "DESTINATION_REDIS_URL=redis://127.0.0.1:$dst_auth/0" \
  -e DESTINATION_PASSWORD_FILE=/run/secrets/destination-password -e LOG_FORMAT=json \
  -v "$work/destination-password:/run/secrets/destination-password:ro" --
expect_rc 0 "copy configured by environment" "$work/env.err"
grep -qv '^{' "$work/env.err" && { cat "$work/env.err" >&2; fail "LOG_FORMAT=json: a log line is not JSON"; }
grep -q '"copied"' "$work/env.err" || { cat "$work/env.err" >&2; fail "LOG_FORMAT=json: no summary"; }
if grep -q "$password" "$work/env.out" "$work/env.err"; then fail "the password appears in the output"; fi
n=$(compare_keys "$src" "$dst_auth" all "$password") || fail "environment copy: the destination differs"
say "  $n keys equal on both sides"

sigterm_keys=${SIGTERM_KEYS:-200000}
say "SIGTERM mid-copy ($sigterm_keys keys)"
redis-cli -p "$src" flushall >/dev/null
redis-cli -p "$dst" flushall >/dev/null
seed "$src" "$sigterm_keys"
src_keys=$(redis-cli -p "$src" dbsize)
"$engine" run -d --name "$name-sigterm" --network host "$image" \
  "redis://127.0.0.1:$src/0" "redis://127.0.0.1:$dst/0" --progress-interval 1 >/dev/null
copied=0
for _ in $(seq 300); do
  copied=$(redis-cli -p "$dst" dbsize)
  [ "$copied" -ge 10000 ] && break
  sleep 0.05
done
[ "$copied" -ge 10000 ] || fail "the copy did not start within 15 s"
stop_start=$(date +%s%N)
"$engine" stop -t 20 "$name-sigterm" >/dev/null
stop_ms=$((($(date +%s%N) - stop_start) / 1000000))
rc=$("$engine" inspect --format '{{.State.ExitCode}}' "$name-sigterm")
"$engine" logs "$name-sigterm" >"$work/sigterm.log" 2>&1
[ "$rc" = 143 ] || fail "after SIGTERM: exit code $rc, expected 143 (stop took $stop_ms ms)"
if ! grep -q 'copy interrupted' "$work/sigterm.log" || ! grep -q 'copied' "$work/sigterm.log"; then
  fail "after SIGTERM: no summary in the logs"
fi
n=$(compare_keys "$src" "$dst" subset) || fail "after SIGTERM: a key on the destination differs from the source"
[ "$n" -lt "$src_keys" ] || fail "the copy finished before SIGTERM arrived: raise SIGTERM_KEYS"
say "  stopped $stop_ms ms after SIGTERM with exit code 143; $n of $src_keys keys copied, each equal to the source's"
"$engine" rm "$name-sigterm" >/dev/null
# The checkpoint was written on the way out and the lock released: a retried Job resumes where this one stopped.
[ "$(redis-cli -p "$dst" exists redis-migrate:lock)" = 0 ] || fail "after SIGTERM: the lock is still held"
record=$(redis-cli -p "$dst" --scan --pattern 'redis-migrate:run:*' | grep -v ':index$' | head -n 1)
[ -n "$record" ] || fail "after SIGTERM: no run record (checkpoint) on the destination"
redis-cli -p "$dst" get "$record" | grep -q '"status":"interrupted"' ||
  fail "after SIGTERM: the run record does not say interrupted: $(redis-cli -p "$dst" get "$record" | cut -c1-200)"
run_image "$work/resume.out" "$work/resume.err" -- "redis://127.0.0.1:$src/0" "redis://127.0.0.1:$dst/0"
expect_rc 0 "the resumed copy" "$work/resume.err"
grep -q 'resuming run' "$work/resume.err" || fail "the second run did not resume from the checkpoint"
n=$(compare_keys "$src" "$dst" all) || fail "after the resumed copy: the destination differs from the source"
say "  the checkpoint said interrupted, the lock was released, and a second run resumed and finished: $n keys equal"

# --metrics-port from the image (its prometheus-cpp and civetweb libraries): a paced copy into DB 1 scraped
# over plain HTTP while it runs, then stopped.
mport=$(free_port)
say "metrics on port $mport during a paced copy"
"$engine" run -d --name "$name-metrics" --network host "$image" "redis://127.0.0.1:$src/0" \
  "redis://127.0.0.1:$dst/1" --metrics-port "$mport" --rate-limit 2000 --progress-interval 0 >/dev/null
scrape() { (exec 3<>"/dev/tcp/127.0.0.1/$mport" && printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3 && cat <&3) 2>/dev/null; }
mcopied=0
metrics=
for _ in $(seq 100); do
  metrics=$(scrape || true)
  mcopied=$(awk '/^redis_migrate_keys_total\{outcome="copied"\}/ { print int($2) }' <<<"$metrics")
  [ "${mcopied:-0}" -gt 0 ] && break
  sleep 0.1
done
"$engine" stop -t 20 "$name-metrics" >/dev/null
"$engine" logs "$name-metrics" >"$work/metrics.log" 2>&1
"$engine" rm "$name-metrics" >/dev/null
[ "${mcopied:-0}" -gt 0 ] || fail "metrics: no scrape showed copied keys within 10 s: $(head -c 300 <<<"$metrics")"
grep -q '^redis_migrate_info{command="copy"' <<<"$metrics" || fail "metrics: no redis_migrate_info from the image"
say "  scraped redis_migrate_keys_total{outcome=\"copied\"} $mcopied while the copy ran"

# ================================================================ 3. the compose demo
demo_src=$(free_port)
demo_dst=$(free_port)
while [ "$demo_dst" = "$demo_src" ]; do demo_dst=$(free_port); done
export DEMO_SOURCE_PORT=$demo_src DEMO_DESTINATION_PORT=$demo_dst
if [ -n "${RM_SOURCE_BUILD_PID:-}" ] && kill -0 "$RM_SOURCE_BUILD_PID" 2>/dev/null; then
  say "waiting for the image's build from source (running in the background)"
  while kill -0 "$RM_SOURCE_BUILD_PID" 2>/dev/null; do sleep 1; done
fi
say "compose demo: up --build --abort-on-container-exit --exit-code-from migrate (ports $demo_src, $demo_dst)"
compose_up=1
rc=0
timeout 300 "${compose_cmd[@]}" up --build --abort-on-container-exit --exit-code-from migrate \
  </dev/null >"$work/compose-up.log" 2>&1 || rc=$?
[ "$rc" = 0 ] || fail "compose up exited with $rc"
# podman-compose 1.0.3 can exit 0 when a container failed: check the migrate container's own exit code.
migrate=$("$engine" ps -a -q --filter "label=com.docker.compose.project=$project" \
  --filter label=com.docker.compose.service=migrate)
[ -n "$migrate" ] || fail "compose demo: no migrate container"
rc=$("$engine" inspect --format '{{.State.ExitCode}}' "$migrate")
[ "$rc" = 0 ] || fail "compose demo: migrate exited with $rc"
grep -q 'copy finished' "$work/compose-up.log" || fail "compose demo: no summary from migrate"
grep -q 'every key checked is equal' "$work/compose-up.log" || fail "compose demo: no verify after the copy"
# docker compose stops every service once migrate exits; the servers saved a snapshot, so start them again.
if ! redis-cli -p "$demo_dst" ping >/dev/null 2>&1 || ! redis-cli -p "$demo_src" ping >/dev/null 2>&1; then
  compose start source destination >"$work/compose-start.log" 2>&1
  for _ in $(seq 100); do
    redis-cli -p "$demo_dst" ping 2>/dev/null | grep -q PONG && redis-cli -p "$demo_src" ping 2>/dev/null | grep -q PONG && break
    sleep 0.1
  done
fi
n=$(compare_keys "$demo_src" "$demo_dst" all) || fail "compose demo: the destination differs from the source"
say "  migrate exited 0; $n keys equal on both sides"
compose down >"$work/compose-down.log" 2>&1 || fail "compose down failed"
compose_up=0

say "all container tests passed in $((SECONDS - t0)) s; image $image: $size_mb MB"
if [ $((SECONDS - t0)) -gt 300 ]; then
  echo "test-container: WARNING: took $((SECONDS - t0)) s, more than its 5-minute budget" >&2
fi
