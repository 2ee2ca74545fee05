#!/usr/bin/env bash
# http_ab.sh: requests/s and CPU per request of one HTTP server on utcp over a net_tap
# wire (A) against the same server on the kernel behind a veth pair (B), same wrk, in
# one run alternating A B B A A B ... (TESTBED.md "A/B against the kernel"). On tap
# the kernel still carries every packet (wrk -> kernel TCP -> tap -> utcpd), so this is
# utcp's cost as a peer of the kernel, not a kernel-free path. Prints a Markdown table
# and writes raw runs to bench/results/<date>/http_tap.{json,md} (bench/ab_report.py).
# SERVER=nginx (default): Debian's nginx (1 worker, a 1 KiB file) under LD_PRELOAD=
#   libutcp.so against the same nginx on the kernel; server CPU = nginx + utcpd.
# SERVER=responder: utcpd's own --http against its kernel twin utcp-kernel-httpd.
# Env: BUILD (build/release), PAIRS (5), DURATION (s, 5), CONNS (100), THREADS (2),
# PIN (1: the kernel server runs on the utcpd engine's CPU; 0: unpinned; responder only).
# OUTDIR (bench/results/<date>): where the JSON and Markdown go.
# Rules: TESTBED.md (own netns, 198.18.0.0/15, stop by pid, bounded waits).
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=integration/lib.sh
source "$SRC/integration/lib.sh"
BUILD=${BUILD:-build/release}
case $BUILD in /*) ;; *) BUILD=$SRC/$BUILD ;; esac
PAIRS=${PAIRS:-5}
DURATION=${DURATION:-5}
CONNS=${CONNS:-100}
THREADS=${THREADS:-2}
PIN=${PIN:-1}
SERVER=${SERVER:-nginx}
UTCPD=$BUILD/daemon/utcpd
LIB=$BUILD/preload/libutcp.so
KHTTPD=$BUILD/tools/utcp-kernel-httpd
NS_U=utcp-abk-$$      # A: kernel client and utcpd's tap wire
NS_KC=utcp-abkc-$$    # B: kernel client end of the veth
NS_KS=utcp-abks-$$    # B: kernel server end of the veth
PREFIX=utcp-abk-$$
KERNEL_IP=198.18.0.1  # names lib.sh's start_utcpd_tap reads
UTCP_IP=198.18.0.2
VETH_C=198.19.0.1
VETH_S=198.19.0.2
PORT=80
DATE=$(date +%F)
OUTDIR=${OUTDIR:-$SRC/bench/results/$DATE}
WORK=$(mktemp -d /tmp/utcp-http-ab.XXXXXX)
PID=""      # lib.sh's stop_pid/utcpd_snapshot act on $PID
UPID=""     # utcpd
KPID=""     # the kernel server (utcp-kernel-httpd or nginx's master)
NPID=""     # nginx's master on utcp
FAILED=0

log() { echo "[http_ab] $*"; }
fail() { echo "[http_ab] FAIL: $*" >&2; FAILED=1; }
stop_one() { PID=$2; stop_pid "$1" TERM; }  # by pid, bounded, escalates to SIGKILL

cleanup() {
  [ -z "$NPID" ] || stop_one "nginx (utcp)" "$NPID"
  [ -z "$UPID" ] || stop_one utcpd "$UPID"
  [ -z "$KPID" ] || stop_one "kernel server" "$KPID"
  UPID="" KPID="" NPID=""
  for ns in "$NS_U" "$NS_KC" "$NS_KS"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { fail "needs root (netns, tap)"; exit 1; }
case $SERVER in nginx | responder) ;; *) fail "SERVER must be nginx or responder"; exit 1 ;; esac
for f in "$UTCPD" "$KHTTPD" "$LIB"; do [ -e "$f" ] || { fail "$f not built (BUILD=$BUILD)"; exit 1; }; done
[ "$SERVER" = responder ] || command -v nginx >/dev/null || { fail "nginx not installed"; exit 1; }
for tool in wrk nstat taskset python3; do
  command -v "$tool" >/dev/null || { fail "$tool not installed"; exit 1; }
done
for n in "$PAIRS" "$DURATION" "$CONNS" "$THREADS"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || { fail "PAIRS, DURATION, CONNS, THREADS must be positive integers"; exit 1; }
done

# nginx_ab_conf DIR: one worker serving DIR/www on port $PORT (the same for A and B).
nginx_ab_conf() {
  cat <<CONF
daemon off;
worker_processes 1;
error_log $1/error.log;
pid $1/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path $1/tmp;
  proxy_temp_path $1/tmp;
  fastcgi_temp_path $1/tmp;
  uwsgi_temp_path $1/tmp;
  scgi_temp_path $1/tmp;
  server { listen $PORT; root $WORK/www; }
}
CONF
}
# The worker of the nginx master $1 (its only child).
nginx_worker() {
  local w
  for _ in $(seq 50); do
    w=$(ps -o pid= --ppid "$1" | tr -d ' ' | head -1)
    [ -n "$w" ] && { echo "$w"; return; }
    sleep 0.1
  done
}
chmod 755 "$WORK"  # nginx's worker runs as nobody
mkdir -p "$WORK/www" "$WORK/a/tmp" "$WORK/b/tmp"
head -c 1024 /dev/urandom >"$WORK/www/1k.bin"
chmod 644 "$WORK/www/1k.bin"
PATH_Q=/
[ "$SERVER" = nginx ] && PATH_Q=/1k.bin

# --- A: the server on utcp over net_tap; the kernel client shares the namespace with utcp0.
ip netns add "$NS_U"
ip -n "$NS_U" link set lo up
if [ "$SERVER" = nginx ]; then
  start_utcpd_tap "$NS_U" "$PREFIX" "$WORK" --control "$WORK/utcpd.sock" || exit 1
else
  start_utcpd_tap "$NS_U" "$PREFIX" "$WORK" --http "$PORT" || exit 1
fi
UPID=$PID
UOUT=$WORK/utcpd.out
# The utcpd engine's CPU (port_info prints "engine 0: lcore 1, cpu N, ...").
ENGINE_CPU=$(sed -n 's/.*engine 0: lcore [0-9]*, cpu \([0-9]*\).*/\1/p' "$UOUT" "$WORK/utcpd.err" | head -1)
ENGINE_CPU=${ENGINE_CPU:-0}

