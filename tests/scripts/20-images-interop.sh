#!/usr/bin/env bash
# Images round trip between berth and the real peers (issue 3, acceptance 1),
# through berthd and the berth CLI, every peer with private state:
#   - docker save            -> berth load          (same image id and layers)
#   - berth save             -> docker load, podman load, and their run works
#   - skopeo oci: layout     -> berth load          (gzip layers, same diff ids)
#   - berth save (OCI part)  -> umoci unpack
#   - berth import of the busybox rootfs gives docker's diff id
#   - berth's CLI drives dockerd (an older API)
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

BERTH=$BERTH_BIN_DIR/berth
BERTHD=$BERTH_BIN_DIR/berthd
[ -x "$BERTH" ] && [ -x "$BERTHD" ] || fail "berth and berthd are not built in $BERTH_BIN_DIR"
require_tools dockerd podman skopeo umoci runc jq

T=$(mktemp -d /tmp/berth-images.XXXXXX)
PIDS=()
cleanup() {
  set +e
  [ -n "${PODMAN_USED:-}" ] && podman_cli system reset -f >/dev/null 2>&1
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done; kill -KILL "$p" 2>/dev/null; done
  grep -F " $T/" /proc/self/mountinfo | cut -d' ' -f5 | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf --one-file-system "$T"
}
trap cleanup EXIT

# A signature policy of our own, so skopeo and podman need nothing from /etc.
echo '{"default":[{"type":"insecureAcceptAnything"}]}' > "$T/policy.json"

expect_eq() {
  if [ "$2" = "$3" ]; then log "ok   $1"; else fail "$1: want '$2', got '$3'"; fi
}

