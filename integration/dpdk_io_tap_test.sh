#!/usr/bin/env bash
# dpdk_io over net_tap: utcp-portcheck answers ARP, ICMP echo and TCP (with RSTs) for
# 198.18.0.2 (on no kernel interface) while the kernel pings it through utcp0, with one
# queue, with two queues (software steering) and with/without hugepages; then checks
# that nothing is left behind. Rules: TESTBED.md (own netns, pids, bounded waits).
set -euo pipefail

SRC=${UTCP_SOURCE:-$(cd "$(dirname "$0")/.." && pwd)}
# shellcheck source=integration/lib.sh
source "$SRC/integration/lib.sh"
BUILD=${UTCP_BUILD:-$SRC/build}
TOOL=$BUILD/dpdk_io/utcp-portcheck
NS=utcp-dpdkio-$$
PREFIX=utcp-dpdkio-$$
KERNEL_IP=198.18.0.1
UTCP_IP=198.18.0.2
WORK=$(mktemp -d /tmp/utcp-dpdkio-tap.XXXXXX)
PID=""
HUGE_PREV=""
HUGE_MOUNTED=""
FAILED=0

log() { echo "[dpdk_io_tap] $*"; }
fail() { echo "[dpdk_io_tap] FAIL: $*" >&2; FAILED=1; }

stop_tool() { stop_pid utcp-portcheck "$1"; }  # by pid, bounded, escalating to SIGKILL

