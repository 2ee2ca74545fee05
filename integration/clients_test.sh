#!/usr/bin/env bash
# Issue 4, acceptance 6: clients on utcp.
# 1. curl and wrk under libutcp.so fetch from nginx on the kernel, on the other side of
#    the tap wire (utcp's address is on no kernel interface: the replies can only
#    reach the clients through utcpd).
# 2. wrk under libutcp.so on one utcpd against nginx under libutcp.so on another, the
#    two joined by net_memif: nothing on the packet path enters the kernel.
# Bytes are verified, errors must be zero, utcpd's counters show the traffic.
set -uo pipefail

SRC=${UTCP_SOURCE:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${UTCP_BUILD:-$SRC/build}
UTCPD=$BUILD/daemon/utcpd
LIB=$BUILD/preload/libutcp.so
NS=utcp-clients-$$
KERNEL_IP=198.18.6.1
UTCP_IP=198.18.6.2
PORT=8080
WORK=$(mktemp -d /tmp/utcp-clients-test.XXXXXX)
PID="" NGINX="" MEMIF_SERVER="" MEMIF_CLIENT=""
FAILED=0
log() { echo "[clients] $*"; }
fail() { echo "[clients] FAIL: $*" >&2; FAILED=1; }
source "$SRC/integration/lib.sh"
source "$SRC/integration/nginx_lib.sh"

cleanup() {
  stop_nginx
  stop_pid utcpd TERM
  PID=$MEMIF_CLIENT; stop_pid "utcpd (memif client)" TERM
  PID=$MEMIF_SERVER; stop_pid "utcpd (memif server)" TERM
  ip netns del "$NS" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || { echo "[clients] FAIL: needs root" >&2; exit 1; }
chmod 755 "$WORK"
mkdir -p "$WORK/www"
head -c 1024 /dev/urandom >"$WORK/www/1k.bin"
head -c 1048576 /dev/urandom >"$WORK/www/1m.bin"
chmod 644 "$WORK/www/"*
ip netns add "$NS"
ip -n "$NS" link set lo up

on_utcp() {  # CONTROL CMD...: a client under libutcp.so
  local control=$1
  shift
  timeout 60 ip netns exec "$NS" env UTCP_CONTROL="$control" LD_PRELOAD="$LIB" "$@"
}

wrk_clean() {  # LABEL OUTFILE
  grep -q 'Socket errors' "$2" && fail "$1: $(grep 'Socket errors' "$2")"
  grep -q 'Non-2xx' "$2" && fail "$1: $(grep 'Non-2xx' "$2")"
  local rps
  rps=$(awk '/^Requests\/sec/ {print int($2)}' "$2")
  [ "${rps:-0}" -gt 0 ] || fail "$1: wrk completed nothing: $(tail -3 "$2")"
  log "$1: ${rps:-0} req/s"
}

# --- 1. utcp clients, kernel server ---
start_utcpd_tap "$NS" "clients-$$" "$WORK" --control "$WORK/utcpd.sock" || exit 1
nginx_conf 1 | sed "s/listen $PORT;/listen $KERNEL_IP:$PORT;/" >"$WORK/nginx.conf"
ip netns exec "$NS" "$(command -v nginx)" -c "$WORK/nginx.conf" >"$WORK/nginx.out" 2>&1 &
NGINX=$!
for _ in $(seq 50); do
  [ "$(timeout 5 ip netns exec "$NS" curl -s -o /dev/null -w '%{http_code}' "http://$KERNEL_IP:$PORT/1k.bin")" = 200 ] && break
  sleep 0.1
done
for f in 1k.bin 1m.bin; do
  on_utcp "$WORK/utcpd.sock" curl -s -m 10 -o "$WORK/got" "http://$KERNEL_IP:$PORT/$f" || fail "curl on utcp: $f"
  cmp -s "$WORK/got" "$WORK/www/$f" || fail "curl on utcp: $f differs"
done
on_utcp "$WORK/utcpd.sock" wrk -t2 -c20 -d2 "http://$KERNEL_IP:$PORT/1k.bin" >"$WORK/wrk.out" 2>&1 ||
  fail "wrk on utcp failed"
wrk_clean "wrk on utcp -> kernel nginx" "$WORK/wrk.out"
utcpd_snapshot "$WORK/utcpd.out"
opened=$(utcpd_counter "$WORK/utcpd.out" shim_sockets_opened)
log "utcp sockets opened by the clients: $opened"
[ "$opened" -ge 22 ] || fail "the clients opened only $opened utcp sockets"
stop_nginx
stop_pid utcpd TERM

# --- 2. both on utcp, two utcpd joined by memif ---
SERVER_IP=198.18.6.11
CLIENT_IP=198.18.6.12
start_memif() {  # ROLE IP CONTROL
  ip netns exec "$NS" "$UTCPD" --dev "net_memif0,role=$1,socket=$WORK/memif.sock" --ip "$2/24" \
    --hugepages off --file-prefix "clients-$$-$1" --control "$3" \
    >"$WORK/memif-$1.out" 2>"$WORK/memif-$1.err" &
  STARTED=$!
  for _ in $(seq 150); do
    grep -q '^ready' "$WORK/memif-$1.out" && return 0
    kill -0 "$STARTED" 2>/dev/null || break
    sleep 0.1
  done
  fail "utcpd memif $1 did not start: $(tail -3 "$WORK/memif-$1.err")"
  return 1
}
start_memif server $SERVER_IP "$WORK/utcpd.sock" && MEMIF_SERVER=$STARTED
start_memif client $CLIENT_IP "$WORK/client.sock" && MEMIF_CLIENT=$STARTED
UTCP_IP=$SERVER_IP
# Only a client on the other utcpd can reach this nginx.
nginx_probe() {
  on_utcp "$WORK/client.sock" curl -s -m 1 -o /dev/null -w '%{http_code}' "http://$SERVER_IP:$PORT/1k.bin"
}
if [ -n "$MEMIF_SERVER" ] && [ -n "$MEMIF_CLIENT" ] && start_nginx 1; then
  for f in 1k.bin 1m.bin; do
    on_utcp "$WORK/client.sock" curl -s -m 10 -o "$WORK/got" "http://$SERVER_IP:$PORT/$f" || fail "memif: curl $f"
    cmp -s "$WORK/got" "$WORK/www/$f" || fail "memif: $f differs"
  done
  on_utcp "$WORK/client.sock" wrk -t2 -c20 -d2 "http://$SERVER_IP:$PORT/1k.bin" >"$WORK/wrk.out" 2>&1 ||
    fail "memif: wrk failed"
  wrk_clean "memif: wrk on utcp -> nginx on utcp" "$WORK/wrk.out"
  stop_nginx
  for role in server client; do
    pid=$([ $role = server ] && echo "$MEMIF_SERVER" || echo "$MEMIF_CLIENT")
    PID=$pid utcpd_snapshot "$WORK/memif-$role.out"
    log "memif $role: utcp sockets opened $(utcpd_counter "$WORK/memif-$role.out" shim_sockets_opened)"
    [ "$(utcpd_counter "$WORK/memif-$role.out" shim_sockets_opened)" -ge 20 ] || fail "memif $role: too few utcp sockets"
  done
fi

[ "$FAILED" = 0 ] && log PASS
exit "$FAILED"
