#!/usr/bin/env bash
# dpdk_io over net_memif: two utcp-portcheck processes (distinct --file-prefix), one
# role=server answering ARP/ICMP for 198.18.0.2, one role=client pinging it after
# resolving ARP; every echo must come back. Once with one queue pair, once with two
# on each side (ARP replies copied to every engine). Rules: TESTBED.md.
set -euo pipefail

SRC=${UTCP_SOURCE:-$(cd "$(dirname "$0")/.." && pwd)}
# shellcheck source=integration/lib.sh
source "$SRC/integration/lib.sh"
BUILD=${UTCP_BUILD:-$SRC/build}
TOOL=$BUILD/dpdk_io/utcp-portcheck
NS=utcp-dpdkio-$$  # memif's socket is abstract by default: per network namespace
PREFIX=utcp-dpdkio-$$
WORK=$(mktemp -d /tmp/utcp-dpdkio-memif.XXXXXX)
SERVER="" PID=""
FAILED=0
COUNT=20

log() { echo "[dpdk_io_memif] $*"; }
fail() { echo "[dpdk_io_memif] FAIL: $*" >&2; FAILED=1; }

stop_server() {  # by pid, bounded, escalating to SIGKILL (lib.sh)
  PID=$SERVER
  stop_pid utcp-portcheck TERM
  SERVER=""
}

cleanup() {
  stop_server
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { echo "[dpdk_io_memif] FAIL: needs root (netns)" >&2; exit 1; }
[ -x "$TOOL" ] || { echo "[dpdk_io_memif] FAIL: $TOOL not built" >&2; exit 1; }
ip netns add "$NS"

# run_case NAME SERVER-CORES CLIENT-CORES
run_case() {
  local name=$1 server_cores=$2 client_cores=$3
  local sock=$WORK/$name.sock slog=$WORK/$name-server.log clog=$WORK/$name-client.log
  log "case $name: server cores $server_cores, client cores $client_cores"
  ip netns exec "$NS" "$TOOL" --dev "net_memif0,role=server,socket=$sock" --ip 198.18.0.2 \
    --file-prefix "$PREFIX-s" --cores "$server_cores" --no-huge --seconds 60 >"$slog" 2>&1 &
  SERVER=$!
  for _ in $(seq 150); do
    grep -q '^ready' "$slog" && break
    kill -0 "$SERVER" 2>/dev/null || break
    sleep 0.1
  done
  if ! grep -q '^ready' "$slog"; then
    fail "$name: server did not start: $(tail -5 "$slog")"
    stop_server
    return 0
  fi
  # The client exits by itself once all replies are in (or 1 s after the last echo).
  local rc=0
  ip netns exec "$NS" timeout 60 "$TOOL" --dev "net_memif0,role=client,socket=$sock" \
    --ip 198.18.0.1 --file-prefix "$PREFIX-c" --cores "$client_cores" --no-huge --seconds 45 \
    --ping 198.18.0.2 --count $COUNT --interval-ms 50 >"$clog" 2>&1 || rc=$?
  [ "$rc" = 0 ] || fail "$name: client exited with $rc: $(grep -E '^ping|portcheck' "$clog")"
  grep -q "^ping: sent $COUNT received $COUNT" "$clog" \
    || fail "$name: $(grep '^ping' "$clog" || echo 'no ping line')"
  stop_server
  local echo_replies
  echo_replies=$(sed -n 's/^total:.* echo-replies \([0-9]*\).*/\1/p' "$slog")
  [ "${echo_replies:-0}" = $COUNT ] || fail "$name: server answered ${echo_replies:-no} echoes"
  grep -q "link up" "$slog" || fail "$name: the server never saw the link up"
  if [[ $client_cores == *,* ]]; then
    grep -q "rss: software" "$clog" || fail "$name: expected software steering"
    local copies
    copies=$(sed -n 's/^engine 0 queue:.* arp-copies \([0-9]*\).*/\1/p' "$clog")
    [ "${copies:-0}" -ge 1 ] || fail "$name: the ARP reply was not copied to engine 1"
  fi
  local leftovers
  leftovers=$(ls -d /var/run/dpdk/"$PREFIX"* 2>/dev/null || true)
  [ -z "$leftovers" ] || fail "$name: runtime files left: $leftovers"
  grep -hE '^(engine|total|ping)' "$clog" "$slog" | sed 's/^/[dpdk_io_memif]   /'
}

run_case one-queue 0 1
run_case two-queues 0,1 0,1

[ "$FAILED" = 0 ] && log PASS
exit "$FAILED"
