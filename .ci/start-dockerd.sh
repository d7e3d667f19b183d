#!/usr/bin/env bash
# Starts a Docker daemon with no network of its own when none responds on the default socket.
# The daemon keeps its data under a temporary folder and writes its log beside it.
set -euo pipefail

socket=unix:///var/run/docker.sock
# Check the default socket even when the caller's DOCKER_HOST points elsewhere.
server_version() { DOCKER_HOST="$socket" docker version --format '{{.Server.Version}}' 2>/dev/null; }

if server_version >/dev/null; then
  echo "docker daemon already running: $(server_version)" >&2
  exit 0
fi

for tool in dockerd docker; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "error: $tool is not installed; install Debian's docker.io package (.ci/run does)" >&2
    exit 1
  fi
done

root="${INLINE_SCAN_DOCKERD_ROOT:-/tmp/inline-scan-dockerd}"
mkdir -p "$root/data" "$root/exec"
# An empty config file, so a machine-wide /etc/docker/daemon.json (which may set hosts) is ignored.
echo '{}' >"$root/daemon.json"
nohup dockerd \
  --config-file "$root/daemon.json" \
  --data-root "$root/data" \
  --exec-root "$root/exec" \
  --pidfile "$root/dockerd.pid" \
  --bridge=none --iptables=false --ip-masq=false \
  --host "$socket" \
  >"$root/dockerd.log" 2>&1 &

for _ in $(seq 1 60); do
  if server_version >/dev/null; then
    echo "docker daemon started: $(server_version), log $root/dockerd.log" >&2
    exit 0
  fi
  sleep 1
done
echo "error: dockerd did not respond within 60 s; see $root/dockerd.log" >&2
tail -n 30 "$root/dockerd.log" >&2 || true
exit 1
