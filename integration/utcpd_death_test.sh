#!/usr/bin/env bash
# Issue 4 acceptance: "utcpd killed during a transfer: the app's calls fail within a
# second, it does not hang", and the "utcpd not running at start" contract.
# integration/utcpd_death/utcpd_death.c (built here with gcc, warnings are errors) runs
# under libutcp.so on a tap wire:
#  1. transfer: a kernel peer sends to it continuously (a thread reads: the transfer in
#     progress), it writes to a kernel sink that never reads until write blocks, a thread
#     is blocked in read, one in epoll_wait(-1), one in poll(-1) and a forked child
#     process in read on idle connections, one thread in accept on a utcp listener. utcpd's counters show the sockets are utcp's; then the program
#     SIGKILLs utcpd itself (its clock starts just before) and checks that every blocked
#     call returns an error within 1 s, that later read/recv/write/send/accept/connect/
#     epoll_wait fail within 1 s (errno names printed), and that close() and exit return.
#  2. right after the kill, a new program on the dead daemon's control path gets the
#     "utcpd not running" contract below (one stderr line, connects fail); then a new
#     utcpd on the same control path, and a NEW program under libutcp.so connects and
#     echoes through it.
#  3. no utcpd (stopped; the kernel peer's address now on a veth interface, so a
#     silent kernel fallback would connect): a program under libutcp.so prints exactly
#     one line on stderr, mentioning utcpd, and its connects fail with an error — with
#     the stopped daemon's control path and with a path that never existed; with
#     UTCP_FALLBACK=kernel the same program connects and echoes on the kernel.
# Rules: TESTBED.md (own netns, stop by pid, bounded waits, distinct --file-prefix).
set -uo pipefail