# wait_for CMD... : up to 60 s
wait_for() {
  local i
  for i in $(seq 600); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

# ------------------------------------------------------------------ berthd
"$BERTHD" -H "unix://$T/berth.sock" --data-root "$T/berth" --exec-root "$T/berth-exec" \
  > "$T/berthd.log" 2>&1 < /dev/null &
PIDS+=($!)
berth() { "$BERTH" -H "unix://$T/berth.sock" "$@"; }
wait_for berth version || { cat "$T/berthd.log" >&2; fail "berthd did not start"; }

# ------------------------------------------------------------------ dockerd
echo '{}' > "$T/daemon.json"
mkdir -p "$T/docker-client"
dockerd --config-file "$T/daemon.json" --data-root "$T/docker" --exec-root "$T/docker-exec" \
  --pidfile "$T/dockerd.pid" -H "unix://$T/docker.sock" \
  --bridge=none --iptables=false --ip6tables=false --ip-masq=false \
  > "$T/dockerd.log" 2>&1 < /dev/null &
PIDS+=($!)
docker_cli() { DOCKER_HOST="unix://$T/docker.sock" DOCKER_CONFIG="$T/docker-client" /usr/bin/docker "$@"; }
wait_for docker_cli version || { tail -20 "$T/dockerd.log" >&2; fail "dockerd did not start"; }

podman_cli() {
  podman --root "$T/podman/root" --runroot "$T/podman/run" --tmpdir "$T/podman/tmp" \
    --cgroup-manager cgroupfs --events-backend file --runtime runc "$@"
}

make_rootfs_tar "$T/rootfs.tar"

# 1. berth import gives the same diff id as docker import of the same tarball.
berth import --change 'CMD ["/bin/sh"]' --change 'ENV PATH=/bin' "$T/rootfs.tar" berthbox:1 > /dev/null
docker_cli import --change 'CMD ["/bin/sh"]' "$T/rootfs.tar" dockerbox:1 > /dev/null
expect_eq "import: same diff ids as docker" \
  "$(docker_cli image inspect -f '{{json .RootFS.Layers}}' dockerbox:1)" \
  "$(berth image inspect -f '{{json .RootFS.Layers}}' berthbox:1)"

# 2. docker save -> berth load: same id.
docker_cli save -o "$T/docker-save.tar" dockerbox:1
out=$(berth load -i "$T/docker-save.tar")
expect_eq "docker save -> berth load" "Loaded image: dockerbox:1" "$(tail -1 <<<"$out")"
expect_eq "docker save -> berth load: same id" \
  "$(docker_cli image inspect -f '{{.Id}}' dockerbox:1)" \
  "$(berth image inspect -f '{{.Id}}' dockerbox:1)"

# 3. berth save -> docker load -> docker run.
BERTH_ID=$(berth image inspect -f '{{.Id}}' berthbox:1)
berth save -o "$T/berth-save.tar" berthbox:1
out=$(docker_cli load -i "$T/berth-save.tar")
expect_eq "berth save -> docker load" "Loaded image: berthbox:1" "$(tail -1 <<<"$out")"
expect_eq "berth save -> docker load: same id" "$BERTH_ID" "$(docker_cli image inspect -f '{{.Id}}' berthbox:1)"
expect_eq "docker run of berth's image" "hello from berth" \
  "$(docker_cli run --rm --network none berthbox:1 echo hello from berth)"

# 3b. berth's CLI against dockerd, whose API (1.41) is older than berth's:
# the first answer settles the version (no ping), and docker's `null`
# lists decode.
berth_at_docker() { "$BERTH" -H "unix://$T/docker.sock" "$@"; }
expect_eq "berth CLI -> dockerd: run" "hello from berth" \
  "$(berth_at_docker run --rm --network none berthbox:1 echo hello from berth)"
expect_eq "berth CLI -> dockerd: negotiated version" "1.41 1.41" \
  "$(berth_at_docker version -f '{{.Client.ApiVersion}} {{.Server.ApiVersion}}')"
expect_eq "berth CLI -> dockerd: images" "berthbox:1" \
  "$(berth_at_docker images --format '{{.Repository}}:{{.Tag}}' | grep -x berthbox:1)"
berth_at_docker system df > /dev/null && berth_at_docker info > /dev/null \
  && log "ok   berth CLI -> dockerd: system df and info decode"

# 4. berth save -> podman load -> podman run.
PODMAN_USED=1
out=$(podman_cli load --signature-policy "$T/policy.json" -i "$T/berth-save.tar")
[[ $out == *berthbox:1* ]] || fail "podman load: $out"
expect_eq "berth save -> podman load: same id" "$BERTH_ID" "sha256:$(podman_cli image inspect -f '{{.Id}}' berthbox:1)"
expect_eq "podman run of berth's image" "hello from berth" \
  "$(podman_cli run --rm --network none --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 \
       berthbox:1 echo hello from berth)"

# 5. skopeo: berth's archive -> OCI layout with gzip layers -> berth load (tarred).
skopeo --policy "$T/policy.json" copy --quiet --dest-compress --dest-compress-format gzip \
  "docker-archive:$T/berth-save.tar" "oci:$T/oci:skopeo/box:gz"
tar -C "$T/oci" -cf "$T/oci.tar" .
out=$(berth load -i "$T/oci.tar")
expect_eq "skopeo oci layout -> berth load" "Loaded image: skopeo/box:gz" "$(tail -1 <<<"$out")"
expect_eq "skopeo oci layout: same diff ids" \
  "$(berth image inspect -f '{{json .RootFS.Layers}}' berthbox:1)" \
  "$(berth image inspect -f '{{json .RootFS.Layers}}' skopeo/box:gz)"
# ... and gzip-compressed as a whole.
gzip -c "$T/oci.tar" > "$T/oci.tar.gz"
berth rmi skopeo/box:gz > /dev/null
berth load -q -i "$T/oci.tar.gz" > /dev/null
berth image inspect skopeo/box:gz > /dev/null && log "ok   gzip-compressed OCI archive loads"

# 6. umoci unpacks the OCI layout inside berth's archive.
mkdir -p "$T/layout"
tar -C "$T/layout" -xf "$T/berth-save.tar"
umoci unpack --image "$T/layout:1" "$T/bundle" > /dev/null
[ -x "$T/bundle/rootfs/bin/busybox" ] || fail "umoci unpack: no busybox in the rootfs"
log "ok   umoci unpacks berth's OCI layout"

# 7. the real docker CLI against berthd shows what docker shows.
expect_eq "docker CLI against berthd" "$BERTH_ID" \
  "$(DOCKER_HOST="unix://$T/berth.sock" DOCKER_CONFIG="$T/docker-client" /usr/local/bin/docker image inspect -f '{{.Id}}' berthbox:1)"

log "20-images-interop: all passed"
