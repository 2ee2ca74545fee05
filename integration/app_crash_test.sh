#!/usr/bin/env bash
# Issue 6 "Crashes": kill -9 of an app in the middle of transfers. A program under
# libutcp.so (integration/app_crash/app.py) streams to kernel peers on 20 connections,
# once as the server (it accepted them) and once as the client (it connected); after
# each has carried 1 MiB it is SIGKILLed. Then, within 2 s, every kernel peer sees
# its connection end (FIN after the queued bytes, or RST), never hangs; utcpd's gauges
# (open app sockets, families, connections other than TIME-WAIT, held buffers) return
# to their baseline; and a new program on the same port works.
# Rules: TESTBED.md (own netns, stop by pid, bounded waits, distinct --file-prefix).
set -euo pipefail

SRC=${UTCP_SOURCE:-$(cd "$(dirname "$0")/.." && pwd)}
# shellcheck source=integration/lib.sh
source "$SRC/integration/lib.sh"
BUILD=${UTCP_BUILD:-$SRC/build}
UTCPD=$BUILD/daemon/utcpd
UTCP=$BUILD/tools/utcp
LIB=$BUILD/preload/libutcp.so
NS=utcp-crash-$$
KERNEL_IP=198.18.0.1
UTCP_IP=198.18.0.2
CONNS=20
WORK=$(mktemp -d /tmp/utcp-crash.XXXXXX)
CONTROL=$WORK/utcpd.sock
PID=""
APP=""
PEER=""
FAILED=0

log() { echo "[app_crash] $*"; }
fail() { echo "[app_crash] FAIL: $*" >&2; FAILED=1; }

cleanup() {
  kill_wait "$APP"
  kill_wait "$PEER"
  stop_pid utcpd TERM
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { echo "[app_crash] FAIL: needs root (netns, tap)" >&2; exit 1; }
for f in "$UTCPD" "$UTCP" "$LIB"; do
  [ -e "$f" ] || { echo "[app_crash] FAIL: $f not built" >&2; exit 1; }
done

wait_line() {  # FILE TEXT SECONDS
  for _ in $(seq $(($3 * 10))); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

# crash_case MODE: app.py in MODE (server or client) against peer.py, then SIGKILL.
crash_case() {
  local mode=$1 port=$2
  local report=$WORK/$mode.report
  log "case $mode: $CONNS connections streaming from the app, then kill -9"
  if [ "$mode" = server ]; then
    ip netns exec "$NS" env LD_PRELOAD="$LIB" UTCP_CONTROL="$CONTROL" timeout 90 \
      python3 "$SRC/integration/app_crash/app.py" server $UTCP_IP "$port" $CONNS \
      >"$WORK/app.out" 2>&1 &
    APP=$!
    wait_line "$WORK/app.out" listening 10 || fail "$mode: app did not listen: $(cat "$WORK/app.out")"
    ip netns exec "$NS" timeout 90 python3 "$SRC/integration/app_crash/peer.py" client \
      $UTCP_IP "$port" $CONNS "$report" >"$WORK/peer.out" 2>&1 &
    PEER=$!
  else
    ip netns exec "$NS" timeout 90 python3 "$SRC/integration/app_crash/peer.py" sink \
      $KERNEL_IP "$port" $CONNS "$report" >"$WORK/peer.out" 2>&1 &
    PEER=$!
    wait_line "$WORK/peer.out" listening 10 || fail "$mode: peer did not listen"
    ip netns exec "$NS" env LD_PRELOAD="$LIB" UTCP_CONTROL="$CONTROL" timeout 90 \
      python3 "$SRC/integration/app_crash/app.py" client $KERNEL_IP "$port" $CONNS \
      >"$WORK/app.out" 2>&1 &
    APP=$!
  fi
  wait_line "$WORK/app.out" streaming 40 || { fail "$mode: not streaming: $(cat "$WORK/app.out")"; return; }
  [ "$(utcp_gauge shim_open_slots)" -ge $CONNS ] || fail "$mode: utcpd holds $(utcp_gauge shim_open_slots) app sockets"
  # The app runs under `timeout`: the program itself is its child.
  local victim
  victim=$(pgrep -P "$APP" -x python3 || true)
  [ -n "$victim" ] || { fail "$mode: no app process under pid $APP"; return; }
  touch "$report.mark"
  kill -KILL "$victim"
  wait "$APP" 2>/dev/null || true
  APP=""
  for _ in $(seq 50); do
    [ "$(wc -l <"$report")" -ge $CONNS ] && break
    sleep 0.1
  done
  local ended slow
  ended=$(wc -l <"$report")
  slow=$(awk '$3 == "timeout" || $4 < 0 || $4 > 2 { n++ } END { print n + 0 }' "$report")
  [ "$ended" = $CONNS ] && [ "$slow" = 0 ] \
    || fail "$mode: $ended of $CONNS peer connections ended, $slow not within 2 s: $(sort -k4 -n "$report" | tail -3)"
  log "$mode: peers saw $(awk '{print $3}' "$report" | sort | uniq -c | tr -s ' \n' ' ')within $(sort -k4 -n "$report" | tail -1 | cut -d' ' -f4) s of the kill"
  kill_wait "$PEER"; PEER=""
  local now=""
  for _ in $(seq 50); do
    now=$(utcp_live_state)
    [ "$now" = "$BASELINE" ] && break
    sleep 0.1
  done
  [ "$now" = "$BASELINE" ] || fail "$mode: after the crash utcpd has $now, baseline $BASELINE"
}

ip netns add "$NS"
start_utcpd_tap "$NS" "utcp-crash-$$" "$WORK" --control "$CONTROL" || exit 1
BASELINE=$(utcp_live_state)
log "baseline: $BASELINE"

crash_case server 9000
crash_case client 9001

# A new program on the dead one's port works.
ip netns exec "$NS" env LD_PRELOAD="$LIB" UTCP_CONTROL="$CONTROL" timeout 30 \
  python3 -c '
import socket, sys
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((sys.argv[1], 9000)); ls.listen(1); print("listening", flush=True)
c, _ = ls.accept(); c.sendall(c.recv(100)); c.close()
' $UTCP_IP >"$WORK/again.out" 2>&1 &
APP=$!
wait_line "$WORK/again.out" listening 10 || fail "a new app could not listen on port 9000: $(cat "$WORK/again.out")"
got=$(ip netns exec "$NS" timeout 10 python3 -c '
import socket, sys
s = socket.create_connection((sys.argv[1], 9000), timeout=5); s.sendall(b"again")
print(s.recv(100).decode())' $UTCP_IP 2>&1 || true)
[ "$got" = again ] || fail "new app after the crashes: got '$got'"
wait "$APP" 2>/dev/null || true
APP=""

stop_pid utcpd TERM
[ "$FAILED" = 0 ] && log PASS || exit 1
