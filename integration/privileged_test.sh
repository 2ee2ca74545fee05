#!/usr/bin/env bash
# Issue 15 items 1 and 2 (docs/security.md, "What utcpd checks"): utcpd judges a
# program by the credentials the kernel gives it, at the operation, as Linux does.
# integration/privileged/privileged.c (built here with gcc, warnings are errors) runs
# under libutcp.so against utcpd (two engines, tap wire) as root, as an unprivileged
# user (65534, no capabilities) and as that user with only CAP_NET_BIND_SERVICE
# (setpriv, ambient), and makes each call on a utcp socket and on a kernel socket
# (127.0.0.1) in the same run; both answers must be the same and the expected one:
#   - bind to utcp:80: EACCES unprivileged and as "root" of a user namespace of its own
#     (unshare -U -r), OK with CAP_NET_BIND_SERVICE and as root;
#   - a root SO_REUSEPORT listener on :8080: the unprivileged process's SO_REUSEPORT
#     bind gets EADDRINUSE, the same program as root joins the group;
#   - a root process binds :81, setuid()s, listens on :81 (OK: Linux judges the bind)
#     and binds :82: EACCES (judged at the operation); :81 serves a kernel client;
#   - nginx (listen 80 reuseport, 2 workers): the master binds as root, the workers
#     run as nobody and serve;
#   - SO_MARK, SO_DEBUG, SO_PRIORITY 7, IP_TRANSPARENT: the kernel's errno and value;
#     TCP_MD5SIG: ENOPROTOOPT on a utcp socket, and a bind to the utcp address after
#     the kernel took it fails with ENOPROTOOPT (utcp cannot sign).
# The unprivileged user gets the control socket's group when the socket has one
# (root:utcp 0660). Rules: TESTBED.md.
set -uo pipefail

