#!/bin/sh
# Installs the programs the registry tests run: Debian's docker-registry (the CNCF
# distribution registry), skopeo to push test images, and htpasswd from apache2-utils for
# basic auth. The tests start their own registry on 127.0.0.1, so the packaged service is
# neither needed nor started here.
set -eu

missing=""
command -v docker-registry >/dev/null 2>&1 || missing="$missing docker-registry"
command -v skopeo >/dev/null 2>&1 || missing="$missing skopeo"
command -v htpasswd >/dev/null 2>&1 || missing="$missing apache2-utils"

if [ -z "$missing" ]; then
    echo "registry test tools already installed" >&2
    exit 0
fi

echo "installing:$missing" >&2
apt-get update -qq
# policy-rc.d exit 101 keeps the package scripts from starting the registry service, which
# would listen on every interface on port 5000.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
fi
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
