# Helpers shared by the integration tests (sourced, not run). Rules they serve:
# TESTBED.md — every process stopped by its pid, every wait bounded.
# The sourcing script defines fail() and the PID variable of the process it started.

# utcpd's control socket is root:utcp by default and utcpd refuses to start without the
# group: create it as scripts/install-deps.sh does (the tests run as root).
getent group utcp >/dev/null || groupadd --system utcp

# stop_pid NAME SIGNAL: sends SIGNAL to $PID, waits up to 10 s, escalates to SIGKILL,
# and reports a non-zero exit status through fail().
stop_pid() {
  [ -n "$PID" ] || return 0
  kill -"$2" "$PID" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$PID" 2>/dev/null; then
    fail "$1 (pid $PID) ignored SIG$2 for 10 s"
    kill -KILL "$PID" 2>/dev/null || true
  fi
  local rc=0
  wait "$PID" 2>/dev/null || rc=$?
  [ "$rc" = 0 ] || fail "$1 (pid $PID) exited with status $rc"
  PID=""
}

# kill_wait PID: SIGTERM, up to 5 s, then SIGKILL; reaps it. For helpers (peers,
# programs) whose exit status does not matter; by pid only.
kill_wait() {  # PID: SIGTERM, bounded wait, SIGKILL; by pid only
  [ -n "$1" ] || return 0
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# start_utcpd_tap NS PREFIX OUTDIR [utcpd flags...]: runs utcpd (from $UTCPD) in netns NS
# on a net_tap wire with the kernel side "utcp0" at $KERNEL_IP/24 and utcp at
# $UTCP_IP/24, stdout/stderr in OUTDIR/utcpd.out and .err. Sets PID. Waits up to 15 s
# for "ready"; returns 1 (after fail) if utcpd did not come up.
start_utcpd_tap() {
  local ns=$1 prefix=$2 dir=$3
  shift 3
  ip netns exec "$ns" "$UTCPD" --dev net_tap0,iface=utcp0 --ip "$UTCP_IP/24" \
    --file-prefix "$prefix" "$@" >"$dir/utcpd.out" 2>"$dir/utcpd.err" &
  PID=$!
  for _ in $(seq 150); do
    if grep -q '^ready' "$dir/utcpd.out" 2>/dev/null && ip -n "$ns" link show utcp0 >/dev/null 2>&1; then break; fi
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  if ! grep -q '^ready' "$dir/utcpd.out"; then
    fail "utcpd did not start: $(tail -5 "$dir/utcpd.err")"
    return 1
  fi
  ip -n "$ns" addr add "$KERNEL_IP/24" dev utcp0
  ip -n "$ns" link set utcp0 up
  if ip -n "$ns" addr | grep -q "$UTCP_IP"; then
    fail "$UTCP_IP is on a kernel interface"
    return 1
  fi
}

# utcpd_counter OUT NAME: the sum over engines of counter NAME in the last snapshot
# utcpd printed to OUT (SIGUSR1 or exit); ENGINE restricts it to one engine.
utcpd_counter() {
  awk -v n="$2" -v e="${ENGINE:-}" '
    $1 == "engine" && $3 == n && (e == "" || $2 == e) { v[$2] = $4 }  # later lines win
    END { s = 0; for (k in v) s += v[k]; print s }' "$1"
}

# utcpd_snapshot OUT: SIGUSR1 to $PID and wait (bounded) until a new snapshot is in OUT.
utcpd_snapshot() {
  local before
  before=$(grep -c '^engine 0 frames_in' "$1" || true)
  kill -USR1 "$PID"
  for _ in $(seq 50); do
    [ "$(grep -c '^engine 0 frames_in' "$1" || true)" -gt "$before" ] && { sleep 0.2; return 0; }
    sleep 0.1
  done
  fail "no counter snapshot after SIGUSR1"
  return 1
}

# utcp_gauge NAME: the total over engines of one of utcpd's counters now, by
# `utcp stat --json` ($UTCP and $CONTROL set by the caller).
# Debian's python (PATH's may be a pyenv shim that takes seconds to start when loaded).
utcp_gauge() {
  "$UTCP" stat -a --json --control "$CONTROL" |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["total"].get(sys.argv[1], 0))' "$1"
}

# utcp_live_state: the gauges that must return to their baseline once connections end:
# connections in every state but TIME-WAIT (its 2 MSL is expected after an active
# close), the apps' open sockets, and the frames utcpd holds. One `utcp stat`.
utcp_live_state() {
  "$UTCP" stat -a --json --control "$CONTROL" | /usr/bin/python3 -c '
import json, sys
t = json.load(sys.stdin)["total"]
busy = sum(t.get("conn_" + n, 0) for n in ("listen", "syn_sent", "syn_received", "established",
           "fin_wait1", "fin_wait2", "close_wait", "closing", "last_ack"))
print("connections=%d open_slots=%d buffers_held=%d" % (busy, t.get("shim_open_slots", 0),
                                                        t.get("buffers_held", 0)))'
}

# proc_ticks PID: utime+stime (clock ticks) of a process, from /proc/PID/stat (fields 14
# and 15, counted after the ")" that ends the command name).
proc_ticks() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $12 + $13}'; }

# proc_switches PID: voluntary + involuntary context switches of all its threads.
proc_switches() {
  cat /proc/"$1"/task/*/status 2>/dev/null |
    awk '/^(voluntary|nonvoluntary)_ctxt_switches/ { s += $2 } END { print s + 0 }'
}
