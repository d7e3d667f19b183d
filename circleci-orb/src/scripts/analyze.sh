#!/usr/bin/env bash
# Runs `inline-scan analyze` with the options a CI wrapper passed as environment variables.
#
# Each option OPTION of `inline-scan analyze` is read from INLINE_SCAN_INPUT_<OPTION in upper
# snake case>, e.g. --image-id from INLINE_SCAN_INPUT_IMAGE_ID, and the image from
# INLINE_SCAN_INPUT_IMAGE. Empty variables add nothing, so the binary's own defaults apply.
# Values reach the binary as separate arguments and are never evaluated as shell text.
#
# With INLINE_SCAN_INPUT_BUNDLE set instead of the image, the script runs
# `inline-scan import BUNDLE`, which uploads a bundle that an earlier `analyze --bundle-out`
# wrote. Only the options `import` accepts (marked `both` below) may be set then.
#
# Secrets never become arguments. The binary reads the Anchore password from ANCHORE_CLI_PASS
# in the environment. INLINE_SCAN_PASSWORD_VARIABLE may name another variable that contains
# it, for platforms that pass secrets by variable name (CircleCI env_var_name parameters).
# The registry password is read from INLINE_SCAN_REGISTRY_PASSWORD, or from the variable that
# INLINE_SCAN_REGISTRY_PASSWORD_VARIABLE names, and reaches the binary on standard input
# through --registry-password-stdin. It requires INLINE_SCAN_INPUT_REGISTRY_USERNAME.
#
# INLINE_SCAN_BIN selects the binary (default: inline-scan on PATH). With
# INLINE_SCAN_EXIT_CODE_FILE set, the script saves the binary's exit code there and exits 0,
# so the platform can store the reports before a later step fails the job.
#
# The script avoids here-strings because CircleCI reads two less-than signs as the start of a
# parameter.
set -euo pipefail

# Every option of `inline-scan analyze` with its kind, flag (true/false), list (one value per
# line, repeated option) or value, and whether `inline-scan import` accepts it too (both) or
# only analyze does. tests/wrappers.rs checks this table against the binary.
option_table='
url value both
username value both
account value both
api-version value both
cacert value both
insecure flag both
force flag both
no-wait flag both
fail-on-policy flag both
no-import flag analyze
timeout value both
request-timeout value both
annotation list analyze
digest value analyze
dockerfile value analyze
image-id value analyze
manifest value analyze
generate-manifest flag analyze
tag list analyze
all-tags flag analyze
pull flag analyze
platform value analyze
max-layer-size value analyze
max-tar-header-size value analyze
registry-insecure flag analyze
registry-cacert value analyze
registry-username value analyze
scope value analyze
sbom-out list analyze
bundle-out value analyze
result-json value both
verbose flag both
quiet flag both
report value both
report-dir value both
'

binary="${INLINE_SCAN_BIN:-inline-scan}"
command=analyze
if [ -n "${INLINE_SCAN_INPUT_BUNDLE:-}" ]; then
  if [ -n "${INLINE_SCAN_INPUT_IMAGE:-}" ]; then
    echo "error: both the image and the bundle input are set; set image to analyze an image, or bundle to import a bundle written earlier" >&2
    exit 1
  fi
  command=import
fi
arguments=("$command")

while read -r option kind scope; do
  [ -n "$option" ] || continue
  variable="INLINE_SCAN_INPUT_$(printf '%s' "$option" | tr 'a-z-' 'A-Z_')"
  value="${!variable:-}"
  [ -n "$value" ] || continue
  # A flag left at false sets nothing, so it does not count against an import.
  if [ "$command" = import ] && [ "$scope" != both ] && [ "$value" != false ]; then
    echo "error: $variable is set, but --$option applies to analyzing an image, not to importing a bundle; the bundle already contains the result of that choice" >&2
    exit 1
  fi
  case "$kind" in
    flag)
      case "$value" in
        true) arguments+=("--$option") ;;
        false) ;;
        *)
          echo "error: $variable must be true or false, not '$value'" >&2
          exit 1
          ;;
      esac
      ;;
    list)
      while IFS= read -r item || [ -n "$item" ]; do
        item="${item%$'\r'}"
        [ -n "$item" ] && arguments+=("--$option=$item")
      done < <(printf '%s\n' "$value")
      ;;
    value)
      arguments+=("--$option=$value")
      ;;
  esac
