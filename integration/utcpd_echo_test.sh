#!/usr/bin/env bash
# utcpd's echo service under load and on a bad wire: 64 MiB of random data sent by a
# kernel-side client while it reads the echo at the same time (both directions at once,
# half-close after sending) comes back whole — SHA-256 and byte count equal — over
#   a) a clean net_tap wire,
#   b) utcpd's own fault injector: --fault loss=1%,reorder=25%,dup=1%,seed=N (RX and TX),
#   c) 5 % random loss made by nftables on the kernel side of utcp0, ingress and egress,
# each with a fresh utcpd; every transfer is bounded in time, and the counters show the
# wire was really impaired (retransmits, out-of-order segments, nft drop counters).
# Rules: TESTBED.md (own netns, stop by pid, bounded waits, distinct --file-prefix).
# UTCP_ECHO_SEED=N picks case b's fault seed (default 7), to reproduce a failing run;
# UTCP_ECHO_CASES="fault" (any of clean fault nft-loss) runs only some cases.
set -euo pipefail

SRC=${UTCP_SOURCE:-$(cd "$(dirname "$0")/.." && pwd)}
# shellcheck source=integration/lib.sh
source "$SRC/integration/lib.sh"
BUILD=${UTCP_BUILD:-$SRC/build}
UTCPD=$BUILD/daemon/utcpd
NS=utcp-echo-$$
PREFIX=utcp-echo-$$
KERNEL_IP=198.18.0.1
UTCP_IP=198.18.0.2
PORT=7
SIZE=67108864  # 64 MiB
SEED=${UTCP_ECHO_SEED:-7}
FAULT="loss=1%,reorder=25%,dup=1%,seed=$SEED"
NFT_LOSS=5     # percent, case c, each direction
NFT_TABLE=utcp_echo_loss
WORK=$(mktemp -d /tmp/utcp-echo.XXXXXX)
PID=""          # utcpd (lib.sh's stop_pid stops $PID)
CLIENT=""       # the echo client's timeout(1) process
NFT_MADE=0
FAILED=0

log() { echo "[utcpd_echo] $*"; }
fail() { echo "[utcpd_echo] FAIL: $*" >&2; FAILED=1; }

stop_utcpd() { stop_pid utcpd "$1"; }  # by pid, bounded, escalating to SIGKILL

# stop_client: SIGTERM to the client's timeout(1) (it passes the signal on; the client
# then reports how far it got), bounded wait, SIGKILL.
stop_client() {
  [ -n "$CLIENT" ] || return 0
  kill -TERM "$CLIENT" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$CLIENT" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$CLIENT" 2>/dev/null || true
  wait "$CLIENT" 2>/dev/null || true
  CLIENT=""
}

delete_nft() {
  [ "$NFT_MADE" = 1 ] || return 0
  ip netns exec "$NS" nft delete table netdev "$NFT_TABLE" 2>/dev/null || true
  NFT_MADE=0
}

