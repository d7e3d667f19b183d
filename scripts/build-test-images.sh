#!/usr/bin/env bash
# Builds and loads the images that the daemon tests and the end-to-end tests scan.
#
# Images (debootstrap downloads packages from the apt mirror; no container gets a network):
#   inline-scan-test/debian-bookworm-minbase:12  debootstrap --variant=minbase, imported as one layer
#   inline-scan-test/scratch-dpkg:1              FROM scratch, a few files and a 2-package dpkg status
#   every tests/fixtures/images/*.docker.tar     docker load, with the tags stored in the tarball
#
# The script is idempotent: an image already in the daemon is skipped, and the debootstrap result
# is cached under $INLINE_SCAN_IMAGES_DIR (default /tmp/inline-scan-images) so a new daemon only
# needs a `docker load` of the cached tarball.
#
# Outputs next to each cached image:
#   debian-bookworm-minbase/dpkg-query.tsv      `dpkg-query -W` run inside the root, the ground truth
#   debian-bookworm-minbase/image.docker.tar    `docker save` of the imported image
#   scratch-dpkg/image.docker.tar               `docker save` of the scratch image
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${INLINE_SCAN_IMAGES_DIR:-/tmp/inline-scan-images}"
fixture_images="${INLINE_SCAN_FIXTURE_IMAGES:-$repo/tests/fixtures/images}"
mkdir -p "$cache"

log() { echo "build-test-images: $*" >&2; }

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# Prints the first Debian mirror of the machine's apt sources (deb822 or one-line form).
apt_mirror() {
  local uri=""
  if [[ -r /etc/apt/sources.list.d/debian.sources ]]; then
    uri="$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' \
      /etc/apt/sources.list.d/debian.sources)"
  fi
  if [[ -z "$uri" && -r /etc/apt/sources.list ]]; then
    uri="$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; exit } }' \
      /etc/apt/sources.list)"
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

build_debian_minbase() {
  local name="inline-scan-test/debian-bookworm-minbase:12"
  local dir="$cache/debian-bookworm-minbase"
  local tarball="$dir/image.docker.tar"
  local expected="$dir/dpkg-query.tsv"

  if image_exists "$name" && [[ -s "$tarball" && -s "$expected" ]]; then
    log "$name: already in the daemon"
    return
  fi
  if [[ -s "$tarball" && -s "$expected" ]]; then
    log "$name: loading the cached $tarball"
    docker load -i "$tarball" >&2
    return
  fi

  local mirror root
  mirror="$(apt_mirror)"
  root="$dir/rootfs"
  rm -rf "$root" "$dir/partial.tar"
  mkdir -p "$dir"
  log "$name: debootstrap --variant=minbase bookworm from $mirror (about 80 s on 2 cores with a nearby mirror)"
  debootstrap --variant=minbase bookworm "$root" "$mirror" >"$dir/debootstrap.log" 2>&1 || {
    log "error: debootstrap failed; last lines of $dir/debootstrap.log:"
    tail -n 20 "$dir/debootstrap.log" >&2
    exit 1
  }
  rm -f "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin
  rm -rf "$root"/var/lib/apt/lists/*
  find "$root/var/log" -type f -delete

  # Ground truth for the dpkg cataloger tests, as dpkg itself reads the database. The
  # ${...} fields are dpkg-query's format, not shell expansions.
  # shellcheck disable=SC2016
  chroot "$root" dpkg-query -W -f '${Package}\t${Version}\t${Architecture}\n' >"$expected.partial"
  mv "$expected.partial" "$expected"
  log "$name: $(wc -l <"$expected") packages in $expected"

  tar --numeric-owner -C "$root" -c . | docker import -c 'CMD ["/bin/bash"]' - "$name" >&2
  docker save -o "$dir/partial.tar" "$name"
  mv "$dir/partial.tar" "$tarball"
  rm -rf "$root"
  log "$name: imported and saved to $tarball"
}

build_scratch_dpkg() {
  local name="inline-scan-test/scratch-dpkg:1"
  local dir="$cache/scratch-dpkg"
  if image_exists "$name" && [[ -s "$dir/image.docker.tar" ]]; then
    log "$name: already in the daemon"
    return
  fi

  local context="$dir/context"
  rm -rf "$context"
  mkdir -p "$context/rootfs/etc" "$context/rootfs/var/lib/dpkg" "$context/rootfs/usr/share/doc/hello" \
    "$context/rootfs/app"
  cat >"$context/rootfs/etc/os-release" <<'EOF'
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
EOF
  cat >"$context/rootfs/var/lib/dpkg/status" <<'EOF'
Package: hello
Status: install ok installed
Priority: optional
Section: devel
Installed-Size: 280
Maintainer: Santiago Vila <sanvila@debian.org>
Architecture: amd64
Version: 2.10-3
Depends: libc6 (>= 2.34)
Description: example package based on GNU hello
 A test package for the inline-scan daemon tests.

Package: libc6
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 12988
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u10
Description: GNU C Library: Shared libraries
 A test package for the inline-scan daemon tests.
EOF
  echo "hello from the scratch-dpkg test image" >"$context/rootfs/app/hello.txt"
  printf 'Copyright: test data written for inline-scan\n' >"$context/rootfs/usr/share/doc/hello/copyright"
  cat >"$context/Dockerfile" <<'EOF'
FROM scratch
COPY rootfs/ /
LABEL org.opencontainers.image.description="inline-scan daemon test image: two dpkg packages"
EOF
  # The legacy builder needs no buildx plugin, and FROM scratch needs no registry.
  DOCKER_BUILDKIT=0 docker build --network none -q -t "$name" "$context" >&2
  docker save -o "$dir/partial.tar" "$name"
  mv "$dir/partial.tar" "$dir/image.docker.tar"
  log "$name: built and saved to $dir/image.docker.tar"
}

load_fixture_tarballs() {
  local tarball found=0 tag
  shopt -s nullglob
  for tarball in "$fixture_images"/*.docker.tar; do
    found=1
    tag="$(tar -xOf "$tarball" manifest.json | python3 -c 'import json,sys; print(" ".join(t for m in json.load(sys.stdin) for t in (m.get("RepoTags") or [])))')"
    if [[ -n "$tag" ]] && image_exists "${tag%% *}"; then
      log "${tag%% *}: already in the daemon"
      continue
    fi
    log "loading $tarball"
    docker load -i "$tarball" >&2
  done
  shopt -u nullglob
  if [[ "$found" == 0 ]]; then
    log "no $fixture_images/*.docker.tar to load"
  fi
}

# Arguments select images (scratch-dpkg, fixtures, debian-bookworm-minbase); no argument builds all.
targets=("$@")
if [[ ${#targets[@]} == 0 ]]; then
  targets=(scratch-dpkg fixtures debian-bookworm-minbase)
fi
for target in "${targets[@]}"; do
  case "$target" in
    scratch-dpkg) build_scratch_dpkg ;;
    fixtures) load_fixture_tarballs ;;
    debian-bookworm-minbase) build_debian_minbase ;;
    *)
      log "error: unknown image $target; expected scratch-dpkg, fixtures or debian-bookworm-minbase"
      exit 2
      ;;
  esac
done
