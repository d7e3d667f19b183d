#!/usr/bin/env bash
# Checks that two inline-scan builds write byte-identical SBOMs and stdout for the same inputs.
# Run it after a change that should only make analysis faster.
#
# Usage: bench/same_output.sh OLD_BINARY NEW_BINARY [IMAGE ...]
#   IMAGE  an IMAGE argument of `inline-scan analyze`. Without any, the benchmark inputs that
#          exist under $INLINE_SCAN_BENCH_DIR (default /tmp/inline-scan-bench) and
#          $INLINE_SCAN_IMAGES_DIR (default /tmp/inline-scan-images) are used, with the image
#          tarballs in tests/fixtures/images.
#
# Each image is analysed with --no-import in both scopes, writing syft JSON, CycloneDX and
# SPDX. SOURCE_DATE_EPOCH is pinned, because the CycloneDX and SPDX documents carry the
# creation time. Exits 1 and names the files that differ.
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "same_output.sh: error: missing arguments; usage: same_output.sh OLD_BINARY NEW_BINARY [IMAGE ...]" >&2
  exit 2
fi
old="$1" new="$2"
shift 2
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bench="${INLINE_SCAN_BENCH_DIR:-/tmp/inline-scan-bench}"
images_dir="${INLINE_SCAN_IMAGES_DIR:-/tmp/inline-scan-images}"

images=("$@")
if [[ ${#images[@]} -eq 0 ]]; then
  for path in "$images_dir"/*/image.docker.tar "$bench"/small.docker.tar \
    "$bench"/large.docker.tar "$repo"/tests/fixtures/images/*.docker.tar; do
    [[ -f "$path" ]] && images+=("docker-archive:$path")
  done
  [[ -f "$bench/minbase.oci/index.json" ]] && images+=("oci-dir:$bench/minbase.oci:bench")
fi
if [[ ${#images[@]} -eq 0 ]]; then
  echo "same_output.sh: error: no images given and none found; run bench/compare.sh --quick first" >&2
  exit 2
fi

export SOURCE_DATE_EPOCH=1700000000
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
differ=0
for image in "${images[@]}"; do
  for scope in squashed all-layers; do
    for build in old new; do
      binary="$old"
      [[ "$build" == new ]] && binary="$new"
      "$binary" analyze --no-import -q --scope "$scope" "$image" \
        --sbom-out "syft-json=$work/$build.syft.json" \
        --sbom-out "cyclonedx-json=$work/$build.cdx.json" \
        --sbom-out "spdx-json=$work/$build.spdx.json" >"$work/$build.stdout"
    done
    for output in syft.json cdx.json spdx.json stdout; do
      if ! cmp -s "$work/old.$output" "$work/new.$output"; then
        echo "same_output.sh: $output differs for $image with --scope $scope" >&2
        differ=1
      fi
    done
  done
done
echo "same_output.sh: compared ${#images[@]} images in 2 scopes" >&2
exit "$differ"
