#!/usr/bin/env bash
# Containers: berth (berthd + berth-shim) against docker (dockerd from
# Debian, containerd-shim) and podman, each with private state, in one run
# (issue 4, acceptance 4). The same docker CLI drives berthd and dockerd, so
# the difference is the engine's. Measures:
#   - `run --rm busybox true`, and the bare runtime (`berth-runtime run`
#     of the same bundle) as the floor, also measured against berth's CLI
#     alone in alternating rounds before the peers run;
#   - create + start + rm of a detached `sleep` container;
#   - `exec <running container> true`;
#   - density: N `sleep` containers started; time to start them all,
#     shim PSS per container (from /proc/<pid>/smaps_rollup), system
#     memory delta per container, berthd RSS idle and with N, `ps` time.
#
#   bench/containers/run.sh [RUNS]   (default 10; DENSITY=N, default 100;
#                                     DENSITY_PEERS=N for docker and podman)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../../tests/scripts/lib/common.sh"
RUNS=${1:-10}
DENSITY=${DENSITY:-100}

BERTHD=$BERTH_BIN_DIR/berthd
[ -x "$BERTHD" ] && [ -x "$BERTH_BIN_DIR/berth-shim" ] || fail "berthd and berth-shim are not built in $BERTH_BIN_DIR (cargo build --release)"
require_tools dockerd hyperfine jq runc

