#!/usr/bin/env bash
# Issue 14 item 5: closing a listener and listening again on its port (iperf3 does it
# after every test) refuses no more connections under utcp than on the kernel.
# integration/relisten/server.c loops socket/bind/listen/accept one/close for SECONDS,
# while client.c (on the kernel) connects, sends and reads the answer in a loop,
# counting connects refused and connections reset because their listener closed. The
# same server runs on the kernel (behind a veth pair, its own namespace) and under
# libutcp.so (behind the tap wire), alternating kernel, utcp, utcp, kernel. Connections
# reset by a closing listener, per served test, must stay within 1.5x the kernel's + 0.1
# (before utcp's close of a listener was synchronous: about twice the kernel's); connects
# refused between two listeners are bounded and printed. Rules: TESTBED.md.
set -uo pipefail

SRC=${UTCP_SOURCE:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${UTCP_BUILD:-$SRC/build/release}
UTCPD=$BUILD/daemon/utcpd
LIB=$BUILD/preload/libutcp.so
NS=utcp-relisten-$$       # utcpd, the tap wire, the clients
NS_K=utcp-relisten-k-$$   # the kernel server, behind a veth pair
KERNEL_IP=198.18.16.1
UTCP_IP=198.18.16.2
VETH_C=198.19.16.1
VETH_S=198.19.16.2
PORT=7600
SECONDS_RUN=${RELISTEN_SECONDS:-4}
WORK=$(mktemp -d /tmp/utcp-relisten-test.XXXXXX)
PID=""      # utcpd (lib.sh's stop_pid stops $PID)
SERVER=""
FAILED=0
log() { echo "[relisten] $*"; }
fail() { echo "[relisten] FAIL: $*" >&2; FAILED=1; }
source "$SRC/integration/lib.sh"

cleanup() {
  kill_wait "$SERVER"
  stop_pid utcpd TERM
  ip netns del "$NS" 2>/dev/null
  ip netns del "$NS_K" 2>/dev/null
  [ "$FAILED" = 0 ] && rm -rf "$WORK" || echo "[relisten] outputs kept in $WORK" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { echo "[relisten] FAIL: needs root" >&2; exit 1; }
[ -x "$UTCPD" ] && [ -f "$LIB" ] || { echo "[relisten] FAIL: build utcpd and libutcp.so first ($BUILD)" >&2; exit 1; }
cp "$UTCPD" "$WORK/utcpd" && cp "$LIB" "$WORK/libutcp.so" || { FAILED=1; exit 1; }
UTCPD=$WORK/utcpd
LIB=$WORK/libutcp.so
for p in server client; do
  gcc -std=gnu11 -Wall -Wextra -Werror -O2 -o "$WORK/$p" "$SRC/integration/relisten/$p.c" || { FAILED=1; exit 1; }
done

ip netns add "$NS"
ip netns add "$NS_K"
ip -n "$NS" link set lo up
ip -n "$NS_K" link set lo up
ip -n "$NS" link add rl-c type veth peer name rl-s netns "$NS_K"
ip -n "$NS" addr add "$VETH_C/24" dev rl-c
ip -n "$NS_K" addr add "$VETH_S/24" dev rl-s
ip -n "$NS" link set rl-c up
ip -n "$NS_K" link set rl-s up
start_utcpd_tap "$NS" "relisten-$$" "$WORK" --control "$WORK/utcpd.sock" || exit 1
OUT=$WORK/utcpd.out

# run SIDE: one server run and the client against it; appends "SIDE ok refused reset
# other" to $WORK/results.
RUNS=0
run() {
  local side=$1 ns ip out
  RUNS=$((RUNS + 1))
  out=$WORK/server-$RUNS-$side
  if [ "$side" = kernel ]; then
    ns=$NS_K; ip=$VETH_S
    ip netns exec "$ns" "$WORK/server" "$ip" "$PORT" "$SECONDS_RUN" >"$out.out" 2>"$out.err" &
  else
    ns=$NS; ip=$UTCP_IP
    ip netns exec "$ns" env "UTCP_CONTROL=$WORK/utcpd.sock" "LD_PRELOAD=$LIB" \
      "$WORK/server" "$ip" "$PORT" "$SECONDS_RUN" >"$out.out" 2>"$out.err" &
  fi
  SERVER=$!
  for _ in $(seq 100); do grep -q '^ready' "$out.out" 2>/dev/null && break; sleep 0.05; done
  sleep 0.2
  ip netns exec "$NS" timeout $((SECONDS_RUN + 30)) "$WORK/client" "$ip" "$PORT" "$SECONDS_RUN" >"$WORK/client.out" 2>&1
  # The server's last accept may wait for a client that stopped: it is stopped here.
  kill_wait "$SERVER"
  SERVER=""
  local line
  line=$(grep '^ok=' "$WORK/client.out")
  [ -n "$line" ] || { fail "$side: the client reported nothing: $(cat "$WORK/client.out")"; return 1; }
  log "$side: $line"
  echo "$side $line" | sed 's/[a-z]*=//g' >>"$WORK/results"
}

utcpd_snapshot "$OUT"
passive0=$(utcpd_counter "$OUT" tcp_passive_opens)
for side in kernel utcp utcp kernel; do run "$side"; done
utcpd_snapshot "$OUT"
passive=$(( $(utcpd_counter "$OUT" tcp_passive_opens) - passive0 ))

# Per served test: connections reset because they reached a listener that then closed
# (the dying listener's window: the kernel's close is synchronous, utcp's is now too),
# and connects refused because no listener existed (the gap until the next listen()).
read -r k_ok k_refused k_reset u_ok u_refused u_reset < <(awk '
  { t[$1, "ok"] += $2; t[$1, "refused"] += $3 + $5; t[$1, "reset"] += $4 }
  END { print t["kernel", "ok"] + 0, t["kernel", "refused"] + 0, t["kernel", "reset"] + 0,
              t["utcp", "ok"] + 0, t["utcp", "refused"] + 0, t["utcp", "reset"] + 0 }' "$WORK/results")
per_test() { awk -v o="$1" -v f="$2" 'BEGIN { printf "%.3f", (o > 0) ? f / o : 0 }'; }
log "kernel: $k_ok served; per test $(per_test "$k_ok" "$k_reset") reset, $(per_test "$k_ok" "$k_refused") refused"
log "utcp:   $u_ok served; per test $(per_test "$u_ok" "$u_reset") reset, $(per_test "$u_ok" "$u_refused") refused"
[ "$u_ok" -gt 0 ] && [ "$k_ok" -gt 0 ] || fail "a side served nothing"
within() { awk -v u="$(per_test "$1" "$2")" -v k="$(per_test "$3" "$4")" -v f="$5" -v a="$6" 'BEGIN { exit !(u <= f * k + a) }'; }
within "$u_ok" "$u_reset" "$k_ok" "$k_reset" 1.5 0.1 ||
  fail "utcp reset more connections at a closing listener than the kernel (limit 1.5x + 0.1 per test)"
# The gap between two listeners is socket+bind+listen, three round trips to the engine
# today against the kernel's ~10 us (docs/supported.md; issue 16 removes them): bounded
# here so it does not grow, not yet equal.
within "$u_ok" "$u_refused" "$k_ok" "$k_refused" 1.5 1.0 ||
  fail "utcp refused too many connects between two listeners (bound: 1.5x the kernel's + 1.0 per test; 0.6 at issue 14)"
[ "$passive" -ge "$u_ok" ] || fail "utcpd made $passive passive opens for $u_ok served connections: not through utcp"

[ "$FAILED" = 0 ] && log PASS
exit "$FAILED"
