#!/usr/bin/env bash
# berth-runtime against crun and runc, side by side in one run: `run` of a busybox
# /bin/true container (hyperfine, warm-up then RUNS timed runs each), create/start/
# delete, and the peak RSS of `run`. Prints medians and ratios.
#
# crun 1.8 refuses this host's hybrid cgroup layout, so all three run inside a
# private mount namespace where a throw-away tmpfs covers /sys/fs/cgroup/unified:
# every runtime then sees plain cgroup v1, and the host is untouched.
#
# The state roots are on a tmpfs, as their defaults are (/run/berth/runtime,
# /run/crun, /run/runc): on the disk, every file a runtime creates waits on
# the ext4 journal, which other jobs on a shared machine keep busy, and that
# noise is not what the benchmark is about. BENCH_STATE_DISK=1 keeps them on
# the disk (in the temporary directory) as before.
#
#   usage: bench/runtime/run.sh [RUNS]     (default 50)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../../tests/scripts/lib/common.sh"
RUNS=${1:-50}
require_tools hyperfine runc crun jq
[ -x "$BERTH_RUNTIME" ] || fail "build first: cargo build --release (want $BERTH_RUNTIME)"

if [ "${BENCH_INNER:-}" != 1 ]; then
  T=$(mktemp -d /tmp/berth-bench-rt.XXXXXX)
  trap 'rm -rf --one-file-system "$T"' EXIT
  make_bundle "$T/bundle" /bin/true
  BENCH_INNER=1 T=$T unshare -m --propagation private "$0" "$@"
  exit 0
fi

mount -t tmpfs -o size=4m,mode=755 berth-bench-hide /sys/fs/cgroup/unified
B=$T/bundle
S=$T/state
mkdir -p "$S"
[ "${BENCH_STATE_DISK:-}" = 1 ] || mount -t tmpfs -o size=16m,mode=700 berth-bench-state "$S"
declare -A CMD=([berth]="$BERTH_RUNTIME --root $S/berth" [crun]="crun --root $S/crun" [runc]="runc --root $S/runc")
ORDER=(berth crun runc)

median_ms() { jq -r '.results[0].median * 1000 | . * 100 | round / 100' "$1"; }
declare -A MED
for rt in "${ORDER[@]}"; do
  R=${CMD[$rt]}
  hyperfine -N --style basic --warmup 3 --runs "$RUNS" --export-json "$T/$rt.run.json" "$R run --bundle $B bench-run" >&2
  MED[$rt.run]=$(median_ms "$T/$rt.run.json")
  hyperfine -N --style basic --warmup 3 --runs "$RUNS" --export-json "$T/$rt.create.json" \
    --prepare "sh -c '$R delete -f bench-c >/dev/null 2>&1; true'" \
    --cleanup "sh -c '$R delete -f bench-c >/dev/null 2>&1; true'" \
    "$R create --bundle $B bench-c" >&2
  MED[$rt.create]=$(median_ms "$T/$rt.create.json")
  hyperfine -N --style basic --warmup 3 --runs "$RUNS" --export-json "$T/$rt.start.json" \
    --prepare "sh -c '$R delete -f bench-s >/dev/null 2>&1; $R create --bundle $B bench-s'" \
    --cleanup "sh -c '$R delete -f bench-s >/dev/null 2>&1; true'" \
    "$R start bench-s" >&2
  MED[$rt.start]=$(median_ms "$T/$rt.start.json")
  for i in $(seq 15); do
    /usr/bin/time -f %M -o "$T/time.txt" $R run --bundle "$B" bench-rss
    cat "$T/time.txt"
  done | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}' > "$T/$rt.rss"
  MED[$rt.rss]=$(cat "$T/$rt.rss")
done

echo
state_on=tmpfs
[ "${BENCH_STATE_DISK:-}" = 1 ] && state_on=disk
echo "== runtime benchmark: busybox /bin/true, $RUNS runs each, medians ($(date -u +%FT%TZ), $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg), state on $state_on)"
printf '%-8s %12s %12s %12s %16s\n' runtime "run ms" "create ms" "start ms" "peak RSS KiB"
for rt in "${ORDER[@]}"; do
  printf '%-8s %12s %12s %12s %16s\n' "$rt" "${MED[$rt.run]}" "${MED[$rt.create]}" "${MED[$rt.start]}" "${MED[$rt.rss]}"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; }
echo
echo "berth/crun run: $(ratio "${MED[berth.run]}" "${MED[crun.run]}")   berth/runc run: $(ratio "${MED[berth.run]}" "${MED[runc.run]}")"
echo "berth/crun peak RSS: $(ratio "${MED[berth.rss]}" "${MED[crun.rss]}")   berth/runc peak RSS: $(ratio "${MED[berth.rss]}" "${MED[runc.rss]}")"
