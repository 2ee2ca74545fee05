#!/usr/bin/env bash
# Who may attach (issue 15 item 3; docs/security.md): utcpd on a net_tap wire makes its
# control socket root:utcp 0660 in a directory root:utcp 0750. A user outside the group
# (nobody, no supplementary groups) running integration/attach_perm/probe.py under
# libutcp.so gets exactly one line on stderr, "utcp: permission denied on CONTROL: not
# in group utcp", and EACCES from connect, bind and listen (loopback stays the kernel's);
# with UTCP_FALLBACK=kernel no line and its TCP runs on the kernel; with the group it
# attaches and its connection goes through utcpd (tcp_active_opens moves). `utcp stat`
# says the same. --group and --mode are honoured (and the line names the socket's actual
# group); a bad --group and a missing default group are refused at start with one line.
# Rules: TESTBED.md (own netns, stop by pid, bounded waits, distinct --file-prefix).
set -euo pipefail

SRC=${UTCP_SOURCE:-$(cd "$(dirname "$0")/.." && pwd)}
# shellcheck source=integration/lib.sh
source "$SRC/integration/lib.sh"
BUILD=${UTCP_BUILD:-$SRC/build}
UTCPD=$BUILD/daemon/utcpd
NS=utcp-perm-$$
KERNEL_IP=198.18.0.1
UTCP_IP=198.18.0.2
PORT=8080
WORK=$(mktemp -d /tmp/utcp-perm.XXXXXX)
PID=""
SERVER=""
FAILED=0

log() { echo "[attach_perm] $*"; }
fail() { echo "[attach_perm] FAIL: $*" >&2; FAILED=1; }

