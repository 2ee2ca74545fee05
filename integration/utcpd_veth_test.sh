#!/usr/bin/env bash
# utcpd on a veth pair through net_af_packet and net_af_xdp: the kernel peer sits in
# another namespace behind the veth (TESTBED.md "af_xdp / af_packet on a veth pair").
# For each device: ping, curl the HTTP responder, 4 MiB through echo (SHA-256 equal),
# counters moved, clean SIGTERM exit with no DPDK runtime files.
# The kernel's veth hands packet sockets and XDP frames with its TX checksum not yet
# filled (checksum offload), which utcp rightly drops as corrupt, so the peer's TX
# checksum offload is turned off (ethtool -K vb tx off), as on any af_packet setup.
# Rules: TESTBED.md (own netns, stop by pid, bounded waits, distinct --file-prefix).
set -euo pipefail

SRC=${UTCP_SOURCE:-$(cd "$(dirname "$0")/.." && pwd)}
# shellcheck source=integration/lib.sh
source "$SRC/integration/lib.sh"
BUILD=${UTCP_BUILD:-$SRC/build}
UTCPD=$BUILD/daemon/utcpd
NS_U=utcp-veth-u-$$   # utcpd and its end of the veth (va)
NS_K=utcp-veth-k-$$   # the kernel peer (vb)
PREFIX=utcp-veth-$$
KERNEL_IP=198.18.2.1
UTCP_IP=198.18.2.2
WORK=$(mktemp -d /tmp/utcp-veth.XXXXXX)
PID=""
FAILED=0

log() { echo "[utcpd_veth] $*"; }
fail() { echo "[utcpd_veth] FAIL: $*" >&2; FAILED=1; }

cleanup() {
  stop_pid utcpd TERM
  ip netns del "$NS_U" 2>/dev/null || true
  ip netns del "$NS_K" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { echo "[utcpd_veth] FAIL: needs root (netns, veth)" >&2; exit 1; }
[ -x "$UTCPD" ] || { echo "[utcpd_veth] FAIL: $UTCPD not built" >&2; exit 1; }
for tool in ping curl ethtool /usr/bin/python3 sha256sum; do
  command -v "$tool" >/dev/null || { echo "[utcpd_veth] FAIL: $tool not installed" >&2; exit 1; }
done

ip netns add "$NS_U"
ip netns add "$NS_K"
ip -n "$NS_U" link add va type veth peer name vb netns "$NS_K"
ip netns exec "$NS_K" ethtool -K vb tx off >/dev/null
ip -n "$NS_U" link set va up
ip -n "$NS_K" addr add $KERNEL_IP/24 dev vb
ip -n "$NS_K" link set vb up
! ip -n "$NS_U" addr | grep -q "$UTCP_IP" || fail "$UTCP_IP is on a kernel interface"

head -c 4M /dev/urandom >"$WORK/data"
want=$(sha256sum "$WORK/data" | cut -d' ' -f1)

# run_device NAME: utcpd on va through DPDK driver NAME (net_af_packet, net_af_xdp).
run_device() {
  local dev=$1 out=$WORK/$1.out
  log "$dev"
  ip netns exec "$NS_U" "$UTCPD" --dev "${dev}0,iface=va" --ip $UTCP_IP/24 --http 80 --echo 7 \
    --file-prefix "$PREFIX" >"$out" 2>"$WORK/$dev.err" &
  PID=$!
  for _ in $(seq 150); do
    grep -q '^ready' "$out" 2>/dev/null && break
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  if ! grep -q '^ready' "$out"; then
    fail "$dev: utcpd did not start: $(tail -3 "$WORK/$dev.err")"
    stop_pid utcpd TERM
    return 0
  fi
  ip netns exec "$NS_K" ping -c 5 -i 0.2 -W 2 $UTCP_IP >"$WORK/ping" 2>&1 || true
  grep -q ' 0% packet loss' "$WORK/ping" || fail "$dev: ping: $(grep -E 'loss|rror' "$WORK/ping")"
  local body got
  body=$(ip netns exec "$NS_K" timeout 10 curl -sS --max-time 5 http://$UTCP_IP/ || true)
  [ "$body" = utcp ] || fail "$dev: curl got '$body'"
  got=$(ip netns exec "$NS_K" timeout 60 /usr/bin/python3 "$SRC/integration/echo_client.py" $UTCP_IP 7 \
    "$WORK/data" || true)
  [ "$got" = "$want 4194304" ] || fail "$dev: echo got '$got', want '$want 4194304'"
  utcpd_snapshot "$out" || true
  local seg echo_bytes bad
  seg=$(utcpd_counter "$out" tcp_segs_in)
  echo_bytes=$(utcpd_counter "$out" svc_echo_bytes)
  bad=$(utcpd_counter "$out" drop_parse_bad_checksum)
  log "$dev: tcp_segs_in $seg, svc_echo_bytes $echo_bytes, drop_parse_bad_checksum $bad"
  [ "$seg" -gt 100 ] || fail "$dev: tcp_segs_in $seg"
  [ "$echo_bytes" -ge 4194304 ] || fail "$dev: svc_echo_bytes $echo_bytes"
  stop_pid utcpd TERM
  local leftovers
  leftovers=$(ls -d /var/run/dpdk/"$PREFIX"* 2>/dev/null || true)
  [ -z "$leftovers" ] || fail "$dev: runtime files left: $leftovers"
}

run_device net_af_packet
run_device net_af_xdp

[ "$FAILED" = 0 ] && log PASS
exit "$FAILED"
