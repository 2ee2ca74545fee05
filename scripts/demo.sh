#!/usr/bin/env bash
# The README's main command: installs what is missing, builds, and runs the main job
# (as root: it makes network namespaces): utcpd on a DPDK tap wire in a private
# namespace, Debian's nginx under LD_PRELOAD=libutcp.so, a kernel client (curl, then
# wrk) fetching from it, and a short A/B against the same nginx on the kernel stack
# behind a veth, printed as a table (bench/ab.py: keep-alive and short connections).
# `make -f Makefile.bench ab` runs the whole matrix (memif wire, lighttpd, small
# messages, bulk); `build/release/tools/utcp-memdemo` shows the stack alone.
# Env: PAIRS (2) and DURATION (2 s) of the A/B.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

[ "$(id -u)" = 0 ] || { echo "demo: run as root (it creates network namespaces and a tap device)" >&2; exit 1; }
scripts/install-deps.sh
scripts/build.sh build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo
exec bench/ab.py --build build/release --wires tap --scenarios nginx-ka-1w,nginx-close \
  --pairs "${PAIRS:-2}" --duration "${DURATION:-2}" --out build/release/demo
