#!/usr/bin/env bash
# Two utcpd over net_memif (no kernel on the packet path): one role=server at
# 198.18.1.1, one role=client at 198.18.1.2, each pinging the other (--ping) after
# resolving it by ARP. Both must answer every echo and count the other's replies; a
# clean SIGTERM leaves no DPDK runtime files. TCP between two utcpd over memif, with
# programs under libutcp.so on both: clients_test.sh.
# Rules: TESTBED.md (own netns, stop by pid, bounded waits, distinct --file-prefix).
set -euo pipefail

SRC=${UTCP_SOURCE:-$(cd "$(dirname "$0")/.." && pwd)}
# shellcheck source=integration/lib.sh
source "$SRC/integration/lib.sh"
BUILD=${UTCP_BUILD:-$SRC/build}
UTCPD=$BUILD/daemon/utcpd
NS=utcp-memif-$$  # memif's socket is abstract by default: per network namespace
PREFIX=utcp-memif-$$
SERVER_IP=198.18.1.1
CLIENT_IP=198.18.1.2
WORK=$(mktemp -d /tmp/utcp-utcpd-memif.XXXXXX)
SERVER="" CLIENT="" PID=""
FAILED=0

log() { echo "[utcpd_memif] $*"; }
fail() { echo "[utcpd_memif] FAIL: $*" >&2; FAILED=1; }

stop_both() {
  PID=$CLIENT; stop_pid "utcpd client" TERM; CLIENT=""
  PID=$SERVER; stop_pid "utcpd server" TERM; SERVER=""
}

cleanup() {
  stop_both
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { echo "[utcpd_memif] FAIL: needs root (netns)" >&2; exit 1; }
[ -x "$UTCPD" ] || { echo "[utcpd_memif] FAIL: $UTCPD not built" >&2; exit 1; }
ip netns add "$NS"

# start ROLE IP PEER: one utcpd on the memif wire, pinging PEER; its pid in STARTED
# (not printed: a process started in $(...) is not this shell's child to wait for).
start() {
  local role=$1 ip=$2 peer=$3
  ip netns exec "$NS" "$UTCPD" --dev "net_memif0,role=$role,socket=$WORK/memif.sock" \
    --ip "$ip/24" --ping "$peer" --echo 7 --hugepages off --file-prefix "$PREFIX-$role" \
    >"$WORK/$role.out" 2>"$WORK/$role.err" &
  STARTED=$!
}

wait_ready() {  # wait_ready ROLE PID
  for _ in $(seq 150); do
    grep -q '^ready' "$WORK/$1.out" && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.1
  done
  fail "$1 did not start: $(tail -5 "$WORK/$1.err")"
  return 1
}

start server $SERVER_IP $CLIENT_IP
SERVER=$STARTED
wait_ready server "$SERVER" || exit 1
start client $CLIENT_IP $SERVER_IP
CLIENT=$STARTED
wait_ready client "$CLIENT" || exit 1
grep -q 'ping: 198.18.1.1 every second' "$WORK/client.out" || fail "client did not announce --ping"

# Both ping once a second from start-up; the first echo may wait for ARP and the link.
for _ in $(seq 20); do
  sleep 1
  PID=$SERVER; utcpd_snapshot "$WORK/server.out" || break
  PID=$CLIENT; utcpd_snapshot "$WORK/client.out" || break
  [ "$(utcpd_counter "$WORK/server.out" icmp_echo_replies_in)" -ge 5 ] &&
    [ "$(utcpd_counter "$WORK/client.out" icmp_echo_replies_in)" -ge 5 ] && break
done
PID=""
for role in server client; do
  out=$WORK/$role.out
  replies=$(utcpd_counter "$out" icmp_echo_replies_in)
  sent=$(utcpd_counter "$out" icmp_echo_requests_out)
  answered=$(utcpd_counter "$out" icmp_echo_out)
  log "$role: pings sent $sent, replies $replies, echoes answered $answered," \
      "arp requests out $(utcpd_counter "$out" arp_requests_out)," \
      "arp in: $(utcpd_counter "$out" arp_requests_in) requests, $(utcpd_counter "$out" arp_replies_in) replies"
  [ "$replies" -ge 5 ] || fail "$role: only $replies echo replies"
  # At most the one in flight may be missing: memif does not lose frames.
  [ "$replies" -ge $((sent - 1)) ] || fail "$role: $sent pings sent, $replies answered"
  # Snapshots are taken one after the other: the other side may have pinged since.
  [ "$answered" -ge 4 ] || fail "$role: answered only $answered echo requests"
  # Each learns the other from an ARP reply or from the other's request (RFC 826).
  [ $(($(utcpd_counter "$out" arp_replies_in) + $(utcpd_counter "$out" arp_requests_in))) -ge 1 ] ||
    fail "$role: no ARP from the other side"
  [ "$(utcpd_counter "$out" drop_icmp_unhandled)" = 0 ] || fail "$role: unhandled ICMP"
done

stop_both
for role in server client; do
  grep -q '^engine 0 frames_in' "$WORK/$role.out" || fail "$role printed no counters at exit"
done
leftovers=$(ls -d /var/run/dpdk/"$PREFIX"* 2>/dev/null || true)
[ -z "$leftovers" ] || fail "runtime files left: $leftovers"

[ "$FAILED" = 0 ] && log PASS
exit "$FAILED"
