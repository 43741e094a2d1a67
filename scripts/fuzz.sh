#!/usr/bin/env bash
# scripts/fuzz.sh [npy|idx|safetensors|manifest ...] — the long runs of the libFuzzer harnesses
# in tests/fuzz/ (ctest runs each for a few seconds only). Each harness runs RUNS executions
# (default 10 million), or for MAX_SECONDS when that is set, starting from the committed seeds
# and from build/fuzz/corpus-NAME (which keeps what earlier runs found). A finding stops that
# harness and is written to build/fuzz/crash-* (never to the source tree). Prints the executions
# each harness ran and ends non-zero when any found something.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${TIDE_BUILD_DIR:-$root/build}
runs=${RUNS:-10000000}
[ -d "$build" ] || bash "$root/scripts/setup.sh"
cmake --build "$build" --target fuzzers >/dev/null
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(npy idx safetensors manifest)
status=0
for name in "${names[@]}"; do
  exe=$build/fuzz/fuzz_$name
  [ -x "$exe" ] || { echo "fuzz.sh: no harness '$name' (expected $exe)" >&2; exit 2; }
  mkdir -p "$build/fuzz/corpus-$name"
  limit=(-runs="$runs")
  [ -n "${MAX_SECONDS:-}" ] && limit=(-max_total_time="$MAX_SECONDS")
  log=$build/fuzz/$name.log
  if "$exe" "${limit[@]}" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
       -artifact_prefix="$build/fuzz/" "$build/fuzz/corpus-$name" "$root/tests/fuzz/seeds/$name" \
       >"$log" 2>&1; then
    result=clean
  else
    result="FOUND SOMETHING (see $log)"
    status=1
  fi
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  secs=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  printf '%-12s %12s executions  %8s exec/s  %s\n' "$name" "$execs" "$secs" "$result"
done
exit $status