done < <(printf '%s\n' "$option_table")

if [ -n "${INLINE_SCAN_PASSWORD_VARIABLE:-}" ]; then
  if ! [[ "$INLINE_SCAN_PASSWORD_VARIABLE" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
    echo "error: INLINE_SCAN_PASSWORD_VARIABLE must be a variable name, not '$INLINE_SCAN_PASSWORD_VARIABLE'" >&2
    exit 1
  fi
  if [ -z "${!INLINE_SCAN_PASSWORD_VARIABLE:-}" ]; then
    echo "error: the password variable $INLINE_SCAN_PASSWORD_VARIABLE is empty or not set; define it as a secret (project variable or context)" >&2
    exit 1
  fi
  ANCHORE_CLI_PASS="${!INLINE_SCAN_PASSWORD_VARIABLE}"
  export ANCHORE_CLI_PASS
fi

# The registry password is copied out of its variable, which is then removed from the
# environment the binary inherits.
if [ -n "${INLINE_SCAN_REGISTRY_PASSWORD_VARIABLE:-}" ]; then
  registry_variable="$INLINE_SCAN_REGISTRY_PASSWORD_VARIABLE"
else
  registry_variable=INLINE_SCAN_REGISTRY_PASSWORD
fi
if ! [[ "$registry_variable" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
  echo "error: INLINE_SCAN_REGISTRY_PASSWORD_VARIABLE must be a variable name, not '$registry_variable'" >&2
  exit 1
fi
registry_password="${!registry_variable:-}"
unset "$registry_variable"
if [ -n "${INLINE_SCAN_INPUT_REGISTRY_USERNAME:-}" ]; then
  if [ -z "$registry_password" ]; then
    echo "error: the registry user name is set, but the registry password variable $registry_variable is empty or not set; define it as a secret (masked variable, project variable or context)" >&2
    exit 1
  fi
  if [[ "$registry_password" == *$'\n'* ]]; then
    echo "error: the registry password in $registry_variable contains a line break; the binary reads only its first line" >&2
    exit 1
  fi
  arguments+=(--registry-password-stdin)
elif [ -n "$registry_password" ]; then
  echo "error: $registry_variable contains a registry password, but the registry user name is empty; set the wrapper's registry username input" >&2
  exit 1
fi

if [ "$command" = import ]; then
  arguments+=(-- "$INLINE_SCAN_INPUT_BUNDLE")
elif [ -z "${INLINE_SCAN_INPUT_IMAGE:-}" ]; then
  echo "error: no image given; set the wrapper's image input (or its bundle input to import a bundle)" >&2
  exit 1
else
  arguments+=(-- "$INLINE_SCAN_INPUT_IMAGE")
fi

printf 'running:' >&2
printf ' %q' "$binary" "${arguments[@]}" >&2
printf '\n' >&2
# The registry password reaches standard input from the printf builtin, so it never appears
# in an argument list. Without it the binary keeps the script's standard input.
run_binary() {
  if [ -n "$registry_password" ]; then
    "$binary" "${arguments[@]}" < <(printf '%s\n' "$registry_password")
  else
    "$binary" "${arguments[@]}"
  fi
}

if [ -n "${INLINE_SCAN_EXIT_CODE_FILE:-}" ]; then
  status=0
  run_binary || status=$?
  printf '%s\n' "$status" >"$INLINE_SCAN_EXIT_CODE_FILE"
  exit 0
fi
if [ -n "$registry_password" ]; then
  exec "$binary" "${arguments[@]}" < <(printf '%s\n' "$registry_password")
fi
exec "$binary" "${arguments[@]}"