# --- B: the kernel twin behind a veth pair, client and server in their own namespaces.
ip netns add "$NS_KC"
ip netns add "$NS_KS"
ip link add abk-c netns "$NS_KC" type veth peer name abk-s netns "$NS_KS"
ip -n "$NS_KC" addr add $VETH_C/24 dev abk-c
ip -n "$NS_KS" addr add $VETH_S/24 dev abk-s
for ns in "$NS_KC" "$NS_KS"; do ip -n "$ns" link set lo up; done
ip -n "$NS_KC" link set abk-c up
ip -n "$NS_KS" link set abk-s up
if [ "$SERVER" = nginx ]; then
  nginx_ab_conf "$WORK/a" >"$WORK/a/nginx.conf"
  nginx_ab_conf "$WORK/b" >"$WORK/b/nginx.conf"
  ip netns exec "$NS_U" env UTCP_CONTROL="$WORK/utcpd.sock" LD_PRELOAD="$LIB" \
    "$(command -v nginx)" -c "$WORK/a/nginx.conf" >"$WORK/a/out" 2>&1 &
  NPID=$!
  ip netns exec "$NS_KS" "$(command -v nginx)" -c "$WORK/b/nginx.conf" >"$WORK/b/out" 2>&1 &
  KPID=$!
  for _ in $(seq 50); do
    [ "$(ip netns exec "$NS_U" curl -s -m 1 -o /dev/null -w '%{http_code}' http://$UTCP_IP$PATH_Q)" = 200 ] && break
    sleep 0.1
  done