cleanup() {
  kill_wait "$SERVER"
  stop_pid utcpd TERM
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { echo "[attach_perm] FAIL: needs root (netns, tap, setpriv)" >&2; exit 1; }
for bin in "$UTCPD" "$BUILD/tools/utcp" "$BUILD/preload/libutcp.so" /usr/bin/python3 setpriv unshare; do
  command -v "$bin" >/dev/null || [ -e "$bin" ] || { echo "[attach_perm] FAIL: no $bin" >&2; exit 1; }
done

# The unprivileged user reads the library, the tool and the probe from here.
chmod 755 "$WORK"
cp "$BUILD/preload/libutcp.so" "$BUILD/tools/utcp" "$SRC/integration/attach_perm/probe.py" "$WORK/"
chmod 755 "$WORK/libutcp.so" "$WORK/utcp"
chmod 644 "$WORK/probe.py"
UTCP_GID=$(getent group utcp | cut -d: -f3)
OTHER_GROUP=users  # --group's test: a group nobody is not in either
OTHER_GID=$(getent group "$OTHER_GROUP" | cut -d: -f3)
[ -n "$OTHER_GID" ] || { echo "[attach_perm] FAIL: no group $OTHER_GROUP" >&2; exit 1; }

# as_nobody GROUPS NAME [ENV...]: probe.py as uid/gid 65534 with supplementary GROUPS
# ("" for none) under libutcp.so on $CONTROL; stdout in NAME.out, stderr in NAME.err.
as_nobody() {
  local groups=$1 name=$2
  shift 2
  local drop=(--clear-groups)
  [ -z "$groups" ] || drop=(--groups "$groups")
  ip netns exec "$NS" timeout 30 setpriv --reuid=65534 --regid=65534 "${drop[@]}" \
    env LD_PRELOAD="$WORK/libutcp.so" UTCP_CONTROL="$CONTROL" "$@" \
    /usr/bin/python3 -I "$WORK/probe.py" "$KERNEL_IP" "$PORT" "$UTCP_IP" \
    >"$WORK/$name.out" 2>"$WORK/$name.err" || fail "$name: probe exited with $?"
}
# expect NAME LINE...: NAME.out holds exactly these lines.
expect() {
  local name=$1
  shift
  printf '%s\n' "$@" | diff - "$WORK/$name.out" >"$WORK/$name.diff" \
    || fail "$name: unexpected results: $(tr '\n' '|' <"$WORK/$name.diff")"
}
# expect_err NAME TEXT: NAME.err is exactly TEXT (one line) or, for "", empty.
expect_err() {
  if [ -z "$2" ]; then
    [ ! -s "$WORK/$1.err" ] || fail "$1: stderr not empty: $(cat "$WORK/$1.err")"
  else
    [ "$(cat "$WORK/$1.err")" = "$2" ] || fail "$1: stderr is '$(cat "$WORK/$1.err")', not '$2'"
  fi
}
active_opens() { utcpd_snapshot "$WORK/utcpd.out" && utcpd_counter "$WORK/utcpd.out" tcp_active_opens; }
# mode_of PATH: "owner:group octal-mode"
mode_of() { stat -c '%U:%G %a' "$1"; }
restart_utcpd() {  # CONTROL, then utcpd flags
  stop_pid utcpd TERM
  CONTROL=$1
  shift
  start_utcpd_tap "$NS" "utcp-perm-$$" "$WORK" --control "$CONTROL" "$@" || exit 1
}

# --- 1. Refused at start, one line each: a bad --group; the default group missing (a
# mount namespace whose /etc/group has no utcp).
ip netns add "$NS"
ip -n "$NS" link set lo up  # the kernel's own traffic (fallback, loopback) runs over it
rc=0
ip netns exec "$NS" "$UTCPD" --dev net_tap0,iface=utcp9 --ip "$UTCP_IP/24" --file-prefix "utcp-perm-bad-$$" \
  --control "$WORK/bad/utcpd.sock" --group utcp-no-such-group >"$WORK/bad.out" 2>"$WORK/bad.err" || rc=$?
[ "$rc" = 2 ] && [ "$(cat "$WORK/bad.err")" = "utcpd: bad --group 'utcp-no-such-group': no such group" ] \
  || fail "bad --group: status $rc, stderr '$(cat "$WORK/bad.err")'"
[ ! -e "$WORK/bad" ] || fail "bad --group: the control directory was made"
grep -v '^utcp:' /etc/group >"$WORK/group.nogroup"
rc=0
ip netns exec "$NS" unshare -m sh -c 'mount --bind "$1" /etc/group && shift && exec "$@"' sh \
  "$WORK/group.nogroup" "$UTCPD" --dev net_tap0,iface=utcp9 --ip "$UTCP_IP/24" \
  --file-prefix "utcp-perm-bad-$$" --control "$WORK/bad/utcpd.sock" >"$WORK/nogroup.out" 2>"$WORK/nogroup.err" || rc=$?
[ "$rc" = 1 ] && [ "$(wc -l <"$WORK/nogroup.err")" = 1 ] && grep -q "^utcpd: group utcp does not exist: .*--group NAME" "$WORK/nogroup.err" \
  || fail "no group utcp: status $rc, stderr '$(cat "$WORK/nogroup.err")'"
log "refused at start: $(cat "$WORK/bad.err") / $(cat "$WORK/nogroup.err")"

# --- 2. The defaults: root:utcp 0660, its new directory root:utcp 0750. A kernel server
# on the kernel side of the wire answers every connection with "hello".
CONTROL=$WORK/run/utcpd.sock
start_utcpd_tap "$NS" "utcp-perm-$$" "$WORK" --control "$CONTROL" || exit 1
grep -q "^control: $CONTROL (group utcp, mode 0660)$" "$WORK/utcpd.out" || fail "start-up line: $(grep control: "$WORK/utcpd.out")"
[ "$(mode_of "$CONTROL")" = "root:utcp 660" ] || fail "socket: $(mode_of "$CONTROL")"
[ "$(mode_of "$WORK/run")" = "root:utcp 750" ] || fail "its directory: $(mode_of "$WORK/run")"
ip netns exec "$NS" timeout 120 /usr/bin/python3 -c '
import socket, sys
s = socket.create_server((sys.argv[1], int(sys.argv[2])))
while True:
    c, _ = s.accept()
    c.sendall(b"hello\n")
    c.close()
' "$KERNEL_IP" "$PORT" >"$WORK/server.out" 2>&1 &
SERVER=$!
for _ in $(seq 50); do ip netns exec "$NS" ss -ltn | grep -q "$KERNEL_IP:$PORT" && break; sleep 0.1; done
log "control socket $(mode_of "$CONTROL"), directory $(mode_of "$WORK/run")"

# --- 3. Not in the group: one line, EACCES (13) from connect, bind, listen; loopback works.
opens0=$(active_opens)
as_nobody "" denied
expect denied "connect errno 13" "connect2 errno 13" "bind errno 13" "listen errno 13" "loopback ok "
expect_err denied "utcp: permission denied on $CONTROL: not in group utcp"
log "not in group utcp: $(cat "$WORK/denied.err")"

# --- 4. The same with UTCP_FALLBACK=kernel: no line, the kernel's (its own address is
# local; binding utcp's address is EADDRNOTAVAIL there).
as_nobody "" fallback UTCP_FALLBACK=kernel
expect fallback "connect ok $KERNEL_IP hello" "connect2 ok $KERNEL_IP hello" "bind errno 99" "listen ok " "loopback ok "
expect_err fallback ""
[ "$(active_opens)" = "$opens0" ] || fail "utcpd's tcp_active_opens moved without a member attached"

# --- 5. With the group: attaches, its connections go through utcp (from utcp's address).
as_nobody "$UTCP_GID" member
expect member "connect ok $UTCP_IP hello" "connect2 ok $UTCP_IP hello" "bind ok " "listen ok " "loopback ok "
expect_err member ""
opens=$(( $(active_opens) - opens0 ))
[ "$opens" = 2 ] || fail "utcpd's tcp_active_opens moved by $opens, not 2"
log "in group utcp: connections through utcp (tcp_active_opens +$opens)"

# --- 6. utcp stat: denied outside the group (status 1, one line), answers inside.
rc=0
ip netns exec "$NS" setpriv --reuid=65534 --regid=65534 --clear-groups "$WORK/utcp" stat --control "$CONTROL" \
  >/dev/null 2>"$WORK/stat.err" || rc=$?
[ "$rc" = 1 ] && [ "$(cat "$WORK/stat.err")" = "utcp stat: permission denied on $CONTROL: not in group utcp" ] \
  || fail "utcp stat outside the group: status $rc, '$(cat "$WORK/stat.err")'"
ip netns exec "$NS" setpriv --reuid=65534 --regid=65534 --groups "$UTCP_GID" "$WORK/utcp" ss -a --control "$CONTROL" \
  >"$WORK/ss.out" 2>&1 || fail "utcp ss in the group: $(cat "$WORK/ss.out")"

# --- 7. --group and --mode: the socket and its directory follow them; the line names
# the socket's actual group.
restart_utcpd "$WORK/run-users/utcpd.sock" --group "$OTHER_GROUP"
[ "$(mode_of "$CONTROL")" = "root:$OTHER_GROUP 660" ] || fail "--group: socket $(mode_of "$CONTROL")"
[ "$(mode_of "$WORK/run-users")" = "root:$OTHER_GROUP 750" ] || fail "--group: directory $(mode_of "$WORK/run-users")"
as_nobody "$UTCP_GID" other-denied
expect other-denied "connect errno 13" "connect2 errno 13" "bind errno 13" "listen errno 13" "loopback ok "
expect_err other-denied "utcp: permission denied on $CONTROL: not in group $OTHER_GROUP"
as_nobody "$OTHER_GID" other-member
expect other-member "connect ok $UTCP_IP hello" "connect2 ok $UTCP_IP hello" "bind ok " "listen ok " "loopback ok "
restart_utcpd "$WORK/run-open/utcpd.sock" --mode 0666
[ "$(mode_of "$CONTROL")" = "root:utcp 666" ] || fail "--mode 0666: socket $(mode_of "$CONTROL")"
[ "$(mode_of "$WORK/run-open")" = "root:utcp 755" ] || fail "--mode 0666: directory $(mode_of "$WORK/run-open")"
as_nobody "" open-anyone
expect open-anyone "connect ok $UTCP_IP hello" "connect2 ok $UTCP_IP hello" "bind ok " "listen ok " "loopback ok "
expect_err open-anyone ""
restart_utcpd "$WORK/run-closed/utcpd.sock" --mode 0600
[ "$(mode_of "$CONTROL")" = "root:utcp 600" ] || fail "--mode 0600: socket $(mode_of "$CONTROL")"
as_nobody "$UTCP_GID" closed-member
expect closed-member "connect errno 13" "connect2 errno 13" "bind errno 13" "listen errno 13" "loopback ok "
expect_err closed-member "utcp: permission denied on $CONTROL: cannot search $WORK/run-closed (mode 0700, group utcp)"
log "--group $OTHER_GROUP, --mode 0666 and 0600 honoured"

stop_pid utcpd TERM
[ "$FAILED" = 0 ] && log PASS || exit 1
