#!/usr/bin/env bash
# utcpd over net_tap with its diagnostic services: the kernel in a private namespace
# pings 198.18.0.2 (on no kernel interface), fetches from --http, pushes 8 MiB through
# --echo (SHA-256 equal), checks counters moved (SIGUSR1) and a clean SIGTERM exit.
# Rules: TESTBED.md (own netns, stop by pid, bounded waits, distinct --file-prefix).
set -euo pipefail

SRC=${UTCP_SOURCE:-$(cd "$(dirname "$0")/.." && pwd)}
# shellcheck source=integration/lib.sh
source "$SRC/integration/lib.sh"
BUILD=${UTCP_BUILD:-$SRC/build}
UTCPD=$BUILD/daemon/utcpd
NS=utcp-utcpd-$$
PREFIX=utcp-utcpd-$$
KERNEL_IP=198.18.0.1
UTCP_IP=198.18.0.2
WORK=$(mktemp -d /tmp/utcp-utcpd-tap.XXXXXX)
PID=""
FAILED=0

log() { echo "[utcpd_tap] $*"; }
fail() { echo "[utcpd_tap] FAIL: $*" >&2; FAILED=1; }

stop_utcpd() { stop_pid utcpd "$1"; }  # by pid, bounded, escalating to SIGKILL