cleanup() {
  stop_client
  stop_utcpd TERM
  delete_nft
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { echo "[utcpd_echo] FAIL: needs root (netns, tap, nft)" >&2; exit 1; }
[ -x "$UTCPD" ] || { echo "[utcpd_echo] FAIL: $UTCPD not built" >&2; exit 1; }
for tool in /usr/bin/python3 sha256sum timeout nft ss nstat; do
  command -v "$tool" >/dev/null || { echo "[utcpd_echo] FAIL: $tool not installed" >&2; exit 1; }
done

ip netns add "$NS"

# --- The input, made once (the client is integration/echo_client.py).
head -c 64M /dev/urandom >"$WORK/data"
[ "$(stat -c %s "$WORK/data")" = "$SIZE" ] || { fail "input is not $SIZE bytes"; exit 1; }
WANT=$(sha256sum "$WORK/data" | cut -d' ' -f1)

# kstat NAME: the kernel's (this namespace's) SNMP counter NAME, absolute.
kstat() { ip netns exec "$NS" nstat -asz "$1" | awk -v n="$1" '$1 == n { v = $2 } END { print v + 0 }'; }
KSTATS="TcpRetransSegs TcpExtTCPLossProbes TcpExtTCPTimeouts TcpExtTCPOFOQueue TcpExtTCPDSACKOldSent"
declare -A K0=() KD=()  # kernel counters before a transfer, and how much they moved
UCOUNTERS="tcp_segs_in tcp_segs_out tcp_retransmits tcp_fast_retransmits tcp_rto_timeouts
  tcp_dup_acks_in tcp_ooo_segments tcp_ooo_dropped tcp_out_of_window tcp_timeouts
  tcp_resets_in tcp_resets_out tx_refused alloc_failures svc_echo_bytes svc_errors svc_aborted"

# show_counters OUT: one log line with utcpd's interesting counters from the last snapshot.
show_counters() {
  local line="" c
  for c in $UCOUNTERS; do line+=" $c=$(utcpd_counter "$1" "$c")"; done
  log "  utcpd:$line"
}

# echo_case NAME LIMIT [utcpd flags...]: a fresh utcpd with --echo; returns after the
# transfer (client still running after LIMIT s: ss -tni of the kernel side and a counter
# snapshot go to the log, the client is stopped). Leaves utcpd running (PID) so the
# caller can check counters, sets C_OUT (utcpd's stdout), C_RESULT and C_SECONDS.
echo_case() {
  local name=$1 limit=$2
  shift 2
  local dir=$WORK/$name
  mkdir -p "$dir"
  C_OUT=$dir/utcpd.out C_RESULT="" C_SECONDS=""
  : >"$C_OUT"  # exists before start_utcpd_tap's first grep (its redirection is in the background)
  start_utcpd_tap "$NS" "$PREFIX-$name" "$dir" --echo "$PORT" "$@" || return 1
  [ -z "${SETUP_HOOK:-}" ] || "$SETUP_HOOK" || return 1
  local k
  for k in $KSTATS; do K0[$k]=$(kstat "$k"); done

  ip netns exec "$NS" timeout $((limit + 15)) /usr/bin/python3 "$SRC/integration/echo_client.py" \
    "$UTCP_IP" "$PORT" "$WORK/data" --elapsed >"$dir/client.out" 2>"$dir/client.err" &
  CLIENT=$!
  local ticks=0
  while kill -0 "$CLIENT" 2>/dev/null && [ "$ticks" -lt $((limit * 10)) ]; do
    sleep 0.1
    ticks=$((ticks + 1))
  done
  if kill -0 "$CLIENT" 2>/dev/null; then
    fail "case $name: 64 MiB echo not done after $limit s (stall); kernel side:"
    ip netns exec "$NS" ss -tni dst "$UTCP_IP" >&2 || true
    stop_client
    cat "$dir/client.err" >&2
    utcpd_snapshot "$C_OUT" && show_counters "$C_OUT" >&2
    return 1
  fi
  local rc=0
  wait "$CLIENT" || rc=$?
  CLIENT=""
  if [ "$rc" != 0 ]; then
    fail "case $name: client exited with status $rc$([ "$rc" = 124 ] && echo ' (timeout)'): $(tail -3 "$dir/client.err")"
    utcpd_snapshot "$C_OUT" && show_counters "$C_OUT" >&2
    return 1
  fi
  local got_sha="" got_bytes=""
  read -r got_sha got_bytes C_SECONDS <"$dir/client.out" || true
  C_RESULT="$got_sha $got_bytes"
  if [ "$C_RESULT" != "$WANT $SIZE" ]; then
    fail "case $name: echo returned '$C_RESULT', want '$WANT $SIZE'"
  fi
  local mbs
  mbs=$(awk -v b="$SIZE" -v s="$C_SECONDS" 'BEGIN { printf "%.1f", (s > 0) ? b / s / 1e6 : 0 }')
  log "case $name: $SIZE bytes each way in $C_SECONDS s = $mbs MB/s each way, SHA-256 $( \
    [ "$C_RESULT" = "$WANT $SIZE" ] && echo equal || echo DIFFERENT)"

  utcpd_snapshot "$C_OUT" || return 1
  show_counters "$C_OUT"
  local line=""
  for k in $KSTATS; do
    KD[$k]=$(($(kstat "$k") - K0[$k]))
    line+=" $k=${KD[$k]}"
  done
  # Frames the tap queue dropped on their way to utcpd (utcpd not reading fast enough).
  line+=" utcp0_tx_dropped=$(ip netns exec "$NS" cat /sys/class/net/utcp0/statistics/tx_dropped)"
  log "  kernel:$line"
  local echoed
  echoed=$(utcpd_counter "$C_OUT" svc_echo_bytes)
  [ "$echoed" -ge "$SIZE" ] || fail "case $name: svc_echo_bytes $echoed < $SIZE"
}

# finish_case NAME: SIGTERM utcpd (exit 0 expected) with nothing of its run left behind.
finish_case() {
  stop_utcpd TERM
  local leftovers
  leftovers=$(ls -d /var/run/dpdk/"$PREFIX-$1"* 2>/dev/null || true)
  [ -z "$leftovers" ] || fail "case $1: runtime files left: $leftovers"
}

# --- a) Clean wire.
case_clean() {
  log "case clean: no impairment"
  echo_case clean 60 || true
  finish_case clean
}

# --- b) utcpd's fault injector, both directions.
case_fault() {
  log "case fault: utcpd --fault $FAULT"
  if echo_case fault 240 --fault "$FAULT"; then
    grep -q "^fault: $FAULT" "$C_OUT" || fail "case fault: utcpd did not report the fault spec"
    [ "$(utcpd_counter "$C_OUT" tcp_retransmits)" -gt 0 ] \
      || fail "case fault: no retransmits under 1 % loss"
    [ "$(utcpd_counter "$C_OUT" tcp_ooo_segments)" -gt 0 ] \
      || fail "case fault: no out-of-order segments under 25 % reordering"
  fi
  finish_case fault
}

# --- c) 5 % loss by nftables on the kernel side of utcp0, ingress (utcp -> kernel) and
# egress (kernel -> utcp). The egress hook needs Linux >= 5.16 (CONFIG_NETFILTER_EGRESS).
# Two things keep egress loss a real wire loss:
# - "drop" at egress is no loss for the kernel's own TCP: dev_queue_xmit returns
#   NET_XMIT_DROP, TCP keeps the segment as unsent and sends it again later (plus a
#   cwnd reduction), so the peer never misses it. "fwd to" a veth whose peer is down
#   steals the frame (the sender sees success) and the veth discards it: a loss.
# - The hook sees the kernel's GSO skbs before they are cut into frames (utcp0 has no
#   TSO, the cut comes later): gso_max_segs 1 keeps TCP's skbs at one frame, so the loss
#   is per frame, as on ingress, not per burst of up to 64 KiB.
NFT_CHAINS=""      # the hooks that got a loss rule
EGRESS_VERDICT=""  # what that rule does at egress
BLACKHOLE=utcpbh0  # veth, peer utcpbh1 down: what is forwarded to it is discarded
nft_loss() {
  ip -n "$NS" link set utcp0 gso_max_segs 1 2>"$WORK/gso.err" \
    || log "could not set gso_max_segs 1 on utcp0 ($(cat "$WORK/gso.err")): egress loss per GSO skb"
  local egress_verdict=drop
  if ip -n "$NS" link show "$BLACKHOLE" >/dev/null 2>&1 \
     || { ip -n "$NS" link add "$BLACKHOLE" type veth peer name utcpbh1 \
          && ip -n "$NS" link set "$BLACKHOLE" up; }; then
    egress_verdict="fwd to $BLACKHOLE"
  fi
  ip netns exec "$NS" nft add table netdev "$NFT_TABLE" || { fail "nft add table"; return 1; }
  NFT_MADE=1
  local hook verdict
  for hook in ingress egress; do
    verdict=drop
    [ "$hook" = ingress ] || verdict=$egress_verdict
    # Two rules: count every frame, then take NFT_LOSS % of them away (counted too).
    if ip netns exec "$NS" nft add chain netdev "$NFT_TABLE" "$hook" \
         "{ type filter hook $hook device utcp0 priority 0; }" 2>"$WORK/nft.err" \
       && ip netns exec "$NS" nft add rule netdev "$NFT_TABLE" "$hook" counter \
         2>>"$WORK/nft.err"; then
      if [ "$verdict" != drop ] && ! ip netns exec "$NS" nft add rule netdev "$NFT_TABLE" "$hook" \
           numgen random mod 100 '<' "$NFT_LOSS" counter "$verdict" 2>>"$WORK/nft.err"; then
        log "nftables: '$verdict' not usable at $hook ($(tr '\n' ' ' <"$WORK/nft.err")):" \
          "drop instead, which the kernel's TCP retries as a local send failure"
        verdict=drop
      fi
      if [ "$verdict" = drop ] && ! ip netns exec "$NS" nft add rule netdev "$NFT_TABLE" "$hook" \
           numgen random mod 100 '<' "$NFT_LOSS" counter drop 2>>"$WORK/nft.err"; then
        verdict=""
      fi
    else
      verdict=""
    fi
    if [ -n "$verdict" ]; then
      NFT_CHAINS+=" $hook"
      [ "$hook" = ingress ] || EGRESS_VERDICT=$verdict
      log "nftables: $NFT_LOSS % of the frames on utcp0 $hook: $verdict"
    else
      log "nftables $hook hook not usable on Linux $(uname -r) (egress needs >= 5.16):" \
        "$(tr '\n' ' ' <"$WORK/nft.err")" \
        "- $NFT_LOSS % loss on the other direction only"
      ip netns exec "$NS" nft delete chain netdev "$NFT_TABLE" "$hook" 2>/dev/null || true
    fi
  done
  [ -n "$NFT_CHAINS" ] || { fail "neither nftables ingress nor egress hook works"; return 1; }
}
# nft_counts HOOK: "frames dropped" from the two counters of chain HOOK.
nft_counts() {
  ip netns exec "$NS" nft list chain netdev "$NFT_TABLE" "$1" | awk '
    /counter packets/ { for (i = 1; i < NF; i++) if ($i == "packets") p = $(i + 1)
                        if (/numgen/) d = p; else t = p }
    END { print t + 0, d + 0 }'
}
case_nft_loss() {
  log "case nft-loss: $NFT_LOSS % loss on the kernel side, both directions (kernel $(uname -r))"
  local hook frames dropped
  if SETUP_HOOK=nft_loss echo_case nft-loss 240; then
    for hook in $NFT_CHAINS; do
      read -r frames dropped < <(nft_counts "$hook")
      log "  nftables $hook: dropped $dropped of $frames frames" \
        "($(awk -v d="$dropped" -v t="$frames" 'BEGIN { printf "%.2f", (t > 0) ? 100 * d / t : 0 }') %)"
      [ "$dropped" -gt 0 ] || fail "case nft-loss: nftables $hook dropped nothing"
    done
    # Ingress drops what utcp sends (utcpd retransmits), egress what the kernel sends.
    case "$NFT_CHAINS" in *ingress*)
      [ "$(utcpd_counter "$C_OUT" tcp_retransmits)" -gt 0 ] \
        || fail "case nft-loss: utcpd did not retransmit under $NFT_LOSS % loss";;
    esac
    # (A plain egress drop is retried by the kernel as a send failure: no retransmit.)
    case "$EGRESS_VERDICT" in fwd*)
      [ "${KD[TcpRetransSegs]:-0}" -gt 0 ] \
        || fail "case nft-loss: the kernel did not retransmit under $NFT_LOSS % loss";;
    esac
  fi
  delete_nft
  finish_case nft-loss
}

# UTCP_ECHO_CASES picks and orders the cases (default: all three).
for c in ${UTCP_ECHO_CASES:-clean fault nft-loss}; do
  case "$c" in
    clean) case_clean ;;
    fault) case_fault ;;
    nft-loss) case_nft_loss ;;
    *) fail "unknown case '$c' in UTCP_ECHO_CASES (clean, fault, nft-loss)" ;;
  esac
done

[ "$FAILED" = 0 ] && log PASS
exit "$FAILED"
