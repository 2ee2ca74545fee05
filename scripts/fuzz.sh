#!/usr/bin/env bash
# fuzz.sh [SECONDS] [wire|engine|shim ...]: builds build/fuzz with clang-14 (UTCP_FUZZ=ON,
# RelWithDebInfo) and runs each libFuzzer target (default: all three) for SECONDS (default
# 60) on a copy of its seed corpus, so tests/fuzz/corpus/ never grows. Crash, leak and
# timeout inputs land in build/fuzz/artifacts/; the exit status is non-zero if any target
# found one. Prints one summary line per target. docs/fuzzing.md has the details.
#
# fuzz.sh --seeds: builds, then rewrites tests/fuzz/corpus/ with fuzz_seeds.
# UTCP_FUZZ_WORKDIR=DIR keeps the working corpora in DIR/<target> across runs (long runs).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build/fuzz
artifacts=$build/artifacts

if ! command -v clang++-14 >/dev/null; then
  echo "fuzz.sh: clang++-14 not found (apt-get install clang-14 libclang-rt-14-dev)" >&2
  exit 1
fi

build_targets() {
  if [ ! -f "$build/build.ninja" ]; then
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
      -DUTCP_FUZZ=ON -DUTCP_BENCH=OFF >/dev/null
  fi
  # Only the fuzz targets: the rest of the tree is built by scripts/build.sh with GCC.
  cmake --build "$build" -j"${UTCP_FUZZ_JOBS:-2}" --target fuzz_wire fuzz_engine fuzz_shim fuzz_seeds
}

if [ "${1:-}" = "--seeds" ]; then
  build_targets
  "$build/tests/fuzz/fuzz_seeds" "$root/tests/fuzz/corpus"
  exit 0
fi

seconds=${1:-60}
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(wire engine shim)
for t in "${targets[@]}"; do
  case $t in wire|engine|shim) ;; *) echo "fuzz.sh: unknown target '$t' (wire, engine, shim)" >&2; exit 2 ;; esac
done

build_targets
mkdir -p "$artifacts"
if [ -n "${UTCP_FUZZ_WORKDIR:-}" ]; then
  work=$UTCP_FUZZ_WORKDIR
  mkdir -p "$work"
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi

# UBSan reports with a stack; libFuzzer's own defaults cover ASan and LeakSanitizer.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
failed=0
summaries=()
for t in "${targets[@]}"; do
  corpus=$work/$t
  mkdir -p "$corpus"
  cp -n "$root/tests/fuzz/corpus/$t/"* "$corpus/" 2>/dev/null || true
  log=$build/fuzz_$t.log
  echo "== fuzz_$t: ${seconds} s (log: ${log#"$root"/})"
  rc=0
  "$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts/$t-" "$corpus" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([^ ]*\).*/\1/p' <<<"$last")
  if [ "$rc" -eq 0 ]; then
    verdict=ok
  else
    verdict="FAILED (exit $rc)"
    failed=1
    echo "-- fuzz_$t failed; end of its log:"
    tail -n 60 "$log"
    ls -1t "$artifacts" | grep "^$t-" | head -3 | sed "s|^|   artifact: ${artifacts#"$root"/}/|"
  fi
  summaries+=("$(printf 'fuzz_%-6s %-16s execs %-9s exec/s %-6s cov %-6s ft %-6s corpus %-12s rss %s MB' \
    "$t" "$verdict" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "${rss:-?}")")
done

echo "== summary"
printf '%s\n' "${summaries[@]}"
exit "$failed"
