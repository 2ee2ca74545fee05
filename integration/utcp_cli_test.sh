#!/usr/bin/env bash
# Seeing inside a running utcpd (net_tap, --echo 7, --pcap): a kernel client in the
# namespace holds one echo connection open; `utcp stat`'s counters moved, `utcp ss`
# lists that connection (ESTAB, the kernel's address as peer, TCP details) and the
# listener, the kernel's own ss shows the same connection from its side, --json
# parses, bad input (unknown option, no daemon) gets a clear error and its exit
# status; tshark reads utcpd's capture: the handshake and "hello" both ways; at
# --log-level info utcpd logs a program under libutcp.so attaching, leaving and its
# family ending, with its pid, and nothing at debug level.
# Rules: TESTBED.md (own netns, stop by pid, bounded waits, distinct --file-prefix).
set -euo pipefail

SRC=${UTCP_SOURCE:-$(cd "$(dirname "$0")/.." && pwd)}
# shellcheck source=integration/lib.sh
source "$SRC/integration/lib.sh"
BUILD=${UTCP_BUILD:-$SRC/build}
UTCPD=$BUILD/daemon/utcpd
UTCP=$BUILD/tools/utcp
LIB=$BUILD/preload/libutcp.so
NS=utcp-cli-$$
KERNEL_IP=198.18.0.1
UTCP_IP=198.18.0.2
WORK=$(mktemp -d /tmp/utcp-cli.XXXXXX)
CONTROL=$WORK/utcpd.sock
PID=""
HOLDER=""
FAILED=0

log() { echo "[utcp_cli] $*"; }
fail() { echo "[utcp_cli] FAIL: $*" >&2; FAILED=1; }

