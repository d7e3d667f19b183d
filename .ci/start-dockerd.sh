#!/usr/bin/env bash
# Starts a Docker daemon with no network of its own when none answers on the default socket.
# The daemon keeps its data under a temporary folder and writes its log beside it.
set -euo pipefail

if docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
  echo "docker daemon already running: $(docker version --format '{{.Server.Version}}')" >&2
  exit 0
fi

root="${INLINE_SCAN_DOCKERD_ROOT:-/tmp/inline-scan-dockerd}"
mkdir -p "$root/data" "$root/exec"
nohup dockerd \
  --data-root "$root/data" \
  --exec-root "$root/exec" \
  --pidfile "$root/dockerd.pid" \
  --bridge=none --iptables=false --ip-masq=false \
  --host unix:///var/run/docker.sock \
  >"$root/dockerd.log" 2>&1 &

for _ in $(seq 1 60); do
  if docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
    echo "docker daemon started: $(docker version --format '{{.Server.Version}}'), log $root/dockerd.log" >&2
    exit 0
  fi
  sleep 1
done
echo "error: dockerd did not answer within 60 s; see $root/dockerd.log" >&2
tail -n 30 "$root/dockerd.log" >&2 || true
exit 1
