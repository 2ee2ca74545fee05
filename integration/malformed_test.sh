#!/usr/bin/env bash
# Issue 6 "Malformed and hostile packets", over the tap wire against a running utcpd.
# A crafted TCP peer (integration/malformed/*.py: scapy-built frames, a raw AF_PACKET
# socket on utcp0) sends each class of bad packet to utcpd's echo service, checks the
# answer (none / RST / challenge ACK / ACK) against RFC 9293, 5961, 7323, 5927 and
# Linux, that the class's own counter moved by exactly the number sent (`utcp stat`),
# and that the stack still serves: a crafted connection opened before the bad packets
# still echoes, and a kernel client's 64 KiB echo comes back whole. Classes: TCP
# option lengths (10 kinds x lengths 0-40 x 3 positions, on SYNs and established
# segments), data offset 0-15, IPv4 IHL / total length / frame length / Ethernet
# padding, fragments, urgent pointer, SACK blocks outside the window, blind RST / SYN
# / data and the challenge-ACK rate limit (RFC 5961), PAWS, 100,000 tiny out-of-order
# segments (RSS and CPU bounded), ICMP errors quoting wrong and right sequence numbers
# (frag-needed lowers the MSS). One summary line per class starts with [malformed].
#
# The peer is 198.18.0.3 with a locally administered MAC that no kernel interface
# owns (it announces itself to utcpd by ARP and answers utcpd's ARP requests), so the
# kernel drops utcpd's frames for it as PACKET_OTHERHOST and never answers them with
# RSTs: no nftables rule and no kernel socket state is involved.
# Rules: TESTBED.md (own netns, stop by pid, bounded waits, distinct --file-prefix).
# MALFORMED_CLASSES="options ooo" runs only some classes (names: see run.py).
set -euo pipefail

SRC=${UTCP_SOURCE:-$(cd "$(dirname "$0")/.." && pwd)}
# shellcheck source=integration/lib.sh
source "$SRC/integration/lib.sh"
BUILD=${UTCP_BUILD:-$SRC/build}
UTCPD=$BUILD/daemon/utcpd
UTCP=$BUILD/tools/utcp
NS=utcp-malformed-$$
PREFIX=utcp-malformed-$$
KERNEL_IP=198.18.0.1
UTCP_IP=198.18.0.2
PEER_IP=198.18.0.3
PEER_MAC=02:00:5e:12:00:03
WORK=$(mktemp -d /tmp/utcp-malformed.XXXXXX)
CONTROL=$WORK/utcpd.sock
PID=""     # utcpd (lib.sh's stop_pid)
RUNNER=""  # the python runner's timeout(1) process
FAILED=0

log() { echo "[malformed] $*"; }
fail() { echo "[malformed] FAIL: $*" >&2; FAILED=1; }

cleanup() {
  kill_wait "$RUNNER"
  stop_pid utcpd TERM
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { echo "[malformed] FAIL: needs root (netns, tap, raw sockets)" >&2; exit 1; }
for f in "$UTCPD" "$UTCP"; do
  [ -x "$f" ] || { echo "[malformed] FAIL: $f not built" >&2; exit 1; }
done
/usr/bin/python3 -c 'import scapy.all' 2>/dev/null ||
  { echo "[malformed] FAIL: python3-scapy not installed (scripts/install-deps.sh)" >&2; exit 1; }

ip netns add "$NS"
ip -n "$NS" link set lo up
: >"$WORK/utcpd.out"
start_utcpd_tap "$NS" "$PREFIX" "$WORK" --echo 7 --control "$CONTROL" || exit 1
# The peer's address must be nobody's on the kernel side either.
if ip -n "$NS" addr | grep -q "$PEER_IP"; then fail "$PEER_IP is on a kernel interface"; exit 1; fi
for _ in $(seq 50); do [ -S "$CONTROL" ] && break; sleep 0.1; done
[ -S "$CONTROL" ] || { fail "no control socket $CONTROL"; exit 1; }
# Room for the floods in the tap's queue (the peer also paces and retries on ENOBUFS).
ip -n "$NS" link set utcp0 txqueuelen 10000

ip netns exec "$NS" timeout 230 /usr/bin/python3 "$SRC/integration/malformed/run.py" \
  --iface utcp0 --peer-ip "$PEER_IP" --peer-mac "$PEER_MAC" --utcp-ip "$UTCP_IP" \
  --echo-port 7 --utcp "$UTCP" --control "$CONTROL" --utcpd-pid "$PID" \
  --classes "${MALFORMED_CLASSES:-all}" &
RUNNER=$!
rc=0
wait "$RUNNER" || rc=$?
RUNNER=""
[ "$rc" = 0 ] || fail "runner exited with status $rc (124: the 230 s bound)"

kill -0 "$PID" 2>/dev/null || fail "utcpd died: $(tail -5 "$WORK/utcpd.err")"
stop_pid utcpd TERM
[ "$FAILED" = 0 ] && log "PASS" || log "FAILED"
exit "$FAILED"
