#!/usr/bin/env bash
# Runs in place of the inline-scan binary in the wrapper tests: appends its own argv (one
# argument per line, then an empty line) to RECORD_ARGV_LOG, then replaces itself with
# RECORD_ARGV_BINARY, which keeps the same arguments, standard input and environment.
set -euo pipefail

log="${RECORD_ARGV_LOG:?RECORD_ARGV_LOG must name the argv log file}"
binary="${RECORD_ARGV_BINARY:?RECORD_ARGV_BINARY must name the binary to run}"
{
  printf '%s\n' "$0" "$@"
  printf '\n'
} >>"$log"
exec "$binary" "$@"
