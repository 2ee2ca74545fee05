#!/usr/bin/env bash
# Issue 14 item 2: a timed wait sleeps at least its timeout, as the kernel's does, and
# an idle program under utcp costs no more CPU than on the kernel.
# 1. integration/timed_waits/timed_waits.c, under libutcp.so with an idle utcp
#    connection and listener in every set: epoll_wait, poll, ppoll, select, pselect,
#    read and accept with SO_RCVTIMEO, 1, 5 and 50 ms, 5 times each: none returns
#    before its timeout. (The same program on the kernel is printed for comparison.)
# 2. Debian's redis-server, idle for IDLE_SECONDS with one idle client connected: once
#    on the kernel, once under libutcp.so on utcp's address. Its CPU (utime+stime of
#    /proc/PID/stat) and context switches (every thread's, /proc/PID/task/*/status)
#    under utcp must stay within a margin of the kernel's.
# Rules: TESTBED.md.
set -uo pipefail

SRC=${UTCP_SOURCE:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${UTCP_BUILD:-$SRC/build/release}
UTCPD=$BUILD/daemon/utcpd
LIB=$BUILD/preload/libutcp.so
NS=utcp-timed-$$
KERNEL_IP=198.18.15.1
UTCP_IP=198.18.15.2
HOLD_PORT=7500
REDIS_PORT=6379
IDLE_SECONDS=${TIMED_WAITS_IDLE_SECONDS:-10}
CPU_MARGIN_TICKS=5       # 50 ms of CPU in 10 s at HZ 100: 0.5 %
SWITCH_MARGIN=40         # context switches over the window beyond the kernel's
WORK=$(mktemp -d /tmp/utcp-timed-test.XXXXXX)
PID=""      # utcpd (lib.sh's stop_pid stops $PID)
HOLD=""
REDIS=""
CLIENT=""
FAILED=0
log() { echo "[timed_waits] $*"; }
fail() { echo "[timed_waits] FAIL: $*" >&2; FAILED=1; }
source "$SRC/integration/lib.sh"

cleanup() {
  kill_wait "$CLIENT"
  kill_wait "$REDIS"
  kill_wait "$HOLD"
  stop_pid utcpd TERM
  ip netns del "$NS" 2>/dev/null
  [ "$FAILED" = 0 ] && rm -rf "$WORK" || echo "[timed_waits] outputs kept in $WORK" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { echo "[timed_waits] FAIL: needs root" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "[timed_waits] FAIL: redis-server not installed" >&2; exit 1; }
[ -x "$UTCPD" ] && [ -f "$LIB" ] || { echo "[timed_waits] FAIL: build utcpd and libutcp.so first ($BUILD)" >&2; exit 1; }
cp "$UTCPD" "$WORK/utcpd" && cp "$LIB" "$WORK/libutcp.so" || { FAILED=1; exit 1; }
UTCPD=$WORK/utcpd
LIB=$WORK/libutcp.so
gcc -std=gnu11 -Wall -Wextra -Werror -O2 -o "$WORK/timed_waits" "$SRC/integration/timed_waits/timed_waits.c" ||
  { FAILED=1; exit 1; }

ip netns add "$NS"
ip -n "$NS" link set lo up
start_utcpd_tap "$NS" "timed-$$" "$WORK" --control "$WORK/utcpd.sock" || exit 1
OUT=$WORK/utcpd.out
UTCP_ENV=("UTCP_CONTROL=$WORK/utcpd.sock" "LD_PRELOAD=$LIB")

# A kernel peer that accepts and holds connections, never sending.
cat >"$WORK/hold.py" <<'EOF'
import socket, sys, time
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((sys.argv[1], int(sys.argv[2])))
srv.listen(16)
print("ready", flush=True)
held = []
while True:
    c, _ = srv.accept()
    held.append(c)
EOF
ip netns exec "$NS" /usr/bin/python3 "$WORK/hold.py" "$KERNEL_IP" "$HOLD_PORT" >"$WORK/hold.out" 2>&1 &
HOLD=$!
for _ in $(seq 100); do grep -q '^ready' "$WORK/hold.out" 2>/dev/null && break; sleep 0.1; done
grep -q '^ready' "$WORK/hold.out" || { fail "hold peer did not start"; exit 1; }

# --- 1. timed waits
log "timed waits on the kernel (for comparison):"
ip netns exec "$NS" timeout 60 "$WORK/timed_waits" "$KERNEL_IP" "$HOLD_PORT" 2>&1 | sed 's/^/    /'
log "timed waits under libutcp.so:"
utcpd_snapshot "$OUT"
active0=$(utcpd_counter "$OUT" tcp_active_opens)
rc=0
ip netns exec "$NS" timeout 60 env "${UTCP_ENV[@]}" "$WORK/timed_waits" "$KERNEL_IP" "$HOLD_PORT" \
  >"$WORK/timed.out" 2>&1 || rc=$?
sed 's/^/    /' "$WORK/timed.out"
[ "$rc" = 0 ] || fail "timed_waits under utcp: status $rc ($(grep -c '^FAIL' "$WORK/timed.out") early or wrong returns)"
grep -q '^summary: 105 waits, 0 failed$' "$WORK/timed.out" || fail "timed_waits under utcp did not finish all 105 waits"
utcpd_snapshot "$OUT"
[ $(( $(utcpd_counter "$OUT" tcp_active_opens) - active0 )) -ge 1 ] ||
  fail "utcpd made no active open: the waits did not run on a utcp socket"

# --- 2. idle CPU, kernel vs utcp
HZ=$(getconf CLK_TCK)
# idle_run NAME IP [env...]: starts redis on IP (with env), connects one idle client,
# and sets IDLE_TICKS and IDLE_SWITCHES to what redis used over IDLE_SECONDS.
idle_run() {
  local name=$1 ip=$2
  shift 2
  IDLE_TICKS=""; IDLE_SWITCHES=""
  ip netns exec "$NS" env "$@" redis-server --bind "$ip" --port "$REDIS_PORT" --save '' \
    --appendonly no --protected-mode no --daemonize no >"$WORK/redis-$name.out" 2>&1 &
  REDIS=$!
  local up=0
  for _ in $(seq 100); do
    ip netns exec "$NS" /usr/bin/python3 -c "import socket,sys; socket.create_connection((sys.argv[1], $REDIS_PORT), 1)" \
      "$ip" 2>/dev/null && { up=1; break; }
    sleep 0.1
  done
  [ "$up" = 1 ] || { fail "redis ($name) did not come up: $(tail -3 "$WORK/redis-$name.out")"; return 1; }
  # One idle client, as a monitored server has.
  ip netns exec "$NS" /usr/bin/python3 -c "
import socket, sys, time
s = socket.create_connection((sys.argv[1], $REDIS_PORT))
s.sendall(b'PING\r\n'); s.recv(64)
time.sleep(3600)" "$ip" &
  CLIENT=$!
  sleep 1
  local t0 s0 t1 s1
  t0=$(proc_ticks "$REDIS"); s0=$(proc_switches "$REDIS")
  sleep "$IDLE_SECONDS"
  t1=$(proc_ticks "$REDIS"); s1=$(proc_switches "$REDIS")
  kill_wait "$CLIENT"; CLIENT=""
  kill_wait "$REDIS"; REDIS=""
  IDLE_TICKS=$((t1 - t0)); IDLE_SWITCHES=$((s1 - s0))
}
idle_run kernel "$KERNEL_IP"
k_ticks=$IDLE_TICKS; k_sw=$IDLE_SWITCHES
utcpd_snapshot "$OUT"
passive0=$(utcpd_counter "$OUT" tcp_passive_opens)
idle_run utcp "$UTCP_IP" "${UTCP_ENV[@]}"
u_ticks=$IDLE_TICKS; u_sw=$IDLE_SWITCHES
utcpd_snapshot "$OUT"
passive=$(( $(utcpd_counter "$OUT" tcp_passive_opens) - passive0 ))
log "idle redis, ${IDLE_SECONDS} s: kernel ${k_ticks:-?} ticks, ${k_sw:-?} context switches; utcp ${u_ticks:-?} ticks, ${u_sw:-?} context switches (HZ $HZ)"
if [ -z "${k_ticks:-}" ] || [ -z "${u_ticks:-}" ]; then
  fail "the idle runs did not report"
else
  [ "$u_ticks" -le $((k_ticks + CPU_MARGIN_TICKS)) ] ||
    fail "idle redis under utcp used $u_ticks ticks of CPU, the kernel's $k_ticks (margin $CPU_MARGIN_TICKS)"
  [ "$u_sw" -le $((k_sw * 2 + SWITCH_MARGIN)) ] ||
    fail "idle redis under utcp switched $u_sw times, the kernel's $k_sw (limit 2x + $SWITCH_MARGIN)"
fi
[ "$passive" -ge 2 ] || fail "utcpd accepted $passive connections for redis: it did not run on utcp"

[ "$FAILED" = 0 ] && log PASS
exit "$FAILED"
