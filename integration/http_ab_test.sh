#!/usr/bin/env bash
# The HTTP A/B of README command 1 and `make -f Makefile.bench http-tap` (bench/http_ab.sh),
# shortened to one pair of 1 s runs, for both servers it knows: nginx under libutcp.so
# against nginx on the kernel (the demo's), and utcpd's --http against
# utcp-kernel-httpd. Both sides answer the same bytes, wrk completes requests on both
# with no errors, and the table and JSON are written. A smoke test of the instrument,
# not a measurement. Rules: TESTBED.md (http_ab.sh makes and removes its own namespaces).
set -euo pipefail

SRC=${UTCP_SOURCE:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${UTCP_BUILD:-$SRC/build}
WORK=$(mktemp -d /tmp/utcp-http-ab-test.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
FAILED=0
log() { echo "[http_ab] $*"; }
fail() { echo "[http_ab] FAIL: $*" >&2; FAILED=1; }

[ "$(id -u)" = 0 ] || { echo "[http_ab] FAIL: needs root (netns, tap)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "[http_ab] FAIL: wrk not installed" >&2; exit 1; }

for server in nginx responder; do
  rc=0
  SERVER=$server BUILD=$BUILD PAIRS=1 DURATION=1 OUTDIR="$WORK/out-$server" timeout 120 \
    "$SRC/bench/http_ab.sh" >"$WORK/log" 2>&1 || rc=$?
  [ "$rc" = 0 ] || fail "$server: bench/http_ab.sh exited with $rc: $(tail -5 "$WORK/log")"
  grep -q "the same bytes as" "$WORK/log" || fail "$server: no identical-response check"
  for side in utcp kernel; do
    row=$(grep "^| $side " "$WORK/log" || true)
    [ -n "$row" ] || { fail "$server: no table row for $side"; continue; }
    rps=$(awk -F'|' '{ split($3, a, " "); print int(a[1]) }' <<<"$row")
    errors=$(awk -F'|' '{ gsub(/ /, "", $9); print $9 }' <<<"$row")
    log "$server, $side: $rps req/s, wrk errors $errors"
    [ "$rps" -gt 0 ] || fail "$server: $side served no requests"
    [ "$errors" = 0 ] || fail "$server: $side: wrk errors $errors"
  done
  [ -s "$WORK/out-$server/http_tap.json" ] && [ -s "$WORK/out-$server/http_tap.md" ] ||
    fail "$server: no JSON/Markdown written"
done

[ "$FAILED" = 0 ] && log PASS
exit "$FAILED"
