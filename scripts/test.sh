#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, and runs every test.
# Unit tests run twice: under ASan+UBSan, then in the optimised build together with
# everything else, so the output ends with ctest's summary of the full run. Between
# them each fuzz target runs UTCP_FUZZ_SECONDS (60) on its seed corpus (a crash fails).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

scripts/install-deps.sh

echo "== unit tests under AddressSanitizer + UndefinedBehaviorSanitizer"
scripts/build.sh build/asan -DCMAKE_BUILD_TYPE=Debug -DUTCP_SANITIZE=ON -DUTCP_BENCH=OFF
ctest --test-dir build/asan -L unit --output-on-failure -j"$(nproc)" --timeout 300

echo "== fuzz targets, ${UTCP_FUZZ_SECONDS:-60} s each (libFuzzer; docs/fuzzing.md)"
scripts/fuzz.sh "${UTCP_FUZZ_SECONDS:-60}"

echo "== all tests (optimised build)"
scripts/build.sh build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo
ctest --test-dir build/release --output-on-failure -j"$(nproc)" --timeout 600
