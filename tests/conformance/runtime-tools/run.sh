#!/usr/bin/env bash
# berth's harness for the opencontainers runtime-tools validation suite
# (validation/*/ -> one TAP-printing *.t binary per directory, plus
# runtimetest, the checker that runs inside the container), run against any
# OCI runtime binary. tests/scripts/10-runtime-conformance.sh runs it on
# berth-runtime and compares the result with ./threshold.
#
#   usage: run.sh /path/to/runtime [TEST ...]
#          (TEST = name of a validation directory, e.g. "default" or "hooks";
#           default: every test that was built)
#
# Nothing of runtime-tools is kept in this repository: the source comes from
# Debian at run time (the -dev package does not ship validation/ or cmd/, so
# the orig tarball of the Debian source package is fetched with apt-get from
# Debian's mirror and checked against the signed Sources index), is built in
# GOPATH mode against Debian's golang-*-dev packages, with ./tapshim standing
# in for github.com/mndrix/tap-go (not packaged), and runs from $RTV_BUILD.
#
# The last line printed is "TOTAL: N ok, M not ok"; the line before it
# "binaries: ..." counts the test binaries that passed. Exit status: 0 when
# the run completed (whatever the results), 2 when the harness failed.
#
# Environment (all optional):
#   RTV_BUILD        build/work dir                        (/tmp/berth-rtv)
#   RTV_TIMEOUT      per-test timeout, seconds             (180)
#   RTV_GLOBAL_ARGS  global args put before every runtime subcommand
#                    (default: "--root $RTV_BUILD/state/<name>", a private state
#                    dir; set to "" for a runtime without --root)
#   RTV_EXTRA_ARGS   more global args, after those
#   RTV_HIDE_CGROUP2=1  run the runtime in a private mount namespace without the
#                    /sys/fs/cgroup/unified mount of a hybrid cgroup host (for
#                    crun, which refuses hybrid hosts whose cgroup2 has controllers)
#   RTV_RESULTS      where TAP logs + summary go   ($RTV_BUILD/results/<name>-<time>)
#   RTV_REBUILD=1    force re-extracting and rebuilding
#   RTV_NO_APT=1     never call apt-get (fail if something is missing)
#   RTV_SRC_DIR      use this runtime-tools source tree instead of Debian's
#   RTV_SRC_TARBALL  use this runtime-tools source tarball instead of Debian's
#   RTV_DEBIAN_SUITE suite for the deb-src download           (trixie)
#   RTV_NAME         label for the runtime in the results (basename of runtime)
set -uo pipefail

die() { echo "run.sh: $*" >&2; exit 2; }
log() { echo "run.sh: $*" >&2; }

[ $# -ge 1 ] || die "usage: $0 /path/to/runtime [TEST ...]"
RT_IN=$1; shift
RT_BIN=$(command -v -- "$RT_IN" 2>/dev/null) || die "runtime '$RT_IN' not found"
RT_BIN=$(readlink -f -- "$RT_BIN")
[ -x "$RT_BIN" ] || die "runtime '$RT_BIN' is not executable"
[ "$(id -u)" = 0 ] || log "warning: not root; most tests need root"

HERE=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
RTV_BUILD=${RTV_BUILD:-/tmp/berth-rtv}
RTV_TIMEOUT=${RTV_TIMEOUT:-180}
RTV_DEBIAN_SUITE=${RTV_DEBIAN_SUITE:-trixie}
NAME=${RTV_NAME:-$(basename -- "$RT_BIN")}
GOARCH_HOST=$(go env GOARCH 2>/dev/null || dpkg --print-architecture)

GOPATH_PRIV=$RTV_BUILD/gopath
SRC=$GOPATH_PRIV/src/github.com/opencontainers/runtime-tools
WORK=$RTV_BUILD/work              # cwd of the tests: runtimetest, rootfs, validation/*.t
SRCPKG=golang-github-opencontainers-runtime-tools

# Debian packages the build and the run need (golang-go >= 1.19).
APT_PKGS="golang-go golang-github-google-uuid-dev golang-github-hashicorp-go-multierror-dev
golang-github-mrunalp-fileutils-dev golang-github-opencontainers-specs-dev
golang-github-opencontainers-selinux-dev golang-github-sirupsen-logrus-dev
golang-github-urfave-cli-dev golang-gocapability-dev golang-golang-x-sys-dev
busybox-static xz-utils tar gzip coreutils util-linux"

mkdir -p "$RTV_BUILD" || die "cannot create $RTV_BUILD"

# ---------------------------------------------------------------- packages
ensure_packages() {
    local missing=() p
    for p in $APT_PKGS; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ -n "${RTV_NO_APT:-}" ] && die "missing Debian packages: ${missing[*]}"
    log "installing: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2 ||
        { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2; } ||
        die "apt-get install failed"
}

