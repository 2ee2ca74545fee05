#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, and runs every test.
# Unit tests run twice: under ASan+UBSan, then in the optimised build together with
# everything else, so the output ends with ctest's summary of the full run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

scripts/install-deps.sh

echo "== unit tests under AddressSanitizer + UndefinedBehaviorSanitizer"
scripts/build.sh build/asan -DCMAKE_BUILD_TYPE=Debug -DUTCP_SANITIZE=ON -DUTCP_BENCH=OFF
ctest --test-dir build/asan -L unit --output-on-failure -j"$(nproc)" --timeout 300

echo "== all tests (optimised build)"
scripts/build.sh build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo
ctest --test-dir build/release --output-on-failure -j"$(nproc)" --timeout 600
