#!/usr/bin/env bash
# TCP throughput from the host into a container: straight to the
# container's address on the bridge, through a port berth publishes (nft
# DNAT, on 127.0.0.1 and on the host's address), and through docker's
# userland proxy (docker-proxy) for comparison. Target: published ≥ 90% of
# direct. Also prints the time of one attach (veth, addresses, routes and
# the nft port rule). Needs root; cleans up after itself.
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