SRC=${UTCP_SOURCE:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${UTCP_BUILD:-$SRC/build/release}
UTCPD=$BUILD/daemon/utcpd
LIB=$BUILD/preload/libutcp.so
NS=utcp-death-$$
KERNEL_IP=198.18.9.1
UTCP_IP=198.18.9.2
SRC_PORT=7401     # the peer sends continuously
SINK_PORT=7402    # the peer never reads
ECHO_PORT=7403    # the peer echoes
LISTEN_PORT=7404  # the program's utcp listener
WORK=$(mktemp -d /tmp/utcp-death-test.XXXXXX)
PID=""      # utcpd (lib.sh's stop_pid stops $PID)
PEER=""     # the kernel peer
PROG=""     # the program's timeout(1)
FAILED=0
log() { echo "[utcpd_death] $*"; }
fail() { echo "[utcpd_death] FAIL: $*" >&2; FAILED=1; }
source "$SRC/integration/lib.sh"

cleanup() {
  exec 3>&- 2>/dev/null
  kill_wait "$PROG"
  kill_wait "$PEER"
  stop_pid utcpd TERM
  ip netns del "$NS" 2>/dev/null
  rm -rf "/var/run/dpdk/death-$$-a"  # what the SIGKILLed utcpd left (its --file-prefix)
  [ "$FAILED" = 0 ] && rm -rf "$WORK" || echo "[utcpd_death] outputs kept in $WORK" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { echo "[utcpd_death] FAIL: needs root" >&2; exit 1; }
for tool in gcc ip timeout python3 mkfifo; do
  command -v "$tool" >/dev/null || { echo "[utcpd_death] FAIL: $tool not installed" >&2; exit 1; }
done
[ -x "$UTCPD" ] && [ -f "$LIB" ] || { echo "[utcpd_death] FAIL: build utcpd and libutcp.so first ($BUILD)" >&2; exit 1; }
# The run uses copies: a rebuild of $BUILD during the run cannot hand it a half-written
# libutcp.so or a utcpd of another version.
cp "$UTCPD" "$WORK/utcpd" && cp "$LIB" "$WORK/libutcp.so" || { FAILED=1; exit 1; }
UTCPD=$WORK/utcpd
LIB=$WORK/libutcp.so

BIN=$WORK/utcpd_death
gcc -std=gnu11 -Wall -Wextra -Werror -O2 -pthread -o "$BIN" "$SRC/integration/utcpd_death/utcpd_death.c" ||
  { FAILED=1; exit 1; }

# run_prog OUTNAME [env assignments...] -- ARGS...: the program in the namespace under
# libutcp.so, bounded by timeout(1); sets RC.
run_prog() {
  local name=$1
  shift
  local envs=()
  while [ "$1" != -- ]; do envs+=("$1"); shift; done
  shift
  RC=0
  ip netns exec "$NS" timeout -k 5 30 env "LD_PRELOAD=$LIB" "${envs[@]}" "$BIN" "$@" \
    >"$WORK/$name.out" 2>"$WORK/$name.err" </dev/null &
  PROG=$!
  wait "$PROG" || RC=$?
  PROG=""
}

show() {  # NAME: the program's output, indented
  sed 's/^/    /' "$WORK/$1.out"
  [ -s "$WORK/$1.err" ] && sed 's/^/    stderr: /' "$WORK/$1.err"
  return 0
}

# nodaemon NAME CONTROL_PATH: the client under libutcp.so with no utcpd behind
# CONTROL_PATH: exactly one stderr line, naming utcpd; every connect fails, promptly.
nodaemon() {
  run_prog "$1" "UTCP_CONTROL=$2" -- client $KERNEL_IP $ECHO_PORT 2
  log "no utcpd ($1, UTCP_CONTROL=$2)"
  show "$1"
  [ "$RC" = 0 ] || fail "$1: the program exited with status $RC"
  local lines
  lines=$(wc -l <"$WORK/$1.err")
  [ "$lines" = 1 ] || fail "$1: $lines lines on stderr, want exactly 1"
  grep -q utcpd "$WORK/$1.err" || fail "$1: stderr does not mention utcpd"
  grep -q 'connect.*(connected)' "$WORK/$1.out" && fail "$1: a connect succeeded without utcpd (silent kernel fallback)"
  [ "$(grep -c 'connect .*: E[A-Z]* after' "$WORK/$1.out")" = 2 ] || fail "$1: not every connect failed with an error"
  awk '/connect .* after/ { if ($(NF-1) + 0 > 1000) bad = 1 } END { exit bad }' "$WORK/$1.out" ||
    fail "$1: a connect took longer than 1 s to fail"
}

ip netns add "$NS"
ip -n "$NS" link set lo up
# --hugepages off: a SIGKILLed DPDK process leaves its hugepage files behind.
start_utcpd_tap "$NS" "death-$$-a" "$WORK" --control "$WORK/utcpd.sock" --hugepages off || exit 1
OUT=$WORK/utcpd.out

# The kernel peer, on 0.0.0.0 (utcp0 and its address go away with utcpd): SRC_PORT
# sends without end, SINK_PORT never reads, ECHO_PORT echoes.
cat >"$WORK/peer.py" <<'EOF'
import socket, sys, threading
def serve(port, handler):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", port))
    srv.listen(16)
    def loop():
        while True:
            c, _ = srv.accept()
            threading.Thread(target=handler, args=(c,), daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()
def source(c):
    chunk = b"s" * 65536
    try:
        while True:
            c.sendall(chunk)
    except OSError:
        c.close()
held = []
def sink(c):
    held.append(c)  # never read
def echo(c):
    try:
        while True:
            d = c.recv(65536)
            if not d:
                break
            c.sendall(d)
    except OSError:
        pass
    c.close()
serve(int(sys.argv[1]), source)
serve(int(sys.argv[2]), sink)
serve(int(sys.argv[3]), echo)
print("ready", flush=True)
threading.Event().wait()
EOF
ip netns exec "$NS" python3 "$WORK/peer.py" $SRC_PORT $SINK_PORT $ECHO_PORT >"$WORK/peer.out" 2>"$WORK/peer.err" &
PEER=$!
for _ in $(seq 100); do
  grep -q '^ready' "$WORK/peer.out" 2>/dev/null && break
  kill -0 "$PEER" 2>/dev/null || break
  sleep 0.1
done
grep -q '^ready' "$WORK/peer.out" || { fail "kernel peer did not start: $(tail -3 "$WORK/peer.err")"; exit 1; }

# ---------------------------------------------------------------- 1. utcpd killed
[ "$(cat /proc/"$PID"/comm 2>/dev/null)" = utcpd ] || { fail "pid $PID is not utcpd"; exit 1; }
utcpd_snapshot "$OUT"
active0=$(utcpd_counter "$OUT" tcp_active_opens)
log "transfer: the program SIGKILLs utcpd (pid $PID) in the middle of it"
RC=0
mkfifo "$WORK/go"
ip netns exec "$NS" timeout -k 5 60 env "LD_PRELOAD=$LIB" "UTCP_CONTROL=$WORK/utcpd.sock" \
  "$BIN" transfer $KERNEL_IP $UTCP_IP $SRC_PORT $SINK_PORT $ECHO_PORT $LISTEN_PORT "$PID" \
  >"$WORK/transfer.out" 2>"$WORK/transfer.err" <"$WORK/go" &
PROG=$!
exec 3>"$WORK/go"
# Once every call is blocked ("ready-to-kill"), utcpd's counters: the sockets are utcp's.
for _ in $(seq 300); do  # up to 30 s
  grep -q '^ready-to-kill' "$WORK/transfer.out" 2>/dev/null && break
  kill -0 "$PROG" 2>/dev/null || break
  sleep 0.1
done
if grep -q '^ready-to-kill' "$WORK/transfer.out"; then
  utcpd_snapshot "$OUT"
  active=$(( $(utcpd_counter "$OUT" tcp_active_opens) - active0 ))
  log "utcpd before the kill: active opens +$active, tcp_bytes_in $(utcpd_counter "$OUT" tcp_bytes_in), open slots $(utcpd_counter "$OUT" shim_open_slots)"
  [ "$active" -ge 6 ] || fail "utcpd made only $active active opens: the connections did not go through utcp"
  echo go >&3
else
  fail "transfer: the program never got ready"
fi
exec 3>&-
# utcpd: killed by the program, so its status is 128+9. (The waits run with stderr
# closed: bash would print a "Killed" job notice for it.)
rc=0
still=0
{
  wait "$PROG" || RC=$?
  for _ in $(seq 50); do kill -0 "$PID" || break; sleep 0.1; done
  if kill -0 "$PID"; then still=1; else wait "$PID" || rc=$?; fi
  true
} 2>/dev/null
PROG=""
if [ "$still" = 1 ]; then
  fail "utcpd (pid $PID) is still running: the program did not kill it"
  stop_pid utcpd TERM
else
  [ "$rc" = 137 ] || fail "utcpd exited with status $rc, not 137 (SIGKILL)"
  PID=""
fi
show transfer
[ "$RC" = 0 ] || fail "transfer: the program exited with status $RC$([ "$RC" = 124 ] && echo ' (timeout: it hung)')"
grep -q '^summary: [0-9]* checks, 0 failed$' "$WORK/transfer.out" ||
  fail "transfer: $(grep -c '^FAIL' "$WORK/transfer.out") FAIL line(s) or no summary"
for c in "blocked read (transfer" "blocked read (idle" "blocked write" "blocked epoll_wait" "blocked poll" \
  "blocked accept" "blocked read (forked child" \
  "later read" "later write (full" "later send (full" "later recv" "later accept" "later connect (new"; do
  grep -q "^ok: $c" "$WORK/transfer.out" || fail "transfer: check '$c' did not pass"
done
# The killed daemon's control socket file is still there, with nobody behind it. (The
# tap and the peer's address are gone too; the silent-fallback check that means
# something is in part 3, where the peer's address is on a kernel interface.)
[ -S "$WORK/utcpd.sock" ] && log "the killed utcpd left its control socket file behind"
nodaemon nodaemon-killed "$WORK/utcpd.sock"

# ---------------------------------------------------------------- 2. restart
for _ in $(seq 50); do ip -n "$NS" link show utcp0 >/dev/null 2>&1 || break; sleep 0.1; done
mv "$OUT" "$WORK/utcpd-a.out"
mv "$WORK/utcpd.err" "$WORK/utcpd-a.err"
if start_utcpd_tap "$NS" "death-$$-b" "$WORK" --control "$WORK/utcpd.sock" --hugepages off; then
  run_prog restart "UTCP_CONTROL=$WORK/utcpd.sock" -- client $KERNEL_IP $ECHO_PORT 2
  log "restart: a new program on a new utcpd (same control path)"
  show restart
  [ "$RC" = 0 ] || fail "restart: the program exited with status $RC"
  grep -q '^client: all connected and echoed$' "$WORK/restart.out" ||
    fail "restart: the new program did not connect and echo through the new utcpd"
  [ -s "$WORK/restart.err" ] && fail "restart: the program wrote to stderr: $(head -3 "$WORK/restart.err")"
  utcpd_snapshot "$OUT"
  active=$(utcpd_counter "$OUT" tcp_active_opens)
  log "restart: new utcpd active opens $active"
  [ "$active" -ge 2 ] || fail "restart: the new utcpd made $active active opens, not 2"
  stop_pid utcpd TERM
fi

# ---------------------------------------------------------------- 3. no utcpd at start
for _ in $(seq 50); do ip -n "$NS" link show utcp0 >/dev/null 2>&1 || break; sleep 0.1; done
# The peer's address on a kernel interface now (one end of a veth pair): a connect that
# silently went to the kernel would succeed. utcp's own address stays on none.
ip -n "$NS" link add utcpk0 type veth peer name utcpk1
ip -n "$NS" addr add $KERNEL_IP/24 dev utcpk0
ip -n "$NS" link set utcpk0 up
ip -n "$NS" link set utcpk1 up
ip -n "$NS" addr | grep -q "$UTCP_IP" && fail "$UTCP_IP is on a kernel interface"

nodaemon nodaemon-stopped "$WORK/utcpd.sock"
nodaemon nodaemon-never "$WORK/never-started.sock"

run_prog fallback "UTCP_CONTROL=$WORK/never-started.sock" UTCP_FALLBACK=kernel -- client $KERNEL_IP $ECHO_PORT 2
log "no utcpd, UTCP_FALLBACK=kernel"
show fallback
[ "$RC" = 0 ] || fail "fallback: the program exited with status $RC"
grep -q '^client: all connected and echoed$' "$WORK/fallback.out" ||
  fail "fallback: with UTCP_FALLBACK=kernel the program did not connect and echo on the kernel"
grep -q '^info: bind 0.0.0.0:[0-9]*: 0, listen: 0$' "$WORK/fallback.out" ||
  fail "fallback: bind+listen on 0.0.0.0 did not work on the kernel"

[ "$FAILED" = 0 ] && log PASS
exit "$FAILED"
