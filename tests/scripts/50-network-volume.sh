#!/usr/bin/env bash
# Issue 5, acceptance 1 and 2, with the docker CLI and then with berth
# against a berthd of our own (temporary socket, data root and exec root):
# - two containers on a user-defined network reach each other by name and
#   alias (ping, busybox httpd + wget); `-p` is reached from the host on
#   127.0.0.1 and on the host's own address; `--network none` has only lo;
#   `container:` shares the namespace; after the containers and `network rm`
#   no link, address or nft rule of berth's is left but the default bridge;
# - a named volume keeps a file across containers, a bind mount shows host
#   changes live, read-only mounts refuse writes, an anonymous volume from
#   the image's VOLUME holds the image's files and `rm -v` removes it.
# berth's container commands are used when the CLI has them (`berth run`);
# otherwise its pass covers the network and volume commands only.
set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"

BIN=$BERTH_BIN_DIR
require_built berthd berth berth-shim
require_tools docker curl nft ip sha256sum
[ "$(id -u)" = 0 ] || { [ "${CI:-}" = true ] && fail "needs root"; echo "SKIP: needs root" >&2; exit 0; }

# Short: shim sockets live under the exec root (sun_path has 108 bytes).
WORK=$(mktemp -d /tmp/b50.XXXX)
SOCK=$WORK/berth.sock
EXEC=$WORK/e
mkdir -p "$EXEC"
# berthd names its kernel objects after its exec root (see berth-engine's
# network module): bridges and veths start with PREFIX, the table is berth_PREFIX.
PREFIX=bt$(printf '%s' "$(realpath "$EXEC")" | sha256sum | cut -c1-4)
PID=
cleanup() {
  set +e
  if [ -n "$PID" ]; then
    for c in $(DOCKER_HOST=unix://$SOCK docker ps -aq 2>/dev/null); do
      DOCKER_HOST=unix://$SOCK docker rm -f -v "$c" >/dev/null 2>&1
    done
    kill -TERM "$PID" 2>/dev/null; wait "$PID" 2>/dev/null
  fi
  for l in $(our_links); do
    ip link del "$l" 2>/dev/null
  done
  nft delete table inet "berth_$PREFIX" 2>/dev/null
  iptables -S FORWARD 2>/dev/null | grep -F "berth:berth_$PREFIX" | sed 's/^-A/-D/' |
    while read -r rule; do eval iptables "$rule"; done
  for m in $(grep -o " $WORK[^ ]*" /proc/self/mounts | sort -r); do umount -l "$m" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT

fail50() { echo "50-network-volume: FAIL: $*" >&2; tail -30 "$WORK/berthd.log" >&2; exit 1; }
expect() { [ "$1" = "$2" ] || fail50 "$3: got '$1', want '$2'"; }

run_berthd "$SOCK" "$WORK/data" "$EXEC" "$WORK/berthd.log"
PID=$BERTHD_PID
export DOCKER_HOST=unix://$SOCK DOCKER_CONFIG=$WORK/docker-config BERTH_HOST=unix://$SOCK

# Images: busybox with a web root, and one declaring a VOLUME with content.
make_rootfs "$WORK/rootfs"
echo "hello from berth" > "$WORK/rootfs/var/www/index.html"
mkdir -p "$WORK/rootfs/seed" && echo "seeded by the image" > "$WORK/rootfs/seed/hello"
tar --numeric-owner -C "$WORK/rootfs" -cf "$WORK/rootfs.tar" .
docker import -c 'CMD ["sh"]' "$WORK/rootfs.tar" busybox:latest > /dev/null
docker import -c 'CMD ["sh"]' -c 'VOLUME /seed' "$WORK/rootfs.tar" seeded:latest > /dev/null

HOST_IP=$(ip -4 -o route get 1.1.1.1 | sed -n 's/.* src \([0-9.]*\).*/\1/p')
PORT=$((20000 + $$ % 20000))

# swagger PATH SCHEMA: the response of GET PATH (API 1.41) against moby's
# swagger (tests/swagger/check.py), when python3-yaml and the swagger are here.
SWAGGER_CHECK=$(cd "$(dirname "$0")/.." && pwd)/swagger/check.py
swagger() {
  python3 -c 'import yaml' 2> /dev/null || return 0
  [ -f /usr/share/gocode/src/github.com/docker/docker/api/swagger.yaml ] || return 0
  curl -sf --unix-socket "$SOCK" "http://berth/v1.41$1" | python3 "$SWAGGER_CHECK" "$2" ||
    fail50 "GET $1 does not match the swagger"
}

our_links() { ip -o link | awk -F': ' '{print $2}' | cut -d@ -f1 | { grep "^$PREFIX" || true; } | sort | tr '\n' ' '; }

# network_suite CLI TAG: acceptance 1 with one client.
network_suite() {
  local C=$1 t=$2 port=$3 before
  $C network ls > /dev/null # the default bridge exists from here on
  before=$(our_links)
  $C network create --label suite=$t "nv-$t" > /dev/null
  expect "$($C network ls -q -f name="nv-$t" | wc -l)" 1 "$t: network ls -f name"
  expect "$($C network inspect -f '{{.Driver}} {{index .Labels "suite"}}' "nv-$t")" "bridge $t" "$t: network inspect"
  $C run -d --name "a-$t" --network "nv-$t" --network-alias "web-$t" busybox httpd -f -p 80 -h /var/www > /dev/null
  $C run -d --name "b-$t" --network "nv-$t" busybox sleep 600 > /dev/null
  $C exec "b-$t" ping -c 1 -W 3 "a-$t" > /dev/null || fail50 "$t: ping by name"
  expect "$($C exec "b-$t" wget -q -O- "http://a-$t/")" "hello from berth" "$t: wget by name"
  expect "$($C exec "b-$t" wget -q -O- "http://web-$t/")" "hello from berth" "$t: wget by alias"
  expect "$($C network inspect -f '{{len .Containers}}' "nv-$t")" 2 "$t: containers on the network"
  swagger /networks 'paths//networks/get/200'
  swagger "/networks/nv-$t" 'paths//networks/{id}/get/200'
  swagger "/containers/a-$t/json" 'paths//containers/{id}/json/get/200'
  if $C network rm "nv-$t" 2> "$WORK/err"; then fail50 "$t: network rm with containers attached"; fi
  grep -q "active endpoints" "$WORK/err" || fail50 "$t: network rm message: $(cat "$WORK/err")"

  $C run -d --name "p-$t" -p "$port:80" busybox httpd -f -p 80 -h /var/www > /dev/null
  expect "$($C port "p-$t" 80/tcp | head -1)" "0.0.0.0:$port" "$t: port"
  expect "$(curl -s -m 5 "http://127.0.0.1:$port/")" "hello from berth" "$t: published port on 127.0.0.1"
  if [ -n "$HOST_IP" ]; then
    expect "$(curl -s -m 5 "http://$HOST_IP:$port/")" "hello from berth" "$t: published port on $HOST_IP"
  fi

  $C run -d --name "n-$t" --network none busybox sleep 600 > /dev/null
  expect "$($C exec "n-$t" ip -o link | awk -F': ' '{print $2}' | tr '\n' ' ')" "lo " "$t: --network none"
  $C run -d --name "j-$t" --network "container:a-$t" busybox sleep 600 > /dev/null
  expect "$($C exec "j-$t" wget -q -O- http://127.0.0.1/)" "hello from berth" "$t: container: shares the namespace"

  $C rm -f "a-$t" "b-$t" "p-$t" "n-$t" "j-$t" > /dev/null
  $C network rm "nv-$t" > /dev/null
  # The kernel drops a container's veth with its namespace, in the background.
  for _ in $(seq 1 100); do [ "$(our_links)" = "$before" ] && break; sleep 0.02; done
  expect "$(our_links)" "$before" "$t: links left after network rm"
  if nft list table inet "berth_$PREFIX" | grep -q "dport $port"; then
    fail50 "$t: nft rule for port $port left"
  fi
  if ip -o addr | grep "$PREFIX" | grep -v "^[0-9]*: ${PREFIX}0 " | grep -q inet; then
    fail50 "$t: addresses left: $(ip -o addr | grep "$PREFIX")"
  fi
  echo "50-network-volume: $t: networks ok"
}

# volume_suite CLI TAG: acceptance 2 with one client.
volume_suite() {
  local C=$1 t=$2 anon
  $C volume create "data-$t" > /dev/null
  $C run -d --name "w-$t" -v "data-$t:/data" busybox sh -c 'echo kept > /data/f; sleep 600' > /dev/null
  for _ in $(seq 1 100); do $C exec "w-$t" test -s /data/f && break; sleep 0.05; done
  $C rm -f "w-$t" > /dev/null
  $C run -d --name "r-$t" -v "data-$t:/data:ro" busybox sleep 600 > /dev/null
  expect "$($C exec "r-$t" cat /data/f)" "kept" "$t: named volume across containers"
  if $C exec "r-$t" sh -c 'echo x > /data/g' 2> /dev/null; then fail50 "$t: write to a :ro volume"; fi
  if $C volume rm "data-$t" 2> /dev/null; then fail50 "$t: volume rm while in use"; fi
  swagger /volumes 'paths//volumes/get/200'
  swagger "/volumes/data-$t" 'paths//volumes/{name}/get/200'
  swagger "/containers/r-$t/json" 'paths//containers/{id}/json/get/200'

  mkdir -p "$WORK/bind-$t"
  $C run -d --name "b-$t" -v "$WORK/bind-$t:/b" -v "$WORK/bind-$t:/ro:ro" busybox sleep 600 > /dev/null
  echo live > "$WORK/bind-$t/x"
  expect "$($C exec "b-$t" cat /b/x)" "live" "$t: bind mount shows host changes"
  if $C exec "b-$t" sh -c 'echo x > /ro/y' 2> /dev/null; then fail50 "$t: write to a :ro bind"; fi

  $C run -d --name "s-$t" seeded sleep 600 > /dev/null
  expect "$($C exec "s-$t" cat /seed/hello)" "seeded by the image" "$t: image VOLUME content"
  anon=$($C inspect -f '{{range .Mounts}}{{if eq .Destination "/seed"}}{{.Type}} {{.Name}}{{end}}{{end}}' "s-$t")
  case $anon in "volume "?*) ;; *) fail50 "$t: inspect Mounts of the image volume: '$anon'";; esac
  anon=${anon#volume }
  [ -f "$($C volume inspect -f '{{.Mountpoint}}' "$anon")/hello" ] || fail50 "$t: anonymous volume has no copy"
  $C rm -f -v "s-$t" "r-$t" "b-$t" > /dev/null
  if $C volume inspect "$anon" > /dev/null 2>&1; then fail50 "$t: rm -v kept the anonymous volume"; fi
  $C volume rm "data-$t" > /dev/null
  echo "50-network-volume: $t: volumes ok"
}

# The management commands alone, for a client without container commands.
manage_suite() {
  local C=$1 t=$2
  local net=10.250.$((RANDOM % 250))
  $C network create --subnet "$net.0/24" --gateway "$net.254" --ip-range "$net.128/25" "m-$t" > /dev/null
  expect "$($C network ls --format '{{.Name}}' -f name="m-$t")" "m-$t" "$t: network ls"
  expect "$($C network inspect -f '{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}} {{.IPRange}}{{end}}' "m-$t")" \
    "$net.0/24 $net.254 $net.128/25" "$t: network inspect IPAM"
  $C network rm "m-$t" > /dev/null
  $C volume create --label k=v "mv-$t" > /dev/null
  expect "$($C volume ls -q -f label=k=v)" "mv-$t" "$t: volume ls -f label"
  expect "$($C volume inspect -f '{{.Driver}}' "mv-$t")" "local" "$t: volume inspect"
  $C volume rm "mv-$t" > /dev/null
  echo "50-network-volume: $t: management commands ok"
}

network_suite docker docker "$PORT"
volume_suite docker docker
manage_suite docker docker
BERTH=$BIN/berth
manage_suite "$BERTH" berth
if "$BERTH" run --help > /dev/null 2>&1; then
  network_suite "$BERTH" berth $((PORT + 1))
  volume_suite "$BERTH" berth
else
  echo "50-network-volume: berth has no container commands yet: its run/exec pass is skipped"
fi
for _ in $(seq 1 150); do [ "$(our_links)" = "${PREFIX}0 " ] && break; sleep 0.02; done
expect "$(our_links)" "${PREFIX}0 " "links of berth's left at the end"
echo "50-network-volume: ok"
