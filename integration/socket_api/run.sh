#!/usr/bin/env bash
# The socket-API differential test: runs socket_api on the Linux kernel stack (the
# reference output), or, with UTCP_BUILD set, under libutcp.so on that build's utcpd.
# Two namespaces joined by a veth pair: the program (socket_api, built here from *.c with
# gcc) in utcp-sapi-a-$$ at 198.18.7.2/24, the peer (peer.py) in utcp-sapi-b-$$ at
# 198.18.7.1/24, where nftables drops SYNs to port 7010 (a port that never answers: a
# connect there stays pending, for EALREADY and the EINTR/SO_SNDTIMEO connect checks).
# The pid suffix on the namespace names lets runs proceed in parallel.
# Usage: run.sh [OUT]   (OUT defaults to /tmp/socket_api.kernel.out)
#   UTCP_BUILD  a build directory: run under its libutcp.so and utcpd (tap wire)
# Environment (so the same script runs the program under libutcp.so later):
#   SAPI_BIN   a prebuilt socket_api binary (default: build *.c here with gcc)
#   SAPI_WRAP  a command prefix put before the program inside the program's namespace,
#              e.g. "env LD_PRELOAD=/path/libutcp.so" (word-split, default empty)
# Exit status: non-zero if the program did not run to its summary line, exited non-zero,
# or printed a line starting with "FAIL".
# Rules: TESTBED.md (own netns, addresses from 198.18.0.0/15, stop by pid, bounded waits).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-/tmp/socket_api.kernel.out}
NS_A=utcp-sapi-a-$$   # the program
NS_B=utcp-sapi-b-$$   # the peer
PROG_IP=198.18.7.2
PEER_IP=198.18.7.1
PROG_LIMIT=240         # seconds the program may run (it bounds every wait itself)
WORK=$(mktemp -d /tmp/utcp-sapi.XXXXXX)
PID=""                 # peer.py
PROG=""                # socket_api's timeout(1)
UTCPD=""               # utcpd (UTCP_BUILD set)
FAILED=0

log() { echo "[socket_api] $*"; }
fail() { echo "[socket_api] FAIL: $*" >&2; FAILED=1; }

# stop NAME PID: SIGTERM, up to 10 s, then SIGKILL; by pid only.
stop() {
  [ -n "$2" ] || return 0
  kill -TERM "$2" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$2" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$2" 2>/dev/null; then
    fail "$1 (pid $2) ignored SIGTERM for 10 s"
    kill -KILL "$2" 2>/dev/null || true
  fi
  wait "$2" 2>/dev/null || true
}

