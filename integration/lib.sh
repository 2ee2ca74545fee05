# Helpers shared by the integration tests (sourced, not run). Rules they serve:
# TESTBED.md — every process stopped by its pid, every wait bounded.
# The sourcing script defines fail() and the PID variable of the process it started.

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
