#!/usr/bin/env bash
# Issue 14 item 5: closing a listener and listening again on its port (iperf3 does it
# after every test) refuses no more connections under utcp than on the kernel.
# integration/relisten/server.c loops socket/bind/listen/accept one/close for SECONDS,
# while client.c (on the kernel) connects, sends and reads the answer in a loop,
# counting connects refused and connections reset because their listener closed. The
# same server runs on the kernel (behind a veth pair, its own namespace) and under
# libutcp.so (behind the tap wire): kernel, utcp with close(), close_range() and dup2()
# over the listener, kernel. From both
# programs' timestamps (relisten/windows.py): no connection may be established on a
# listener after its close() returned (the kernel's close is synchronous; utcp's was
# not). Failed connects per served test are printed and bounded. Rules: TESTBED.md.
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

# run SIDE [HOW]: one server run (its listener closed by HOW: close, close_range, dup2)
# and the client against it; appends "SIDE ok refused reset other late" to
# $WORK/results.
RUNS=0
run() {
  local side=$1 how=${2:-close} ns ip out
  RUNS=$((RUNS + 1))
  out=$WORK/server-$RUNS-$side
  if [ "$side" = kernel ]; then
    ns=$NS_K; ip=$VETH_S
    ip netns exec "$ns" "$WORK/server" "$ip" "$PORT" "$SECONDS_RUN" "$out.log" "$how" >"$out.out" 2>"$out.err" &
  else
    ns=$NS; ip=$UTCP_IP
    ip netns exec "$ns" env "UTCP_CONTROL=$WORK/utcpd.sock" "LD_PRELOAD=$LIB" \
      "$WORK/server" "$ip" "$PORT" "$SECONDS_RUN" "$out.log" "$how" >"$out.out" 2>"$out.err" &
  fi
  SERVER=$!
  for _ in $(seq 100); do grep -q '^ready' "$out.out" 2>/dev/null && break; sleep 0.05; done
  sleep 0.2
  ip netns exec "$NS" timeout $((SECONDS_RUN + 30)) "$WORK/client" "$ip" "$PORT" "$SECONDS_RUN" \
    "$out.client" >"$WORK/client.out" 2>&1
  # The server's last accept may wait for a client that stopped: it is stopped here.
  kill_wait "$SERVER"
  SERVER=""
  local line
  line=$(grep '^ok=' "$WORK/client.out")
  [ -n "$line" ] || { fail "$side: the client reported nothing: $(cat "$WORK/client.out")"; return 1; }
  local late
  late=$(/usr/bin/python3 "$SRC/integration/relisten/windows.py" "$out.log" "$out.client" | sed 's/late=\([0-9]*\).*/\1/')
  log "$side ($how): $line, established after the listener's close returned: ${late:-?}"
  LATE_BY_RUN+=("$side/$how=${late:-?}")
  echo "$side $line late=${late:-0}" | sed 's/[a-z]*=//g' >>"$WORK/results"
}

utcpd_snapshot "$OUT"
passive0=$(utcpd_counter "$OUT" tcp_passive_opens)
LATE_BY_RUN=()
# The utcp runs close their listener each way the program can: close(), close_range()
# (closefrom's path) and dup2() over it; each must take effect before it returns.
run kernel
run utcp close
run utcp close_range
run utcp dup2
run kernel
utcpd_snapshot "$OUT"
passive=$(( $(utcpd_counter "$OUT" tcp_passive_opens) - passive0 ))

# Per served test: connections reset because their listener closed, connects refused
# because no listener existed (the gap until the next listen()), and connections
# established after close() of their listener had returned (the dying listener's
# window: none on the kernel, whose close is synchronous).
read -r k_ok k_refused k_reset k_late u_ok u_refused u_reset u_late < <(awk '
  { t[$1, "ok"] += $2; t[$1, "refused"] += $3 + $5; t[$1, "reset"] += $4; t[$1, "late"] += $6 }
  END { print t["kernel", "ok"] + 0, t["kernel", "refused"] + 0, t["kernel", "reset"] + 0, t["kernel", "late"] + 0,
              t["utcp", "ok"] + 0, t["utcp", "refused"] + 0, t["utcp", "reset"] + 0, t["utcp", "late"] + 0 }' "$WORK/results")
per_test() { awk -v o="$1" -v f="$2" 'BEGIN { printf "%.3f", (o > 0) ? f / o : 0 }'; }
for side in kernel utcp; do
  ok_v=${side:0:1}_ok; ref_v=${side:0:1}_refused; res_v=${side:0:1}_reset; late_v=${side:0:1}_late
  log "$side: ${!ok_v} served; per test $(per_test "${!ok_v}" "${!res_v}") reset, $(per_test "${!ok_v}" "${!ref_v}") refused; ${!late_v} established on a closed listener"
done
[ "$u_ok" -gt 0 ] && [ "$k_ok" -gt 0 ] || fail "a side served nothing"
# A few may land within scheduling noise of the slack; the async close gave hundreds.
for r in "${LATE_BY_RUN[@]}"; do
  case $r in utcp/*)
    [ "${r#*=}" != "?" ] && [ "${r#*=}" -le $((k_late + 5)) ] ||
      fail "$r connections were established on a listener whose close had returned (kernel: $k_late)" ;;
  esac
done
# The gap between two listeners is socket+bind+listen, three round trips to the engine
# today against the kernel's ~10 us (docs/supported.md; issue 16 removes them): bounded
# here so it does not grow, not yet equal.
awk -v u="$(per_test "$u_ok" "$((u_refused + u_reset))")" -v k="$(per_test "$k_ok" "$((k_refused + k_reset))")" \
  'BEGIN { exit !(u <= 2 * k + 0.5) }' ||
  fail "utcp failed too many connects around a relisten (bound: 2x the kernel's + 0.5 per test)"
[ "$passive" -ge "$u_ok" ] || fail "utcpd made $passive passive opens for $u_ok served connections: not through utcp"

[ "$FAILED" = 0 ] && log PASS
exit "$FAILED"