SRC=${UTCP_SOURCE:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${UTCP_BUILD:-$SRC/build/release}
UTCPD=$BUILD/daemon/utcpd
LIB=$BUILD/preload/libutcp.so
NS=utcp-priv-$$
KERNEL_IP=198.18.15.1
UTCP_IP=198.18.15.2
WORK=$(mktemp -d /tmp/utcp-priv-test.XXXXXX)
PID=""      # utcpd (lib.sh's stop_pid stops $PID)
GROUP=""    # the root SO_REUSEPORT listener
PROG=""     # the setuid program
BG=""       # the last program start_root started
FAILED=0
log() { echo "[privileged] $*"; }
fail() { echo "[privileged] FAIL: $*" >&2; FAILED=1; }
source "$SRC/integration/lib.sh"
PORT=80 LISTEN_OPTS=" reuseport" NGINX=""
source "$SRC/integration/nginx_lib.sh"

cleanup() {
  stop_nginx
  kill_wait "$PROG"
  kill_wait "$GROUP"
  stop_pid utcpd TERM
  ip netns del "$NS" 2>/dev/null
  [ "$FAILED" = 0 ] && rm -rf "$WORK" || echo "[privileged] outputs kept in $WORK" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { echo "[privileged] FAIL: needs root" >&2; exit 1; }
for tool in gcc ip timeout setpriv stat nginx curl; do
  command -v "$tool" >/dev/null || { echo "[privileged] FAIL: $tool not installed" >&2; exit 1; }
done
[ -x "$UTCPD" ] && [ -f "$LIB" ] || { echo "[privileged] FAIL: build utcpd and libutcp.so first ($BUILD)" >&2; exit 1; }
# Copies, readable by the unprivileged user (mktemp made the directory 0700).
chmod 755 "$WORK"
cp "$UTCPD" "$WORK/utcpd" && cp "$LIB" "$WORK/libutcp.so" && chmod 755 "$WORK/libutcp.so" || { FAILED=1; exit 1; }
UTCPD=$WORK/utcpd
LIB=$WORK/libutcp.so
gcc -std=gnu11 -Wall -Wextra -Werror -O2 -o "$WORK/privileged" \
  "$SRC/integration/privileged/privileged.c" || { FAILED=1; exit 1; }

ip netns add "$NS"
ip -n "$NS" link set lo up
start_utcpd_tap "$NS" "priv-$$" "$WORK" --control "$WORK/utcpd.sock" --cores 0,1 || exit 1
OUT=$WORK/utcpd.out
log "ip_unprivileged_port_start in the namespace: $(ip netns exec "$NS" cat /proc/sys/net/ipv4/ip_unprivileged_port_start)"

# Who runs the program: root, the unprivileged user, the user with CAP_NET_BIND_SERVICE.
SOCK_GID=$(stat -c %g "$WORK/utcpd.sock")
SOCK_MODE=$(stat -c %a "$WORK/utcpd.sock")
if [ "$SOCK_GID" != 0 ] && [ $(( 0$SOCK_MODE & 06 )) != 6 ]; then
  USER_GROUPS=(--groups "$SOCK_GID")
else
  USER_GROUPS=(--clear-groups)
fi
log "control socket mode $SOCK_MODE group $SOCK_GID: unprivileged runs with ${USER_GROUPS[*]}"
NOBODY=(setpriv --reuid=65534 --regid=65534 "${USER_GROUPS[@]}" --inh-caps=-all --bounding-set=-all)
CAPBIND=(setpriv --reuid=65534 --regid=65534 "${USER_GROUPS[@]}" --inh-caps=-all,+net_bind_service
         --ambient-caps=+net_bind_service --bounding-set=-all,+net_bind_service)
ROOT=()
USERNS=(unshare --user --map-root-user)  # "root" of a user namespace of its own

run() {  # NAME ARGS...: runs the program as ${NAME} under libutcp.so; output in $WORK/NAME.out
  local who=$1 tag=$2
  shift 2
  local -n as=$who
  ip netns exec "$NS" timeout -k 5 30 "${as[@]}" env "UTCP_CONTROL=$WORK/utcpd.sock" "LD_PRELOAD=$LIB" \
    "$WORK/privileged" "$@" >"$WORK/$tag.out" 2>"$WORK/$tag.err"
  local rc=$?
  sed "s/^/    $tag: /" "$WORK/$tag.out"
  [ -s "$WORK/$tag.err" ] && sed "s/^/    $tag stderr: /" "$WORK/$tag.err" >&2
  [ "$rc" = 0 ] || fail "$tag: exit status $rc"
}
start_root() {  # TAG LINE ARGS...: the program as root in the background (pid in BG),
  # waited for up to 10 s until it prints LINE
  local tag=$1 line=$2
  shift 2
  ip netns exec "$NS" timeout -k 5 60 env "UTCP_CONTROL=$WORK/utcpd.sock" "LD_PRELOAD=$LIB" \
    "$WORK/privileged" "$@" >"$WORK/$tag.out" 2>"$WORK/$tag.err" &
  BG=$!
  for _ in $(seq 100); do
    grep -q "^$line" "$WORK/$tag.out" 2>/dev/null && break
    kill -0 "$BG" 2>/dev/null || break
    sleep 0.1
  done
}
expect() {  # TAG LINE: the program's output must hold LINE
  grep -qxF "$2" "$WORK/$1.out" && log "ok: $1: $2" || fail "$1: expected '$2'"
}

utcpd_snapshot "$OUT"
commands0=$(utcpd_counter "$OUT" shim_commands)
refused0=$(utcpd_counter "$OUT" shim_binds_refused)

# --- 1. a port below ip_unprivileged_port_start ---
run NOBODY bind-nobody bind "$UTCP_IP" 80
expect bind-nobody "bind utcp=EACCES kernel=EACCES"
run CAPBIND bind-cap bind "$UTCP_IP" 80
expect bind-cap "bind utcp=OK kernel=OK"
run ROOT bind-root bind "$UTCP_IP" 80
expect bind-root "bind utcp=OK kernel=OK"
run USERNS bind-userns bind "$UTCP_IP" 80
expect bind-userns "bind utcp=EACCES kernel=EACCES"

# --- 2. a SO_REUSEPORT group belongs to its uid ---
start_root group listening group "$UTCP_IP" 8080 "$WORK/stop-group"
GROUP=$BG
grep -q '^listening uid=0' "$WORK/group.out" || fail "the root group did not start: $(cat "$WORK/group.err")"
run NOBODY join-nobody join "$UTCP_IP" 8080
expect join-nobody "reuseport-bind utcp=EADDRINUSE kernel=EADDRINUSE"
run CAPBIND join-cap join "$UTCP_IP" 8080
expect join-cap "reuseport-bind utcp=EADDRINUSE kernel=EADDRINUSE"
run ROOT join-root join "$UTCP_IP" 8080
expect join-root "reuseport-bind utcp=OK kernel=OK"
expect join-root "reuseport-listen utcp=OK kernel=OK"
touch "$WORK/stop-group"
kill_wait "$GROUP"
GROUP=""

# --- 3. setuid() between two binds: judged at the operation; the first socket serves ---
start_root setuid serving setuid "$UTCP_IP" 81 82
PROG=$BG
answer=$(ip netns exec "$NS" timeout 10 bash -c "exec 3<>/dev/tcp/$UTCP_IP/81 && head -1 <&3" 2>&1)
rc=0
wait "$PROG" || rc=$?
PROG=""
sed 's/^/    setuid: /' "$WORK/setuid.out"
[ "$rc" = 0 ] || fail "setuid: exit status $rc: $(cat "$WORK/setuid.err")"
expect setuid "uid=65534 euid=65534"
expect setuid "listen-after-setuid utcp=OK kernel=OK"
expect setuid "bind-after-setuid utcp=EACCES kernel=EACCES"
[ "$answer" = "served-after-setuid" ] && log "ok: setuid: the listener bound as root served a kernel client: $answer" ||
  fail "setuid: the client read '$answer'"

# --- 4. privileged options: the kernel's errno and value, for root and for the user ---
run ROOT options-root options "$UTCP_IP" 9000
run NOBODY options-nobody options "$UTCP_IP" 9001
for who in root nobody; do
  while read -r what u k; do
    [ "${u#utcp=}" = "${k#kernel=}" ] || fail "options-$who: $what: $u but $k"
  done < <(grep -v -e '^get ' -e '^TCP_MD5SIG' "$WORK/options-$who.out")
  while read -r _ what u k; do
    case "$u$k" in *OK*OK*) [ "${u#utcp=}" = "${k#kernel=}" ] || fail "options-$who: get $what: $u but $k";; esac
  done < <(grep '^get ' "$WORK/options-$who.out")
done
for o in SO_MARK SO_DEBUG SO_PRIORITY=7 SO_PRIORITY=6 IP_TRANSPARENT; do
  expect options-root "$o utcp=OK kernel=OK"
done
expect options-nobody "SO_MARK utcp=EPERM kernel=EPERM"
expect options-nobody "SO_DEBUG utcp=EACCES kernel=EACCES"
expect options-nobody "SO_PRIORITY=7 utcp=EPERM kernel=EPERM"
expect options-nobody "SO_PRIORITY=6 utcp=OK kernel=OK"
expect options-nobody "IP_TRANSPARENT utcp=EPERM kernel=EPERM"
# TCP_MD5SIG: unsupported, and never silently dropped (docs/security.md).
for who in root nobody; do
  expect options-$who "TCP_MD5SIG utcp=ENOPROTOOPT kernel=OK"
  expect options-$who "TCP_MD5SIG-then-bind utcp=ENOPROTOOPT kernel=OK"
done

# --- 5. nginx as people run it: the master binds :80 (reuseport) as root, its workers
# (nobody) accept on the sockets they inherited ---
mkdir -p "$WORK/www"
head -c 1024 /dev/urandom >"$WORK/www/1k.bin"
chmod 644 "$WORK/www/1k.bin"
if start_nginx 2; then
  code=$(nginx_probe)
  worker_users=$(ps -o user= --ppid "$NGINX" | sort -u | tr '\n' ' ')
  log "nginx on $UTCP_IP:$PORT (reuseport, 2 workers as: $worker_users): HTTP $code"
  [ "$code" = 200 ] && [ "$worker_users" = "nobody " ] && log "ok: nginx: master bound :80 as root, workers as nobody serve" ||
    fail "nginx: HTTP '$code', workers run as '$worker_users'"
  stop_nginx
fi

# The utcp sockets went through utcpd, which refused the three low binds itself.
utcpd_snapshot "$OUT"
commands=$(( $(utcpd_counter "$OUT" shim_commands) - commands0 ))
refused=$(( $(utcpd_counter "$OUT" shim_binds_refused) - refused0 ))
log "utcpd: +$commands shim commands, +$refused binds refused (EACCES)"
[ "$commands" -gt 20 ] || fail "utcpd saw only $commands commands: the sockets did not go through utcp"
[ "$refused" = 3 ] || fail "utcpd refused $refused binds, not 3 (the unprivileged and the user namespace's :80, the :82 after setuid)"

[ "$FAILED" = 0 ] && log PASS
exit "$FAILED"
