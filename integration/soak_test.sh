#!/usr/bin/env bash
# Issue 6 "Soak": connections opened, used and closed at the highest rate for
# SOAK_SECONDS (default 120; `make -f Makefile.bench soak SOAK_SECONDS=3600` for
# hours): wrk with Connection: close against nginx under libutcp.so on a tap wire.
# Checks: no client error and every response complete; utcpd's RSS flat once TIME-WAIT
# is full (the last sample within 8 MiB of the one at 30 s or a quarter of the run,
# whichever is later; runs under 60 s skip this check);
# afterwards utcpd's gauges back to the idle baseline (app sockets, connections other
# than TIME-WAIT, held buffers) and nginx still answers. Prints the rate and the
# RSS samples.
# Rules: TESTBED.md (own netns, stop by pid, bounded waits, distinct --file-prefix).
set -euo pipefail

SRC=${UTCP_SOURCE:-$(cd "$(dirname "$0")/.." && pwd)}
# shellcheck source=integration/lib.sh
source "$SRC/integration/lib.sh"
# shellcheck source=integration/nginx_lib.sh
source "$SRC/integration/nginx_lib.sh"
BUILD=${UTCP_BUILD:-$SRC/build}
UTCPD=$BUILD/daemon/utcpd
UTCP=$BUILD/tools/utcp
SECONDS_TOTAL=${SOAK_SECONDS:-120}
NS=utcp-soak-$$
KERNEL_IP=198.18.0.1
UTCP_IP=198.18.0.2
PORT=8080
WORK=$(mktemp -d /tmp/utcp-soak.XXXXXX)
CONTROL=$WORK/utcpd.sock
PID=""
NGINX=""
LOAD=""
FAILED=0

log() { echo "[soak] $*"; }
fail() { echo "[soak] FAIL: $*" >&2; FAILED=1; }

cleanup() {
  kill_wait "$LOAD"
  stop_nginx
  stop_pid utcpd TERM
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { echo "[soak] FAIL: needs root (netns, tap)" >&2; exit 1; }
for tool in nginx wrk curl python3; do
  command -v "$tool" >/dev/null || { echo "[soak] FAIL: $tool not installed" >&2; exit 1; }
done

rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$PID/status"; }

chmod 755 "$WORK"
mkdir -p "$WORK/www"
head -c 1024 /dev/urandom >"$WORK/www/1k.bin"
chmod 644 "$WORK/www/"*
ip netns add "$NS"
start_utcpd_tap "$NS" "utcp-soak-$$" "$WORK" --control "$CONTROL" || exit 1
start_nginx 1 || exit 1
BASELINE=$(utcp_live_state)
log "idle baseline: $BASELINE; utcpd RSS $(rss_kib) KiB"

ip netns exec "$NS" timeout $((SECONDS_TOTAL + 30)) wrk -t2 -c100 -d"${SECONDS_TOTAL}s" \
  -H 'Connection: close' "http://$UTCP_IP:$PORT/1k.bin" >"$WORK/wrk.out" 2>&1 &
LOAD=$!
# TIME-WAIT (and the memory of its connections) grows for the first ~30 s: the kernel
# client's 28,000 ports cycle, then each new SYN takes over an old TIME-WAIT.
quarter=$((SECONDS_TOTAL / 4))
[ "$quarter" -ge 30 ] || quarter=30
samples=()
for t in $(seq 1 "$SECONDS_TOTAL"); do
  sleep 1
  kill -0 "$LOAD" 2>/dev/null || break
  if [ "$t" = "$quarter" ] || [ $((t % 30)) = 0 ]; then samples+=("${t}s:$(rss_kib)"); fi
  [ "$t" = "$quarter" ] && rss_quarter=$(rss_kib)
done
rss_end=$(rss_kib)
wait "$LOAD" || fail "wrk exited with status $?"
LOAD=""
requests=$(awk '/requests in/ { print $1 }' "$WORK/wrk.out")
log "wrk: $(grep -E 'requests in|Requests/sec' "$WORK/wrk.out" | tr -s ' \n' ' ')"
log "utcpd RSS (KiB) ${samples[*]} end:$rss_end"
[ "${requests:-0}" -gt 1000 ] || fail "only ${requests:-0} requests"
! grep -qE 'Socket errors|Non-2xx' "$WORK/wrk.out" || fail "client errors: $(grep -E 'Socket errors|Non-2xx' "$WORK/wrk.out")"
if [ "$SECONDS_TOTAL" -lt 60 ]; then
  log "a run under 60 s: the RSS check is skipped"
else
  [ -n "${rss_quarter:-}" ] && [ $((rss_end - rss_quarter)) -le 8192 ] \
    || fail "utcpd RSS grew from ${rss_quarter:-?} KiB at ${quarter}s to $rss_end KiB"
fi

now=""
for _ in $(seq 100); do
  now=$(utcp_live_state)
  [ "$now" = "$BASELINE" ] && break
  sleep 0.1
done
[ "$now" = "$BASELINE" ] || fail "after the soak utcpd has $now, idle baseline $BASELINE"
log "after: $now, $(utcp_gauge conn_time_wait) in TIME-WAIT (bounded by max_time_wait), $(utcp_gauge time_wait_overflow) skipped it"
[ "$(nginx_probe)" = 200 ] || fail "nginx does not answer after the soak"

stop_nginx
stop_pid utcpd TERM
[ "$FAILED" = 0 ] && log PASS || exit 1
