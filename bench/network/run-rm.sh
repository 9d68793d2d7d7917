#!/usr/bin/env bash
# `run --rm busybox true` on the default bridge network, berth (berthd)
# against docker (dockerd with its docker0), both driven by the same docker
# CLI, each with private state, in one run (issue 5, acceptance 3: berth's
# median at most 20% of docker's). Also `--network none`, to show what the
# network part costs each. Needs root; removes what it made (docker0 and
# dockerd's iptables chains included).
#
#   bench/network/run-rm.sh [RUNS]       (default 20)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../../tests/scripts/lib/common.sh"
RUNS=${1:-20}
BERTHD=$BERTH_BIN_DIR/berthd
[ -x "$BERTHD" ] && [ -x "$BERTH_BIN_DIR/berth-shim" ] ||
  fail "berthd and berth-shim are not built in $BERTH_BIN_DIR (cargo build --release)"
require_tools dockerd hyperfine jq
[ "$(id -u)" = 0 ] || fail "needs root"
ip link show docker0 > /dev/null 2>&1 && fail "docker0 exists: another dockerd owns it"
DOCKER=${DOCKER:-/usr/bin/docker}

T=$(mktemp -d /tmp/bnr.XXXX) # short: shim sockets live under the exec root
FWD=$(cat /proc/sys/net/ipv4/ip_forward)
POLICY=$(iptables -S FORWARD | awk '$1 == "-P" {print $3}')
PIDS=()
cleanup() {
  set +e
  local p
  for c in $(DOCKER_HOST=unix://$T/d.sock $DOCKER ps -aq 2>/dev/null); do
    DOCKER_HOST=unix://$T/d.sock $DOCKER rm -f "$c" > /dev/null 2>&1
  done
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do for _ in $(seq 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done; done
  ip link del docker0 2>/dev/null
  for t in filter nat; do
    iptables -t "$t" -S | grep -E '^-A (FORWARD|PREROUTING|OUTPUT|POSTROUTING) .*(DOCKER|docker0)' |
      sed 's/^-A/-D/' | while read -r r; do eval iptables -t "$t" "$r"; done
    for ch in $(iptables -t "$t" -S | awk '$1 == "-N" && $2 ~ /^DOCKER/ {print $2}'); do
      iptables -t "$t" -F "$ch"; iptables -t "$t" -X "$ch"
    done
  done
  [ -n "$POLICY" ] && iptables -P FORWARD "$POLICY"
  echo "$FWD" > /proc/sys/net/ipv4/ip_forward
  local prefix
  prefix=bt$(printf '%s' "$T/be" | sha256sum | cut -c1-4)
  for l in $(ip -o link | awk -F': ' '{print $2}' | cut -d@ -f1 | grep "^$prefix"); do ip link del "$l"; done
  nft delete table inet "berth_$prefix" 2>/dev/null
  grep -F " $T/" /proc/self/mountinfo | cut -d' ' -f5 | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf --one-file-system "$T"
}
trap cleanup EXIT

wait_for() {
  for _ in $(seq 600); do "$@" > /dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

make_rootfs_tar "$T/rootfs.tar"
mkdir -p "$T/dc" && echo '{}' > "$T/dc/config.json" && echo '{}' > "$T/daemon.json"
"$BERTHD" -H "unix://$T/b.sock" --data-root "$T/bd" --exec-root "$T/be" \
  --config-file "$T/daemon.json" > "$T/berthd.log" 2>&1 < /dev/null &
PIDS+=($!)
dockerd --config-file "$T/daemon.json" --data-root "$T/dd" --exec-root "$T/de" \
  --pidfile "$T/dockerd.pid" -H "unix://$T/d.sock" > "$T/dockerd.log" 2>&1 < /dev/null &
PIDS+=($!)
B="env DOCKER_HOST=unix://$T/b.sock DOCKER_CONFIG=$T/dc $DOCKER"
D="env DOCKER_HOST=unix://$T/d.sock DOCKER_CONFIG=$T/dc $DOCKER"
wait_for $B version || { cat "$T/berthd.log" >&2; fail "berthd did not start"; }
wait_for $D version || { tail -20 "$T/dockerd.log" >&2; fail "dockerd did not start"; }
$B import -c 'CMD ["sh"]' "$T/rootfs.tar" busybox:latest > /dev/null
$D import -c 'CMD ["sh"]' "$T/rootfs.tar" busybox:latest > /dev/null
$B run --rm busybox true && $D run --rm busybox true || fail "a first run failed"

log "run --rm busybox true: $RUNS runs each, alternating"
hyperfine -N --style basic --warmup 3 --runs "$RUNS" --export-json "$T/bridge.json" \
  -n berth "$B run --rm busybox true" -n docker "$D run --rm busybox true" >&2
hyperfine -N --style basic --warmup 3 --runs "$RUNS" --export-json "$T/none.json" \
  -n berth "$B run --rm --network none busybox true" \
  -n docker "$D run --rm --network none busybox true" >&2

report() {
  jq -r --arg what "$1" '
    (.results | map({(.command): (.median * 1000)}) | add) as $m
    | "\($what): berth \($m.berth | . * 10 | round / 10) ms, docker \($m.docker | . * 10 | round / 10) ms, berth/docker \($m.berth / $m.docker * 100 | round)% (target <= 20% on the bridge)"' "$2"
}
report "run --rm busybox true (default bridge)" "$T/bridge.json"
report "run --rm --network none busybox true" "$T/none.json"
