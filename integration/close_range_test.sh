#!/usr/bin/env bash
# Issue 14 item 3: closefrom() and close_range() under libutcp.so. The program
# (integration/close_range/close_range.c, built here with gcc, warnings are errors) holds
# utcp connections to a kernel echo peer across the tap wire and closes fds the ways
# programs do: close_range of one fd, with CLOSE_RANGE_CLOEXEC and _UNSHARE, closefrom(3)
# with an epoll set open, a close() loop over every fd, dup2 onto numbers 3..63, and an
# exec'd image (as sshd's re-exec) that calls closefrom(3) before it uses its inherited
# connection on fd 0. After each, the closed sockets are gone and new ones work. First,
# a forked child sandboxes itself as sshd's privilege-separated child does (chroot,
# RLIMIT_NOFILE 1, no_new_privs, OpenSSH's seccomp list, killed on anything else) and
# echoes on its inherited connection (issue 14 item 4 without sshd). A last
# exec'd image closes everything behind the library's back (the raw syscall): its join
# must be refused, and libutcp must say "refused", not "not reachable". Rules: TESTBED.md.
set -uo pipefail

SRC=${UTCP_SOURCE:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${UTCP_BUILD:-$SRC/build/release}
UTCPD=$BUILD/daemon/utcpd
LIB=$BUILD/preload/libutcp.so
NS=utcp-crange-$$
KERNEL_IP=198.18.15.1
UTCP_IP=198.18.15.2
PORT=7400
WORK=$(mktemp -d /tmp/utcp-crange-test.XXXXXX)
PID=""   # utcpd (lib.sh's stop_pid stops $PID)
PEER=""  # the kernel echo peer
FAILED=0
log() { echo "[close_range] $*"; }
fail() { echo "[close_range] FAIL: $*" >&2; FAILED=1; }
source "$SRC/integration/lib.sh"

cleanup() {
  kill_wait "$PEER"
  stop_pid utcpd TERM
  ip netns del "$NS" 2>/dev/null
  [ "$FAILED" = 0 ] && rm -rf "$WORK" || echo "[close_range] outputs kept in $WORK" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { echo "[close_range] FAIL: needs root" >&2; exit 1; }
for tool in gcc ip timeout python3; do
  command -v "$tool" >/dev/null || { echo "[close_range] FAIL: $tool not installed" >&2; exit 1; }
done
[ -x "$UTCPD" ] && [ -f "$LIB" ] || { echo "[close_range] FAIL: build utcpd and libutcp.so first ($BUILD)" >&2; exit 1; }
cp "$UTCPD" "$WORK/utcpd" && cp "$LIB" "$WORK/libutcp.so" || { FAILED=1; exit 1; }
UTCPD=$WORK/utcpd
LIB=$WORK/libutcp.so
gcc -std=gnu11 -Wall -Wextra -Werror -O2 -o "$WORK/close_range" \
  "$SRC/integration/close_range/close_range.c" || { FAILED=1; exit 1; }

ip netns add "$NS"
ip -n "$NS" link set lo up
start_utcpd_tap "$NS" "crange-$$" "$WORK" --control "$WORK/utcpd.sock" || exit 1
OUT=$WORK/utcpd.out

cat >"$WORK/peer.py" <<'PY'
import socket, sys, threading
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((sys.argv[1], int(sys.argv[2])))
srv.listen(64)
print("ready", flush=True)
def serve(c):
    with c:
        while True:
            d = c.recv(65536)
            if not d:
                return
            c.sendall(d)
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
ip netns exec "$NS" python3 "$WORK/peer.py" "$KERNEL_IP" "$PORT" >"$WORK/peer.out" 2>"$WORK/peer.err" &
PEER=$!
for _ in $(seq 100); do
  grep -q '^ready' "$WORK/peer.out" 2>/dev/null && break
  kill -0 "$PEER" 2>/dev/null || break
  sleep 0.1
done
grep -q '^ready' "$WORK/peer.out" || { fail "echo peer did not start: $(tail -3 "$WORK/peer.err")"; exit 1; }

utcpd_snapshot "$OUT"
active0=$(utcpd_counter "$OUT" tcp_active_opens)

t0=$(date +%s%N)
rc=0
ip netns exec "$NS" timeout -k 5 60 env "UTCP_CONTROL=$WORK/utcpd.sock" "LD_PRELOAD=$LIB" \
  "$WORK/close_range" main "$KERNEL_IP" "$PORT" >"$WORK/prog.out" 2>"$WORK/prog.err" || rc=$?
log "close_range ran in $(( ($(date +%s%N) - t0) / 1000000 )) ms, exit $rc"
sed 's/^/    /' "$WORK/prog.out"
[ -s "$WORK/prog.err" ] && { log "program stderr:"; sed 's/^/    /' "$WORK/prog.err" >&2; }
[ "$rc" = 0 ] || fail "close_range exited with status $rc$([ "$rc" = 124 ] && echo ' (timeout)')"
[ "$(grep -c '^summary: [0-9]* checks, 0 failed$' "$WORK/prog.out")" = 3 ] ||
  fail "$(grep -c '^FAIL' "$WORK/prog.out") FAIL line(s), or a summary missing (3 expected: main and two exec'd images)"
grep -q "libutcp: utcpd at $WORK/utcpd.sock refused to join the family (" "$WORK/prog.err" ||
  fail "the exec'd image whose memfd was closed behind the library's back did not report a refused join"
grep -q 'not reachable' "$WORK/prog.err" && fail "libutcp said utcpd was not reachable: it was"

utcpd_snapshot "$OUT"
active=$(( $(utcpd_counter "$OUT" tcp_active_opens) - active0 ))
log "utcpd: active opens +$active"
[ "$active" -ge 15 ] || fail "utcpd made $active active opens, expected at least 15: the sockets did not go through utcp"

[ "$FAILED" = 0 ] && log PASS
exit "$FAILED"
