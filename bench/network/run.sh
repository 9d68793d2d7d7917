#!/usr/bin/env bash
# TCP throughput into a container: from the host straight to the
# container's address on the bridge, through a port berth publishes (nft
# DNAT, on 127.0.0.1 and on the host's address) and through docker's
# userland proxy (docker-proxy) for comparison; and from a "remote" client
# (a namespace behind a plain veth, as another machine would be) directly
# and through the published port. Target: published >= 90% of direct.
# Also prints the time of one attach without ports (netlink only) and
# with one published port (plus the nft transaction). Needs root; cleans
# up after itself. Numbers on a loaded 2-core VM swing by +-30%: compare
# rows of one run (paths are measured round-robin), not runs.
#   bench/network/run.sh [MiB per run, default 512] [runs, default 7]
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "$(id -u)" != 0 ]; then echo "bench/network: needs root" >&2; exit 1; fi
BIN=${BERTH_NETBENCH:-}
if [ -z "$BIN" ]; then
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
  cargo build -q --release -p berth-network --example netbench
  BIN=$CARGO_TARGET_DIR/release/examples/netbench
fi
"$BIN" "${1:-512}" "${2:-7}"
