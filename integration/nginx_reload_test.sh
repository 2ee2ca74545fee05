#!/usr/bin/env bash
# Issue 4, acceptance 3: nginx under libutcp.so is reloaded (SIGHUP) every second during
# a 20-second wrk run, then upgraded in place (SIGUSR2: the master execs a new binary
# that inherits the utcp listener; SIGWINCH and SIGQUIT retire the old master) under
# load: zero failed requests throughout. The client is wrk with "Connection: close":
# on keep-alive connections wrk counts the idle connections a retiring worker closes
# as read errors (the kernel shows the same), which are not failed requests; with one
# request per connection every error is a real failure. Rules: TESTBED.md.
set -uo pipefail

SRC=${UTCP_SOURCE:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${UTCP_BUILD:-$SRC/build}
UTCPD=$BUILD/daemon/utcpd
LIB=$BUILD/preload/libutcp.so
NS=utcp-reload-$$
KERNEL_IP=198.18.5.1
UTCP_IP=198.18.5.2
PORT=8080
RELOAD_SECONDS=${RELOAD_SECONDS:-20}
WORK=$(mktemp -d /tmp/utcp-reload-test.XXXXXX)
PID=""
NGINX=""
WRK=""
FAILED=0
log() { echo "[nginx-reload] $*"; }
fail() { echo "[nginx-reload] FAIL: $*" >&2; FAILED=1; }
source "$SRC/integration/lib.sh"
source "$SRC/integration/nginx_lib.sh"

cleanup() {
  [ -n "$WRK" ] && kill -KILL "$WRK" 2>/dev/null
  for p in $NGINX $(cat "$WORK"/nginx.pid* 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
  stop_pid utcpd TERM
  ip netns del "$NS" 2>/dev/null
  [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || { echo "[nginx-reload] FAIL: needs root" >&2; exit 1; }
chmod 755 "$WORK"
mkdir -p "$WORK/www"
head -c 1024 /dev/urandom >"$WORK/www/1k.bin"
chmod 644 "$WORK/www/1k.bin"
ip netns add "$NS"
ip -n "$NS" link set lo up
start_utcpd_tap "$NS" "reload-$$" "$WORK" --control "$WORK/utcpd.sock" || exit 1

# wrk's summary: every error class must be zero, and it must have done work.
check_wrk_clean() {  # LABEL
  local out=$WORK/wrk.out
  grep -q 'Socket errors' "$out" && fail "$1: $(grep 'Socket errors' "$out")"
  grep -q 'Non-2xx' "$out" && fail "$1: $(grep 'Non-2xx' "$out")"
  log "$1: $(awk '/requests in/ {print $1, "requests"}' "$out") without an error"
  [ "$(awk '/requests in/ {print $1}' "$out")" -gt 0 ] 2>/dev/null || fail "$1: wrk completed nothing"
}

DAEMON=on
start_nginx 2 || exit 1
master=$NGINX
WRK_CLOSE=(-H "Connection: close")

# 1. Reload every second under load.
ns wrk -t2 -c20 -d"$RELOAD_SECONDS" "${WRK_CLOSE[@]}" "http://$UTCP_IP:$PORT/1k.bin" >"$WORK/wrk.out" 2>&1 &
WRK=$!
for _ in $(seq $((RELOAD_SECONDS - 2))); do
  sleep 1
  kill -HUP "$master" || fail "SIGHUP to the master failed"
done
wait "$WRK"
WRK=""
check_wrk_clean "reload every second for ${RELOAD_SECONDS}s"
grep -c 'reconfiguring' "$WORK/error.log" | { read -r n; log "reloads done: $n"; [ "$n" -ge $((RELOAD_SECONDS - 3)) ] || fail "only $n reloads happened"; }

# 2. Binary upgrade under load: USR2 (new master), WINCH (old workers leave), QUIT.
ns wrk -t2 -c20 -d8 "${WRK_CLOSE[@]}" "http://$UTCP_IP:$PORT/1k.bin" >"$WORK/wrk.out" 2>&1 &
WRK=$!
sleep 1
kill -USR2 "$master"
for _ in $(seq 50); do [ -s "$WORK/nginx.pid.oldbin" ] && [ -s "$WORK/nginx.pid" ] && break; sleep 0.1; done
new_master=$(cat "$WORK/nginx.pid" 2>/dev/null)
[ -n "$new_master" ] && [ "$new_master" != "$master" ] || fail "USR2 started no new master"
sleep 1
kill -WINCH "$master"
sleep 1
kill -QUIT "$master"
for _ in $(seq 100); do kill -0 "$master" 2>/dev/null || break; sleep 0.1; done
kill -0 "$master" 2>/dev/null && fail "the old master ignored SIGQUIT"
NGINX=""
wait "$WRK"
WRK=""
check_wrk_clean "binary upgrade"
code=$(ns curl -s -m 5 -o /dev/null -w '%{http_code}' "http://$UTCP_IP:$PORT/1k.bin")
[ "$code" = 200 ] || fail "the new master does not serve (got '$code')"
if [ -n "$new_master" ]; then
  kill -QUIT "$new_master"
  for _ in $(seq 100); do kill -0 "$new_master" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$new_master" 2>/dev/null && fail "the new master ignored SIGQUIT"
fi

# Every process of the family is gone: utcpd holds none of their sockets any more.
sleep 0.5
utcpd_snapshot "$WORK/utcpd.out"
open=$(utcpd_counter "$WORK/utcpd.out" shim_open_slots)
log "utcp sockets opened $(utcpd_counter "$WORK/utcpd.out" shim_sockets_opened), still open $open"
[ "$open" = 0 ] || fail "$open utcp sockets still open after nginx exited"

[ "$FAILED" = 0 ] && log PASS
exit "$FAILED"
