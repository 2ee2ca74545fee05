#!/usr/bin/env bash
# Issue 6's fault matrix over the tap wire: for each cell (an impairment, a delay, an
# MTU) a fresh utcpd with --echo on net_tap, and 20 concurrent flows from the kernel
# side (fault_matrix/flows.py), each sending its own seeded random data, half-closing
# and reading the echo back. Checked per cell: every flow's echo has the SHA-256 and
# length of what it sent (a corruption in either direction shows), no flow went longer
# than the cell's stall bound without wire progress, every flow ended by the deadline
# (fault_matrix/plan.py derives size, stall bound and deadline from the cell), and the
# faults really happened (utcpd's and the kernel's counters, nftables' drop counters).
# How a cell impairs the wire (both directions, frame by frame):
#   loss L     half by utcpd's injector (--fault loss=L/2, its RX and TX), half by
#              nftables on the kernel side of utcp0 (L/2 at ingress and at egress), so
#              each frame crosses two independent L/2 losses: 1-(1-L/2)^2 ~ L each way
#   dup, reorder, corrupt   utcpd's injector, RX and TX (only it can do these here)
#   delay D    the round trip the wire adds: the injector holds every frame D/2 on RX
#              and D/2 on TX (no netem on this kernel)
#   mtu M      utcpd --mtu M and utcp0's MTU M
# Beyond the cell's faults, the tap queue drops what utcpd does not read in time (more
# under delay, when the injector's hold is full): reported per cell as "tap drops".
# FAULT_CELLS: "ci" (default: 8 cells covering every value), "all" (the full matrix,
# make -f Makefile.faults), or cell names such as "loss15/10ms/1280 combined/100ms/1500".
# FAULT_SEED=N (default 1) seeds the injector and the flows' data (nftables' random is
# the kernel's, not seeded), so a failing cell reruns with the same injector faults.
# Rules: TESTBED.md (own netns, stop by pid, bounded waits, distinct --file-prefix).
set -euo pipefail

SRC=${UTCP_SOURCE:-$(cd "$(dirname "$0")/.." && pwd)}
# shellcheck source=integration/lib.sh
source "$SRC/integration/lib.sh"
BUILD=${UTCP_BUILD:-$SRC/build}
UTCPD=$BUILD/daemon/utcpd
NS=utcp-faults-$$
PREFIX=utcp-faults-$$
KERNEL_IP=198.18.0.1
UTCP_IP=198.18.0.2
PORT=7
FLOWS=20
SEED=${FAULT_SEED:-1}
CELLS=${FAULT_CELLS:-ci}
NFT_TABLE=utcp_faults
BLACKHOLE=utcpbh0  # veth, peer down: nftables' egress "loss" is forwarded there
WORK=$(mktemp -d /tmp/utcp-faults.XXXXXX)
PID=""       # utcpd (lib.sh's stop_pid stops $PID)
CLIENT=""    # flows.py's timeout(1)
FAILED=0
SUMMARY=()

log() { echo "[fault_matrix] $*"; }
fail() { echo "[fault_matrix] FAIL: $*" >&2; FAILED=1; }

cleanup() {
  kill_wait "$CLIENT"
  stop_pid utcpd TERM
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { echo "[fault_matrix] FAIL: needs root (netns, tap, nft)" >&2; exit 1; }
[ -x "$UTCPD" ] || { echo "[fault_matrix] FAIL: $UTCPD not built" >&2; exit 1; }
for tool in /usr/bin/python3 timeout nft nstat; do
  command -v "$tool" >/dev/null || { echo "[fault_matrix] FAIL: $tool not installed" >&2; exit 1; }
done

# --- The cells. An impairment is "loss:dup:reorder:corrupt" in percent.
declare -A IMPAIRMENT=(
  [loss0.1]=0.1:0:0:0 [loss1]=1:0:0:0 [loss5]=5:0:0:0 [loss15]=15:0:0:0
  [dup1]=0:1:0:0 [reorder25]=0:0:25:0 [corrupt0.1]=0:0:0:0.1
  [combined]=5:1:25:0.1  # every impairment at once, loss at 5 %
)
# CI: every loss value, dup, reorder, corrupt and the combination once; each delay and
# MTU at least twice; 15 % loss at 100 ms is the slowest cell.
CI_CELLS="loss0.1/0ms/1500 loss1/10ms/1280 loss5/0ms/1280 loss15/100ms/1500
  dup1/100ms/1280 reorder25/0ms/1500 corrupt0.1/10ms/1280 combined/10ms/1500"
all_cells() {
  local imp delay mtu
  for imp in loss0.1 loss1 loss5 loss15 dup1 reorder25 corrupt0.1 combined; do
    for delay in 0 10 100; do
      for mtu in 1280 1500; do echo "$imp/${delay}ms/$mtu"; done
    done
  done
}
case "$CELLS" in
  ci) CELLS=$CI_CELLS ;;
  all) CELLS=$(all_cells) ;;
