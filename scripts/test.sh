#!/usr/bin/env bash
# Sets up the machine and runs every test: formatting, lints, unit and
# real-kernel tests, then the process-level scripts in tests/scripts/ (the
# runtime-tools conformance suite, peers running berth-runtime, ...).
# With CI=true a test whose prerequisite is missing fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."
export CI=${CI:-true}

[ "$(id -u)" = 0 ] || { echo "test.sh: run as root (tests create namespaces, cgroups, mounts)" >&2; exit 1; }
scripts/setup.sh

step() { echo; echo "=== $* ($(date +%T))"; }
step "cargo fmt --check"
cargo fmt --all --check
step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
# One debug build serves the unit tests, the e2e tests and the scripts: a
# release build too would double CI's compile time (benchmarks use release).
step "cargo build"
cargo build --workspace --locked
export BERTH_BIN_DIR=$PWD/target/debug
step "cargo test"
cargo test --workspace --locked -- --test-threads=2

failed=()
for s in tests/scripts/*.sh; do
  [ -e "$s" ] || continue
  step "$s"
  if ! "$s"; then failed+=("$s"); fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "test.sh: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "test.sh: all tests passed"
