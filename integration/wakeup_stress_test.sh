#!/usr/bin/env bash
# Issue 14 item 1: a readiness change for an epoll instance or a blocked call always
# wakes a sleeper of it. integration/wakeup_stress/server.c runs under libutcp.so on a
# tap wire with the thread shapes of real servers (an acceptor blocked in accept(),
# EPOLL_WORKERS threads each sleeping in its own epoll instance, threads blocked in
# read(), one in poll()), while two CPU hogs compete for the machine's cores (a lost
# wake-up needs one thread preempted between taking an event and queueing it). The
# kernel-side client (client.c) sends rounds of requests on random connections with
# nothing else in flight; an answer missing for STALL_MS is a lost wake-up and fails
# the test. Before the fix (epoll_pump_events queued another thread's event without
# waking it) this configuration stalled within a minute: round 7101 of a 60 s run.
# WAKEUP_STRESS_SECONDS / _WORKERS / _CONNS change the shape. Rules: TESTBED.md.
set -uo pipefail

SRC=${UTCP_SOURCE:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${UTCP_BUILD:-$SRC/build/release}
UTCPD=$BUILD/daemon/utcpd
LIB=$BUILD/preload/libutcp.so
NS=utcp-wake-$$
KERNEL_IP=198.18.14.1
UTCP_IP=198.18.14.2
PORT=7400
SECONDS_RUN=${WAKEUP_STRESS_SECONDS:-45}
CONNS=${WAKEUP_STRESS_CONNS:-256}
EPOLL_WORKERS=${WAKEUP_STRESS_WORKERS:-16}
STALL_MS=3000
WORK=$(mktemp -d /tmp/utcp-wake-test.XXXXXX)
PID=""      # utcpd (lib.sh's stop_pid stops $PID)
SERVER=""
HOGS=()
FAILED=0
log() { echo "[wakeup_stress] $*"; }
fail() { echo "[wakeup_stress] FAIL: $*" >&2; FAILED=1; }
source "$SRC/integration/lib.sh"

cleanup() {
  for h in "${HOGS[@]}"; do kill_wait "$h"; done
  kill_wait "$SERVER"
  stop_pid utcpd TERM
  ip netns del "$NS" 2>/dev/null
  [ "$FAILED" = 0 ] && rm -rf "$WORK" || echo "[wakeup_stress] outputs kept in $WORK" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { echo "[wakeup_stress] FAIL: needs root" >&2; exit 1; }
[ -x "$UTCPD" ] && [ -f "$LIB" ] || { echo "[wakeup_stress] FAIL: build utcpd and libutcp.so first ($BUILD)" >&2; exit 1; }
cp "$UTCPD" "$WORK/utcpd" && cp "$LIB" "$WORK/libutcp.so" || { FAILED=1; exit 1; }
UTCPD=$WORK/utcpd
LIB=$WORK/libutcp.so
for p in server client; do
  gcc -std=gnu11 -Wall -Wextra -Werror -O2 -pthread -o "$WORK/$p" "$SRC/integration/wakeup_stress/$p.c" ||
    { FAILED=1; exit 1; }
done

ip netns add "$NS"
ip -n "$NS" link set lo up
start_utcpd_tap "$NS" "wake-$$" "$WORK" --control "$WORK/utcpd.sock" || exit 1
OUT=$WORK/utcpd.out

ip netns exec "$NS" env "UTCP_CONTROL=$WORK/utcpd.sock" "LD_PRELOAD=$LIB" \
  "$WORK/server" "$UTCP_IP" "$PORT" "$EPOLL_WORKERS" >"$WORK/server.out" 2>"$WORK/server.err" &
SERVER=$!
for _ in $(seq 100); do
  grep -q '^ready' "$WORK/server.out" 2>/dev/null && break
  kill -0 "$SERVER" 2>/dev/null || break
  sleep 0.1
done
grep -q '^ready' "$WORK/server.out" || { fail "server did not start: $(tail -3 "$WORK/server.err")"; exit 1; }

for _ in 1 2; do
  sh -c 'while :; do :; done' &
  HOGS+=($!)
done

utcpd_snapshot "$OUT"
accepted0=$(utcpd_counter "$OUT" tcp_passive_opens)
log "client: $CONNS connections, ${SECONDS_RUN} s of request rounds, a stall is ${STALL_MS} ms; 2 CPU hogs"
rc=0
ip netns exec "$NS" timeout -k 5 $((SECONDS_RUN + 60)) "$WORK/client" "$UTCP_IP" "$PORT" "$CONNS" \
  "$SECONDS_RUN" "$STALL_MS" >"$WORK/client.out" 2>"$WORK/client.err" || rc=$?
sed 's/^/    /' "$WORK/client.out"
[ -s "$WORK/client.err" ] && sed 's/^/    /' "$WORK/client.err" >&2
[ "$rc" = 0 ] || fail "client exited with status $rc ($(grep -c '^STALL' "$WORK/client.out") stalled request(s): lost wake-ups)"
kill -0 "$SERVER" 2>/dev/null || fail "the server died: $(tail -3 "$WORK/server.err")"
grep -q '^rounds=[1-9]' "$WORK/client.out" || fail "the client ran no round"

utcpd_snapshot "$OUT"
accepted=$(( $(utcpd_counter "$OUT" tcp_passive_opens) - accepted0 ))
log "utcpd: passive opens +$accepted"
[ "$accepted" -ge "$CONNS" ] || fail "utcpd accepted $accepted connections, expected >= $CONNS: traffic did not go through utcp"

[ "$FAILED" = 0 ] && log PASS
exit "$FAILED"
