#!/usr/bin/env bash
# The socket-API differential test (issue 4's backbone): integration/socket_api runs
# one C program once on the kernel (veth between two namespaces) and once under
# libutcp.so (utcpd on a tap wire, utcp's address on no kernel interface); the outputs
# must match line for line, except the checks known_differences.txt lists with a
# reason. Both runs must also pass the program's own checks (no FAIL line).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${UTCP_BUILD:-$HERE/../build/release}
WORK=$(mktemp -d /tmp/utcp-sapi-test.XXXXXX)
FAILED=0
fail() { echo "FAIL: $*" >&2; FAILED=1; }
trap '[ "$FAILED" = 0 ] && rm -rf "$WORK" || echo "outputs kept in $WORK" >&2' EXIT

# _FILE_OFFSET_BITS=64 as Debian builds nginx and lighttpd: fcntl goes to fcntl64.
gcc -std=gnu11 -D_FILE_OFFSET_BITS=64 -Wall -Wextra -Werror -O2 -o "$WORK/socket_api" "$HERE"/socket_api/*.c || exit 1
SAPI_BIN=$WORK/socket_api env -u UTCP_BUILD bash "$HERE/socket_api/run.sh" "$WORK/kernel.out" >"$WORK/kernel.log" 2>&1 ||
  fail "kernel run: $(tail -5 "$WORK/kernel.log")"
SAPI_BIN=$WORK/socket_api UTCP_BUILD=$BUILD bash "$HERE/socket_api/run.sh" "$WORK/utcp.out" >"$WORK/utcp.log" 2>&1 ||
  fail "utcp run: $(tail -5 "$WORK/utcp.log")"

known=$(grep -v '^#' "$HERE/socket_api/known_differences.txt" | awk 'NF {print $1}')
checks=$(grep -c ': ' "$WORK/kernel.out" || true)
differ=$(diff <(cut -d: -f1 "$WORK/kernel.out") <(cut -d: -f1 "$WORK/utcp.out") >/dev/null && \
  paste -d'\n' "$WORK/kernel.out" "$WORK/utcp.out" | paste - - | awk -F'\t' '$1 != $2 {split($1, a, ":"); print a[1]}')
if ! diff <(cut -d: -f1 "$WORK/kernel.out") <(cut -d: -f1 "$WORK/utcp.out") >/dev/null; then
  fail "the runs printed different checks:"
  diff "$WORK/kernel.out" "$WORK/utcp.out" | head -40 >&2
fi
for name in $differ; do
  if ! grep -qx "$name" <<<"$known"; then
    fail "$name differs: kernel '$(grep -m1 "^$name:" "$WORK/kernel.out")' utcp '$(grep -m1 "^$name:" "$WORK/utcp.out")'"
  fi
done
for name in $known; do
  grep -qx "$name" <<<"$differ" || fail "$name is listed as a known difference but matches now: remove it from known_differences.txt"
done
echo "socket_api: $checks checks, $(wc -w <<<"$differ") known differences"
[ "$FAILED" = 0 ] && echo PASS
exit $FAILED
