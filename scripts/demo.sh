#!/usr/bin/env bash
# The main job: set up, build, start berthd, make the busybox base image, and run
# containers with berth and with the real docker CLI against berthd.
#
#   sudo scripts/demo.sh          # stops the daemon at the end
#   sudo scripts/demo.sh --keep   # leaves berthd running on $SOCK for you to play with
set -euo pipefail
cd "$(dirname "$0")/.."
KEEP=${1:-}
[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root" >&2; exit 1; }
scripts/setup.sh
source tests/scripts/lib/common.sh

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

step "build (release)"
cargo build --release --locked
BIN=$PWD/target/release

DATA=${BERTH_DEMO_DATA:-/var/lib/berth-demo}
EXEC=${BERTH_DEMO_EXEC:-/run/berth-demo}
SOCK=$EXEC/berth.sock
export BERTH_HOST=unix://$SOCK
berth() { "$BIN/berth" "$@"; }
WORK=$(mktemp -d /tmp/berth-demo.XXXXXX)
DPID=
cleanup() {
  set +e
  if [ -z "$KEEP" ] && [ -n "$DPID" ]; then
    berth rm -f demo-web demo-a >/dev/null 2>&1
    berth network rm demo-net >/dev/null 2>&1
    berth volume rm demo-data >/dev/null 2>&1
    kill -TERM "$DPID"; wait "$DPID" 2>/dev/null
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

step "start berthd (data root $DATA, socket $SOCK)"
mkdir -p "$DATA" "$EXEC"
t0=$(date +%s%N)
"$BIN/berthd" --data-root "$DATA" --exec-root "$EXEC" -H "unix://$SOCK" > "$EXEC/berthd.log" 2>&1 &
DPID=$!
for _ in $(seq 500); do curl -fs --unix-socket "$SOCK" http://berth/_ping >/dev/null 2>&1 && break; sleep 0.01; done
echo "berthd answers /_ping after $(( ($(date +%s%N) - t0) / 1000000 )) ms (pid $DPID)"
show berth version

step "make the busybox base image from busybox-static"
make_rootfs_tar "$WORK/busybox.tar"
show berth import "$WORK/busybox.tar" busybox:latest
show berth images

step "run containers"
show berth run --rm busybox echo "hello from a berth container"
show berth run --rm busybox sh -c 'echo "pid $$, hostname $(hostname), $(ls /proc | grep -c "^[0-9]") processes visible"'
show berth run -d --name demo-web -p 127.0.0.1:18080:8080 busybox sh -c 'mkdir -p /www && echo served-by-berth > /www/index.html && echo web up && httpd -f -p 8080 -h /www'
show berth ps
show berth exec demo-web ps
show curl -s http://127.0.0.1:18080/
show berth logs demo-web

step "a user-defined network: containers find each other by name"
show berth network create demo-net
show berth run -d --name demo-a --network demo-net busybox sleep 60
show berth run --rm --network demo-net busybox ping -c 1 demo-a
show berth rm -f demo-a
show berth network rm demo-net

step "a named volume outlives its containers"
show berth run --rm -v demo-data:/data busybox sh -c 'echo kept > /data/file'
show berth run --rm -v demo-data:/data busybox cat /data/file
show berth volume rm demo-data
show berth stop -t 1 demo-web
show berth ps -a

step "the real docker CLI against berthd"
show env DOCKER_HOST="$BERTH_HOST" docker run --rm busybox uname -a
show env DOCKER_HOST="$BERTH_HOST" docker ps -a

step "berth-runtime on its own (runc's command line)"
make_bundle "$WORK/bundle" /bin/echo "hello from berth-runtime"
show "$BIN/berth-runtime" --root "$WORK/state" run --bundle "$WORK/bundle" demo-rt

if [ -n "$KEEP" ]; then
  step "berthd keeps running: export BERTH_HOST=$BERTH_HOST (or DOCKER_HOST) and use berth or docker"
  DPID=
fi