cleanup() {
  stop_utcpd TERM
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { echo "[utcpd_tap] FAIL: needs root (netns, tap)" >&2; exit 1; }
[ -x "$UTCPD" ] || { echo "[utcpd_tap] FAIL: $UTCPD not built" >&2; exit 1; }
for tool in ping curl /usr/bin/python3 sha256sum; do
  command -v "$tool" >/dev/null || { echo "[utcpd_tap] FAIL: $tool not installed" >&2; exit 1; }
done

# --- 1. The command line: bad flags exit 2 with one line; --help exits 0.
rc=0; "$UTCPD" --dev net_tap0 --ip 198.18.0.2 2>"$WORK/bad.err" || rc=$?
[ "$rc" = 2 ] && [ "$(wc -l <"$WORK/bad.err")" = 1 ] && grep -q -- '--ip' "$WORK/bad.err" \
  || fail "bad --ip: status $rc, $(cat "$WORK/bad.err")"
"$UTCPD" --help | grep -q -- '--echo PORT' || fail "--help"

# --- 2. Start utcpd in the namespace; wait (bounded) for "ready" and utcp0.
ip netns add "$NS"
OUT=$WORK/utcpd.out
ip netns exec "$NS" "$UTCPD" --dev net_tap0,iface=utcp0 --ip $UTCP_IP/24 --echo 7 --discard 9 \
  --http 80 --file-prefix "$PREFIX" >"$OUT" 2>"$WORK/utcpd.err" &
PID=$!
for _ in $(seq 150); do
  if grep -q '^ready' "$OUT" && ip -n "$NS" link show utcp0 >/dev/null 2>&1; then break; fi
  kill -0 "$PID" 2>/dev/null || break
  sleep 0.1
done
if ! grep -q '^ready' "$OUT"; then
  fail "utcpd did not start: $(tail -5 "$WORK/utcpd.err")"
  exit 1
fi
ip -n "$NS" addr add $KERNEL_IP/24 dev utcp0
ip -n "$NS" link set utcp0 up
! ip -n "$NS" addr | grep -q "$UTCP_IP" || fail "$UTCP_IP is on a kernel interface"

# --- 3. ICMP echo (answered by the engine itself).
ip netns exec "$NS" ping -c 20 -i 0.2 -W 2 $UTCP_IP >"$WORK/ping" 2>&1 || true
grep -q ' 0% packet loss' "$WORK/ping" || fail "ping: $(grep -E 'loss|rror' "$WORK/ping")"

# --- 4. HTTP: the body, also over keep-alive (two URLs, one connection) and HTTP/1.0.
body=$(ip netns exec "$NS" timeout 10 curl -sS --max-time 5 http://$UTCP_IP/ || true)
[ "$body" = utcp ] || fail "curl: got '$body'"
two=$(ip netns exec "$NS" timeout 10 curl -sS --max-time 5 http://$UTCP_IP/a http://$UTCP_IP/b || true)
[ "$two" = "$(printf 'utcp\nutcp')" ] || fail "curl keep-alive: got '$two'"
old=$(ip netns exec "$NS" timeout 10 curl -sS --http1.0 --max-time 5 http://$UTCP_IP/ || true)
[ "$old" = utcp ] || fail "curl --http1.0: got '$old'"

# --- 5. 8 MiB through echo: send and receive concurrently, half-close, compare SHA-256.
head -c 8M /dev/urandom >"$WORK/data"
want=$(sha256sum "$WORK/data" | cut -d' ' -f1)
got=$(ip netns exec "$NS" timeout 60 /usr/bin/python3 "$SRC/integration/echo_client.py" $UTCP_IP 7 "$WORK/data" || true)
[ "$got" = "$want 8388608" ] || fail "echo: got '$got', want '$want 8388608'"

# Discard: 1 MiB in, nothing back.
back=$(head -c 1M /dev/zero | ip netns exec "$NS" timeout 20 socat -u - TCP:$UTCP_IP:9 2>&1 | wc -c || true)
[ "$back" = 0 ] || fail "discard: $back bytes came back"

# --- 6. Counters moved (SIGUSR1 prints them without stopping). socat exits once its
# data is in the kernel's send buffer, so the discard count may still be catching up.
counter() { utcpd_counter "$OUT" "$1"; }
for _ in $(seq 20); do
  utcpd_snapshot "$OUT" || break
  [ "$(counter svc_discard_bytes)" -ge 1048576 ] && break
done
[ "$(counter tcp_segs_in)" -gt 1000 ] || fail "tcp_segs_in $(counter tcp_segs_in)"
[ "$(counter svc_http_requests)" -ge 4 ] || fail "svc_http_requests $(counter svc_http_requests)"
[ "$(counter svc_echo_bytes)" -ge 8388608 ] || fail "svc_echo_bytes $(counter svc_echo_bytes)"
[ "$(counter svc_discard_bytes)" -ge 1048576 ] || fail "svc_discard_bytes $(counter svc_discard_bytes)"
[ "$(counter icmp_echo_out)" -ge 20 ] || fail "icmp_echo_out $(counter icmp_echo_out)"
[ "$(counter drop_bad_source)" = 0 ] || fail "drop_bad_source $(counter drop_bad_source): frames from our own MAC?"
kill -0 "$PID" 2>/dev/null || fail "utcpd stopped after SIGUSR1"

# --- 7. Idle cost: utime + stime over 10 s (engines sleep on RX interrupts).
hz=$(getconf CLK_TCK)
t0=$(awk '{print $14 + $15}' /proc/"$PID"/stat)
sleep 10
t1=$(awk '{print $14 + $15}' /proc/"$PID"/stat)
log "idle CPU over 10 s: $((t1 - t0)) ticks of 1/$hz s"
[ $(((t1 - t0) * 100 / (hz * 10))) -lt 5 ] || fail "idle utcpd used $((t1 - t0)) ticks in 10 s"

# --- 8. SIGTERM: exit 0, final counters printed, nothing left behind.
lines_before=$(grep -c '^engine 0 frames_in' "$OUT")
stop_utcpd TERM
[ "$(grep -c '^engine 0 frames_in' "$OUT")" -gt "$lines_before" ] || fail "no counters at exit"
leftovers=$(ls -d /var/run/dpdk/"$PREFIX"* 2>/dev/null || true)
[ -z "$leftovers" ] || fail "runtime files left: $leftovers"
! ip -n "$NS" link show utcp0 >/dev/null 2>&1 || fail "utcp0 still exists after utcpd stopped"

[ "$FAILED" = 0 ] && log PASS
exit "$FAILED"
