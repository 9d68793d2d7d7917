#!/usr/bin/env bash
# Real engines use berth-runtime in place of runc (issue 2, acceptance 2):
# containerd (ctr --runc-binary), podman (--runtime) and dockerd (--add-runtime)
# each run a busybox container with and without a terminal, exec into one, pause
# and resume it, and stop it. Every engine runs with private roots and sockets.
#
#   RUNTIME_UNDER_TEST=/usr/sbin/runc tests/scripts/15-runtime-engines.sh   # check the script itself
#   ENGINES="podman" tests/scripts/15-runtime-engines.sh                     # a subset
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

RT=${RUNTIME_UNDER_TEST:-$BERTH_RUNTIME}
[ -x "$RT" ] || fail "runtime $RT not built"
ENGINES=${ENGINES:-"containerd podman docker"}
require_tools ctr containerd podman dockerd script jq runc

T=$(mktemp -d /tmp/berth-engines.XXXXXX)
PIDS=()
cleanup() {
  set +e
  local p
  [ -n "${DOCKERD_PID:-}" ] && docker_cli ps -aq 2>/dev/null | xargs -r docker_cli rm -f >/dev/null 2>&1
  [ -n "${PODMAN_USED:-}" ] && podman_cli rm -af -t 0 >/dev/null 2>&1
  [ -n "${CTRD_PID:-}" ] && for c in $(ctr_cli c ls -q 2>/dev/null); do
    ctr_cli task kill -s SIGKILL "$c" >/dev/null 2>&1; sleep 0.2
    ctr_cli task rm -f "$c" >/dev/null 2>&1; ctr_cli c rm "$c" >/dev/null 2>&1; done
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done; kill -KILL "$p" 2>/dev/null; done
  grep -F " $T/" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf --one-file-system "$T"
}
trap cleanup EXIT

ROOTFS=$T/rootfs
make_rootfs "$ROOTFS"
tar --numeric-owner -C "$ROOTFS" -cf "$T/rootfs.tar" .

# expect NAME WANT OUTPUT : OUTPUT must contain WANT
expect() {
  if [[ $3 == *"$2"* ]]; then log "ok   $1"; else fail "$1: want '$2' in: $3"; fi
}
# The command run in the container, followed by a prefix (TTY_CMD... PREFIX),
# exits 0 only if its terminal's name starts with PREFIX. The exit code is
# the verdict, not the output: an engine's console reader (conmon,
# containerd-shim) can lose what a process wrote just before it hung up the
# terminal (podman did about one run in 25, with runc as with berth-runtime).
TTY_CMD=(sh -c 'case $(tty) in "$0"*) exit 0;; esac; tty; exit 1')
TTY_CMD_ABS=(/bin/sh "${TTY_CMD[@]:1}")
# on_tty NAME CMD... : CMD, run with a real terminal (util-linux script), exits 0.
on_tty() {
  local name=$1 out r=0; shift
  out=$(script -qec "$(printf '%q ' "$@")" /dev/null </dev/null | tr -d '\r') || r=$?
  [ "$r" = 0 ] || fail "$name: exit code $r (1: not the terminal wanted); output: $out"
  log "ok   $name"
}

# ------------------------------------------------------------------ containerd
ctr_cli() { ctr -a "$T/containerd.sock" -n berth-test "$@"; }
test_containerd() {
  cat > "$T/containerd.toml" <<TOML
version = 2
root = "$T/containerd/root"
state = "$T/containerd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$T/containerd.sock"
TOML
  containerd --config "$T/containerd.toml" > "$T/containerd.log" 2>&1 &
  CTRD_PID=$!; PIDS+=("$CTRD_PID")
  for _ in $(seq 100); do [ -S "$T/containerd.sock" ] && ctr_cli version >/dev/null 2>&1 && break; sleep 0.1; done
  local R=(--rootfs --runc-binary "$RT")
  expect "containerd: run" "hello-ctr" "$(ctr_cli run --rm "${R[@]}" "$ROOTFS" c-run /bin/echo hello-ctr 2>&1)"
  on_tty "containerd: run -t" ctr -a "$T/containerd.sock" -n berth-test run --rm -t "${R[@]}" "$ROOTFS" c-tty "${TTY_CMD_ABS[@]}" /dev/pts/
  ctr_cli run -d "${R[@]}" "$ROOTFS" c-bg /bin/sleep 1000 >/dev/null
  expect "containerd: exec" "in-exec" "$(ctr_cli task exec --exec-id e1 c-bg /bin/echo in-exec 2>&1)"
  on_tty "containerd: exec -t" ctr -a "$T/containerd.sock" -n berth-test task exec -t --exec-id e2 c-bg "${TTY_CMD_ABS[@]}" /dev/pts/
  ctr_cli task pause c-bg
  expect "containerd: pause" "PAUSED" "$(ctr_cli task ls)"
  ctr_cli task resume c-bg
  expect "containerd: resume" "RUNNING" "$(ctr_cli task ls)"
  ctr_cli task kill -s SIGKILL c-bg
  for _ in $(seq 50); do ctr_cli task ls | grep -q 'c-bg.*STOPPED' && break; sleep 0.1; done
  expect "containerd: stop" "STOPPED" "$(ctr_cli task ls)"
  ctr_cli task rm c-bg >/dev/null && ctr_cli c rm c-bg
}

