#!/usr/bin/env bash
# Stand-in for the inline-scan binary in wrapper tests. It records its arguments (one per
# line) and the names of its environment variables, checks the password it received against
# STAND_IN_PASSWORD_SHA256 and, with --registry-password-stdin, the first line of standard
# input against STAND_IN_REGISTRY_PASSWORD_SHA256, without recording either. It writes a
# GitHub step output when GITHUB_OUTPUT is set, and exits with STAND_IN_EXIT_CODE (default 0).
set -euo pipefail

log="${STAND_IN_LOG:?STAND_IN_LOG must name the log file prefix}"
printf '%s\n' "$@" >"$log.argv"
compgen -e | sort >"$log.env"

if [ -n "${STAND_IN_PASSWORD_SHA256:-}" ]; then
  received="$(printf '%s' "${ANCHORE_CLI_PASS:-}" | sha256sum | cut -d ' ' -f 1)"
  if [ "$received" = "$STAND_IN_PASSWORD_SHA256" ]; then
    echo match >"$log.password"
  else
    echo mismatch >"$log.password"
  fi
fi

for argument in "$@"; do
  if [ "$argument" = --registry-password-stdin ]; then
    line=''
    IFS= read -r line || true
    received="$(printf '%s' "$line" | sha256sum | cut -d ' ' -f 1)"
    if [ "$received" = "${STAND_IN_REGISTRY_PASSWORD_SHA256:-}" ]; then
      echo match >"$log.registry-password"
    else
      echo mismatch >"$log.registry-password"
    fi
  fi
done

if [ -n "${GITHUB_OUTPUT:-}" ]; then
  printf 'status<<STAND_IN_END\nok\nSTAND_IN_END\n' >>"$GITHUB_OUTPUT"
fi
echo "stand-in finished"
exit "${STAND_IN_EXIT_CODE:-0}"
