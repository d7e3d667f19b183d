#!/usr/bin/env bash
# Installs the official SBOM validators into a virtual environment that tests/sbom_formats.rs
# uses: cyclonedx-python-lib (strict JSON schema validation of CycloneDX 1.6) and spdx-tools
# (`pyspdxtools -i FILE` parses and validates SPDX 2.3).
#
# The environment lives in $INLINE_SCAN_VALIDATORS_VENV, or by default in
# ${XDG_CACHE_HOME:-$HOME/.cache}/inline-scan/sbom-validators. Running the script again
# reuses the environment and only installs what is missing, so it is safe to call from CI on
# every run. The last line printed is the environment's directory.
set -euo pipefail

CYCLONEDX_LIB_VERSION="11.12.0"
SPDX_TOOLS_VERSION="0.8.5"

venv="${INLINE_SCAN_VALIDATORS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/inline-scan/sbom-validators}"
python="${PYTHON:-python3}"

if ! command -v "$python" >/dev/null 2>&1; then
    echo "error: $python not found; install Python 3.9 or later, or set PYTHON to its path" >&2
    exit 1
fi

if [ ! -x "$venv/bin/python" ]; then
    echo "creating virtual environment $venv" >&2
    mkdir -p "$(dirname "$venv")"
    "$python" -m venv "$venv"
fi

# Checks both imports and both versions, so a half-finished earlier install is repaired.
installed() {
    "$venv/bin/python" - "$CYCLONEDX_LIB_VERSION" "$SPDX_TOOLS_VERSION" <<'EOF' 2>/dev/null
import sys
from importlib.metadata import version
import cyclonedx.validation.json  # noqa: F401
import jsonschema  # noqa: F401  (pulled in by the json-validation extra)
import spdx_tools.spdx.parser.parse_anything  # noqa: F401
ok = version("cyclonedx-python-lib") == sys.argv[1] and version("spdx-tools") == sys.argv[2]
sys.exit(0 if ok else 1)
EOF
}

if installed && [ -x "$venv/bin/pyspdxtools" ]; then
    echo "validators already installed in $venv" >&2
else
    echo "installing cyclonedx-python-lib $CYCLONEDX_LIB_VERSION and spdx-tools $SPDX_TOOLS_VERSION" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        "cyclonedx-python-lib[json-validation]==$CYCLONEDX_LIB_VERSION" \
        "spdx-tools==$SPDX_TOOLS_VERSION"
    if ! installed; then
        echo "error: the validators did not import after installing into $venv; delete that directory and run this script again" >&2
        exit 1
    fi
fi

echo "$venv"
