#!/usr/bin/env bash
# Starts a second Docker daemon that listens only on tcp://127.0.0.1:2376 with mutual TLS
# (--tlsverify), the way GitLab dind and CircleCI remote Docker expose theirs.
#
# At each start it makes a new CA, a server certificate (SAN IP:127.0.0.1, DNS:localhost) and a
# client certificate with openssl, and writes the client folder for DOCKER_CERT_PATH:
#   $root/client/{ca.pem,cert.pem,key.pem}
# Clients then use:
#   DOCKER_HOST=tcp://127.0.0.1:2376 DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$root/client
# The daemon keeps its data, exec root, pidfile and log under $root, apart from the main daemon.
set -euo pipefail

root="${INLINE_SCAN_TLS_DOCKERD_ROOT:-/tmp/inline-scan-tls-dockerd}"
host="tcp://127.0.0.1:2376"
client="$root/client"
server="$root/server"

client_env() {
  env DOCKER_HOST="$host" DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH="$client" "$@"
}

if [[ -s "$client/ca.pem" ]] && client_env docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
  echo "TLS docker daemon already running on $host, DOCKER_CERT_PATH=$client" >&2
  exit 0
fi

if [[ -s "$root/dockerd.pid" ]] && kill -0 "$(cat "$root/dockerd.pid")" 2>/dev/null; then
  echo "error: a dockerd from $root/dockerd.pid is running but does not answer on $host;" \
    "stop it (kill $(cat "$root/dockerd.pid")) and run this script again" >&2
  exit 1
fi

rm -rf "$client" "$server"
mkdir -p "$root/data" "$root/exec" "$client" "$server"
chmod 700 "$client" "$server"

# Certificates: EC P-256 keys, valid for 30 days, regenerated at every start.
ec_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

ec_key "$server/ca-key.pem"
openssl req -x509 -new -key "$server/ca-key.pem" -sha256 -days 30 \
  -subj "/CN=inline-scan test CA" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out "$server/ca.pem"

sign() { # sign NAME SUBJECT EXTENSIONS
  ec_key "$server/$1-key.pem"
  openssl req -new -key "$server/$1-key.pem" -subj "$2" -out "$server/$1.csr"
  printf '%s\n' "$3" >"$server/$1.ext"
  openssl x509 -req -in "$server/$1.csr" -CA "$server/ca.pem" -CAkey "$server/ca-key.pem" \
    -CAcreateserial -sha256 -days 30 -extfile "$server/$1.ext" -out "$server/$1-cert.pem" 2>/dev/null
}

sign server "/CN=localhost" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost"
sign client "/CN=inline-scan test client" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"

cp "$server/ca.pem" "$client/ca.pem"
cp "$server/client-cert.pem" "$client/cert.pem"
cp "$server/client-key.pem" "$client/key.pem"
chmod 600 "$client/key.pem" "$server"/*-key.pem

# An empty config file, so a machine-wide /etc/docker/daemon.json (which may set hosts) is ignored.
echo '{}' >"$root/daemon.json"

nohup dockerd \
  --config-file "$root/daemon.json" \
  --data-root "$root/data" \
  --exec-root "$root/exec" \
  --pidfile "$root/dockerd.pid" \
  --bridge=none --iptables=false --ip-masq=false \
  --host "$host" \
  --tlsverify \
  --tlscacert "$server/ca.pem" \
  --tlscert "$server/server-cert.pem" \
  --tlskey "$server/server-key.pem" \
  >"$root/dockerd.log" 2>&1 &

for _ in $(seq 1 60); do
  if client_env docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
    echo "TLS docker daemon started on $host, DOCKER_CERT_PATH=$client, log $root/dockerd.log" >&2
    exit 0
  fi
  sleep 1
done
echo "error: the TLS dockerd did not respond on $host within 60 s; see $root/dockerd.log" >&2
tail -n 30 "$root/dockerd.log" >&2 || true
exit 1
