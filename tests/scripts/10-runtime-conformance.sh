#!/usr/bin/env bash
# OCI conformance of berth-runtime: runs the runtime-tools validation suite
# (tests/conformance/runtime-tools/run.sh, source from Debian) and fails when
# fewer test binaries pass, or fewer checks are ok, than the committed
# threshold (tests/conformance/runtime-tools/threshold).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN_DIR=${BERTH_BIN_DIR:-target/release}
RT=$(readlink -f "$BIN_DIR/berth-runtime")
[ -x "$RT" ] || { echo "10-runtime-conformance: no berth-runtime in $BIN_DIR" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "10-runtime-conformance: needs root" >&2; exit 1; }

HERE=tests/conformance/runtime-tools
# shellcheck source=/dev/null
source <(grep -E '^[a-z_]+=[0-9]+$' "$HERE/threshold")
OUT=$(mktemp -d)
cleanup() {
    rm -rf "$OUT"
    # The suite's relative cgroupsPath tests make testdir/cgrouptest below the
    # runtime's own cgroup; delete removes only the container's leaf (as runc).
    local h
    for h in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
        rmdir "$h/testdir/cgrouptest" "$h/testdir" 2>/dev/null || true
    done
}
trap cleanup EXIT

RTV_NAME=berth RTV_RESULTS="$OUT/results" "$HERE/run.sh" "$RT" > "$OUT/log" 2>&1 || {
    tail -30 "$OUT/log" >&2
    echo "10-runtime-conformance: the harness failed" >&2
    exit 1
}
total=$(grep '^TOTAL:' "$OUT/results/total.txt")
bins=$(grep '^binaries:' "$OUT/results/total.txt")
passed=$(sed -n 's/.* run: \([0-9]*\) passed.*/\1/p' <<<"$bins")
ok=$(sed -n 's/^TOTAL: \([0-9]*\) ok.*/\1/p' <<<"$total")
grep -v -E ' PASS0? ' "$OUT/results/summary.txt"
echo "$bins"
echo "$total"
fail=0
[ "$passed" -ge "$binaries_passed" ] || { echo "10-runtime-conformance: $passed binaries passed, threshold $binaries_passed" >&2; fail=1; }
[ "$ok" -ge "$ok_min" ] || { echo "10-runtime-conformance: $ok checks ok, threshold $ok_min" >&2; fail=1; }
exit $fail