else
  # Like for like: both servers handle requests on one thread on the same CPU.
  pin=(); [ "$PIN" = 1 ] && pin=(taskset -c "$ENGINE_CPU")
  ip netns exec "$NS_KS" "${pin[@]}" "$KHTTPD" $VETH_S $PORT >"$WORK/khttpd.out" 2>"$WORK/khttpd.err" &
  KPID=$!
  for _ in $(seq 50); do grep -q '^ready' "$WORK/khttpd.out" && break; kill -0 "$KPID" 2>/dev/null || break; sleep 0.1; done
  grep -q '^ready' "$WORK/khttpd.out" || { fail "utcp-kernel-httpd did not start: $(cat "$WORK/khttpd.err")"; exit 1; }
fi

# Both answer the same bytes (a fetch also fills ARP caches before the first run); for
# nginx the body (its headers carry the date).
hdr=(-D -); [ "$SERVER" = nginx ] && hdr=()
a=$(ip netns exec "$NS_U" timeout 10 curl -sS --max-time 5 "${hdr[@]}" http://$UTCP_IP$PATH_Q | tr -d '\r' | sha256sum || true)
b=$(ip netns exec "$NS_KC" timeout 10 curl -sS --max-time 5 "${hdr[@]}" http://$VETH_S$PATH_Q | tr -d '\r' | sha256sum || true)
[ "$a" = "$b" ] && [ "$a" != "$(printf '' | sha256sum)" ] || { fail "responses differ: utcp '$a' kernel '$b'"; exit 1; }
if [ "$SERVER" = nginx ]; then
  log "curl http://$UTCP_IP$PATH_Q from the kernel side: nginx under libutcp.so answered ($UTCP_IP is" \
      "on no kernel interface: utcp served it), the same bytes as nginx on the kernel"
else
  log "curl http://$UTCP_IP/ from the kernel side: utcpd's responder answered ($UTCP_IP is on no" \
      "kernel interface), the same bytes as the kernel twin"
fi
# The processes whose CPU counts as "server": the worker (and utcpd) for nginx.
if [ "$SERVER" = nginx ]; then
  A_PIDS="$UPID $(nginx_worker "$NPID")"
  B_PIDS=$(nginx_worker "$KPID")
else
  A_PIDS=$UPID
  B_PIDS=$KPID
fi

# --- Measurement helpers. Ticks are 1/CLK_TCK s (/proc/PID/stat utime+stime: all threads).
HZ_TICK=$(getconf CLK_TCK)
proc_ticks() {  # PIDS...: utime stime summed
  local p
  for p in "$@"; do cat "/proc/$p/stat"; done | awk '{u += $14; s += $15} END {print u + 0, s + 0}'
}
# softirq and busy (all but idle+iowait) ticks of the whole machine.
machine_ticks() { awk '$1 == "cpu" {print $8, $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
tcp_retrans() { ip netns exec "$1" nstat -asz TcpRetransSegs | awk '$1 == "TcpRetransSegs" {print $2 + 0; f=1} END {if (!f) print 0}'; }
to_us() {  # wrk's 635.00us / 2.66ms / 1.02s -> microseconds
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) m = 1; else if (v ~ /ms$/) m = 1000;
                         else if (v ~ /s$/) m = 1000000; else m = 1; printf "%.1f", n * m }'
}
utcpd_count() { ENGINE="" utcpd_counter "$UOUT" "$1"; }

RUNS=$WORK/runs.tsv
# Frames the kernel dropped on the client side of the wire (utcp0: mostly a full tap
# queue that utcpd did not read in time; abk-c: veth), both directions.
wire_drops() {
  ip netns exec "$1" sh -c "cat /sys/class/net/$2/statistics/rx_dropped /sys/class/net/$2/statistics/tx_dropped" |
    awk '{s += $1} END {print s + 0}'
}
# losses SIDE NS: TCP retransmissions so far of the server (utcpd's counter, from its
# last snapshot, or the kernel server namespace's TcpRetransSegs), of the client NS,
# and the wire's drops.
losses() {
  local s dev=abk-c
  if [ "$1" = utcp ]; then s=$(utcpd_count tcp_retransmits); dev=utcp0; else s=$(tcp_retrans "$NS_KS"); fi
  echo "$s $(tcp_retrans "$2") $(wire_drops "$2" "$dev")"
}

# run_one SIDE PAIR NS URL SERVER_PID: one wrk run, one line in $RUNS, one progress line.
run_one() {
  local side=$1 pair=$2 ns=$3 url=$4 spid=$5 out=$WORK/wrk.$1.$2
  local rs0 rc0 rs1 rc1 wd0 wd1 ut0 st0 ut1 st1 sq0 sq1 busy0 busy1 u0=0 served=- TIMEFORMAT='%3U %3S %3R'
  read -r rs0 rc0 wd0 <<<"$(losses "$side" "$ns")"
  [ "$side" = utcp ] && [ "$SERVER" = responder ] && u0=$(utcpd_count svc_http_requests)
  read -r ut0 st0 <<<"$(proc_ticks $spid)"; read -r sq0 busy0 <<<"$(machine_ticks)"
  # wrk's own CPU and the window's wall time come from bash's time (rusage of children).
  { time ip netns exec "$ns" timeout $((DURATION + 30)) \
      wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency "$url" >"$out" 2>"$out.err"; } 2>"$out.time" \
    || fail "$side run $pair: wrk failed: $(tail -2 "$out.err")"
  read -r ut1 st1 <<<"$(proc_ticks $spid)"; read -r sq1 busy1 <<<"$(machine_ticks)"
  if [ "$side" = utcp ] && [ "$SERVER" = responder ]; then
    utcpd_snapshot "$UOUT" || true  # after the window: printing counters costs utcpd CPU
    served=$(( $(utcpd_count svc_http_requests) - u0 ))
  fi
  read -r rs1 rc1 wd1 <<<"$(losses "$side" "$ns")"
  local reqs rps p50 p99 sockerr non2xx wrk_us wall_us
  reqs=$(awk '/requests in/ {print $1}' "$out")
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
  [ -n "$reqs" ] && [ -n "$rps" ] && [ "$reqs" -gt 0 ] \
    || { fail "$side run $pair: no wrk result: $(head -c 300 "$out")"; return 0; }
  p50=$(to_us "$(awk '$1 == "50%" {print $2}' "$out")")
  p99=$(to_us "$(awk '$1 == "99%" {print $2}' "$out")")
  sockerr=$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10; f=1} END {if (!f) print 0}' "$out")
  non2xx=$(awk '/Non-2xx/ {print $NF; f=1} END {if (!f) print 0}' "$out")
  wrk_us=$(awk '{printf "%.0f", ($1 + $2) * 1000000}' "$out.time")
  wall_us=$(awk '{printf "%.0f", $3 * 1000000}' "$out.time")
  local t=$((1000000 / HZ_TICK))
  local fields=("$side" "$pair" "$wall_us" "$rps" "$reqs" "$p50" "$p99"
                $(((ut1 - ut0) * t)) $(((st1 - st0) * t)) $(((sq1 - sq0) * t)) "$wrk_us" $(((busy1 - busy0) * t)) "$sockerr" "$non2xx" $((rs1 - rs0)) $((rc1 - rc0))
                $((wd1 - wd0)) "$served")
  (IFS=$'\t'; echo "${fields[*]}") >>"$RUNS"  # columns: COLS in bench/ab_report.py
  tail -1 "$RUNS" | awk -F'\t' -v cpus="$(nproc)" '{
    n = $5; printf "[http_ab] pair %s %-6s %6.0f req/s  p50 %5.0f us  p99 %6.0f us  server %5.2f us/req (user %4.2f sys %5.2f softirq %4.2f)  wrk %5.2f us/req  busy %3.0f%%  errors %d+%d  retrans s/c %d/%d  drops %d  served %s\n",
      $2, $1, $4, $6, $7, ($8 + $9 + $10) / n, $8 / n, $9 / n, $10 / n, $11 / n, 100 * $12 / ($3 * cpus), $13, $14, $15, $16, $17, $18 }'
}

