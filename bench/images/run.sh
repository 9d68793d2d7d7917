#!/usr/bin/env bash
# Image load/save and listing, berth (berthd + berth CLI) against dockerd
# (issue 3, acceptance 3), each with private state, in one run:
#   - load and save of a ~500 MiB image of 5 layers (target: berth load at
#     least 2x faster than docker load);
#   - `images` with 1,000 images in the store (target: berth under 50 ms).
# Between load runs the image is removed from both engines (same work for
# both: the freshly freed inodes slow the next unpack a little on ext4).
#
#   bench/images/run.sh [RUNS]          (default 5; SIZE_MIB, LAYERS, MANY override the image)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../../tests/scripts/lib/common.sh"
RUNS=${1:-5}
SIZE_MIB=${SIZE_MIB:-500}
LAYERS=${LAYERS:-5}
MANY=${MANY:-1000}

BERTH=$BERTH_BIN_DIR/berth
BERTHD=$BERTH_BIN_DIR/berthd
[ -x "$BERTH" ] && [ -x "$BERTHD" ] || fail "berth and berthd are not built in $BERTH_BIN_DIR (cargo build --release)"
require_tools dockerd hyperfine jq python3

T=$(mktemp -d /tmp/berth-bench-images.XXXXXX)
PIDS=()
cleanup() {
  set +e
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

log "generating a ${SIZE_MIB} MiB image of $LAYERS layers and $MANY small images"
python3 "$HERE/gen.py" "$T/big.tar" "$SIZE_MIB" "$LAYERS" bench/big:latest > /dev/null
python3 "$HERE/gen.py" --many "$T/many.tar" "$MANY"

"$BERTHD" -H "unix://$T/berth.sock" --data-root "$T/berth" --exec-root "$T/berth-exec" \
  > "$T/berthd.log" 2>&1 < /dev/null &
PIDS+=($!)
B="$BERTH -H unix://$T/berth.sock"
wait_for $B version || { cat "$T/berthd.log" >&2; fail "berthd did not start"; }

echo '{}' > "$T/daemon.json"
mkdir -p "$T/docker-client"
dockerd --config-file "$T/daemon.json" --data-root "$T/docker" --exec-root "$T/docker-exec" \
  --pidfile "$T/dockerd.pid" -H "unix://$T/docker.sock" \
  --bridge=none --iptables=false --ip6tables=false --ip-masq=false \
  > "$T/dockerd.log" 2>&1 < /dev/null &
PIDS+=($!)
D="env DOCKER_HOST=unix://$T/docker.sock DOCKER_CONFIG=$T/docker-client /usr/bin/docker"
wait_for $D version || { tail -20 "$T/dockerd.log" >&2; fail "dockerd did not start"; }

hf() {
  local name=$1; shift
  log "hyperfine: $name (load $(cut -d' ' -f1-3 /proc/loadavg))"
  hyperfine --style basic --export-json "$T/$name.json" "$@" >&2
}

hf load --runs "$RUNS" \
  --prepare "$B rmi -f bench/big:latest >/dev/null 2>&1; sync" -n berth-load "$B load -q -i $T/big.tar" \
  --prepare "$D rmi -f bench/big:latest >/dev/null 2>&1; sync" -n docker-load "$D load -q -i $T/big.tar"

hf save --runs "$RUNS" \
  --prepare "rm -f $T/out-berth.tar; sync" -n berth-save "$B save -o $T/out-berth.tar bench/big:latest" \
  --prepare "rm -f $T/out-docker.tar; sync" -n docker-save "$D save -o $T/out-docker.tar bench/big:latest"

$B load -q -i "$T/many.tar" > /dev/null
$D load -q -i "$T/many.tar" > /dev/null
hf images --warmup 3 --runs $((RUNS * 4)) \
  -n berth-images "$B images" \
  -n docker-images "$D images"
# The same through the docker CLI, to separate the daemon from the CLI.
hf images-docker-cli --warmup 3 --runs $((RUNS * 4)) \
  -n docker-cli-on-berthd "env DOCKER_HOST=unix://$T/berth.sock DOCKER_CONFIG=$T/docker-client /usr/local/bin/docker images" \
  -n docker-cli-on-dockerd "env DOCKER_HOST=unix://$T/docker.sock DOCKER_CONFIG=$T/docker-client /usr/local/bin/docker images"

echo
echo "== images benchmark: ${SIZE_MIB} MiB in $LAYERS layers, $MANY small images, $RUNS runs (median ms) =="
printf '%-18s %12s %12s %12s\n' what berth docker docker/berth
for what in load save images images-docker-cli; do
  read -r b d r < <(jq -r '[.results[0].median, .results[1].median] | [.[0] * 1000, .[1] * 1000, .[1] / .[0]] | @tsv' "$T/$what.json")
  printf '%-18s %12.1f %12.1f %11.2fx\n' "$what" "$b" "$d" "$r"
done
echo "targets: load ratio >= 2.0; berth images < 50 ms"
