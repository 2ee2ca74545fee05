#!/usr/bin/env bash
# Issue 4, acceptance: Debian's lighttpd under libutcp.so serves the same static files as
# nginx (1 KiB and 1 MiB, server.network-backend at its default: sendfile) through utcp
# to kernel curl, ab and wrk over the tap wire, as one process (lighttpd's default) and
# with server.max-worker 2: zero errors, bytes verified; a 127.0.0.1 health check
# is answered by the kernel half of the 0.0.0.0 listener (utcp sees no socket for it).
# utcpd's counters prove the rest went through utcp: per run, shim_sockets_opened grows
# by at least the connections the clients made, shim_bytes_from_apps by at least the
# bytes curl and ab received, and shim_open_slots is back to 0 once lighttpd and its
# workers are gone. Rules: TESTBED.md.
set -uo pipefail

SRC=${UTCP_SOURCE:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${UTCP_BUILD:-$SRC/build}
UTCPD=$BUILD/daemon/utcpd
LIB=$BUILD/preload/libutcp.so
NS=utcp-lighttpd-$$
KERNEL_IP=198.18.7.1
UTCP_IP=198.18.7.2
PORT=8080
WORK=$(mktemp -d /tmp/utcp-lighttpd-test.XXXXXX)
PID=""
LIGHTTPD=""
KIDS=""
FAILED=0
log() { echo "[lighttpd] $*"; }
fail() { echo "[lighttpd] FAIL: $*" >&2; FAILED=1; }
source "$SRC/integration/lib.sh"
source "$SRC/integration/lighttpd_lib.sh"

cleanup() {
  if [ -n "$LIGHTTPD" ]; then kill -KILL "$LIGHTTPD" 2>/dev/null; wait "$LIGHTTPD" 2>/dev/null; fi
  for w in $KIDS; do kill -KILL "$w" 2>/dev/null; done
  stop_pid utcpd TERM
  ip netns del "$NS" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || { echo "[lighttpd] FAIL: needs root" >&2; exit 1; }
for tool in lighttpd curl ab wrk setsid; do
  command -v "$tool" >/dev/null || { echo "[lighttpd] FAIL: $tool not installed" >&2; exit 1; }
done
[ -x "$UTCPD" ] && [ -f "$LIB" ] || { echo "[lighttpd] FAIL: build utcpd and libutcp.so first" >&2; exit 1; }

# lighttpd runs as root (no server.username): the files only need to exist.
mkdir -p "$WORK/www"
head -c 1024 /dev/urandom >"$WORK/www/1k.bin"
head -c 1048576 /dev/urandom >"$WORK/www/1m.bin"

ip netns add "$NS"
ip -n "$NS" link set lo up
start_utcpd_tap "$NS" "lighttpd-$$" "$WORK" --control "$WORK/utcpd.sock" || exit 1
OUT=$WORK/utcpd.out

# What one run's clients must have pushed through utcp at least (the counter checks).
CONNS=0
BYTES=0

check_files() {  # LABEL: both files, one curl each, and 8 concurrent 1 MiB downloads
  for f in 1k.bin 1m.bin; do
    ns curl -s -m 10 -o "$WORK/got" "http://$UTCP_IP:$PORT/$f" || fail "$1: curl $f"
    cmp -s "$WORK/got" "$WORK/www/$f" || fail "$1: $f differs"
    BYTES=$((BYTES + $(stat -c %s "$WORK/www/$f")))
  done
  # Concurrent sendfile streams (spread over the workers when there are several).
  local pids=() i bad=0
  for i in $(seq 8); do
    ns curl -s -m 20 -o "$WORK/got.$i" "http://$UTCP_IP:$PORT/1m.bin" &
    pids+=($!)
  done
  for i in $(seq 8); do
    if ! wait "${pids[$((i - 1))]}" || ! cmp -s "$WORK/got.$i" "$WORK/www/1m.bin"; then
      bad=$((bad + 1))
    fi
  done
  [ "$bad" = 0 ] || fail "$1: $bad of 8 concurrent 1m.bin downloads failed or differ"
  rm -f "$WORK"/got*
  CONNS=$((CONNS + 10))
  BYTES=$((BYTES + 8 * 1048576))
}

# The kernel half of the 0.0.0.0 listener answers 127.0.0.1 (utcp's address is on no
# kernel interface and loopback is not on the wire): 200, right bytes, no utcp socket.
check_health() {  # LABEL
  local code before after
  utcpd_snapshot "$OUT"
  before=$(utcpd_counter "$OUT" shim_sockets_opened)
  code=$(ns curl -s -m 5 -o "$WORK/got" -w '%{http_code}' "http://127.0.0.1:$PORT/1k.bin")
  [ "$code" = 200 ] || fail "$1: the 127.0.0.1 health check got '$code' (kernel half of 0.0.0.0)"
  cmp -s "$WORK/got" "$WORK/www/1k.bin" || fail "$1: 127.0.0.1 health check: 1k.bin differs"
  utcpd_snapshot "$OUT"
  after=$(utcpd_counter "$OUT" shim_sockets_opened)
  [ "$after" = "$before" ] || fail "$1: the 127.0.0.1 connection went to utcp ($before -> $after sockets)"
}

check_ab() {  # LABEL
  if ! ns ab -q -n 2000 -c 20 "http://$UTCP_IP:$PORT/1k.bin" >"$WORK/ab.out" 2>&1; then
    fail "$1: ab failed: $(tail -2 "$WORK/ab.out" | tr '\n' ' ')"
    return
  fi
  grep -q '^Complete requests: *2000$' "$WORK/ab.out" || fail "$1: ab did not complete 2000"
  grep -q '^Failed requests: *0$' "$WORK/ab.out" || fail "$1: ab: $(grep '^Failed' "$WORK/ab.out")"
  grep -q '^Non-2xx' "$WORK/ab.out" && fail "$1: ab: $(grep '^Non-2xx' "$WORK/ab.out")"
  # ab checks each body's length against the first one's; the first must be 1 KiB.
  grep -q '^Document Length: *1024 bytes$' "$WORK/ab.out" || fail "$1: ab: $(grep '^Document Length' "$WORK/ab.out")"
  local total
  total=$(awk '/^Total transferred:/ {print $3}' "$WORK/ab.out")
  CONNS=$((CONNS + 2000))  # ab without -k: one connection per request
  BYTES=$((BYTES + ${total:-0}))
  log "$1: ab 1k $(awk '/^Requests per second/ {print $4}' "$WORK/ab.out") req/s"
}

check_wrk() {  # LABEL FILE CONNS
  ns wrk -t2 -c"$3" -d2 "http://$UTCP_IP:$PORT/$2" >"$WORK/wrk.out" 2>&1 || fail "$1: wrk failed"
  grep -q 'Socket errors' "$WORK/wrk.out" && fail "$1: wrk $2: $(grep 'Socket errors' "$WORK/wrk.out")"
  grep -q 'Non-2xx' "$WORK/wrk.out" && fail "$1: wrk $2: $(grep 'Non-2xx' "$WORK/wrk.out")"
  local rps
  rps=$(awk '/^Requests\/sec/ {print int($2)}' "$WORK/wrk.out")
  [ "${rps:-0}" -gt 0 ] || fail "$1: wrk $2 completed nothing"
  # At least one connection each (more: lighttpd closes a keep-alive connection after
  # server.max-keep-alive-requests, 1000 by default, and wrk reconnects).
  CONNS=$((CONNS + $3))
  log "$1: wrk $2 -c$3 ${rps:-0} req/s"
}

# max-worker 0 is lighttpd's default: one process accepts and serves (lighttpd 1.4.69
# runs max-worker 1 the same way, without forking). With 2 the master forks two workers
# that share its listener (inherited, one utcp listener) and only watches them.
for n in 0 2; do
  label="max-worker $n"
  utcpd_snapshot "$OUT"
  opened0=$(utcpd_counter "$OUT" shim_sockets_opened)
  bytes0=$(utcpd_counter "$OUT" shim_bytes_from_apps)
  CONNS=1  # the listener
  BYTES=0
  start_lighttpd "$n" || { stop_lighttpd; continue; }
  # $! must be lighttpd itself (setsid exec'd in place), and it must run on libutcp.so.
  [ "$(cat "$WORK/lighttpd.pid" 2>/dev/null)" = "$LIGHTTPD" ] \
    || fail "$label: pid file says $(cat "$WORK/lighttpd.pid" 2>/dev/null), started $LIGHTTPD"
  for p in "$LIGHTTPD" $KIDS; do
    grep -q libutcp.so "/proc/$p/maps" 2>/dev/null || fail "$label: libutcp.so not mapped in pid $p"
  done
  kids=${KIDS//$'\n'/ }
  log "$label: lighttpd pid $LIGHTTPD, workers: ${kids:-none}"
  check_files "$label"
  check_health "$label"
  check_ab "$label"
  check_wrk "$label" 1k.bin 50
  check_wrk "$label" 1m.bin 4
  [ "$(lighttpd_workers | wc -w)" = "$n" ] || fail "$label: $n workers expected after the load, found $(lighttpd_workers | wc -w)"
  stop_lighttpd
  # utcpd learns of the exits through the app channel: give it (bounded) time to settle.
  for _ in $(seq 20); do
    utcpd_snapshot "$OUT"
    open=$(utcpd_counter "$OUT" shim_open_slots)
    [ "$open" = 0 ] && break
    sleep 0.25
  done
  opened=$(( $(utcpd_counter "$OUT" shim_sockets_opened) - opened0 ))
  bytes=$(( $(utcpd_counter "$OUT" shim_bytes_from_apps) - bytes0 ))
  log "$label: utcp sockets opened $opened (>= $CONNS), bytes from lighttpd $bytes (>= $BYTES), still open $open"
  [ "$open" = 0 ] || fail "$label: $open utcp sockets still open after lighttpd exited"
  [ "$opened" -ge "$CONNS" ] || fail "$label: only $opened sockets went through utcp, the clients made $CONNS connections"
  [ "$bytes" -ge "$BYTES" ] || fail "$label: only $bytes bytes from lighttpd went through utcp, curl and ab got $BYTES"
  # lighttpd logs a failed write or an unexpected close; only start and stop are expected
  # (and its note that the wall clock stepped, which this shared VM's clock does).
  if grep -v -e 'server started' -e 'server stopped' -e 'clock jumped' "$WORK/error.log" >"$WORK/errors" 2>/dev/null \
     && [ -s "$WORK/errors" ]; then
    fail "$label: lighttpd logged: $(head -5 "$WORK/errors")"
  fi
  rm -f "$WORK/error.log"
done

[ "$FAILED" = 0 ] && log PASS
exit "$FAILED"
