#!/usr/bin/env bash
# Runs the whole test suite: scripts/setup.sh installs the tools and starts the services the tests
# use (every step is idempotent), then cargo fmt --check, cargo clippy and cargo test run.
#
# With CI=true a missing Docker daemon fails the run. Without CI, the daemon setup is tried and
# the tests that need a daemon print SKIPPED when it is not there.
# Each phase prints its duration to stderr.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"


# Runs one phase and prints its name and duration to stderr.
phase() {
  local name="$1" start status=0
  shift
  echo "==> $name" >&2
  start=$(date +%s)
  "$@" || status=$?
  echo "==> $name: $(($(date +%s) - start)) s (exit $status)" >&2
  return "$status"
}

total_start=$(date +%s)

bash scripts/setup.sh

phase "cargo fmt --check" cargo fmt --all --check
phase "cargo clippy" cargo clippy --all-targets --locked -- -D warnings
# The test output is kept to print one total at the end, because the last cargo line only
# counts the last test binary.
test_log="$(mktemp)"
trap 'rm -f "$test_log"' EXIT
# run_tests is called through phase, which shellcheck cannot follow.
# shellcheck disable=SC2317
run_tests() {
  cargo test --locked "$@" 2>&1 | tee -a "$test_log"
  return "${PIPESTATUS[0]}"
}
test_status=0
phase "cargo test --doc" run_tests --doc || test_status=$?
phase "cargo test" run_tests --all-targets --no-fail-fast || test_status=$?

echo "==> all phases: $(($(date +%s) - total_start)) s" >&2
awk '/^test result:/ { passed += $4; failed += $6; ignored += $8 }
  END { printf "total: %d passed, %d failed, %d skipped\n", passed, failed, ignored }' "$test_log"
exit "$test_status"
