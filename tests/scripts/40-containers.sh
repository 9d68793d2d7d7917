#!/usr/bin/env bash
# Containers through berthd with the real docker CLI (issue 4): run with
# output and exit codes, -d + logs -f, exec (with a tty through script(1)),
# stop/kill/restart, pause/unpause, a restart policy, inspect shapes, --rm,
# cp both ways (running and stopped), export | import, commit then run,
# bad input, and live restore: berthd killed with -9 while containers run,
# one of them killed from outside, berthd started again.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

BERTHD=$BERTH_BIN_DIR/berthd
[ -x "$BERTHD" ] && [ -x "$BERTH_BIN_DIR/berth-shim" ] || fail "berthd and berth-shim are not built in $BERTH_BIN_DIR"
require_tools docker jq script

T=$(mktemp -d /tmp/berth-ctr.XXXXXX)
BPID=
cleanup() {
  set +e
  [ -n "$BPID" ] && kill -TERM "$BPID" 2>/dev/null
  # Containers and shims of this test only: found through its shim state.
  for s in "$T"/exec/shims/*/state.json; do
    [ -f "$s" ] || continue
    for p in $(jq -r '.pid, .shim_pid' "$s"); do [ "$p" -gt 0 ] && kill -KILL "$p" 2>/dev/null; done
  done
  sleep 0.3
  grep -F " $T/" /proc/self/mountinfo | cut -d' ' -f5 | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf --one-file-system "$T"
}
trap cleanup EXIT

start_berthd() {
  "$BERTHD" -H "unix://$T/berth.sock" --data-root "$T/data" --exec-root "$T/exec" \
    >> "$T/berthd.log" 2>&1 < /dev/null &
  BPID=$!
  for _ in $(seq 100); do docker version >/dev/null 2>&1 && return 0; sleep 0.1; done
  cat "$T/berthd.log" >&2; fail "berthd did not start"
}
# Exported, so that timeout(1) and script(1) children reach berthd too.
export DOCKER_HOST="unix://$T/berth.sock" DOCKER_CONFIG="$T/docker-config"
expect() { if [ "$1" = "$2" ]; then log "ok   $3"; else fail "$3: want '$2', got '$1'"; fi; }
wait_until() { for _ in $(seq 200); do eval "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; fail "timed out: $1"; }

mkdir -p "$T/docker-config"
start_berthd
make_rootfs_tar "$T/rootfs.tar"
docker import -c 'CMD ["sh"]' "$T/rootfs.tar" busybox:latest >/dev/null

# ------------------------------------------------------------ run, exit codes
expect "$(docker run --rm busybox echo hello)" "hello" "run --rm prints the output"
set +e; docker run --name ex7 busybox sh -c 'echo out; echo err >&2; exit 7' >"$T/o" 2>"$T/e"; rc=$?; set -e
expect "$rc" "7" "run exit code is the container's"
expect "$(cat "$T/o")/$(cat "$T/e")" "out/err" "stdout and stderr kept apart"
expect "$(docker inspect -f '{{.State.Status}} {{.State.ExitCode}}' ex7)" "exited 7" "inspect state"
expect "$(docker ps -a --filter name=ex7 --format '{{.Names}}')" "ex7" "ps -a --filter name"
docker rm ex7 >/dev/null
expect "$(docker ps -aq | wc -l)" "0" "--rm and rm leave nothing"
expect "$(echo piped | docker run -i --rm busybox cat)" "piped" "run -i passes stdin"

# ------------------------------------------------------------ -d, logs, exec
docker run -d --name web busybox sh -c 'i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done' >/dev/null
wait_until "docker logs web | grep -q 'tick 3'"
expect "$(timeout 3 docker logs -f web | head -2 | tr '\n' ' ')" "tick 0 tick 1 " "logs -f follows from the start"
expect "$(docker logs --tail 1 web | wc -l)" "1" "logs --tail"
expect "$(docker exec web echo in-exec)" "in-exec" "exec output"
set +e; docker exec web sh -c 'exit 5'; rc=$?; set -e
expect "$rc" "5" "exec exit code"
# stdin stays open (script(1) echoes a NUL into the tty at stdin's end).
tty_out=$(sleep 2 | script -eqc "docker exec -it web sh -c 'tty; exit 0'" /dev/null | tr -d '\r')
expect "$tty_out" "/dev/pts/0" "exec -it has a terminal"
set +e; sleep 2 | script -eqc "docker run -it --rm busybox sh -c 'exit 3'" /dev/null >/dev/null; rc=$?; set -e
expect "$rc" "3" "run -it exit code"

# ------------------------------------------------------------ lifecycle
docker pause web >/dev/null
expect "$(docker inspect -f '{{.State.Status}} {{.State.Paused}}' web)" "paused true" "pause"
docker unpause web >/dev/null
expect "$(docker inspect -f '{{.State.Status}}' web)" "running" "unpause"
docker stop -t 1 web >/dev/null
expect "$(docker inspect -f '{{.State.Status}} {{.State.ExitCode}}' web)" "exited 137" "stop escalates to SIGKILL for a shell ignoring TERM"
docker start web >/dev/null
expect "$(docker inspect -f '{{.State.Running}}' web)" "true" "start again"
docker restart -t 0 web >/dev/null
expect "$(docker inspect -f '{{.State.Running}}' web)" "true" "restart"
docker kill web >/dev/null
expect "$(docker wait web)" "137" "kill then wait"
docker rm web >/dev/null

docker run -d --name flaky --restart on-failure:2 busybox sh -c 'echo try; exit 3' >/dev/null
wait_until "[ \"\$(docker inspect -f '{{.State.Status}} {{.RestartCount}}' flaky)\" = 'exited 2' ]"
expect "$(docker logs flaky | grep -c try)" "3" "on-failure:2 runs three times"

id=$(docker create --name shapes -e A=1 -l k=v busybox true)
for f in State Config HostConfig Mounts NetworkSettings; do
  expect "$(docker inspect "$id" | jq -r ".[0] | has(\"$f\")")" "true" "inspect has $f"
done
expect "$(docker inspect -f '{{.Name}} {{index .Config.Labels "k"}} {{.HostConfig.RestartPolicy.Name}}' shapes)" "/shapes v no" "inspect values"

# ------------------------------------------------------------ cp, export, commit
docker run -d --name files busybox sleep 1000 >/dev/null
docker create --name idle busybox cat /in/f.txt >/dev/null
mkdir -p "$T/src/dir/sub" "$T/out2"
echo file-data > "$T/src/f.txt"; echo deep > "$T/src/dir/sub/x"
docker cp "$T/src/f.txt" files:/tmp/f.txt
expect "$(docker exec files cat /tmp/f.txt)" "file-data" "cp a file into a running container"
docker cp "$T/src/dir" files:/tmp/
expect "$(docker exec files cat /tmp/dir/sub/x)" "deep" "cp a directory into a running container"
docker cp "$T/src/dir" idle:/in
docker cp "$T/src/f.txt" idle:/in/f.txt
expect "$(docker start -a idle)" "file-data" "cp a directory and a file into a stopped container"
docker cp files:/tmp/dir "$T/out1"
expect "$(cat "$T/out1/sub/x")" "deep" "cp a directory out of a running container"
docker cp idle:/in/sub/x "$T/x.out"
expect "$(cat "$T/x.out")" "deep" "cp a file out of a stopped container"
docker cp files:/tmp/dir/. "$T/out2"
expect "$(cat "$T/out2/sub/x")" "deep" "cp dir/. copies the content"
expect "$(docker cp files:/etc/passwd - | tar -tf -)" "passwd" "cp to stdout is a tar"
set +e; docker cp files:/no/such "$T/none" 2>"$T/e"; rc=$?; set -e
[ "$rc" -ne 0 ] && grep -q "Could not find the file /no/such" "$T/e" || fail "cp of a missing path: rc $rc, $(cat "$T/e")"
log "ok   cp of a missing path fails with docker's message"
docker export idle | docker import - exported:latest >/dev/null
expect "$(docker run --rm exported:latest cat /in/f.txt)" "file-data" "export | import keeps the files"
docker commit -m "with f" --change 'CMD ["cat", "/tmp/f.txt"]' files committed:v1 >/dev/null
expect "$(docker inspect -f '{{.State.Status}}' files)" "running" "commit leaves the container running"
expect "$(docker run --rm committed:v1)" "file-data" "the committed image runs its new CMD on the new file"
expect "$(docker image inspect -f '{{.Comment}}' committed:v1)" "with f" "commit -m"
docker rm -f files idle >/dev/null
docker rmi committed:v1 exported:latest >/dev/null

# ------------------------------------------------------------ healthchecks, OOM
t0=$(date +%s.%N)
docker run -d --name hok --health-cmd 'echo up' --health-interval 1s busybox sleep 1000 >/dev/null
docker run -d --name hbad --health-cmd false --health-interval 1s --health-retries 2 busybox sleep 1000 >/dev/null
wait_until "[ \"\$(docker inspect -f '{{.State.Health.Status}}' hok)\" = healthy ]"
log "ok   a passing healthcheck turns healthy"
wait_until "[ \"\$(docker inspect -f '{{.State.Health.Status}}' hbad)\" = unhealthy ]"
log "ok   a failing healthcheck turns unhealthy after its retries"
expect "$(docker inspect -f '{{(index .State.Health.Log 0).ExitCode}} {{(index .State.Health.Log 0).Output}}' hok)" "0 up" "health log entry"
expect "$(docker ps --filter health=healthy --format '{{.Names}}')" "hok" "ps --filter health=healthy"
docker ps --filter name=hok --format '{{.Status}}' | grep -q '^Up .* (healthy)$' ||
  fail "ps status: $(docker ps --filter name=hok --format '{{.Status}}')"
log "ok   ps shows (healthy)"
docker rm -f hok hbad >/dev/null
set +e; docker run --name oom -m 8m busybox sh -c 'x=$(head -c 64m /dev/zero | tr "\0" a); echo survived' >/dev/null 2>&1; rc=$?; set -e
expect "$rc" "137" "an OOM-killed container exits 137"
expect "$(docker inspect -f '{{.State.OOMKilled}}' oom)" "true" "OOMKilled"
t1=$(date +%s.%N)
events() { docker events --since "$t0" --until "$t1" --format '{{.Actor.Attributes.name}} {{.Action}}' "$@" | tr '\n' ','; }
expect "$(events --filter event=oom --filter event=die --filter container=oom)" "oom oom,oom die," "an oom event, then die"
expect "$(events --filter event=health_status)" "hok health_status: healthy,hbad health_status: unhealthy," "health_status events"
docker rm oom >/dev/null

# ------------------------------------------------------------ bad input
set +e
docker run --rm nosuchimage true >/dev/null 2>"$T/e"; rc=$?
expect "$rc" "125" "unknown image fails with 125"
docker create --name shapes busybox true >/dev/null 2>"$T/e"; rc=$?
[ "$rc" -ne 0 ] || fail "name clash accepted"
grep -q "already in use" "$T/e" || fail "name clash message: $(cat "$T/e")"
docker exec shapes true >/dev/null 2>"$T/e"; rc=$?
expect "$rc" "1" "exec into a stopped container fails"
docker run --rm busybox /no/such/cmd >/dev/null 2>"$T/e"; rc=$?
expect "$rc" "127" "a missing command is 127"
set -e
docker version >/dev/null || fail "berthd died on bad input"

# ------------------------------------------------------------ live restore
docker run -d --name keep --health-cmd 'date +%s%N' --health-interval 1s busybox \
  sh -c 'while true; do echo alive; sleep 0.1; done' >/dev/null
docker run -d --name victim busybox sleep 1000 >/dev/null
victim_pid=$(docker inspect -f '{{.State.Pid}}' victim)
keep_log=$(docker inspect -f '{{.LogPath}}' keep)
kill -KILL "$BPID"; wait "$BPID" 2>/dev/null || true; BPID=
kill -KILL "$victim_pid"
# Gone once its shim reaped it, which then records the exit.
wait_until "! kill -0 $victim_pid"
# keep's shim logs on while berthd is down.
n0=$(wc -l < "$keep_log")
wait_until "[ \$(wc -l < '$keep_log') -gt $n0 ]"
n1=$(wc -l < "$keep_log")
start_berthd
expect "$(docker inspect -f '{{.State.Status}}' keep)" "running" "a container survives berthd's death"
wait_until "[ \"\$(docker inspect -f '{{.State.Status}} {{.State.ExitCode}}' victim)\" = 'exited 137' ]"
log "ok   an exit while berthd was down is kept"
[ "$(docker logs keep | wc -l)" -ge "$n1" ] || fail "logs of keep written while berthd was down are lost"
wait_until "[ \$(docker logs keep | wc -l) -gt $n1 ]"
log "ok   logs kept while berthd was down and still growing"
last_check() { docker inspect keep | jq -r '.[0].State.Health.Log[-1].Start'; }
c1=$(last_check)
wait_until "[ \"\$(last_check)\" != '$c1' ]"
log "ok   healthchecks resume after berthd's restart"
docker rm -f keep victim shapes flaky >/dev/null
expect "$(docker ps -aq | wc -l)" "0" "rm -f removes running containers"
log "all container checks passed"
