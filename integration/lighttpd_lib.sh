# lighttpd under libutcp.so for the integration tests (sourced). The sourcing script sets
# WORK, NS, UTCP_IP, PORT, LIB, LIGHTTPD="" and KIDS="" and fail(); utcpd is already
# running with --control $WORK/utcpd.sock. Rules: TESTBED.md (stopped by pid, bounded).
#
# Two lighttpd habits shape these helpers:
# - With server.max-worker the master stops its workers with kill(0, SIGTERM), i.e. its
#   whole process group: in a script without job control that group is the script's
#   own. lighttpd therefore runs under setsid (it execs in place: not a group leader),
#   so its pid is still $! and its signals stay inside its own session.
# - The master returns right after that kill(0): it does not wait for its workers, so
#   stop_lighttpd waits for the workers it recorded (KIDS) as well.

lighttpd_conf() {  # MAX_WORKER (0: lighttpd's default, one process that serves)
  # server.network-backend is left at its default: sendfile(2) for file chunks (the
  # 1 MiB file); lighttpd reads a small file (1 KiB) into the header buffer and writes
  # both with one writev.
  cat <<CONF
server.document-root = "$WORK/www"
server.port = $PORT
server.errorlog = "$WORK/error.log"
server.pid-file = "$WORK/lighttpd.pid"
server.max-worker = $1
mimetype.assign = ( ".bin" => "application/octet-stream" )
CONF
}

start_lighttpd() {  # MAX_WORKER
  lighttpd_conf "$1" >"$WORK/lighttpd.conf"
  ip netns exec "$NS" setsid env UTCP_CONTROL="$WORK/utcpd.sock" LD_PRELOAD="$LIB" \
    "$(command -v lighttpd)" -D -f "$WORK/lighttpd.conf" >"$WORK/lighttpd.out" 2>&1 &
  LIGHTTPD=$!
  # Up once it answers through utcp and all its workers are there (they are forked
  # after the listener is open, so the first answer can come before the last fork).
  for _ in $(seq 100); do
    KIDS=$(lighttpd_workers)
    [ "$(lighttpd_probe)" = 200 ] && [ "$(wc -w <<<"$KIDS")" = "$1" ] && return 0
    kill -0 "$LIGHTTPD" 2>/dev/null || break
    sleep 0.1
  done
  fail "lighttpd (max-worker $1) not up in 10 s: probe '$(lighttpd_probe)', $(wc -w <<<"$KIDS") workers," \
    "log: $(tail -3 "$WORK/error.log" "$WORK/lighttpd.out" 2>/dev/null)"
  return 1
}

# The HTTP status of one request to the server through utcp.
lighttpd_probe() { ns curl -s -m 1 -o /dev/null -w '%{http_code}' "http://$UTCP_IP:$PORT/1k.bin"; }

# The master's children, one pid a line (none without server.max-worker).
lighttpd_workers() { ps -o pid= --ppid "$LIGHTTPD" | tr -d ' ' | sort; }

# alive PID: exists and is not a zombie (orphaned workers are reaped by pid 1, whenever).
alive() { local s; s=$(ps -o stat= -p "$1" 2>/dev/null) && [ -n "$s" ] && [ "${s#Z}" = "$s" ]; }

# stop_lighttpd: SIGTERM to the master (it passes it on to its workers), up to 10 s for
# the master and then for each recorded worker, SIGKILL and FAIL past that; the master
# must exit with status 0.
stop_lighttpd() {
  [ -n "$LIGHTTPD" ] || return 0
  local rc=0 w
  kill -TERM "$LIGHTTPD" 2>/dev/null
  for _ in $(seq 100); do kill -0 "$LIGHTTPD" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$LIGHTTPD" 2>/dev/null; then
    fail "lighttpd (pid $LIGHTTPD) ignored SIGTERM for 10 s"
    kill -KILL "$LIGHTTPD" 2>/dev/null
  fi
  wait "$LIGHTTPD" 2>/dev/null || rc=$?
  [ "$rc" = 0 ] || fail "lighttpd (pid $LIGHTTPD) exited with status $rc"
  for w in $KIDS; do
    for _ in $(seq 100); do alive "$w" || break; sleep 0.1; done
    if alive "$w"; then
      fail "lighttpd worker $w still running 10 s after its master exited"
      kill -KILL "$w" 2>/dev/null
    fi
  done
  LIGHTTPD=""
  KIDS=""
}

ns() { timeout 60 ip netns exec "$NS" "$@"; }
