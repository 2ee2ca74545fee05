#!/usr/bin/env bash
# Issue 14 (items 3 and 4): Debian's OpenSSH sshd, unmodified, under libutcp.so, with its
# defaults: it re-executes itself per connection (the new image calls closefrom(), i.e.
# close_range(2), before it touches the inherited socket), and its privilege-separated
# child chroots to /run/sshd, drops to the sshd user, sets RLIMIT_NOFILE 0,
# no_new_privs and a seccomp filter (OpenSSH's sandbox-seccomp-filter.c: read, write,
# poll... and no socket, connect, eventfd, fcntl or sched_yield) and then uses the
# inherited connection. The kernel-side ssh client runs a command, and scp copies a
# 20 MB random file up and down (SHA-256 equal); utcpd's counters show the connections
# and the bytes went through utcp. Rules: TESTBED.md (own netns, utcp's address on no
# kernel interface, every process stopped by its pid).
set -uo pipefail

SRC=${UTCP_SOURCE:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${UTCP_BUILD:-$SRC/build/release}
UTCPD=$BUILD/daemon/utcpd
LIB=$BUILD/preload/libutcp.so
NS=utcp-sshd-$$
KERNEL_IP=198.18.14.1
UTCP_IP=198.18.14.2
SIZE_MB=20
WORK=$(mktemp -d /tmp/utcp-sshd-test.XXXXXX)
PID=""     # utcpd (lib.sh's stop_pid stops $PID)
SSHD=""    # sshd's pid
FAILED=0
log() { echo "[sshd] $*"; }
fail() { echo "[sshd] FAIL: $*" >&2; FAILED=1; }
source "$SRC/integration/lib.sh"

cleanup() {
  kill_wait "$SSHD"
  stop_pid utcpd TERM
  ip netns del "$NS" 2>/dev/null
  [ "$FAILED" = 0 ] && rm -rf "$WORK" || echo "[sshd] outputs kept in $WORK" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { echo "[sshd] FAIL: needs root" >&2; exit 1; }
for tool in /usr/sbin/sshd ssh scp ssh-keygen ip timeout sha256sum; do
  command -v "$tool" >/dev/null || { echo "[sshd] FAIL: $tool not installed (openssh-server, openssh-client)" >&2; exit 1; }
done
[ -x "$UTCPD" ] && [ -f "$LIB" ] || { echo "[sshd] FAIL: build utcpd and libutcp.so first ($BUILD)" >&2; exit 1; }
id sshd >/dev/null 2>&1 || { echo "[sshd] FAIL: no 'sshd' user (openssh-server creates it)" >&2; exit 1; }
# Copies: a rebuild during the run cannot hand it a half-written library.
cp "$UTCPD" "$WORK/utcpd" && cp "$LIB" "$WORK/libutcp.so" || { FAILED=1; exit 1; }
UTCPD=$WORK/utcpd
LIB=$WORK/libutcp.so
# The privilege-separation directory sshd chroots into (Debian's service makes it).
mkdir -p /run/sshd && chmod 0755 /run/sshd

ssh-keygen -q -t ed25519 -N '' -f "$WORK/host_key" && ssh-keygen -q -t ed25519 -N '' -f "$WORK/id" ||
  { fail "ssh-keygen"; exit 1; }
cp "$WORK/id.pub" "$WORK/authorized_keys"
cat >"$WORK/sshd_config" <<CONF
ListenAddress $UTCP_IP:22
HostKey $WORK/host_key
PidFile $WORK/sshd.pid
AuthorizedKeysFile $WORK/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
LogLevel VERBOSE
CONF
# The configuration must parse (sshd -T); re-exec, privilege separation and the seccomp
# sandbox are sshd's defaults, and nothing here turns them off.
/usr/sbin/sshd -T -f "$WORK/sshd_config" >"$WORK/effective" 2>&1 || { fail "sshd -T: $(tail -3 "$WORK/effective")"; exit 1; }
head -c $((SIZE_MB << 20)) /dev/urandom >"$WORK/data.bin"

ip netns add "$NS"
ip -n "$NS" link set lo up
start_utcpd_tap "$NS" "sshd-$$" "$WORK" --control "$WORK/utcpd.sock" || exit 1
OUT=$WORK/utcpd.out
utcpd_snapshot "$OUT"
passive0=$(utcpd_counter "$OUT" tcp_passive_opens)
bytes_in0=$(utcpd_counter "$OUT" tcp_bytes_in)
bytes_out0=$(utcpd_counter "$OUT" tcp_bytes_out)

# -D: stay in the foreground (its pid is ours to stop), -e: log to stderr. sshd re-execs
# itself per connection by default (no -r): the path must be absolute.
ip netns exec "$NS" env "UTCP_CONTROL=$WORK/utcpd.sock" "LD_PRELOAD=$LIB" \
  /usr/sbin/sshd -D -e -f "$WORK/sshd_config" 2>"$WORK/sshd.err" &
SSHD=$!
for _ in $(seq 100); do
  grep -q 'Server listening on' "$WORK/sshd.err" 2>/dev/null && break
  kill -0 "$SSHD" 2>/dev/null || break
  sleep 0.1
done
grep -q "Server listening on $UTCP_IP" "$WORK/sshd.err" || { fail "sshd did not start: $(tail -5 "$WORK/sshd.err")"; exit 1; }
log "sshd (pid $SSHD) listening on $UTCP_IP:22 under libutcp.so"

SSH_OPTS=(-i "$WORK/id" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
          -o BatchMode=yes -o ConnectTimeout=10 -o LogLevel=ERROR)
run() {  # NAME SECONDS CMD...: runs CMD in the namespace (kernel side), bounded
  local name=$1 secs=$2 t0 rc=0
  shift 2
  t0=$(date +%s%N)
  ip netns exec "$NS" timeout -k 5 "$secs" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || rc=$?
  log "$name: exit $rc in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
  [ "$rc" = 0 ] || fail "$name exited with status $rc$([ "$rc" = 124 ] && echo ' (timeout)'): $(tail -3 "$WORK/$name.err")"
  return "$rc"
}

run ssh_echo 60 ssh "${SSH_OPTS[@]}" "root@$UTCP_IP" echo hello &&
  { [ "$(cat "$WORK/ssh_echo.out")" = hello ] || fail "ssh echo printed '$(head -c 200 "$WORK/ssh_echo.out")', not 'hello'"; }
run scp_up 120 scp -q "${SSH_OPTS[@]}" "$WORK/data.bin" "root@$UTCP_IP:$WORK/up.bin"
run scp_down 120 scp -q "${SSH_OPTS[@]}" "root@$UTCP_IP:$WORK/up.bin" "$WORK/down.bin"
want=$(sha256sum <"$WORK/data.bin" | cut -d' ' -f1)
same=0
for f in up.bin down.bin; do
  got=$( [ -f "$WORK/$f" ] && sha256sum <"$WORK/$f" | cut -d' ' -f1)
  if [ "$got" = "$want" ]; then same=$((same + 1)); else fail "$f: SHA-256 ${got:-missing} differs from the source's $want"; fi
done
[ "$same" = 2 ] && log "scp: $SIZE_MB MB up and down, SHA-256 $want on both"

utcpd_snapshot "$OUT"
passive=$(( $(utcpd_counter "$OUT" tcp_passive_opens) - passive0 ))
bytes_in=$(( $(utcpd_counter "$OUT" tcp_bytes_in) - bytes_in0 ))
bytes_out=$(( $(utcpd_counter "$OUT" tcp_bytes_out) - bytes_out0 ))
log "utcpd: passive opens +$passive, tcp bytes in +$bytes_in, out +$bytes_out"
[ "$passive" -ge 3 ] || fail "utcpd accepted $passive connections, expected 3: sshd's traffic did not go through utcp"
[ "$bytes_in" -ge $((SIZE_MB << 20)) ] || fail "utcpd received $bytes_in TCP bytes, less than the upload"
[ "$bytes_out" -ge $((SIZE_MB << 20)) ] || fail "utcpd sent $bytes_out TCP bytes, less than the download"
accepted=$(grep -c 'Accepted publickey for root' "$WORK/sshd.err")
[ "$accepted" = 3 ] || fail "sshd logged $accepted public-key logins, expected 3"
if grep -q 'libutcp:' "$WORK/sshd.err"; then
  fail "libutcp complained: $(grep -m3 'libutcp:' "$WORK/sshd.err")"
fi

[ "$FAILED" = 0 ] && log PASS
exit "$FAILED"
