#!/usr/bin/env bash
# Installs everything berth's build, demo and tests need on Debian 12, as root.
# Idempotent: packages already present are not fetched again.
set -euo pipefail

PKGS=(
  build-essential pkg-config git curl ca-certificates jq time xz-utils libseccomp-dev
  busybox-static iproute2 nftables tmux util-linux procps psmisc
  runc crun containerd docker.io podman skopeo umoci docker-registry hyperfine
  # the Engine API swagger (API 1.41), YAML for the e2e schema checks, docker-py
  golang-github-docker-docker-dev python3-yaml python3-docker
  # the OCI runtime-tools validation suite is built from Debian's source with these
  golang-go golang-github-google-uuid-dev golang-github-hashicorp-go-multierror-dev
  golang-github-mrunalp-fileutils-dev golang-github-opencontainers-specs-dev
  golang-github-opencontainers-selinux-dev golang-github-sirupsen-logrus-dev
  golang-github-urfave-cli-dev golang-gocapability-dev golang-golang-x-sys-dev
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # Services that packages would start (dockerd, containerd) are started by
  # the tests themselves with private roots, never by the package.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get update -q || true
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

command -v cargo >/dev/null || { echo "setup: cargo is missing (rustup toolchain expected)" >&2; exit 1; }
# Ask cargo itself whether clippy and rustfmt work: a toolchain may come
# without a rustup front end, and then only a missing component is an error.
if ! cargo clippy --version >/dev/null 2>&1 || ! cargo fmt --version >/dev/null 2>&1; then
  command -v rustup >/dev/null || { echo "setup: cargo clippy/fmt missing and no rustup to add them" >&2; exit 1; }
  rustup component add clippy rustfmt
fi