esac

ip netns add "$NS"
# The egress blackhole: nftables "drop" at egress is no wire loss for the kernel's own
# TCP (dev_queue_xmit reports NET_XMIT_DROP and TCP sends the segment again later, the
# peer never misses it); "fwd to" a veth whose peer is down steals the frame and the
# veth discards it (see utcpd_echo_test.sh case c).
ip -n "$NS" link add "$BLACKHOLE" type veth peer name utcpbh1
ip -n "$NS" link set "$BLACKHOLE" up

# kstat NAME: the kernel's (this namespace's) SNMP counter NAME, absolute.
kstat() { ip netns exec "$NS" nstat -asz "$1" | awk -v n="$1" '$1 == n { v = $2 } END { print v + 0 }'; }

# nft_loss PERMYRIAD: loss rules (PERMYRIAD/10000 of the frames) at ingress and egress
# of utcp0, each behind a counting rule. Egress keeps TCP's skbs at one frame
# (gso_max_segs 1), so the loss is per frame as on ingress.
nft_loss() {
  local n=$1 hook verdict
  ip -n "$NS" link set utcp0 gso_max_segs 1 || return 1
  ip netns exec "$NS" nft add table netdev "$NFT_TABLE" || return 1
  for hook in ingress egress; do
    verdict=drop
    [ "$hook" = ingress ] || verdict="fwd to $BLACKHOLE"
    ip netns exec "$NS" nft add chain netdev "$NFT_TABLE" "$hook" \
      "{ type filter hook $hook device utcp0 priority 0; }" || return 1
    ip netns exec "$NS" nft add rule netdev "$NFT_TABLE" "$hook" counter || return 1
    ip netns exec "$NS" nft add rule netdev "$NFT_TABLE" "$hook" \
      numgen random mod 10000 '<' "$n" counter "$verdict" || return 1
  done
}
# nft_dropped HOOK: frames the loss rule of chain HOOK took.
nft_dropped() {
  ip netns exec "$NS" nft list chain netdev "$NFT_TABLE" "$1" | awk '
    /numgen/ { for (i = 1; i < NF; i++) if ($i == "packets") d = $(i + 1) }
    END { print d + 0 }'
}

UCOUNTERS="tcp_retransmits tcp_fast_retransmits tcp_rto_timeouts tcp_ooo_segments
  tcp_dup_acks_in tcp_out_of_window drop_parse_bad_checksum drop_parse_bad_total_len
  drop_parse_truncated drop_mac_not_for_us tcp_resets_in tcp_resets_out svc_echo_bytes
  fault_rx_lost fault_tx_lost fault_rx_duplicated fault_tx_duplicated fault_rx_reordered
  fault_tx_reordered fault_rx_corrupted fault_tx_corrupted tcp_dsacks_in tcp_dsacks_out"
KSTATS="TcpRetransSegs TcpInCsumErrors IpInHdrErrors TcpExtTCPDSACKRecv
  TcpExtTCPDSACKOldSent TcpExtTCPOFOQueue"

