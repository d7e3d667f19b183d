#!/usr/bin/env bash
# Ends the job with the exit code that analyze.sh saved, once the reports are stored.
set -euo pipefail

file="${INLINE_SCAN_EXIT_CODE_FILE:-/tmp/inline-scan-exit-code}"
if [ ! -f "$file" ]; then
  echo "error: $file is missing, so inline-scan did not run; see the previous step" >&2
  exit 1
fi
code="$(cat "$file")"
if [ "$code" != 0 ]; then
  echo "inline-scan exited with $code; its reports are in the artifacts and test results" >&2
fi
exit "$code"
