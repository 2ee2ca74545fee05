#!/usr/bin/env bash
# The README's main command: installs what is missing, builds, and runs the main job.
# Today that is the stack on its own: two engines over the in-memory link (see
# README "The two commands"); with utcpd and libutcp.so it becomes nginx over a
# DPDK tap wire with a kernel client and an A/B table.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

scripts/install-deps.sh
scripts/build.sh build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo
exec build/release/tools/utcp-memdemo "$@"
