# Helpers shared by the test scripts and benchmarks. Sourced, not run.
# shellcheck shell=bash

BERTH_BIN_DIR=${BERTH_BIN_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)/target/release}
BERTH_RUNTIME=${BERTH_RUNTIME:-$BERTH_BIN_DIR/berth-runtime}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
fail() { echo "FAIL: $*" >&2; exit 1; }

# require_tools TOOL... : in CI a missing tool fails the script; by hand it skips.
require_tools() {
  local t
  for t in "$@"; do
    if ! command -v "$t" >/dev/null 2>&1; then
      [ "${CI:-}" = true ] && fail "$t is not installed"
      echo "SKIP: $t is not installed" >&2; exit 0
    fi
  done
}

# require_built BIN... : each of berth's binaries BIN is built in $BERTH_BIN_DIR.
require_built() {
  local b
  for b in "$@"; do
    [ -x "$BERTH_BIN_DIR/$b" ] || fail "$BERTH_BIN_DIR/$b is not built"
  done
}

# run_berthd SOCK DATA EXEC LOG : berthd in the background (its pid in
# BERTHD_PID) on unix socket SOCK with its own roots, an empty config file
# beside SOCK and its stderr in LOG; returns once it answers /_ping, and
# fails if it dies or stays silent for 30 s.
run_berthd() {
  local sock=$1 data=$2 exec_root=$3 log=$4 cfg _
  cfg=$(dirname "$sock")/daemon.json
  echo '{}' > "$cfg"
  "$BERTH_BIN_DIR/berthd" -H "unix://$sock" --data-root "$data" --exec-root "$exec_root" \
    --config-file "$cfg" 2> "$log" &
  BERTHD_PID=$!
  for _ in $(seq 1 3000); do
    curl -sf -o /dev/null --unix-socket "$sock" http://berth/_ping 2>/dev/null && return 0
    kill -0 "$BERTHD_PID" 2>/dev/null || break
    sleep 0.01
  done
  tail -20 "$log" >&2
  fail "berthd did not answer on $sock"
}

# make_rootfs DIR : a busybox rootfs (static busybox, an applet symlink each, passwd/group).
make_rootfs() {
  local r=$1 a
  mkdir -p "$r"/{bin,dev,proc,sys,etc,tmp,root,var/www}
  cp /usr/bin/busybox "$r/bin/busybox"
  for a in $(/usr/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$r/bin/$a"; done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$r/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$r/etc/group"
  chmod 1777 "$r/tmp"
}

# make_rootfs_tar FILE : the busybox rootfs as a tarball (numeric root ownership).
make_rootfs_tar() {
  local out=$1 tmp
  tmp=$(mktemp -d)
  make_rootfs "$tmp"
  tar --numeric-owner --owner=0 --group=0 -C "$tmp" -cf "$out" .
  rm -rf "$tmp"
}

# make_bundle DIR ARGS... : an OCI bundle (runc's default spec, no terminal) running ARGS.
make_bundle() {
  local b=$1; shift
  mkdir -p "$b"
  make_rootfs "$b/rootfs"
  (cd "$b" && rm -f config.json && runc spec)
  local args; args=$(printf '%s\n' "$@" | jq -R . | jq -s .)
  jq --argjson a "$args" '.process.terminal = false | .process.args = $a' "$b/config.json" > "$b/config.json.new"
  mv "$b/config.json.new" "$b/config.json"
}