cleanup() {
  kill_wait "$HOLDER"
  stop_pid utcpd TERM
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { echo "[utcp_cli] FAIL: needs root (netns, tap)" >&2; exit 1; }
for bin in "$UTCPD" "$UTCP"; do
  [ -x "$bin" ] || { echo "[utcp_cli] FAIL: $bin not built" >&2; exit 1; }
done
for tool in tshark /usr/bin/python3 ss; do
  command -v "$tool" >/dev/null || { echo "[utcp_cli] FAIL: $tool not installed" >&2; exit 1; }
done

# --- 1. No daemon: a clear line and status 1; an unknown option: status 2.
rc=0; "$UTCP" stat --control "$WORK/nobody.sock" 2>"$WORK/nodaemon.err" || rc=$?
[ "$rc" = 1 ] && grep -q "not reachable at $WORK/nobody.sock" "$WORK/nodaemon.err" \
  || fail "stat without utcpd: status $rc, $(cat "$WORK/nodaemon.err")"
rc=0; "$UTCP" ss --bogus 2>"$WORK/bogus.err" || rc=$?
[ "$rc" = 2 ] && grep -q -- "--bogus" "$WORK/bogus.err" || fail "ss --bogus: status $rc"

# --- 2. utcpd, and a kernel client holding one echo connection open.
ip netns add "$NS"
CAPTURE=$WORK/capture.pcap
start_utcpd_tap "$NS" "utcp-cli-$$" "$WORK" --echo 7 --control "$CONTROL" --pcap "$CAPTURE" \
  --log-level info || exit 1
ip netns exec "$NS" timeout 60 /usr/bin/python3 -c '
import socket, sys, time
s = socket.create_connection((sys.argv[1], 7), timeout=5)
s.sendall(b"hello")
got = b""
while len(got) < 5:
    got += s.recv(5 - len(got))
print("echoed", got.decode(), flush=True)
time.sleep(50)
' $UTCP_IP >"$WORK/holder.out" 2>&1 &
HOLDER=$!
for _ in $(seq 100); do grep -q echoed "$WORK/holder.out" && break; sleep 0.1; done
grep -q "echoed hello" "$WORK/holder.out" || fail "echo client: $(cat "$WORK/holder.out")"

# --- 3. utcp stat: counters moved; zero rows left out unless -a; JSON parses.
"$UTCP" stat --control "$CONTROL" >"$WORK/stat" || fail "utcp stat: status $?"
total() { awk -v n="$1" '$1 == n { print $NF }' "$WORK/stat"; }
[ "$(total frames_in)" -gt 0 ] 2>/dev/null || fail "stat: frames_in $(total frames_in)"
[ "$(total tcp_passive_opens)" = 1 ] || fail "stat: tcp_passive_opens '$(total tcp_passive_opens)'"
head -1 "$WORK/stat" | grep -q "engine 0 .*total" || fail "stat header: $(head -1 "$WORK/stat")"
! grep -q '^tcp_timeouts ' "$WORK/stat" || fail "stat shows a counter that is zero everywhere"
"$UTCP" stat -a --control "$CONTROL" | grep -q '^tcp_timeouts ' || fail "stat -a: no tcp_timeouts row"
"$UTCP" stat --json --control "$CONTROL" >"$WORK/stat.json" || fail "utcp stat --json"
python3 - "$WORK/stat.json" <<'PY' || fail "stat --json: $(head -c 300 "$WORK/stat.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["engines"][0]["answered"] and d["total"]["frames_in"] > 0, d["total"]
assert d["total"]["tcp_passive_opens"] == 1
PY

# --- 4. utcp ss: the connection, from utcp's side and from the kernel's.
"$UTCP" ss --control "$CONTROL" >"$WORK/ss" || fail "utcp ss: status $?"
grep -Eq "^ESTAB +0 +0 +$UTCP_IP:7 +$KERNEL_IP:[0-9]+" "$WORK/ss" || fail "ss: $(cat "$WORK/ss")"
peer_port=$(awk '$1 == "ESTAB" { split($5, a, ":"); print a[2] }' "$WORK/ss")
grep -q "engine:0 .*rtt:.*mss:.*cwnd:.*bytes_acked:5 bytes_received:5 " "$WORK/ss" \
  || fail "ss details: $(grep engine: "$WORK/ss")"
! grep -q LISTEN "$WORK/ss" || fail "ss without -l/-a lists a listener"
ip netns exec "$NS" ss -tn state established "( dport = :7 )" >"$WORK/kernel.ss"
grep -q "$KERNEL_IP:$peer_port *$UTCP_IP:7" "$WORK/kernel.ss" \
  || fail "the kernel does not see $KERNEL_IP:$peer_port <-> $UTCP_IP:7: $(cat "$WORK/kernel.ss")"
"$UTCP" ss -l --control "$CONTROL" >"$WORK/ss.l"
grep -Eq "^LISTEN +0 +[0-9]+ +$UTCP_IP:7 +\*:\*" "$WORK/ss.l" || fail "ss -l: $(cat "$WORK/ss.l")"
! grep -q ESTAB "$WORK/ss.l" || fail "ss -l lists a connection"
"$UTCP" ss -a --json --control "$CONTROL" >"$WORK/ss.json" || fail "utcp ss -a --json"
python3 - "$WORK/ss.json" "$peer_port" <<'PY' || fail "ss --json: $(head -c 400 "$WORK/ss.json")"
import json, sys
d = json.load(open(sys.argv[1]))
states = {s["state"] for s in d["sockets"]}
assert {"LISTEN", "ESTAB"} <= states, states
est = [s for s in d["sockets"] if s["state"] == "ESTAB"][0]
assert est["peer"].endswith(":" + sys.argv[2]) and est["bytes_received"] == 5, est
assert d["unanswered"] == []
PY

# --- 5. After the client is gone, ss no longer lists it as ESTAB.
kill_wait "$HOLDER"; HOLDER=""
for _ in $(seq 50); do
  "$UTCP" ss --control "$CONTROL" | grep -q '^ESTAB' || break
  sleep 0.1
done
! "$UTCP" ss --control "$CONTROL" | grep -q '^ESTAB' || fail "ss still lists ESTAB after the client exited"

# --- 6. Log levels: a program under libutcp.so listens, then exits; at info level
# utcpd names it attaching and leaving, and its family ending; debug lines stay out.
app_pid=$(ip netns exec "$NS" env LD_PRELOAD="$LIB" UTCP_CONTROL="$CONTROL" timeout 20 \
  /usr/bin/python3 -c '
import os, socket, sys
s = socket.socket()
s.bind((sys.argv[1], 8080))
s.listen()
print(os.getpid())
' $UTCP_IP 2>"$WORK/app.err") || fail "app under libutcp.so: $(cat "$WORK/app.err")"
for _ in $(seq 50); do grep -q "family [0-9]*: over" "$WORK/utcpd.err" && break; sleep 0.1; done
grep -Eq "^utcpd: info: process $app_pid: attached, new family [0-9]+ as channel 0$" "$WORK/utcpd.err" \
  || fail "no attach line for pid $app_pid: $(grep info: "$WORK/utcpd.err" | tail -3)"
grep -Eq "^utcpd: info: process $app_pid: gone from family [0-9]+" "$WORK/utcpd.err" \
  || fail "no 'gone' line for pid $app_pid: $(grep info: "$WORK/utcpd.err" | tail -3)"
grep -Eq "^utcpd: info: family [0-9]+: over" "$WORK/utcpd.err" || fail "no 'family over' line"
! grep -q "^utcpd: debug:" "$WORK/utcpd.err" || fail "debug lines at --log-level info"

# --- 7. The capture (closed when utcpd stops), read by tshark.
stop_pid utcpd TERM
grep -q "frames captured" "$WORK/utcpd.err" || fail "no capture summary: $(tail -3 "$WORK/utcpd.err")"
fields() { tshark -r "$CAPTURE" -Y "$1" -T fields -e ip.src -e tcp.srcport -e tcp.dstport 2>"$WORK/tshark.err"; }
syn=$(fields "tcp.flags.syn == 1 && tcp.flags.ack == 0 && tcp.dstport == 7")
synack=$(fields "tcp.flags.syn == 1 && tcp.flags.ack == 1 && tcp.srcport == 7")
hello_in=$(fields "tcp.dstport == 7 && tcp.payload == 68:65:6c:6c:6f")
hello_out=$(fields "tcp.srcport == 7 && tcp.payload == 68:65:6c:6c:6f")
[ "$(printf '%s' "$syn" | head -1)" = "$(printf '%s\t%s\t7' $KERNEL_IP "$peer_port")" ] \
  || fail "capture: SYN from the client: '$syn' $(cat "$WORK/tshark.err")"
[ -n "$synack" ] && [ -n "$hello_in" ] && [ -n "$hello_out" ] \
  || fail "capture: SYN-ACK '$synack', hello in '$hello_in', out '$hello_out'"
malformed=$(tshark -r "$CAPTURE" -Y _ws.malformed 2>/dev/null | wc -l)
[ "$malformed" = 0 ] || fail "capture: $malformed malformed frames"
log "capture: $(tshark -r "$CAPTURE" 2>/dev/null | wc -l) frames, handshake and echo seen"

[ "$FAILED" = 0 ] && log PASS || exit 1