# Warm-up (not recorded): page in, fill caches, let both servers see a full load once.
log "server CPU counted: utcp side pids $A_PIDS, kernel side pids $B_PIDS (utcpd's engine on cpu $ENGINE_CPU)"
log "warm-up 1 s each; then $PAIRS pairs of ${DURATION}s runs: wrk -t$THREADS -c$CONNS --latency"
ip netns exec "$NS_U" timeout 20 wrk -t"$THREADS" -c"$CONNS" -d1s http://$UTCP_IP$PATH_Q >/dev/null 2>&1 || true
ip netns exec "$NS_KC" timeout 20 wrk -t"$THREADS" -c"$CONNS" -d1s http://$VETH_S$PATH_Q >/dev/null 2>&1 || true
utcpd_snapshot "$UOUT" || true
: >"$RUNS"
for p in $(seq "$PAIRS"); do
  # Alternate which side goes first so a drift in background load hits both alike.
  if [ $((p % 2)) = 1 ]; then order="utcp kernel"; else order="kernel utcp"; fi
  for side in $order; do
    if [ "$side" = utcp ]; then run_one utcp "$p" "$NS_U" "http://$UTCP_IP$PATH_Q" "$A_PIDS"
    else run_one kernel "$p" "$NS_KC" "http://$VETH_S$PATH_Q" "$B_PIDS"; fi
    kill -0 "$UPID" 2>/dev/null || { fail "utcpd died"; exit 1; }
    kill -0 "$KPID" 2>/dev/null || { fail "the kernel server died"; exit 1; }
  done