# ---------------------------------------------------------------- source
# Leaves the runtime-tools tree at $SRC and a one-line description in SRC_DESC.
get_source() {
    rm -rf "$SRC"; mkdir -p "$SRC"
    local debdir=/usr/share/gocode/src/github.com/opencontainers/runtime-tools
    if [ -n "${RTV_SRC_DIR:-}" ]; then
        cp -a "$RTV_SRC_DIR"/. "$SRC"/ || die "copy $RTV_SRC_DIR failed"
        SRC_DESC="dir $RTV_SRC_DIR"; return
    fi
    if [ -d "$debdir/validation/util" ] && [ -d "$debdir/cmd/runtimetest" ]; then
        cp -a "$debdir"/. "$SRC"/ || die "copy $debdir failed"
        SRC_DESC="installed $debdir ($(dpkg-query -W -f='${Version}' ${SRCPKG}-dev 2>/dev/null))"; return
    fi
    local tarball=${RTV_SRC_TARBALL:-}
    SRC_DESC="tarball $tarball"
    local A=$RTV_BUILD/apt
    # An orig tarball downloaded by an earlier run is reused (no network).
    if [ -z "$tarball" ] && [ -f "$A/dl/orig.sha256" ] && [ -f "$A/dl/desc" ] &&
            (cd "$A/dl" && sha256sum --quiet -c orig.sha256 >/dev/null 2>&1); then
        tarball=$A/dl/$(awk '{print $2; exit}' "$A/dl/orig.sha256")
        SRC_DESC=$(cat "$A/dl/desc")
    fi
    if [ -z "$tarball" ]; then
        [ -n "${RTV_NO_APT:-}" ] && die "no runtime-tools validation source (set RTV_SRC_TARBALL or RTV_SRC_DIR)"
        # Private apt configuration: a deb-src line only for this download, the
        # system's sources are left as they are.
        mkdir -p "$A/lists/partial" "$A/cache/archives/partial" "$A/dl"
        echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $RTV_DEBIAN_SUITE main" > "$A/sources.list"
        local O=(-o "Dir::Etc::SourceList=$A/sources.list" -o "Dir::Etc::SourceParts=$A/none"
                 -o "Dir::State::Lists=$A/lists" -o "Dir::Cache=$A/cache" -o "APT::Sandbox::User=root")
        apt-get "${O[@]}" update >"$A/update.log" 2>&1 || { cat "$A/update.log" >&2; die "apt-get update (deb-src) failed"; }
        local ver
        ver=$(apt-cache "${O[@]}" showsrc "$SRCPKG" | awk '/^Version:/{print $2; exit}')
        [ -n "$ver" ] || die "no source package $SRCPKG in $RTV_DEBIAN_SUITE"
        # The mirror may not serve the .dsc; apt still fetches (and hash-checks)
        # the orig tarball, which is all that is needed, so its exit status is
        # not trusted: the tarball's sha256 is checked below instead.
        (cd "$A/dl" && apt-get "${O[@]}" source --download-only "$SRCPKG=$ver" >"$A/source.log" 2>&1)
        local orig want
        orig=$(ls "$A"/dl/${SRCPKG}_*.orig.tar.* 2>/dev/null | grep -F "_${ver%-*}.orig" | head -1)
        [ -n "$orig" ] || { cat "$A/source.log" >&2; die "could not download the orig tarball of $SRCPKG $ver"; }
        want=$(apt-cache "${O[@]}" showsrc "$SRCPKG" | awk -v f="$(basename "$orig")" '
            /^Checksums-Sha256:/ { s = 1; next }  /^[^ ]/ { s = 0 }  s && $3 == f { print $1; exit }')
        [ -n "$want" ] && [ "$(sha256sum "$orig" | cut -d' ' -f1)" = "$want" ] || die "sha256 mismatch for $orig"
        tarball=$orig
        SRC_DESC="Debian source package $SRCPKG $ver ($RTV_DEBIAN_SUITE main: $(basename "$orig"), sha256 $want)"
        echo "$want  $(basename "$orig")" > "$A/dl/orig.sha256"
        echo "$SRC_DESC" > "$A/dl/desc"
    fi
    tar -xf "$tarball" -C "$SRC" --strip-components=1 || die "extract $tarball failed"
    [ -d "$SRC/validation/util" ] || die "$tarball has no validation/util"
}

# ---------------------------------------------------------------- build
build() {
    ensure_packages
    get_source
    echo "$SRC_DESC" > "$RTV_BUILD/source.txt"
    log "source: $SRC_DESC"

    # Debian does not package github.com/mndrix/tap-go: use our own small
    # implementation of the part of its API the suite uses.
    local tapdir=/usr/share/gocode/src/github.com/mndrix/tap-go
    if [ ! -d "$tapdir" ]; then
        tapdir=$GOPATH_PRIV/src/github.com/mndrix/tap-go
        rm -rf "$tapdir"; mkdir -p "$tapdir"
        cp "$HERE/tapshim/tap.go" "$tapdir/tap.go"
    fi

    export GO111MODULE=off GOFLAGS= CGO_ENABLED=0 GOPATH="$GOPATH_PRIV:/usr/share/gocode" GOCACHE="$RTV_BUILD/gocache"
    rm -rf "$WORK"; mkdir -p "$WORK/validation"
    : > "$RTV_BUILD/build-failures.txt"
    local built=0 failed=0 d n
    (cd "$SRC" && go build -tags "netgo osusergo" -o "$WORK/runtimetest" ./cmd/runtimetest) \
        >"$RTV_BUILD/build-runtimetest.log" 2>&1 || { cat "$RTV_BUILD/build-runtimetest.log" >&2; die "runtimetest does not build"; }
    for d in "$SRC"/validation/*/; do
        n=$(basename "$d")
        [ "$n" = util ] && continue
        if (cd "$SRC" && go build -o "$WORK/validation/$n.t" "./validation/$n") >"$RTV_BUILD/build-$n.log" 2>&1; then
            built=$((built+1)); rm -f "$RTV_BUILD/build-$n.log"
        else
            failed=$((failed+1))
            { echo "== $n"; cat "$RTV_BUILD/build-$n.log"; } >> "$RTV_BUILD/build-failures.txt"
        fi
    done
    log "built $built validation binaries, $failed failed to build (see $RTV_BUILD/build-failures.txt)"
    echo "$SRC_DESC" > "$WORK/.built"
}

# ---------------------------------------------------------------- rootfs
# rootfs-<GOARCH>.tar.gz in the tests' cwd, made from Debian's busybox-static
# (util.PrepareBundle untars exactly "rootfs-$GOARCH.tar.gz" from the cwd).
make_rootfs() {
    local out=$WORK/rootfs-$GOARCH_HOST.tar.gz bb=/usr/bin/busybox
    [ -f "$out" ] && [ "$out" -nt "$bb" ] && return 0
    [ -x "$bb" ] || die "$bb missing (install busybox-static)"
    LC_ALL=C ldd "$bb" 2>&1 | grep -q '=>' && die "$bb is not static (install busybox-static)"
    local R=$RTV_BUILD/rootfs-staging a
    rm -rf "$R"; mkdir -p "$R"/{bin,dev,proc,sys,etc,tmp,root}
    cp "$bb" "$R/bin/busybox"
    for a in $("$bb" --list); do [ "$a" = busybox ] || ln -s busybox "$R/bin/$a"; done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$R/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' > "$R/etc/group"
    chmod 1777 "$R/tmp"
    tar --numeric-owner --owner=0 --group=0 --sort=name --mtime=@0 -C "$R" -czf "$out.tmp" . && mv "$out.tmp" "$out" \
        || die "cannot make $out"
    rm -rf "$R"
}

# ---------------------------------------------------------------- main
exec 9>"$RTV_BUILD/.lock"
flock 9 || die "cannot lock $RTV_BUILD/.lock"
if [ -n "${RTV_REBUILD:-}" ] || [ ! -f "$WORK/.built" ] || [ ! -x "$WORK/runtimetest" ]; then
    build
fi
make_rootfs

STATE=$RTV_BUILD/state/$NAME
TMPD=$RTV_BUILD/tmp/$NAME
mkdir -p "$STATE" "$TMPD"
if [ -z "${RTV_GLOBAL_ARGS+x}" ]; then RTV_GLOBAL_ARGS="--root $STATE"; fi
RTV_GLOBAL_ARGS="$RTV_GLOBAL_ARGS ${RTV_EXTRA_ARGS:-}"
# The suite runs $RUNTIME as a single executable: a wrapper adds the global args.
WRAP=$RTV_BUILD/wrap/$NAME
mkdir -p "$(dirname "$WRAP")"
if [ -n "${RTV_HIDE_CGROUP2:-}" ]; then
    # Run the runtime in a private mount namespace where the hybrid layout's
    # cgroup2 mount (/sys/fs/cgroup/unified) is unmounted, so that it sees a
    # pure cgroup v1 host.  Nothing changes on the host.  The PID stays the
    # same (unshare and sh exec).
    { echo '#!/bin/bash'
      printf 'exec unshare --mount --propagation private /bin/sh -c %q sh %q %s "$@"\n' \
          'umount -l /sys/fs/cgroup/unified 2>/dev/null; exec "$@"' "$RT_BIN" "$RTV_GLOBAL_ARGS"
    } > "$WRAP"
else
    { echo '#!/bin/bash'; printf 'exec %q %s "$@"\n' "$RT_BIN" "$RTV_GLOBAL_ARGS"; } > "$WRAP"
fi
chmod +x "$WRAP"

RES=${RTV_RESULTS:-$RTV_BUILD/results/$NAME-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$RES" || die "cannot create $RES"
ln -sfn "$RES" "$RTV_BUILD/results/$NAME-latest" 2>/dev/null || true

if [ $# -gt 0 ]; then TESTS=("$@")
else TESTS=(); for f in "$WORK"/validation/*.t; do TESTS+=("$(basename "$f" .t)"); done; fi

MARK=rtv-$$-$(date +%s%N)
# Marked processes: every process a test binary started inherits RTV_MARK
# (the `unshare ... sleep` helpers of linux_ns_path, runtime processes); only
# those are ever killed, by PID.
marked_pids() {
    local e p
    for e in /proc/[0-9]*/environ; do
        p=${e#/proc/}; p=${p%/environ}
        [ "$p" = $$ ] && continue
        grep -qzx "RTV_MARK=$MARK" "$e" 2>/dev/null && echo "$p"
    done
}
cleanup_after_test() {
    local id m p
    # 1. containers in our private state dir, i.e. ones these tests made
    #    (as listed by the runtime, and as directories in that state dir)
    for id in $( { "$WRAP" list -q 2>/dev/null
                   find "$STATE" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null; } | sort -u); do
        "$WRAP" kill "$id" KILL >/dev/null 2>&1
        "$WRAP" delete --force "$id" >/dev/null 2>&1
    done
    # 2. processes the test left behind
    for p in $(marked_pids); do kill -KILL "$p" 2>/dev/null; done
    # 3. mounts that propagated back out of a container (rootfsPropagation
    #    "shared" does that) -- only below our private TMPDIR, deepest first
    awk -v pre="$TMPD/" 'index($5, pre) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
        while read -r m; do umount -l "$m" 2>/dev/null; done
    # 4. bundles the test did not remove
    find "$TMPD" -mindepth 1 -maxdepth 1 -name 'ocitest*' -exec rm -rf --one-file-system {} + 2>/dev/null
}
cleanup_after_test   # leftovers of an interrupted earlier run of the same runtime name
trap 'cleanup_after_test' EXIT

{
    echo "runtime: $RT_BIN ($("$RT_BIN" --version 2>/dev/null | head -1))"
    echo "wrapper: $WRAP -> $(tail -1 "$WRAP")"
    echo "source:  $(cat "$RTV_BUILD/source.txt" 2>/dev/null)"
    echo "kernel:  $(uname -r); cgroup fs: $(stat -fc %T /sys/fs/cgroup)"
    echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
} | tee "$RES/info.txt" >&2

printf '%-36s %-8s %5s %6s %5s %5s %4s %6s\n' TEST STATUS OK NOTOK SKIP TODO RC SECS > "$RES/summary.txt"
T_OK=0; T_NOTOK=0; T_SKIP=0; T_TODO=0; T_BROKEN=0; T_SILENT=0; N_PASS=0; N_FAIL=0
cd "$WORK" || die "no $WORK"
for t in "${TESTS[@]}"; do
    bin=./validation/$t.t
    if [ ! -x "$bin" ]; then
        printf '%-36s %-8s %5s %6s %5s %5s %4s %6s\n' "$t" NOBUILD - - - - - - >> "$RES/summary.txt"
        continue
    fi
    start=$(date +%s.%N)
    RTV_MARK=$MARK RUNTIME=$WRAP TMPDIR=$TMPD timeout -k 10 "$RTV_TIMEOUT" "$bin" >"$RES/$t.tap" 2>"$RES/$t.stderr" </dev/null
    rc=$?
    secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}')
    cleanup_after_test
    # TAP counts: top-level lines only (indented YAML is ignored); several
    # TAP streams in one output (some binaries print two) have their plans
    # added up; "errdiag" counts YAML blocks carrying a non-empty error.
    read -r ok notok skip todo plan lines errdiag < <(awk '
        /^ok([ \t]|$)/     { n++; if ($0 ~ /#[ \t]*[Ss][Kk][Ii][Pp]/) s++; else if ($0 ~ /#[ \t]*TODO/) td++; else o++; next }
        /^not ok([ \t]|$)/ { n++; if ($0 ~ /#[ \t]*TODO/) td++; else f++; next }
        /^1\.\.[0-9]+/     { sub(/^1\.\./, ""); p += $0; hp = 1; next }
        /^  error: / && $0 !~ /^  error: (""|~)?$/ { e++ }
        END { printf "%d %d %d %d %s %d %d\n", o, f, s, td, (hp ? p : "-"), n, e }' "$RES/$t.tap")
    # Status (the suite has three ways of saying "failed": not-ok lines, a
    # non-zero exit (util.Fatal, e.g. all *_fail tests when the runtime wrongly
    # accepts the config), and, in the lifecycle/hook tests, only a YAML
    # "error:" block with no test line at all).  A binary that ends cleanly
    # with no test line and no error has passed silently (the *_fail tests
    # and several hook tests do that); it counts as 1 ok in the total, and
    # every ERROR/TIMEOUT/DIAGERR/NOPLAN/BADPLAN binary counts as 1 not ok.
    if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then st=TIMEOUT
    elif [ $rc -ne 0 ]; then st=ERROR
    elif [ "$lines" -eq 0 ] && [ "$errdiag" -gt 0 ]; then st=DIAGERR
    elif [ "$lines" -eq 0 ]; then st=PASS0
    elif [ "$plan" = - ]; then st=NOPLAN
    elif [ "$plan" != "$lines" ]; then st=BADPLAN
    elif [ "$notok" -gt 0 ]; then st=FAIL
    else st=PASS; fi
    case $st in
        PASS) N_PASS=$((N_PASS+1));;
        PASS0) N_PASS=$((N_PASS+1)); T_SILENT=$((T_SILENT+1));;
        FAIL) N_FAIL=$((N_FAIL+1));;
        *) T_BROKEN=$((T_BROKEN+1));;
    esac
    T_OK=$((T_OK+ok)); T_NOTOK=$((T_NOTOK+notok)); T_SKIP=$((T_SKIP+skip)); T_TODO=$((T_TODO+todo))
    printf '%-36s %-8s %5d %6d %5d %5d %4d %6s\n' "$t" "$st" "$ok" "$notok" "$skip" "$todo" "$rc" "$secs" >> "$RES/summary.txt"
    printf '%-36s %-8s ok=%d notok=%d skip=%d todo=%d rc=%d %ss\n' "$t" "$st" "$ok" "$notok" "$skip" "$todo" "$rc" "$secs" >&2
done

if command -v prove >/dev/null 2>&1; then
    (cd "$RES" && prove --exec cat ./*.tap > prove.txt 2>&1)
fi

{
    echo
    cat "$RES/summary.txt"
    echo
    echo "binaries: $((N_PASS + N_FAIL + T_BROKEN)) run: $N_PASS passed ($T_SILENT of them silently: PASS0), $N_FAIL FAIL, $T_BROKEN ERROR/TIMEOUT/DIAGERR/NOPLAN/BADPLAN"
    echo "test lines: $T_OK ok, $T_NOTOK not ok, $T_SKIP skipped, $T_TODO todo"
    [ -f "$RES/prove.txt" ] && echo "prove over the saved TAP: $(grep -E '^Files=' "$RES/prove.txt" | head -1)"
    echo "results: $RES"
    echo "TOTAL: $((T_OK + T_SILENT)) ok, $((T_NOTOK + T_BROKEN)) not ok"
} | tee "$RES/total.txt"
