#!/usr/bin/env bash
# berth's container commands against its own berthd (issue 4, acceptance 1
# with berth): run with output and exit codes, -d + logs -f, exec (and
# exec -it through a pty), stop/kill/restart, pause/unpause, --rm, inspect
# fields, ps, detach keys, cp both ways, export | import, commit. Runs a private berthd and removes everything on
# exit.
set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"

BIN=$BERTH_BIN_DIR
require_built berthd berth berth-shim
require_tools curl script jq

# Short: the shims' sockets live under the exec root (107-byte limit).
WORK=$(mktemp -d "/tmp/b45-$$-XXX")
PID=
cleanup() {
  if [ -n "$PID" ]; then
    "$BIN/berth" rm -f $("$BIN/berth" ps -aq 2>/dev/null) >/dev/null 2>&1 || true
    kill -TERM "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

SOCK=$WORK/berth.sock
run_berthd "$SOCK" "$WORK/data" "$WORK/exec" "$WORK/berthd.log"
PID=$BERTHD_PID
export BERTH_HOST=unix://$SOCK
berth() { "$BIN/berth" "$@"; }
die() { echo "45-berth-containers: FAIL: $*" >&2; tail -20 "$WORK/berthd.log" >&2; exit 1; }
expect() { [ "$1" = "$2" ] || die "$3: got '$1', want '$2'"; }
# rc CMD... : the exit code of CMD, without tripping set -e.
rc() { local r=0; "$@" > "$WORK/out" 2> "$WORK/err" || r=$?; echo "$r"; }
# wait_eq WANT CMD... : retry CMD (10 s at most) until it prints WANT.
wait_eq() {
  local want=$1 got=; shift
  for _ in $(seq 100); do got=$("$@" 2>/dev/null) || true; [ "$got" = "$want" ] && return 0; sleep 0.1; done
  die "$*: got '$got', want '$want'"
}
# shows FILE TEXT : wait (10 s at most) until FILE holds TEXT.
shows() { wait_eq yes sh -c 'grep -qF -- "$2" "$1" && echo yes' - "$1" "$2"; }

make_rootfs_tar "$WORK/rootfs.tar"
berth import "$WORK/rootfs.tar" busybox:latest > /dev/null

log "run: output, stderr and exit codes"
expect "$(berth run --rm busybox echo hi)" "hi" "run echo"
expect "$(rc berth run --rm busybox sh -c 'echo out; echo err >&2; exit 3')" 3 "exit code"
expect "$(cat "$WORK/out")/$(cat "$WORK/err")" "out/err" "stdout/stderr split"
expect "$(rc berth run --rm busybox /no/such)" 127 "missing command"
expect "$(rc berth run --rm no-such-image)" 125 "missing image"
head -1 "$WORK/err" | grep -q "^Unable to find image 'no-such-image:latest' locally$" ||
  die "no 'Unable to find image' line: $(cat "$WORK/err")"
expect "$(rc berth run --memory nonsense busybox true)" 125 "bad flag value"
expect "$(echo piped | berth run --rm -i busybox cat)" "piped" "run -i"
expect "$(berth ps -aq | wc -l)" 0 "--rm removed the containers"

log "run -d, logs -f, exec"
id=$(berth run -d --name web -e GREETING=hello -l tier=front busybox \
  sh -c 'echo $GREETING; i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done')
expect "${#id}" 64 "run -d prints the id"
# logs -f replays, then follows: it must show a tick logged after it began.
wait_eq yes sh -c "$BIN/berth logs web | grep -q '^tick 1$' && echo yes"
next=$(( $(berth logs web | grep -c tick) + 2 ))
timeout 20 sh -c "$BIN/berth logs -f web | grep -m1 -qx 'tick $next'" ||
  die "logs -f did not follow to tick $next: $(berth logs --tail 3 web)"
expect "$(berth logs web | head -1)" hello "logs from the start"
expect "$(berth logs --tail 1 web | grep -c tick)" 1 "logs --tail 1"
expect "$(berth exec web sh -c 'echo $GREETING')" "hello" "exec sees the env"
expect "$(rc berth exec web sh -c 'exit 9')" 9 "exec exit code"
# The client still sends (stdin nobody reads) when the output ends: it gets
# the end of the stream and the exit code, not a reset connection.
expect "$(rc timeout 20 sh -c "yes | $BIN/berth exec -i web sh -c 'echo done; exit 9'")" 9 "exec -i, unread stdin"
expect "$(cat "$WORK/out")" done "exec -i, unread stdin: output"
expect "$(berth exec -w /tmp -u nobody web sh -c 'pwd; id -u')" "$(printf '/tmp\n65534')" "exec -w -u"
out=$(script -qec "$BIN/berth exec -it web sh -c 'tty; exit 4'" /dev/null) && r=0 || r=$?
expect "$r" 4 "exec -it exit code"
grep -q /dev/pts/ <<< "$out" || die "exec -it has no tty: $out"

log "ps and inspect"
expect "$(berth ps --format '{{.Names}} {{.Image}} {{.State}} {{.Labels}}')" \
  "web busybox running tier=front" "ps --format"
expect "$(berth ps --filter name=web -q)" "${id:0:12}" "ps --filter -q"
expect "$(berth inspect -f '{{.Name}} {{.State.Running}} {{.Config.Image}} {{index .Config.Labels "tier"}}' web)" \
  "/web true busybox front" "inspect fields"
expect "$(berth inspect --type container -f '{{.HostConfig.RestartPolicy.Name}}' web)" "no" "HostConfig"
berth inspect web | jq -e '.[0] | .State and .Config and .HostConfig and .Mounts and .NetworkSettings' \
  > /dev/null || die "inspect lacks docker's top-level fields"

log "pause, unpause, stop, restart, kill, wait"
berth pause web > /dev/null
expect "$(berth inspect -f '{{.State.Status}}' web)" paused "pause"
berth unpause web > /dev/null
expect "$(berth inspect -f '{{.State.Status}}' web)" running "unpause"
expect "$(berth stop -t 1 web)" web "stop prints the name"
expect "$(berth inspect -f '{{.State.Status}} {{.State.ExitCode}}' web)" "exited 137" "stop (sh ignores TERM)"
berth restart -t 1 web > /dev/null
expect "$(berth inspect -f '{{.State.Running}}' web)" true "restart"
berth kill -s KILL web > /dev/null
expect "$(berth wait web)" 137 "wait after kill"
expect "$(berth ps -a --format '{{.Names}} {{.State}}')" "web exited" "ps -a"
expect "$(berth rm web)" web "rm"
expect "$(rc berth rm web)" 1 "rm of a gone container"

log "create + start -a/-ai, attach"
berth create --name sa busybox sh -c 'echo from-start; exit 6' > /dev/null
expect "$(rc berth start -a sa)" 6 "start -a exit code"
expect "$(cat "$WORK/out")" from-start "start -a output"
berth create -i --name si busybox cat > /dev/null
expect "$(echo fed | timeout 20 "$BIN/berth" start -ai si)" fed "start -ai: stdin EOF ends cat"
# The container waits for /tmp/go, which comes once the attach shows its
# output: the attach is then surely there for the last line and the exit.
berth run -d --name at busybox sh -c 'until [ -e /tmp/go ]; do echo waiting; sleep 0.1; done; echo late; exit 8' > /dev/null
timeout 20 "$BIN/berth" attach at > "$WORK/at.out" 2>&1 & ap=$!
shows "$WORK/at.out" waiting
berth exec at touch /tmp/go
wait "$ap" && r=0 || r=$?
expect "$r" 8 "attach exit code"
expect "$(tail -1 "$WORK/at.out")" late "attach output"
berth rm sa si at > /dev/null

log "healthchecks, OOM kill, attach with logs"
berth run -d --name hok --health-cmd 'echo up' --health-interval 1s busybox sleep 60 > /dev/null
berth run -d --name hbad --health-cmd false --health-interval 1s --health-retries 2 busybox sleep 60 > /dev/null
wait_eq healthy berth inspect -f '{{.State.Health.Status}}' hok
wait_eq unhealthy berth inspect -f '{{.State.Health.Status}}' hbad
expect "$(berth inspect hok | jq -r '.[0].State.Health.Log[0] | "\(.ExitCode) \(.Output)"')" "0 up" "health log"
expect "$(berth inspect hbad | jq -r '.[0].State.Health.FailingStreak >= 2')" true "failing streak"
expect "$(berth ps --filter health=healthy --format '{{.Names}}')" hok "ps --filter health=healthy"
expect "$(berth ps --filter health=unhealthy --format '{{.Names}}')" hbad "ps --filter health=unhealthy"
berth ps --filter name=hok --format '{{.Status}}' | grep -q '^Up .* (healthy)$' ||
  die "ps status: $(berth ps --filter name=hok --format '{{.Status}}')"
berth rm -f hok hbad > /dev/null
# An image's HEALTHCHECK (its config edited in a saved archive, loaded back):
# used as is, its unset parts filled under --health-interval, or turned off.
mkdir "$WORK/img"
berth save busybox:latest | tar -C "$WORK/img" -xf -
cfg=$(jq -r '.[0].Config' "$WORK/img/manifest.json")
jq -c '.config.Healthcheck = {"Test": ["CMD-SHELL", "echo from-image"], "Interval": 1000000000}' \
  "$WORK/img/$cfg" > "$WORK/cfg.json"
digest=$(sha256sum "$WORK/cfg.json" | cut -d' ' -f1)
mv "$WORK/cfg.json" "$WORK/img/blobs/sha256/$digest"
jq --arg c "blobs/sha256/$digest" '.[0].Config = $c | .[0].RepoTags = ["hc:latest"]' \
  "$WORK/img/manifest.json" > "$WORK/manifest.json"
mv "$WORK/manifest.json" "$WORK/img/manifest.json"
rm -f "$WORK/img/index.json" "$WORK/img/oci-layout" "$WORK/img/repositories"
tar -C "$WORK/img" -cf - . | berth load > /dev/null
berth run -d --name himg hc sleep 60 > /dev/null
berth run -d --name hpart --health-interval 500ms hc sleep 60 > /dev/null
berth run -d --name hnone --no-healthcheck hc sleep 60 > /dev/null
wait_eq "healthy from-image" sh -c "$BIN/berth inspect himg | jq -r '.[0].State.Health | \"\\(.Status) \\(.Log[0].Output)\"'"
expect "$(berth inspect hpart | jq -c '.[0].Config.Healthcheck')" \
  '{"Interval":500000000,"Test":["CMD-SHELL","echo from-image"]}' "--health-interval keeps the image's test"
expect "$(berth inspect hnone | jq -c '[.[0].Config.Healthcheck.Test, .[0].State.Health]')" '[["NONE"],null]' "--no-healthcheck"
berth rm -f himg hpart hnone > /dev/null
expect "$(rc berth run --name oom -m 8m busybox sh -c 'x=$(head -c 64m /dev/zero | tr "\0" a); echo survived')" 137 "OOM kill exit code"
expect "$(berth inspect -f '{{.State.OOMKilled}} {{.State.ExitCode}}' oom)" "true 137" "OOMKilled"
berth rm oom > /dev/null
berth run -d -t --name lg busybox sh -c 'echo before; sleep 2; echo after' > /dev/null
lg_logs() { berth logs lg | tr -d '\r'; }
wait_eq before lg_logs
out=$(timeout 10 curl -s -N --unix-socket "$SOCK" -X POST -H 'Connection: Upgrade' -H 'Upgrade: tcp' \
  "http://berth/containers/lg/attach?logs=1&stream=1&stdout=1&stderr=1" | tr -d '\r')
expect "$out" "$(printf 'before\nafter')" "attach?logs=1 replays the log, then follows"
berth rm -f lg > /dev/null

log "run -it through a pty: resize, exit code, detach keys"
# Keys are typed once the shell shows its prompt (script -f writes the
# terminal's output to the typescript as it comes).
: > "$WORK/pty1"
out=$( (shows "$WORK/pty1" '# '; printf 'stty size; exit 5\r') |
  script -qfec "stty rows 30 cols 100; $BIN/berth run -it --rm busybox sh" "$WORK/pty1") && r=0 || r=$?
expect "$r" 5 "run -it exit code"
grep -q '30 100' <<< "$out" || die "run -it size: $out"
: > "$WORK/pty2"
(shows "$WORK/pty2" '# '; printf 'echo h""i\r'; shows "$WORK/pty2" hi; printf '\020\021') |
  script -qfec "$BIN/berth run -it --name det busybox sh" "$WORK/pty2" > /dev/null && r=0 || r=$?
expect "$r" 0 "detach exits 0"
expect "$(berth inspect -f '{{.State.Running}}' det)" true "detached container keeps running"
berth rm -f det > /dev/null

log "cp both ways, export | import, commit"
berth run -d --name files busybox sleep 1000 > /dev/null
berth create --name idle busybox cat /in/f.txt > /dev/null
mkdir -p "$WORK/src/dir/sub"
echo file-data > "$WORK/src/f.txt"; echo deep > "$WORK/src/dir/sub/x"
berth cp "$WORK/src/f.txt" files:/tmp/f.txt
expect "$(berth exec files cat /tmp/f.txt)" file-data "cp a file into a running container"
berth cp "$WORK/src/dir" files:/tmp/
expect "$(berth exec files cat /tmp/dir/sub/x)" deep "cp a directory into a running container"
berth cp "$WORK/src/dir" idle:/in
berth cp "$WORK/src/f.txt" idle:/in/f.txt
expect "$(berth start -a idle)" file-data "cp a directory and a file into a stopped container"
berth cp files:/tmp/dir "$WORK/out1"
expect "$(cat "$WORK/out1/sub/x")" deep "cp a directory out of a running container"
berth cp idle:/in/sub/x "$WORK/x.out"
expect "$(cat "$WORK/x.out")" deep "cp a file out of a stopped container"
expect "$(rc berth cp files:/no/such "$WORK/none")" 1 "cp of a missing path"
berth export idle | berth import - exported:latest > /dev/null
expect "$(berth run --rm exported:latest cat /in/f.txt)" file-data "export | import"
berth commit -m "with f" --change 'CMD ["cat", "/tmp/f.txt"]' files committed:v1 > /dev/null
expect "$(berth inspect -f '{{.State.Status}}' files)" running "commit leaves the container running"
expect "$(berth run --rm committed:v1)" file-data "the committed image runs its new CMD"
expect "$(berth image inspect -f '{{.Comment}}' committed:v1)" "with f" "commit -m"
berth rm -f files idle > /dev/null
berth rmi committed:v1 exported:latest > /dev/null

log "45-berth-containers: OK"
