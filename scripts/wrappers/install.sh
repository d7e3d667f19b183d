#!/usr/bin/env bash
# Puts a verified inline-scan binary in place for the GitHub Action and prints its path on
# standard output.
#
# With INLINE_SCAN_BINARY set, that file is used as it is. Otherwise the release archive
# inline-scan-<version>-<target>.tar.gz is downloaded from INLINE_SCAN_RELEASE_URL/v<version>/
# and its SHA-256 must match the line for that file in checksums.sha256 beside this script,
# which is committed with each release. Nothing runs before the checksum matches.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [ -n "${INLINE_SCAN_BINARY:-}" ]; then
  if [ ! -x "$INLINE_SCAN_BINARY" ]; then
    echo "error: binary '$INLINE_SCAN_BINARY' does not exist or is not executable" >&2
    exit 1
  fi
  printf '%s\n' "$INLINE_SCAN_BINARY"
  exit 0
fi

version="${INLINE_SCAN_VERSION:-}"
base_url="${INLINE_SCAN_RELEASE_URL:-}"
if [ -z "$version" ] || [ -z "$base_url" ]; then
  echo "error: set the binary input, or both version and release-url, so the action can find inline-scan" >&2
  exit 1
fi
if ! [[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  echo "error: version must be an exact release such as 1.2.3, not '$version'" >&2
  exit 1
fi

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) target="x86_64-unknown-linux-musl" ;;
  Linux-aarch64 | Linux-arm64) target="aarch64-unknown-linux-musl" ;;
  Darwin-x86_64) target="x86_64-apple-darwin" ;;
  Darwin-arm64) target="aarch64-apple-darwin" ;;
  *)
    echo "error: no inline-scan release for $(uname -s) $(uname -m)" >&2
    exit 1
    ;;
esac

archive="inline-scan-$version-$target.tar.gz"
expected="$(awk -v name="$archive" '$2 == name || $2 == "*" name { print $1 }' "$here/checksums.sha256")"
if ! [[ "$expected" =~ ^[0-9a-f]{64}$ ]]; then
  echo "error: checksums.sha256 has no SHA-256 for $archive; use a version this action release lists" >&2
  exit 1
fi

directory="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/inline-scan-$version-$target"
mkdir -p "$directory"
curl --fail --silent --show-error --location --retry 3 --max-time 300 \
  --output "$directory/$archive" "${base_url%/}/v$version/$archive"

if command -v sha256sum >/dev/null 2>&1; then
  actual="$(sha256sum "$directory/$archive" | awk '{ print $1 }')"
else
  actual="$(shasum -a 256 "$directory/$archive" | awk '{ print $1 }')"
fi
if [ "$actual" != "$expected" ]; then
  rm -f "$directory/$archive"
  echo "error: SHA-256 of $archive is $actual, expected $expected; the download is corrupt or was replaced" >&2
  exit 1
fi

tar -xzf "$directory/$archive" -C "$directory" inline-scan
printf '%s\n' "$directory/inline-scan"