# run_cell NAME: one cell; appends a line to SUMMARY.
run_cell() {
  local name=$1 imp delay mtu
  IFS=/ read -r imp delay mtu <<<"$name"
  delay=${delay%ms}
  local spec=${IMPAIRMENT[$imp]:-}
  if [ -z "$spec" ] || ! [[ "$delay" =~ ^[0-9]+$ ]] || ! [[ "$mtu" =~ ^[0-9]+$ ]]; then
    fail "unknown cell '$name' (IMPAIRMENT/DELAYms/MTU, impairments: ${!IMPAIRMENT[*]})"
    return 1
  fi
  local loss dup reorder corrupt
  IFS=: read -r loss dup reorder corrupt <<<"$spec"
  local size stall deadline
  read -r size stall deadline < <(/usr/bin/python3 "$SRC/integration/fault_matrix/plan.py" \
    "$loss" "$dup" "$reorder" "$corrupt" "$delay" "$mtu")
  # The injector's spec: loss at half the cell's (nftables has the other half).
  local fault="" half permyriad
  half=$(awk -v l="$loss" 'BEGIN { printf "%g", l / 2 }')
  permyriad=$(awk -v l="$loss" 'BEGIN { printf "%d", l * 50 + 0.5 }')  # L/2 % in 1/10000
  [ "$loss" = 0 ] || fault+="loss=$half%,"
  [ "$dup" = 0 ] || fault+="dup=$dup%,"
  [ "$reorder" = 0 ] || fault+="reorder=$reorder%,"
  [ "$corrupt" = 0 ] || fault+="corrupt=$corrupt%,"
  [ "$delay" = 0 ] || fault+="delay=$(awk -v d="$delay" 'BEGIN { printf "%g", d / 2 }')ms,"
  fault+="seed=$SEED"

  local tag="loss=$loss% dup=$dup% reorder=$reorder% corrupt=$corrupt% delay=${delay}ms mtu=$mtu"
  local dir=$WORK/${name//\//_}
  mkdir -p "$dir"
  : >"$dir/utcpd.out"
  log "cell $name: $tag; utcpd --fault $fault, nft $permyriad/10000 each way;" \
    "$FLOWS x $size B, stall bound ${stall} s, deadline ${deadline} s"
  start_utcpd_tap "$NS" "$PREFIX-$SEED-${name//\//_}" "$dir" --echo "$PORT" --mtu "$mtu" \
    --fault "$fault" || { SUMMARY+=("$name|FAIL: utcpd did not start"); return 1; }
  ip -n "$NS" link set utcp0 mtu "$mtu" || fail "cell $name: cannot set utcp0's MTU to $mtu"
  if [ "$loss" != 0 ] && ! nft_loss "$permyriad"; then
    fail "cell $name: nftables loss rules not installed"
  fi
  local k
  declare -A k0=()
  for k in $KSTATS; do k0[$k]=$(kstat "$k"); done

  ip netns exec "$NS" timeout $((deadline + 30)) /usr/bin/python3 \
    "$SRC/integration/fault_matrix/flows.py" "$UTCP_IP" "$PORT" --flows "$FLOWS" \
    --size "$size" --seed "$SEED" --deadline "$deadline" --stall "$stall" \
    >"$dir/flows.json" 2>"$dir/flows.err" &
  CLIENT=$!
  local rc=0
  wait "$CLIENT" || rc=$?
  CLIENT=""
  local verdict
  verdict=$(/usr/bin/python3 - "$dir/flows.json" "$rc" <<'EOF'
import json, sys
try:
    r = json.load(open(sys.argv[1]))
except Exception as e:
    print(f"BAD client exited {sys.argv[2]} without a report ({e})")
    sys.exit()
slow = f"{r['slowest']:.1f} s" if r["slowest"] is not None else "-"
print(f"{'OK' if r['ok'] == len(r['flows']) else 'BAD'} {r['ok']} {len(r['flows'])} "
      f"{r['mismatches']} {r['stalls']} {r['errors']} {r['late']} {slow.replace(' ', '_')} "
      f"{r['max_gap']:.1f} {r['kernel_retrans']}")
for f in r["flows"]:
    if f["status"] != "ok":
        print(f"  flow {f['flow']}: {f['status']} sent {f['sent']} received {f['received']} "
              f"after {f['seconds']} s, longest gap {f['max_gap']} s, error {f['error']}, "
              f"kernel {f['tcp_info']}", file=sys.stderr)
EOF
  )
  local status ok total mism stalls errs late slowest gap
  read -r status ok total mism stalls errs late slowest gap _ <<<"$verdict"

  utcpd_snapshot "$dir/utcpd.out" || true
  local -A u=() kd=()
  for k in $UCOUNTERS; do u[$k]=$(utcpd_counter "$dir/utcpd.out" "$k"); done
  for k in $KSTATS; do kd[$k]=$(($(kstat "$k") - k0[$k])); done
  local nin=0 nout=0
  if [ "$loss" != 0 ]; then nin=$(nft_dropped ingress); nout=$(nft_dropped egress); fi

  local line="$status"
  if [ "$status" != OK ]; then
    fail "cell $name ($tag): $verdict; seed $SEED; rerun: FAULT_SEED=$SEED FAULT_CELLS=$name bash $SRC/integration/fault_matrix_test.sh"
    cat "$dir/flows.err" >&2
    line="FAIL ($mism mismatches, $stalls stalls, $errs errors, $late late)"
  fi
  # The faults happened: each impairment leaves its mark.
  local why=""
  if [ "$loss" != 0 ]; then
    [ "${u[tcp_retransmits]}" -gt 0 ] || why+=" utcpd did not retransmit;"
    [ "${kd[TcpRetransSegs]}" -gt 0 ] || why+=" the kernel did not retransmit;"
    [ "$nin" -gt 0 ] && [ "$nout" -gt 0 ] || why+=" nftables dropped $nin in, $nout out;"
  fi
  if [ "$reorder" != 0 ]; then
    [ "${u[fault_rx_reordered]}" -gt 0 ] && [ "${u[fault_tx_reordered]}" -gt 0 ] \
      || why+=" the injector reordered ${u[fault_rx_reordered]} in, ${u[fault_tx_reordered]} out;"
    [ "${u[tcp_ooo_segments]}" -gt 0 ] || why+=" utcpd saw no out-of-order segment;"
    [ "${kd[TcpExtTCPOFOQueue]}" -gt 0 ] || why+=" the kernel queued nothing out of order;"
  fi
  if [ "$dup" != 0 ]; then
    [ "${kd[TcpExtTCPDSACKOldSent]}" -gt 0 ] || why+=" the kernel saw no duplicate (DSACK sent);"
    [ "${u[fault_rx_duplicated]}" -gt 0 ] && [ "${u[fault_tx_duplicated]}" -gt 0 ] \
      || why+=" the injector duplicated ${u[fault_rx_duplicated]} in, ${u[fault_tx_duplicated]} out;"
    # RFC 2883 both ways: utcp reports the duplicates it got, and reads the kernel's.
    [ "${u[tcp_dsacks_out]}" -gt 0 ] && [ "${kd[TcpExtTCPDSACKRecv]}" -gt 0 ] \
      || why+=" utcp sent ${u[tcp_dsacks_out]} D-SACKs, the kernel took ${kd[TcpExtTCPDSACKRecv]};"
    [ "${u[tcp_dsacks_in]}" -gt 0 ] || why+=" utcp read no D-SACK from the kernel;"
  fi
  if [ "$corrupt" != 0 ]; then
    # A flipped bit may land anywhere in the frame: TCP checksum, IP header, MAC.
    local rx_bad=$((u[drop_parse_bad_checksum] + u[drop_parse_bad_total_len] + u[drop_parse_truncated] + u[drop_mac_not_for_us]))
    local tx_bad=$((kd[TcpInCsumErrors] + kd[IpInHdrErrors]))
    [ "$rx_bad" -gt 0 ] || why+=" utcpd dropped no corrupted frame;"
    [ "${u[fault_tx_corrupted]}" -gt 0 ] || why+=" the injector corrupted nothing it sent;"
    [ "$tx_bad" -gt 0 ] || why+=" the kernel dropped no corrupted frame;"
  fi
  if [ "$status" = OK ] && [ -n "$why" ]; then
    fail "cell $name: the impairment did not show:$why"
    line="FAIL (faults not seen)"
  fi
  local counters=""
  for k in $UCOUNTERS; do counters+=" $k=${u[$k]}"; done
  log "  utcpd:$counters"
  counters=""
  for k in $KSTATS; do counters+=" $k=${kd[$k]}"; done
  # Frames the tap queue dropped on their way to utcpd (utcpd, or its injector's hold
  # under delay, not draining fast enough on this shared VM): loss beyond the cell's,
  # kernel -> utcp only. Reported, not failed: it is the wire, not utcp.
  local tapdrops
  tapdrops=$(ip netns exec "$NS" cat /sys/class/net/utcp0/statistics/tx_dropped)
  log "  kernel:$counters; nft drops in=$nin out=$nout; utcp0 tx_dropped $tapdrops"
  log "$tag: $ok/$total flows ok, 2x$((size / 1024)) KiB each, slowest ${slowest//_/ }," \
    "longest gap $gap s (bound $stall s), retransmits utcpd ${u[tcp_retransmits]} kernel ${kd[TcpRetransSegs]}," \
    "nft drops $((nin + nout))"
  SUMMARY+=("$name|$ok/$total|$((size / 1024))|${slowest//_/ }|$gap / $stall|${u[tcp_retransmits]}|${kd[TcpRetransSegs]}|$((nin + nout))|$tapdrops|${u[tcp_ooo_segments]}|$line")

  stop_pid utcpd TERM
  local leftovers
  leftovers=$(ls -d /var/run/dpdk/"$PREFIX-$SEED-${name//\//_}" 2>/dev/null || true)
  [ -z "$leftovers" ] || fail "cell $name: runtime files left: $leftovers"
  ip netns exec "$NS" nft delete table netdev "$NFT_TABLE" 2>/dev/null || true
}

START=$SECONDS
for cell in $CELLS; do
  run_cell "$cell" || true
done

log "summary (seed $SEED, $FLOWS flows per cell, $((SECONDS - START)) s):"
log "| cell | flows ok | KiB/flow | slowest | longest gap / bound (s) | retx utcpd | retx kernel | nft drops | tap drops | ooo utcpd | result |"
log "|---|---|---|---|---|---|---|---|---|---|---|"
for row in "${SUMMARY[@]}"; do log "| ${row//|/ | } |"; done
[ "$FAILED" = 0 ] && log PASS
exit "$FAILED"
