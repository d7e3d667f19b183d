#!/usr/bin/env bash
# Starts podman's Docker-compatible API service on a unix socket, for the tests that check the
# daemon source against podman, and loads the scratch test image into podman's storage.
# Clients use DOCKER_HOST=unix://$socket. The service runs until it is killed (pidfile below).
set -euo pipefail

root="${INLINE_SCAN_PODMAN_ROOT:-/tmp/inline-scan-podman}"
socket="$root/podman.sock"
cache="${INLINE_SCAN_IMAGES_DIR:-/tmp/inline-scan-images}"
mkdir -p "$root"

if ! command -v podman >/dev/null 2>&1; then
  echo "error: podman is not installed; install Debian's podman package" >&2
  exit 1
fi

responds() { curl -sf --unix-socket "$socket" http://podman/_ping >/dev/null 2>&1; }

if ! responds; then
  rm -f "$socket"
  nohup podman system service --time=0 "unix://$socket" >"$root/service.log" 2>&1 &
  echo $! >"$root/service.pid"
  for _ in $(seq 1 30); do
    responds && break
    sleep 1
  done
  if ! responds; then
    echo "error: podman system service did not respond on $socket within 30 s; see $root/service.log" >&2
    tail -n 20 "$root/service.log" >&2 || true
    exit 1
  fi
  echo "podman service started on unix://$socket, log $root/service.log" >&2
else
  echo "podman service already running on unix://$socket" >&2
fi

# podman keeps its own image storage, so the scratch image is loaded from the builder's cache.
tarball="$cache/scratch-dpkg/image.docker.tar"
if ! podman image exists inline-scan-test/scratch-dpkg:1; then
  if [[ ! -s "$tarball" ]]; then
    echo "error: $tarball is missing; run scripts/build-test-images.sh scratch-dpkg first" >&2
    exit 1
  fi
  podman load -q -i "$tarball" >&2
fi
