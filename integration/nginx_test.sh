#!/usr/bin/env bash
# Issue 4, acceptance 2 and 4: Debian's nginx under libutcp.so serves static files
# (1 KiB and 1 MiB, sendfile on) through utcp to kernel curl, ab and wrk over the tap
# wire, with 1 worker and with 2: zero errors, bytes verified; a 127.0.0.1 health
# check is answered by the kernel half of the 0.0.0.0 listener. Then a worker is
# killed with SIGKILL under load: the master starts a new one, service continues, and
# utcpd lets go of the dead worker's sockets (its counters show it). Last, on two
# engines, the workers accept mostly from their own core's engine. Rules: TESTBED.md.
set -uo pipefail

SRC=${UTCP_SOURCE:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${UTCP_BUILD:-$SRC/build}
UTCPD=$BUILD/daemon/utcpd
LIB=$BUILD/preload/libutcp.so
NS=utcp-nginx-$$
KERNEL_IP=198.18.4.1
UTCP_IP=198.18.4.2
PORT=8080
WORK=$(mktemp -d /tmp/utcp-nginx-test.XXXXXX)
PID=""
NGINX=""
FAILED=0
log() { echo "[nginx] $*"; }
fail() { echo "[nginx] FAIL: $*" >&2; FAILED=1; }
source "$SRC/integration/lib.sh"
source "$SRC/integration/nginx_lib.sh"

cleanup() {
  if [ -n "$NGINX" ]; then kill -KILL "$NGINX" 2>/dev/null; wait "$NGINX" 2>/dev/null; fi
  stop_pid utcpd TERM
  ip netns del "$NS" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || { echo "[nginx] FAIL: needs root" >&2; exit 1; }
for tool in nginx curl ab wrk; do
  command -v "$tool" >/dev/null || { echo "[nginx] FAIL: $tool not installed" >&2; exit 1; }
done
[ -x "$UTCPD" ] && [ -f "$LIB" ] || { echo "[nginx] FAIL: build utcpd and libutcp.so first" >&2; exit 1; }

# nginx's workers run as nobody: they must read the files and reach the socket.
chmod 755 "$WORK"
mkdir -p "$WORK/www"
head -c 1024 /dev/urandom >"$WORK/www/1k.bin"
head -c 1048576 /dev/urandom >"$WORK/www/1m.bin"
chmod 644 "$WORK/www/"*

ip netns add "$NS"
ip -n "$NS" link set lo up
start_utcpd_tap "$NS" "nginx-$$" "$WORK" --control "$WORK/utcpd.sock" || exit 1
UTCPD_PID=$PID
OUT=$WORK/utcpd.out

check_files() {  # LABEL
  for f in 1k.bin 1m.bin; do
    ns curl -s -m 10 -o "$WORK/got" "http://$UTCP_IP:$PORT/$f" || fail "$1: curl $f"
    cmp -s "$WORK/got" "$WORK/www/$f" || fail "$1: $f differs"
  done
  local code
  code=$(ns curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/1k.bin")
  [ "$code" = 200 ] || fail "$1: the 127.0.0.1 health check got '$code' (kernel half of 0.0.0.0)"
}

check_ab() {  # LABEL
  ns ab -q -n 2000 -c 20 "http://$UTCP_IP:$PORT/1k.bin" >"$WORK/ab.out" 2>&1 || fail "$1: ab failed"
  grep -q '^Complete requests: *2000$' "$WORK/ab.out" || fail "$1: ab did not complete 2000"
  grep -q '^Failed requests: *0$' "$WORK/ab.out" || fail "$1: ab: $(grep '^Failed' "$WORK/ab.out")"
  log "$1: ab 1k $(awk '/^Requests per second/ {print $4}' "$WORK/ab.out") req/s"
}

check_wrk() {  # LABEL FILE CONNS
  ns wrk -t2 -c"$3" -d2 "http://$UTCP_IP:$PORT/$2" >"$WORK/wrk.out" 2>&1 || fail "$1: wrk failed"
  grep -q 'Socket errors' "$WORK/wrk.out" && fail "$1: wrk $2: $(grep 'Socket errors' "$WORK/wrk.out")"
  grep -q 'Non-2xx' "$WORK/wrk.out" && fail "$1: wrk $2: $(grep 'Non-2xx' "$WORK/wrk.out")"
  local rps
  rps=$(awk '/^Requests\/sec/ {print int($2)}' "$WORK/wrk.out")
  [ "${rps:-0}" -gt 0 ] || fail "$1: wrk $2 completed nothing"
  log "$1: wrk $2 -c$3 ${rps:-0} req/s"
}

for n in 1 2; do
  start_nginx "$n" || continue
  [ "$(workers | wc -l)" = "$n" ] || fail "$n workers expected, found $(workers | wc -l)"
  check_files "$n workers"
  check_ab "$n workers"
  check_wrk "$n workers" 1k.bin 50
  check_wrk "$n workers" 1m.bin 4
  [ "$n" = 2 ] || stop_nginx
done

# SO_REUSEPORT: each worker gets its own listening socket (a group on every engine).
if [ -n "$NGINX" ]; then
  stop_nginx
  LISTEN_OPTS=" reuseport"
  if start_nginx 2; then
    check_files "reuseport"
    check_wrk "reuseport" 1k.bin 50
  fi
  LISTEN_OPTS=""
fi

# The listen options servers set (issue 14): TCP_DEFER_ACCEPT ("deferred": the request
# comes with the connection), SO_RCVBUF/SO_SNDBUF on the listener (inherited by every
# connection), SO_KEEPALIVE with its times, and IP_TOS through the listener's socket.
if [ -n "$NGINX" ]; then
  stop_nginx
  LISTEN_OPTS=" deferred rcvbuf=65536 sndbuf=131072 so_keepalive=30s:10s:3"
  if start_nginx 2; then
    check_files "listen options"
    check_wrk "listen options" 1k.bin 50
    # nginx logs a refused option and carries on: a refusal is a failure here.
    if grep -a 'setsockopt(' "$WORK/error.log" | grep -q 'failed'; then
      fail "listen options: $(grep -a 'setsockopt(' "$WORK/error.log" | grep failed | head -3)"
    fi
  fi
  LISTEN_OPTS=""
fi

# kill -9 of a worker under load (2 workers still running).
if [ -n "$NGINX" ]; then
  utcpd_snapshot "$OUT"
  gone_before=$(utcpd_counter "$OUT" shim_channels_gone)
  victim=$(workers | head -1)
  ns wrk -t2 -c40 -d4 "http://$UTCP_IP:$PORT/1k.bin" >"$WORK/wrk-kill.out" 2>&1 &
  WRK=$!
  sleep 1.5
  kill -KILL "$victim"
  wait "$WRK"
  sleep 0.5
  now=$(workers)
  grep -qx "$victim" <<<"$now" && fail "the killed worker $victim is still there"
  [ "$(wc -l <<<"$now")" = 2 ] || fail "the master did not replace the killed worker"
  check_files "after kill -9"
  stop_nginx
  sleep 0.5
  utcpd_snapshot "$OUT"
  gone_after=$(utcpd_counter "$OUT" shim_channels_gone)
  open=$(utcpd_counter "$OUT" shim_open_slots)
  opened=$(utcpd_counter "$OUT" shim_sockets_opened)
  log "after kill -9: processes gone $gone_before -> $gone_after, sockets opened $opened, still open $open"
  [ "$gone_after" -gt "$gone_before" ] || fail "utcpd did not notice the dead worker"
  [ "$open" = 0 ] || fail "$open utcp sockets still open after nginx exited"
  [ "$opened" -gt 4000 ] || fail "only $opened sockets went through utcp"
fi

# Accept affinity on two engines: nginx's workers (worker_cpu_affinity auto: one per
# CPU) each accept from their own core's engine first, then from the other, so most
# connections are accepted on the core whose engine received them.
PID=$UTCPD_PID
stop_pid utcpd TERM
start_utcpd_tap "$NS" "nginx2-$$" "$WORK" --control "$WORK/utcpd.sock" --cores 0,1 || exit 1
UTCPD_PID=$PID
if start_nginx 2; then
  check_wrk "2 engines" 1k.bin 100
  # Short connections: thousands of accepts to count.
  ns wrk -t2 -c50 -d2 -H "Connection: close" "http://$UTCP_IP:$PORT/1k.bin" >"$WORK/wrk.out" 2>&1 ||
    fail "2 engines: wrk (Connection: close) failed"
  grep -q 'Socket errors' "$WORK/wrk.out" && fail "2 engines: $(grep 'Socket errors' "$WORK/wrk.out")"
  stop_nginx
  utcpd_snapshot "$OUT"
  home=$(utcpd_counter "$OUT" shim_accepts_home)
  remote=$(utcpd_counter "$OUT" shim_accepts_remote)
  total=$((home + remote))
  log "2 engines: accepted on the worker's own core $home of $total (engine 0 $(ENGINE=0 utcpd_counter "$OUT" shim_accepts_home)+$(ENGINE=0 utcpd_counter "$OUT" shim_accepts_remote), engine 1 $(ENGINE=1 utcpd_counter "$OUT" shim_accepts_home)+$(ENGINE=1 utcpd_counter "$OUT" shim_accepts_remote))"
  for e in 0 1; do
    [ "$(ENGINE=$e utcpd_counter "$OUT" shim_sockets_opened)" -gt 0 ] || fail "engine $e accepted nothing"
  done
  [ "$total" -gt 0 ] && [ $((home * 100 / total)) -ge 60 ] || fail "only $home of $total accepts were on the worker's own core"
fi

[ "$FAILED" = 0 ] && log PASS
exit "$FAILED"