cleanup() {
  stop socket_api "$PROG"
  PROG=""
  stop peer.py "$PID"
  PID=""
  stop utcpd "$UTCPD"
  UTCPD=""
  ip netns del "$NS_A" 2>/dev/null || true
  ip netns del "$NS_B" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { echo "[socket_api] FAIL: needs root (netns, veth, nft)" >&2; exit 1; }
for tool in gcc nft ip timeout /usr/bin/python3; do
  command -v "$tool" >/dev/null || { echo "[socket_api] FAIL: $tool not installed" >&2; exit 1; }
done

# --- Build (warnings are errors: the program is part of the test suite).
if [ -n "${SAPI_BIN:-}" ]; then
  [ -x "$SAPI_BIN" ] || { echo "[socket_api] FAIL: SAPI_BIN=$SAPI_BIN is not executable" >&2; exit 1; }
  BIN=$SAPI_BIN
else
  BIN=$WORK/socket_api
  gcc -std=gnu11 -D_FILE_OFFSET_BITS=64 -Wall -Wextra -Werror -O2 -o "$BIN" "$HERE"/*.c
fi
read -r -a WRAP <<<"${SAPI_WRAP:-}"

# --- The wire.
if [ -z "${UTCP_BUILD:-}" ]; then
  # Kernel: the program's namespace and the peer's, joined by a veth pair.
  ip netns add "$NS_A"
  ip netns add "$NS_B"
  ip -n "$NS_A" link add sa0 type veth peer name sb0 netns "$NS_B"
  ip -n "$NS_A" addr add $PROG_IP/24 dev sa0
  ip -n "$NS_B" addr add $PEER_IP/24 dev sb0
  ip -n "$NS_A" link set lo up
  ip -n "$NS_B" link set lo up
  ip -n "$NS_A" link set sa0 up
  ip -n "$NS_B" link set sb0 up
else
  # utcp: one namespace; utcpd owns $PROG_IP (on no kernel interface) behind a tap
  # whose kernel side is the peer's $PEER_IP; the program runs under libutcp.so.
  NS_B=$NS_A
  ip netns add "$NS_A"
  ip -n "$NS_A" link set lo up
  UTCPD_OUT=$WORK/utcpd.out
  ip netns exec "$NS_A" "$UTCP_BUILD/daemon/utcpd" --dev net_tap0,iface=utcp0 --ip $PROG_IP/24 \
    --file-prefix "sapi-$$" --control "$WORK/utcpd.sock" >"$UTCPD_OUT" 2>"$WORK/utcpd.err" &
  UTCPD=$!
  for _ in $(seq 150); do
    grep -q '^ready' "$UTCPD_OUT" 2>/dev/null && ip -n "$NS_A" link show utcp0 >/dev/null 2>&1 && break
    kill -0 "$UTCPD" 2>/dev/null || break
    sleep 0.1
  done
  grep -q '^ready' "$UTCPD_OUT" || { fail "utcpd did not start: $(tail -3 "$WORK/utcpd.err")"; exit 1; }
  ip -n "$NS_A" addr add $PEER_IP/24 dev utcp0
  ip -n "$NS_A" link set utcp0 up
  if ip -n "$NS_A" addr | grep -q "$PROG_IP/"; then fail "$PROG_IP is on a kernel interface"; exit 1; fi
  WRAP=(env "UTCP_CONTROL=$WORK/utcpd.sock" "LD_PRELOAD=$UTCP_BUILD/preload/libutcp.so" "${WRAP[@]}")
fi
ip netns exec "$NS_B" nft add table inet sapi
ip netns exec "$NS_B" nft add chain inet sapi in '{ type filter hook input priority 0; }'
ip netns exec "$NS_B" nft add rule inet sapi in tcp dport 7010 drop

for _ in $(seq 50); do
  ip netns exec "$NS_A" ping -c1 -W1 $PEER_IP >/dev/null 2>&1 && break
  sleep 0.1
done

# --- The peer.
: >"$WORK/peer.out"
ip netns exec "$NS_B" /usr/bin/python3 "$HERE/peer.py" $PROG_IP $PEER_IP \
  >"$WORK/peer.out" 2>"$WORK/peer.err" &
PID=$!
for _ in $(seq 100); do
  grep -q '^ready' "$WORK/peer.out" && break
  kill -0 "$PID" 2>/dev/null || break
  sleep 0.1
done
grep -q '^ready' "$WORK/peer.out" || { fail "peer.py did not start: $(tail -5 "$WORK/peer.err")"; exit 1; }

# --- The program. Its stdout is the comparable output; stderr is diagnostics.
log "running socket_api $PROG_IP $PEER_IP -> $OUT"
rc=0
ip netns exec "$NS_A" timeout -k 5 $PROG_LIMIT "${WRAP[@]}" "$BIN" $PROG_IP $PEER_IP \
  >"$OUT" 2>"$WORK/prog.err" &
PROG=$!
wait "$PROG" || rc=$?
PROG=""
[ -s "$WORK/prog.err" ] && { log "program stderr:"; cat "$WORK/prog.err" >&2; }

[ "$rc" = 0 ] || fail "socket_api exited with status $rc$([ "$rc" = 124 ] && echo ' (timeout)')"
grep -q '^summary: [0-9]* checks$' "$OUT" || fail "no summary line in $OUT"
if grep -q '^FAIL' "$OUT"; then
  fail "$(grep -c '^FAIL' "$OUT") FAIL line(s):"
  grep '^FAIL' "$OUT" >&2
fi

stop peer.py "$PID"
PID=""
[ ! -s "$WORK/peer.err" ] || grep -v '^peer: stopped$' "$WORK/peer.err" >&2 || true

log "$(tail -1 "$OUT")"
[ "$FAILED" = 0 ] && log PASS
exit "$FAILED"