done

# --- Stop both (their exit counters land in the work dir), then summarize.
if [ -n "$NPID" ]; then stop_one "nginx (utcp)" "$NPID"; NPID=""; fi
stop_one utcpd "$UPID"; UPID=""
stop_one "kernel server" "$KPID"; KPID=""
[ -s "$WORK/khttpd.out" ] || echo "(nginx)" >"$WORK/khttpd.out"
mkdir -p "$OUTDIR"
{
  echo "utcpd_exit_counters"
  # utcpd's last snapshot (printed at exit), every counter of every engine.
  awk '/^engine 0 frames_in / {n = NR} {l[NR] = $0}
       END {for (i = n; i <= NR; i++) if (l[i] ~ /^engine /) print l[i]}' "$UOUT"
  echo "kernel_httpd_exit_counters"; cat "$WORK/khttpd.out"
} >"$WORK/exit_counters"
DATE=$DATE THREADS=$THREADS CONNS=$CONNS DURATION=$DURATION PAIRS=$PAIRS BUILD=$BUILD PIN=$PIN \
ENGINE_CPU=$ENGINE_CPU CPUS=$(nproc) \
UTCP_DESC="$([ "$SERVER" = nginx ] && echo "nginx (1 worker, $PATH_Q) under LD_PRELOAD=libutcp.so on utcpd --dev net_tap0" || echo "utcpd --dev net_tap0,iface=utcp0 --http $PORT") at $UTCP_IP (kernel client on utcp0 $KERNEL_IP)" \
KERNEL_DESC="$([ "$SERVER" = nginx ] && echo "the same nginx" || echo "utcp-kernel-httpd") at $VETH_S:$PORT in its netns, veth to the client at $VETH_C" \
  python3 "$SRC/bench/ab_report.py" "$RUNS" "$WORK/exit_counters" "$OUTDIR/http_tap"
log "wrote $OUTDIR/http_tap.json and http_tap.md"
[ "$FAILED" = 0 ] || log "there were failures (see above)"
exit "$FAILED"
