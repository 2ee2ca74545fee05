#!/usr/bin/env bash
# Issue 4 acceptance: "a program waiting in one epoll set on a utcp socket, a pipe and a
# timerfd wakes for each correctly; a blocked epoll_wait on utcp sockets uses no CPU".
# integration/epoll_mixed/epoll_mixed.c (built here with gcc, warnings are errors) runs
# under libutcp.so, connects through utcp (tap wire) to a kernel echo peer that answers
# 300 ms late, puts that socket, a pipe and a timerfd in ONE epoll set and checks that
# epoll_wait wakes for exactly the source that fired: the socket (peer's data), the pipe
# (a helper thread, then a forked child), the timerfd (expiry), then all three at once.
# Then it blocks 3 s in epoll_wait with nothing arriving — on the mixed set, then on a
# set holding only the utcp socket — and the process's CPU (getrusage in the program,
# utime+stime from /proc/PID/stat here) must stay under 2 % of the wall time; utcpd's
# CPU over the same window is printed for information. Rules: TESTBED.md.
set -uo pipefail

SRC=${UTCP_SOURCE:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${UTCP_BUILD:-$SRC/build/release}
UTCPD=$BUILD/daemon/utcpd
LIB=$BUILD/preload/libutcp.so
NS=utcp-epmix-$$
KERNEL_IP=198.18.8.1
UTCP_IP=198.18.8.2
PORT=7300
CPU_LIMIT_PCT=2
WORK=$(mktemp -d /tmp/utcp-epmix-test.XXXXXX)
PID=""      # utcpd (lib.sh's stop_pid stops $PID)
PEER=""     # the kernel echo peer
PROG=""     # the program's timeout(1)
FAILED=0
log() { echo "[epoll_mixed] $*"; }
fail() { echo "[epoll_mixed] FAIL: $*" >&2; FAILED=1; }
source "$SRC/integration/lib.sh"

cleanup() {
  kill_wait "$PROG"
  kill_wait "$PEER"
  stop_pid utcpd TERM
  ip netns del "$NS" 2>/dev/null
  [ "$FAILED" = 0 ] && rm -rf "$WORK" || echo "[epoll_mixed] outputs kept in $WORK" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { echo "[epoll_mixed] FAIL: needs root" >&2; exit 1; }
for tool in gcc ip timeout python3 getconf; do
  command -v "$tool" >/dev/null || { echo "[epoll_mixed] FAIL: $tool not installed" >&2; exit 1; }
done
[ -x "$UTCPD" ] && [ -f "$LIB" ] || { echo "[epoll_mixed] FAIL: build utcpd and libutcp.so first ($BUILD)" >&2; exit 1; }
# The run uses copies: a rebuild of $BUILD during the run cannot hand it a half-written
# libutcp.so or a utcpd of another version.
cp "$UTCPD" "$WORK/utcpd" && cp "$LIB" "$WORK/libutcp.so" || { FAILED=1; exit 1; }
UTCPD=$WORK/utcpd
LIB=$WORK/libutcp.so

gcc -std=gnu11 -Wall -Wextra -Werror -O2 -pthread -o "$WORK/epoll_mixed" \
  "$SRC/integration/epoll_mixed/epoll_mixed.c" || { FAILED=1; exit 1; }

ip netns add "$NS"
ip -n "$NS" link set lo up
start_utcpd_tap "$NS" "epmix-$$" "$WORK" --control "$WORK/utcpd.sock" || exit 1
UTCPD_PID=$PID
OUT=$WORK/utcpd.out

# The kernel peer: echoes every chunk back 300 ms after it arrived.
cat >"$WORK/peer.py" <<'EOF'
import socket, sys, threading, time
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((sys.argv[1], int(sys.argv[2])))
srv.listen(8)
print("ready", flush=True)
def serve(c):
    with c:
        while True:
            d = c.recv(65536)
            if not d:
                return
            time.sleep(0.3)
            c.sendall(d)
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF
ip netns exec "$NS" python3 "$WORK/peer.py" "$KERNEL_IP" "$PORT" >"$WORK/peer.out" 2>"$WORK/peer.err" &
PEER=$!
for _ in $(seq 100); do
  grep -q '^ready' "$WORK/peer.out" 2>/dev/null && break
  kill -0 "$PEER" 2>/dev/null || break
  sleep 0.1
done
grep -q '^ready' "$WORK/peer.out" || { fail "echo peer did not start: $(tail -3 "$WORK/peer.err")"; exit 1; }

# utime+stime (clock ticks) of a process, from /proc/PID/stat (fields 14 and 15, counted
# after the ")" that ends the command name).
ticks() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $12 + $13}'; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
HZ=$(getconf CLK_TCK)

utcpd_snapshot "$OUT"
opened0=$(utcpd_counter "$OUT" shim_sockets_opened)
active0=$(utcpd_counter "$OUT" tcp_active_opens)

log "running epoll_mixed $KERNEL_IP $PORT under libutcp.so"
ip netns exec "$NS" timeout -k 5 60 env "UTCP_CONTROL=$WORK/utcpd.sock" "LD_PRELOAD=$LIB" \
  "$WORK/epoll_mixed" "$KERNEL_IP" "$PORT" >"$WORK/prog.out" 2>"$WORK/prog.err" &
PROG=$!

# Each idle window: once the program says "begin", wait 100 ms (it is inside epoll_wait
# by then), sample the program and utcpd, wait 2.2 s, sample again (still inside its 3 s).
measure() {  # NAME
  local name=$1 line="" ppid t0 t1 p0 p1 u0 u1 wall pcpu ucpu
  for _ in $(seq 2000); do  # up to 40 s
    line=$(grep -m1 "^idle $name pid=[0-9]* begin" "$WORK/prog.out" 2>/dev/null)
    [ -n "$line" ] && break
    kill -0 "$PROG" 2>/dev/null || break
    sleep 0.02
  done
  [ -n "$line" ] || { fail "idle $name: the program never started its idle wait"; return 1; }
  ppid=$(sed 's/.*pid=\([0-9]*\).*/\1/' <<<"$line")
  sleep 0.1
  t0=$(now_ms); p0=$(ticks "$ppid"); u0=$(ticks "$UTCPD_PID")
  sleep 2.2
  t1=$(now_ms); p1=$(ticks "$ppid"); u1=$(ticks "$UTCPD_PID")
  grep -q "^idle $name end" "$WORK/prog.out" && fail "idle $name: the program's wait ended before the window did"
  if [ -z "$p0" ] || [ -z "$p1" ] || [ -z "$u0" ] || [ -z "$u1" ]; then
    fail "idle $name: could not read /proc/$ppid/stat or /proc/$UTCPD_PID/stat"
    return 1
  fi
  wall=$((t1 - t0))
  pcpu=$(( (p1 - p0) * 1000 / HZ ))
  ucpu=$(( (u1 - u0) * 1000 / HZ ))
  log "idle $name: program cpu ${pcpu} ms over ${wall} ms wall ($(awk -v c=$pcpu -v w=$wall 'BEGIN {printf "%.2f", 100*c/w}') %, /proc/$ppid/stat)"
  log "idle $name: utcpd cpu ${ucpu} ms over ${wall} ms wall ($(awk -v c=$ucpu -v w=$wall 'BEGIN {printf "%.2f", 100*c/w}') %, informational)"
  [ $((pcpu * 100)) -lt $((CPU_LIMIT_PCT * wall)) ] ||
    fail "idle $name: the program used ${pcpu} ms of CPU in ${wall} ms blocked in epoll_wait (limit $CPU_LIMIT_PCT %)"
}
measure mixed
measure utcp-only

rc=0
wait "$PROG" || rc=$?
PROG=""
sed 's/^/    /' "$WORK/prog.out"
[ -s "$WORK/prog.err" ] && { log "program stderr:"; sed 's/^/    /' "$WORK/prog.err" >&2; }
[ "$rc" = 0 ] || fail "epoll_mixed exited with status $rc$([ "$rc" = 124 ] && echo ' (timeout)')"
grep -q '^summary: [0-9]* checks, 0 failed$' "$WORK/prog.out" || fail "epoll_mixed: $(grep -c '^FAIL' "$WORK/prog.out") FAIL line(s) or no summary"
for c in "quiet" "socket" "pipe (thread)" "pipe (forked child)" "timerfd" "socket after fork" "all three" "idle mixed" "idle utcp-only"; do
  grep -q "^ok: $c" "$WORK/prog.out" || fail "check '$c' did not pass"
done

utcpd_snapshot "$OUT"
opened=$(( $(utcpd_counter "$OUT" shim_sockets_opened) - opened0 ))
active=$(( $(utcpd_counter "$OUT" tcp_active_opens) - active0 ))
log "utcpd: sockets opened +$opened, active opens +$active"
[ "$active" -ge 1 ] || fail "utcpd made no active open: the socket did not go through utcp"

[ "$FAILED" = 0 ] && log PASS
exit "$FAILED"
