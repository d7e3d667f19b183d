#!/usr/bin/env bash
# Fuzz each named target (all of them by default) for SECONDS each, one after the other on one
# job, and print a line of statistics per target. Run from the repository root:
#   fuzz/run.sh [-t SECONDS] [TARGET...]
# New inputs go to fuzz/work/TARGET, so fuzz/corpus/TARGET keeps only the seeds, and crash
# inputs go to fuzz/artifacts/TARGET.
set -euo pipefail

seconds=180
if [[ "${1:-}" == "-t" ]]; then
  seconds="$2"
  shift 2
fi
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v inline-scan-fuzz)
fi

# The maximum input length per target, in bytes, chosen so that every seed fits.
max_len() {
  case "$1" in
    rpm_ndb) echo 1400000 ;;
    rpm_sqlite) echo 262144 ;;
    layer_tar | layer_sequence | docker_archive | oci_archive | compression | rpm_bdb | dpkg_status)
      echo 131072
      ;;
    *) echo 65536 ;;
  esac
}

mkdir -p fuzz/logs
for target in "${targets[@]}"; do
  work="fuzz/work/$target"
  mkdir -p "$work"
  log="fuzz/logs/$target.log"
  status=0
  cargo fuzz run -s none --target-dir fuzz/target "$target" "$work" "fuzz/corpus/$target" -- \
    -jobs=1 -workers=1 -max_total_time="$seconds" -max_len="$(max_len "$target")" \
    -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 >"$log" 2>&1 || status=$?
  # With -jobs, libFuzzer writes the fuzzing job's own output to fuzz-0.log.
  if [[ -f fuzz-0.log ]]; then
    cat fuzz-0.log >>"$log"
    rm fuzz-0.log
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  corpus=$(find "$work" -type f | wc -l)
  crashes=$(find "fuzz/artifacts/$target" -type f 2>/dev/null | wc -l)
  echo "$target exit=$status runs=${runs:-?} seconds=$seconds max_len=$(max_len "$target") corpus=$corpus artifacts=$crashes"
done