T=$(mktemp -d /tmp/berth-bench-ctr.XXXXXX)
PIDS=()
cleanup() {
  set +e
  for s in "$T"/berth-exec/shims/*/state.json; do
    [ -f "$s" ] || continue
    for p in $(jq -r '.pid, .shim_pid' "$s"); do [ "$p" -gt 0 ] && kill -KILL "$p" 2>/dev/null; done
  done
  [ -n "${PODMAN_USED:-}" ] && podman_cli rm -af >/dev/null 2>&1 && podman_cli system reset -f >/dev/null 2>&1
  [ -n "${DOCKER_USED:-}" ] && $D rm -f $($D ps -aq) >/dev/null 2>&1
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do for _ in $(seq 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done; kill -KILL "$p" 2>/dev/null; done
  grep -F " $T/" /proc/self/mountinfo | cut -d' ' -f5 | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf --one-file-system "$T"
}
trap cleanup EXIT

wait_for() {
  local i
  for i in $(seq 600); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}
# podman's default rlimits exceed this host's hard ones (no CAP_SYS_RESOURCE
# here), so its containers get the hard limits the host allows.
PODMAN="env CONTAINERS_CONF=$T/containers.conf podman --root $T/podman/root --runroot $T/podman/run
  --tmpdir $T/podman/tmp --cgroup-manager cgroupfs --events-backend file --runtime runc"
PODMAN=${PODMAN//$'\n'/}
podman_cli() { $PODMAN "$@"; }
mem_available_kib() { awk '/MemAvailable/ {print $2}' /proc/meminfo; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

make_rootfs_tar "$T/rootfs.tar"

"$BERTHD" -H "unix://$T/berth.sock" --data-root "$T/berth" --exec-root "$T/berth-exec" \
  > "$T/berthd.log" 2>&1 < /dev/null &
BERTHD_PID=$!
PIDS+=("$BERTHD_PID")
mkdir -p "$T/docker-client"
B="env DOCKER_HOST=unix://$T/berth.sock DOCKER_CONFIG=$T/docker-client /usr/bin/docker"
wait_for $B version || { cat "$T/berthd.log" >&2; fail "berthd did not start"; }
$B import -c 'CMD ["sh"]' "$T/rootfs.tar" busybox:latest > /dev/null
# berth's own CLI against the same berthd: the docker CLI alone needs 10-16 ms
# to start here, which berth users do not pay.
BC="$BERTH_BIN_DIR/berth -H unix://$T/berth.sock"

echo '{}' > "$T/daemon.json"
dockerd --config-file "$T/daemon.json" --data-root "$T/docker" --exec-root "$T/docker-exec" \
  --pidfile "$T/dockerd.pid" -H "unix://$T/docker.sock" \
  --bridge=none --iptables=false --ip6tables=false --ip-masq=false \
  > "$T/dockerd.log" 2>&1 < /dev/null &
PIDS+=($!)
D="env DOCKER_HOST=unix://$T/docker.sock DOCKER_CONFIG=$T/docker-client /usr/bin/docker"
wait_for $D version || { tail -20 "$T/dockerd.log" >&2; fail "dockerd did not start"; }
DOCKER_USED=1
$D import -c 'CMD ["sh"]' "$T/rootfs.tar" busybox:latest > /dev/null

HAVE_PODMAN=
if command -v podman >/dev/null; then
  mkdir -p "$T/podman"/{root,run,tmp}
  # (the nproc value is the one 20-images-interop.sh found podman's runc can set here)
  printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=32768:32768"]\n' \
    "$(ulimit -Hn)" "$(ulimit -Hn)" > "$T/containers.conf"
  PODMAN_USED=1
  podman_cli import -c 'CMD ["sh"]' "$T/rootfs.tar" busybox:latest > /dev/null && HAVE_PODMAN=1
fi

# The bare runtime: the same container without an engine.
make_bundle "$T/bundle" true
RT=$BERTH_BIN_DIR/berth-runtime
[ -x "$RT" ] || RT=$(command -v runc)
RT_NAME=$(basename "$RT")

hf() {
  local name=$1; shift
  log "hyperfine: $name (load $(cut -d' ' -f1-3 /proc/loadavg))"
  hyperfine --style basic --export-json "$T/$name.json" "$@" >&2
}

NET="--network none"
# The floor: berth's CLI against the bare runtime, in alternating rounds and
# before docker or podman have run a container (their namespaces are torn
# down by the kernel for seconds after, which slows whatever runs then, and
# a lone runtime run most of all). Without a shell (-N): both are one exec.
$BC run --rm $NET busybox true || { tail -20 "$T/berthd.log" >&2; fail "berth run failed"; }
for round in 1 2 3; do
  hf "floor-$round" -N --warmup 3 --runs "$RUNS" \
    -n berth-cli "$BC run --rm $NET busybox true" \
    -n "$RT_NAME-run" "$RT --root $T/rt run --bundle $T/bundle bench-$$"
done
# The median of every round's runs of one command.
floor_median() {
  jq -s --arg c "$1" '[.[].results[] | select(.command == $c) | .times[]] | sort
    | .[length / 2 | floor] * 1000' "$T"/floor-*.json
}

# One run of each first, so a failure shows its message.
$B run --rm $NET busybox true || { tail -20 "$T/berthd.log" >&2; fail "berth run failed"; }
$D run --rm $NET busybox true || fail "docker run failed"
if [ -n "$HAVE_PODMAN" ] && ! podman_cli run --rm $NET busybox true >/dev/null 2>"$T/podman.err"; then
  log "podman left out: $(tail -1 "$T/podman.err")"
  HAVE_PODMAN=
fi
run_args=(-n berth "$B run --rm $NET busybox true" -n berth-cli "$BC run --rm $NET busybox true"
  -n docker "$D run --rm $NET busybox true")
[ -n "$HAVE_PODMAN" ] && run_args+=(-n podman "$PODMAN run --rm $NET busybox true")
run_args+=(-n "$RT_NAME-run" "$RT --root $T/rt run --bundle $T/bundle bench-$$")
hf run --warmup 2 --runs "$RUNS" "${run_args[@]}"

hf lifecycle --warmup 2 --runs "$RUNS" \
  -n berth "c=\$($B create $NET busybox sleep 100) && $B start \$c >/dev/null && $B rm -f \$c >/dev/null" \
  -n berth-cli "c=\$($BC create $NET busybox sleep 100) && $BC start \$c >/dev/null && $BC rm -f \$c >/dev/null" \
  -n docker "c=\$($D create $NET busybox sleep 100) && $D start \$c >/dev/null && $D rm -f \$c >/dev/null"

$B run -d --name ex $NET busybox sleep 100000 > /dev/null
$D run -d --name ex $NET busybox sleep 100000 > /dev/null
hf exec --warmup 3 --runs $((RUNS * 2)) -n berth "$B exec ex true" \
  -n berth-cli "$BC exec ex true" -n docker "$D exec ex true"
$B rm -f ex > /dev/null
$D rm -f ex > /dev/null

# ------------------------------------------------------------ density
# Each engine starts N `sleep` containers; the per-container figures come
# from the process that supervises each container (berth-shim,
# containerd-shim, conmon: the parent of the container's init), so every
# engine is measured the same way. Peers start DENSITY_PEERS containers
# (default: as many as berth) because docker needs minutes for a thousand.
DENSITY_PEERS=${DENSITY_PEERS:-$DENSITY}
declare -A DENS
density() { # name cli n daemon-pid...
  local name=$1 cli=$2 n=$3; shift 3
  local i start elapsed mem0 mem1 idle=0 busy=0 p pss=0 shims=0 ppid
  sync; sleep 1
  for p in "$@"; do idle=$((idle + $(rss_kib "$p"))); done
  mem0=$(mem_available_kib)
  log "density: starting $n $name containers"
  start=$(date +%s.%N)
  for i in $(seq "$n"); do $cli run -d $NET busybox sleep 100000 > /dev/null; done
  elapsed=$(echo "$(date +%s.%N) - $start" | bc)
  sleep 2
  mem1=$(mem_available_kib)
  for p in "$@"; do busy=$((busy + $(rss_kib "$p"))); done
  for ppid in $($cli inspect -f '{{.State.Pid}}' $($cli ps -q) | while read -r c; do
      awk '{print $4}' "/proc/$c/stat"; done | sort -u); do
    pss=$((pss + $(awk '/^Pss:/ {print $2}' "/proc/$ppid/smaps_rollup" 2>/dev/null || echo 0)))
    shims=$((shims + 1))
  done
  hf "ps-$name" --warmup 2 --runs "$RUNS" -n "$name" "$cli ps -q"
  DENS[$name]="$(printf '%-8s %6d %9.1f %12d %12d %12d %10.1f' "$name" "$n" "$elapsed" \
    $((pss / (shims > 0 ? shims : 1))) $(((mem0 - mem1) / n)) "$busy" \
    "$(jq -r '.results[0].median * 1000' "$T/ps-$name.json")")"
  DENS_IDLE[$name]=$idle
  log "removing the $n $name containers"
  # podman's rm -f waits out each stop timeout (10 s a batch) unless told not to
  local rm_now=""
  [ "$name" = podman ] && rm_now="-t 0"
  $cli rm -f $rm_now $($cli ps -aq) > /dev/null
}
declare -A DENS_IDLE
density berth "$B" "$DENSITY" "$BERTHD_PID"
DOCKERD_PID=$(cat "$T/dockerd.pid")
CONTAINERD_PID=$(pgrep -P "$DOCKERD_PID" containerd || true)
density docker "$D" "$DENSITY_PEERS" "$DOCKERD_PID" $CONTAINERD_PID
[ -n "$HAVE_PODMAN" ] && density podman "$PODMAN" "$DENSITY_PEERS"

echo
echo "== containers benchmark, $RUNS runs (median ms; berth: the docker CLI against berthd, berth-cli: berth's CLI) =="
printf '%-12s %10s %10s %10s %10s %10s\n' what berth berth-cli docker podman bare
for what in run lifecycle exec; do
  b=$(jq -r '.results[] | select(.command=="berth") | .median * 1000' "$T/$what.json")
  c=$(jq -r '.results[] | select(.command=="berth-cli") | .median * 1000' "$T/$what.json")
  d=$(jq -r '.results[] | select(.command=="docker") | .median * 1000' "$T/$what.json")
  p=$(jq -r '.results[] | select(.command=="podman") | .median * 1000' "$T/$what.json")
  r=$(jq -r ".results[] | select(.command==\"$RT_NAME-run\") | .median * 1000" "$T/$what.json")
  [ -n "$p" ] && p=$(printf '%.1f' "$p")
  [ -n "$r" ] && r=$(printf '%.1f' "$r")
  printf '%-12s %10.1f %10.1f %10.1f %10s %10s\n' "$what" "$b" "$c" "$d" "${p:--}" "${r:--}"
done
run_b=$(jq -r '.results[] | select(.command=="berth") | .median' "$T/run.json")
run_d=$(jq -r '.results[] | select(.command=="docker") | .median' "$T/run.json")
run_c=$(jq -r '.results[] | select(.command=="berth-cli") | .median' "$T/run.json")
run_r=$(jq -r ".results[] | select(.command==\"$RT_NAME-run\") | .median" "$T/run.json")
echo "run: berth/docker = $(echo "scale=3; $run_b / $run_d" | bc), berth-cli/docker = $(echo "scale=3; $run_c / $run_d" | bc) (target <= 0.15);" \
  "berth/$RT_NAME-run = $(echo "scale=2; $run_b / $run_r" | bc), berth-cli/$RT_NAME-run = $(echo "scale=2; $run_c / $run_r" | bc) (target <= 2)"
fc=$(floor_median berth-cli)
fr=$(floor_median "$RT_NAME-run")
printf 'floor (3 alternating rounds, before docker and podman ran): berth-cli %.1f ms, %s run %.1f ms, ratio %s (target <= 2)\n' \
  "$fc" "$RT_NAME" "$fr" "$(echo "scale=2; $fc / $fr" | bc)"
echo
echo "== density: N sleep containers (per container: supervisor PSS, MemAvailable delta) =="
printf '%-8s %6s %9s %12s %12s %12s %10s\n' engine N start_s shim_pss_kib mem_kib daemon_kib ps_ms
for e in berth docker podman; do
  [ -n "${DENS[$e]:-}" ] && echo "${DENS[$e]}"
done
echo "daemon RSS idle: berthd ${DENS_IDLE[berth]} KiB, dockerd+containerd ${DENS_IDLE[docker]} KiB (daemon_kib: with N)"