cleanup() {
  stop_tool TERM
  ip netns del "$NS" 2>/dev/null || true
  if [ -n "$HUGE_MOUNTED" ]; then umount /dev/hugepages 2>/dev/null || true; fi
  if [ -n "$HUGE_PREV" ]; then echo "$HUGE_PREV" > /proc/sys/vm/nr_hugepages; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { echo "[dpdk_io_tap] FAIL: needs root (netns, tap, hugepages)" >&2; exit 1; }
[ -x "$TOOL" ] || { echo "[dpdk_io_tap] FAIL: $TOOL not built" >&2; exit 1; }

# --- 1. Only dpdk_io includes DPDK headers (DESIGN.md §2), and its public header none.
offenders=$(grep -rlE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]rte_' "$SRC" \
              --include='*.h' --include='*.hpp' --include='*.cc' --include='*.cpp' --include='*.c' \
              --exclude-dir='build*' --exclude-dir=.git | grep -v "^$SRC/dpdk_io/" || true)
[ -z "$offenders" ] || fail "rte_* included outside dpdk_io/: $offenders"
for f in dpdk_port.h eal_plan.h eal_plan.cc steering.h steering.cc port_info.cc tools/utcp-portcheck.cc; do
  ! grep -qE '#[[:space:]]*include[[:space:]]*[<"]rte_' "$SRC/dpdk_io/$f" || fail "dpdk_io/$f includes rte_*"
done

# --- 2. EAL arguments: --no-pci for vdevs, an allow-list for a PCI address.
vdev_args=$("$TOOL" --dev net_tap0,iface=utcp0 --ip $UTCP_IP --dry-run)
grep -q -- '--no-pci' <<<"$vdev_args" || fail "vdev run without --no-pci: $vdev_args"
grep -q -- '--vdev net_tap0,iface=utcp0' <<<"$vdev_args" || fail "no --vdev: $vdev_args"
pci_args=$("$TOOL" --dev 0000:01:00.0 --ip $UTCP_IP --dry-run)
grep -q -- '-a 0000:01:00.0' <<<"$pci_args" || fail "PCI device not allow-listed: $pci_args"
! grep -q -- '--no-pci' <<<"$pci_args" || fail "PCI device with --no-pci: $pci_args"
grep -q -- '--no-huge -m 64 --no-shconf' <<<"$("$TOOL" --dev net_tap0 --ip $UTCP_IP --no-huge --memory-mb 64 --dry-run)" \
  || fail "--no-huge plan"
if "$TOOL" --dev 'bogus dev' --ip $UTCP_IP --dry-run >/dev/null 2>&1; then fail "bad devargs accepted"; fi

ip netns add "$NS"

# start_tool LOG ARGS...: runs utcp-portcheck in the namespace, waits for "ready" and utcp0.
start_tool() {
  local out=$1; shift
  ip netns exec "$NS" "$TOOL" --dev net_tap0,iface=utcp0 --ip $UTCP_IP --file-prefix "$PREFIX" "$@" \
    >"$out" 2>&1 &
  PID=$!
  for _ in $(seq 150); do
    if grep -q '^ready' "$out" && ip -n "$NS" link show utcp0 >/dev/null 2>&1; then break; fi
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  if ! grep -q '^ready' "$out"; then
    fail "utcp-portcheck did not start: $(tail -5 "$out")"
    stop_tool KILL
    return 1
  fi
  ip -n "$NS" addr add $KERNEL_IP/24 dev utcp0
  ip -n "$NS" link set utcp0 up
}

# count_field LOG NAME: the number after NAME on the "total:" line.
count_field() { sed -n "s/^total:.* $2 \([0-9]*\).*/\1/p" "$1"; }
sum_queue_field() { sed -n "s/^engine [0-9]* queue:.* $2 \([0-9]*\).*/\1/p" "$1" | paste -sd+ | bc; }

check_left_behind() {
  local leftovers
  leftovers=$(ls -d /var/run/dpdk/"$PREFIX"* 2>/dev/null || true)
  [ -z "$leftovers" ] || fail "runtime files left: $leftovers"
  leftovers=$(find /dev/hugepages /mnt -maxdepth 2 -name "*utcp-dpdkio*" 2>/dev/null || true)
  [ -z "$leftovers" ] || fail "hugepage files left: $leftovers"
  ! ip -n "$NS" link show utcp0 >/dev/null 2>&1 || fail "utcp0 still exists after the port closed"
}

# run_case NAME QUEUES SIGNAL TOOL-ARGS...
run_case() {
  local name=$1 queues=$2 sig=$3; shift 3
  local out=$WORK/$name.log
  log "case $name: $*"
  start_tool "$out" "$@" || return 0
  if ! ip netns exec "$NS" ping -c 20 -i 0.2 -W 2 $UTCP_IP >"$WORK/$name.ping" 2>&1; then
    fail "$name: ping: $(tail -2 "$WORK/$name.ping")"
  fi
  grep -q ' 0% packet loss' "$WORK/$name.ping" || fail "$name: loss: $(grep loss "$WORK/$name.ping")"
  local refused=0 flows=0
  if [ "$queues" -gt 1 ]; then
    # 40 TCP flows: each is answered with a RST by the engine its Toeplitz hash names.
    for port in $(seq 7000 7039); do
      flows=$((flows + 1))
      local rc=0
      ip netns exec "$NS" timeout 3 bash -c "exec 3<>/dev/tcp/$UTCP_IP/$port" 2>/dev/null || rc=$?
      [ "$rc" != 1 ] || refused=$((refused + 1))  # 1: refused; 124: no answer in time
    done
    [ "$refused" = "$flows" ] || fail "$name: only $refused of $flows TCP connects were refused by a RST"
  fi
  if [ "$name" = two-queues ]; then
    # What an idle port costs: utime + stime over 10 s (engines sleep on RX interrupts).
    local t0 t1 hz
    hz=$(getconf CLK_TCK)
    t0=$(awk '{print $14 + $15}' /proc/"$PID"/stat)
    sleep 10
    t1=$(awk '{print $14 + $15}' /proc/"$PID"/stat)
    log "$name: idle CPU over 10 s: $((t1 - t0)) ticks of 1/$hz s = $(echo "scale=2; ($t1 - $t0) * 100 / ($hz * 10)" | bc) % of one CPU"
    [ $(((t1 - t0) * 100 / (hz * 10))) -lt 5 ] || fail "$name: idle engines use $((t1 - t0)) ticks in 10 s"
  fi
  stop_tool "$sig"
  grep -q "^signal" "$out" || fail "$name: no clean stop on SIG$sig"
  local echo_replies arp_replies tcp misrouted
  echo_replies=$(count_field "$out" echo-replies)
  arp_replies=$(count_field "$out" arp-replies)
  tcp=$(count_field "$out" tcp)
  misrouted=$(count_field "$out" misrouted)
  [ "${echo_replies:-0}" -ge 20 ] || fail "$name: echo replies ${echo_replies:-none}"
  [ "${arp_replies:-0}" -ge 1 ] || fail "$name: ARP replies ${arp_replies:-none}"
  [ "$(sum_queue_field "$out" rx)" -gt 20 ] || fail "$name: queue rx counters did not move"
  if [ "$queues" -gt 1 ]; then
    grep -q "rss: software" "$out" || fail "$name: expected software steering"
    [ "${tcp:-0}" -ge "$flows" ] || fail "$name: tcp segments ${tcp:-none} < $flows"
    [ "${misrouted:-1}" = 0 ] || fail "$name: $misrouted segments reached an engine that does not own them"
    for e in $(seq 0 $((queues - 1))); do
      local seen
      seen=$(sed -n "s/^engine $e responder:.* tcp \([0-9]*\),.*/\1/p" "$out")
      [ "${seen:-0}" -gt 0 ] || fail "$name: engine $e handled no TCP flow"
    done
    [ "$(sum_queue_field "$out" steered-out)" = "$(sum_queue_field "$out" steered-in)" ] \
      || fail "$name: steered-out and steered-in differ"
  fi
  check_left_behind
  grep -E '^(engine|total|device)' "$out" | sed "s/^/[dpdk_io_tap]   /"
}

run_case one-queue 1 INT --no-huge --cores 0
run_case two-queues 2 TERM --no-huge --cores 0,1

# Hugepages, when the host can give 256 MB of them; put everything back afterwards.
HUGE_PREV=$(cat /proc/sys/vm/nr_hugepages)
echo $((HUGE_PREV + 128)) > /proc/sys/vm/nr_hugepages || true
if ! mountpoint -q /dev/hugepages 2>/dev/null; then
  mkdir -p /dev/hugepages && mount -t hugetlbfs nodev /dev/hugepages && HUGE_MOUNTED=1
fi
free=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
if [ "$free" -ge 64 ]; then
  run_case hugepages 2 TERM --huge --cores 0,1
  grep -q "memory: hugepages" "$WORK/hugepages.log" || fail "hugepages case did not use hugepages"
  [ "$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)" = "$free" ] || fail "hugepages not released"
else
  log "hugepages: only $free free after asking for 128 more; case skipped"
fi

[ "$FAILED" = 0 ] && log PASS
exit "$FAILED"