# ---------------------------------------------------------------------- podman
podman_cli() {
  podman --root "$T/podman/root" --runroot "$T/podman/run" --tmpdir "$T/podman/tmp" \
    --network-config-dir "$T/podman/net" --cgroup-manager cgroupfs --events-backend file \
    --runtime "$RT" "$@"
}
test_podman() {
  PODMAN_USED=1
  # No CAP_SYS_RESOURCE here: podman's default rlimits cannot be set; pin them.
  local nproc; nproc=$(ulimit -Hu); [[ $nproc == unlimited || $nproc -gt 32768 ]] && nproc=32768
  local UL=(--ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit "nproc=$nproc:$nproc" --network none)
  podman_cli import -q "$T/rootfs.tar" busybox:latest >/dev/null
  expect "podman: run --rm" "hello-podman" "$(podman_cli run --rm "${UL[@]}" busybox echo hello-podman 2>&1)"
  set +e; podman_cli run --rm "${UL[@]}" busybox sh -c 'exit 7'; local rc=$?; set -e
  [ "$rc" = 7 ] || fail "podman: exit code $rc, want 7"; log "ok   podman: exit code"
  on_tty "podman: run -it" podman --root "$T/podman/root" --runroot "$T/podman/run" --tmpdir "$T/podman/tmp" --network-config-dir "$T/podman/net" --cgroup-manager cgroupfs --events-backend file --runtime "$RT" run --rm -it "${UL[@]}" busybox "${TTY_CMD[@]}" /dev/pts/0
  podman_cli run -d --name p-bg "${UL[@]}" busybox sleep 1000 >/dev/null
  expect "podman: exec" "in-exec" "$(podman_cli exec p-bg echo in-exec 2>&1)"
  on_tty "podman: exec -it" podman --root "$T/podman/root" --runroot "$T/podman/run" --tmpdir "$T/podman/tmp" --network-config-dir "$T/podman/net" --cgroup-manager cgroupfs --events-backend file --runtime "$RT" exec -it p-bg "${TTY_CMD[@]}" /dev/pts/
  podman_cli pause p-bg >/dev/null
  expect "podman: pause" "paused" "$(podman_cli inspect -f '{{.State.Status}}' p-bg)"
  podman_cli unpause p-bg >/dev/null
  expect "podman: unpause" "running" "$(podman_cli inspect -f '{{.State.Status}}' p-bg)"
  podman_cli stop -t 2 p-bg >/dev/null
  expect "podman: stop" "exited" "$(podman_cli inspect -f '{{.State.Status}}' p-bg)"
  podman_cli rm p-bg >/dev/null
}

# ---------------------------------------------------------------------- dockerd
docker_cli() { DOCKER_HOST="unix://$T/docker.sock" DOCKER_CONFIG="$T/docker-config" docker "$@"; }
test_docker() {
  mkdir -p "$T/docker-config"; echo '{}' > "$T/docker-config/config.json"; echo '{}' > "$T/daemon.json"
  setsid dockerd --config-file "$T/daemon.json" --data-root "$T/docker" --exec-root "$T/docker-exec" \
    --pidfile "$T/dockerd.pid" -H "unix://$T/docker.sock" --bridge=none --iptables=false \
    --ip-forward=false --add-runtime "berth=$RT" > "$T/dockerd.log" 2>&1 < /dev/null &
  DOCKERD_PID=$!; PIDS+=("$DOCKERD_PID")
  for _ in $(seq 300); do docker_cli version >/dev/null 2>&1 && break; sleep 0.1; done
  docker_cli version >/dev/null || { tail -20 "$T/dockerd.log" >&2; fail "dockerd did not start"; }
  docker_cli import "$T/rootfs.tar" busybox:latest >/dev/null
  local N=(--runtime berth --network none)
  expect "docker: run --rm" "hello-docker" "$(docker_cli run --rm "${N[@]}" busybox echo hello-docker 2>&1)"
  set +e; docker_cli run --rm "${N[@]}" busybox sh -c 'exit 7'; local rc=$?; set -e
  [ "$rc" = 7 ] || fail "docker: exit code $rc, want 7"; log "ok   docker: exit code"
  on_tty "docker: run -it" env DOCKER_HOST="unix://$T/docker.sock" DOCKER_CONFIG="$T/docker-config" docker run --rm -it "${N[@]}" busybox "${TTY_CMD[@]}" /dev/pts/0
  docker_cli run -d --name d-bg "${N[@]}" busybox sleep 1000 >/dev/null
  expect "docker: runtime" "berth" "$(docker_cli inspect -f '{{.HostConfig.Runtime}}' d-bg)"
  expect "docker: exec" "in-exec" "$(docker_cli exec d-bg echo in-exec 2>&1)"
  on_tty "docker: exec -it" env DOCKER_HOST="unix://$T/docker.sock" DOCKER_CONFIG="$T/docker-config" docker exec -it d-bg "${TTY_CMD[@]}" /dev/pts/
  docker_cli pause d-bg >/dev/null
  expect "docker: pause" "paused" "$(docker_cli inspect -f '{{.State.Status}}' d-bg)"
  docker_cli unpause d-bg >/dev/null
  expect "docker: unpause" "running" "$(docker_cli inspect -f '{{.State.Status}}' d-bg)"
  docker_cli stop -t 2 d-bg >/dev/null
  expect "docker: stop" "exited" "$(docker_cli inspect -f '{{.State.Status}}' d-bg)"
  docker_cli rm d-bg >/dev/null
}

for e in $ENGINES; do
  log "engine $e with runtime $RT"
  "test_$e"
done
log "all engines ran $RT"
