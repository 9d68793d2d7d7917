#!/usr/bin/env bash
# The docker CLI against berthd for the image commands: version
# negotiation, import of a busybox rootfs, images, inspect, tag, history,
# save | load, rmi; then the same through berth. Runs its own berthd on a
# private socket and data root and removes everything on exit.
set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"

BIN=$BERTH_BIN_DIR
require_built berthd berth
command -v docker >/dev/null || { echo "30-docker-cli: docker CLI missing" >&2; exit 1; }

WORK=$(mktemp -d "/tmp/berth-30-docker-cli-$$-XXXX")
PID=
cleanup() {
  if [ -n "$PID" ]; then kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

SOCK=$WORK/berth.sock
start=$(date +%s%N)
run_berthd "$SOCK" "$WORK/data" "$WORK/exec" "$WORK/berthd.log"
PID=$BERTHD_PID
echo "berthd answered /_ping after $(( ($(date +%s%N) - start) / 1000000 )) ms"

export DOCKER_HOST=unix://$SOCK DOCKER_CONFIG=$WORK/docker-config
fail() { echo "30-docker-cli: FAIL: $*" >&2; cat "$WORK/berthd.log" >&2; exit 1; }
expect() { [ "$1" = "$2" ] || fail "$3: got '$1', want '$2'"; }

expect "$(docker version --format '{{.Server.APIVersion}}')" "1.47" "negotiated API version"
# (Outputs are captured before grep: with pipefail, grep -q closing the
# pipe early would fail the writer.)
v=$(docker version)
grep -q 'API version:.*1.47 (downgraded from' <<< "$v" || fail "docker version did not negotiate down"

mkdir -p "$WORK/rootfs/bin"
cp /usr/bin/busybox "$WORK/rootfs/bin/busybox"
ln -s busybox "$WORK/rootfs/bin/sh"
tar -C "$WORK/rootfs" -cf "$WORK/rootfs.tar" .

id=$(docker import -c 'CMD ["sh"]' -m "imported by 30-docker-cli" "$WORK/rootfs.tar" busybox:latest)
case $id in sha256:*) ;; *) fail "import printed '$id'";; esac
expect "$(docker images --format '{{.Repository}}:{{.Tag}}')" "busybox:latest" "images after import"
expect "$(docker image inspect -f '{{json .Config.Cmd}} {{.Comment}}' busybox)" \
  '["sh"] imported by 30-docker-cli' "inspect"
docker tag busybox me/box:1
expect "$(docker images --format '{{.Repository}}:{{.Tag}}' | sort | tr '\n' ' ')" \
  "busybox:latest me/box:1 " "images after tag"
expect "$(docker history --format '{{.Comment}}' busybox)" "imported by 30-docker-cli" "history"
expect "$("$BIN/berth" images --format '{{.Repository}}:{{.Tag}}' | sort | tr '\n' ' ')" \
  "busybox:latest me/box:1 " "berth images"

docker save busybox me/box:1 | docker load > "$WORK/load.out"
grep -q 'Loaded image: busybox:latest' "$WORK/load.out" || fail "load output: $(cat "$WORK/load.out")"
"$BIN/berth" save -o "$WORK/b.tar" busybox
out=$("$BIN/berth" save busybox | "$BIN/berth" load)
grep -q 'Loaded image: busybox:latest' <<< "$out" || fail "berth save | berth load: $out"
out=$(docker rmi me/box:1)
grep -q 'Untagged: me/box:1' <<< "$out" || fail "rmi me/box:1: $out"
"$BIN/berth" rmi busybox > "$WORK/rmi.out"
grep -q "Deleted: $id" "$WORK/rmi.out" || fail "rmi of the last tag deletes: $(cat "$WORK/rmi.out")"
expect "$(docker images -q)" "" "images after rmi"
out=$(docker load -i "$WORK/b.tar")
grep -q 'Loaded image: busybox:latest' <<< "$out" || fail "load of berth's save: $out"
expect "$(docker images -q --no-trunc)" "$id" "same id after save | load"
if docker image inspect nope > /dev/null 2> "$WORK/err"; then fail "inspect of a missing image succeeded"; fi
grep -q 'No such image: nope' "$WORK/err" || fail "missing image message: $(cat "$WORK/err")"
pruned=$(docker system prune -a -f)
case $pruned in *"Deleted Images:"*) ;; *) fail "docker system prune -a: $pruned";; esac
expect "$(docker images -q)" "" "images after system prune -a"
echo "30-docker-cli: ok"
