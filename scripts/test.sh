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
step "cargo build --release"
cargo build --workspace --release --locked
step "cargo test"
BERTH_BIN_DIR=$PWD/target/release cargo test --workspace --locked -- --test-threads=2

failed=()
for s in tests/scripts/*.sh; do
  [ -e "$s" ] || continue
  step "$s"
  if ! BERTH_BIN_DIR=$PWD/target/release "$s"; then failed+=("$s"); fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "test.sh: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "test.sh: all tests passed"
