#!/usr/bin/env bash
# The A/B instrument (bench/ab.py, `make -f Makefile.bench ab`, README command 1),
# shortened to one pair of 1 s runs of four scenarios on both wires: every run
# completes with no client error, the utcp runs went through utcpd (its frame and
# socket counters moved by at least the requests counted), the HTTP servers answered
# the file's exact bytes on both stacks, and the table, JSON and plots are written. A
# smoke test of the instrument, not a measurement. Rules: TESTBED.md (ab.py makes and
# removes its own namespaces and stops what it starts by pid).
set -euo pipefail

SRC=${UTCP_SOURCE:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${UTCP_BUILD:-$SRC/build}
WORK=$(mktemp -d /tmp/utcp-ab-test.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
chmod 755 "$WORK"  # nginx's worker (nobody) reaches its config and temp dirs under it
FAILED=0
log() { echo "[ab] $*"; }
fail() { echo "[ab] FAIL: $*" >&2; FAILED=1; }

[ "$(id -u)" = 0 ] || { echo "[ab] FAIL: needs root (netns, tap, memif)" >&2; exit 1; }

SCENARIOS=nginx-ka-1w,nginx-close,msg-rr,bulk-1
rc=0
timeout 300 "$SRC/bench/ab.py" --build "$BUILD" --quick --pairs 1 --scenarios "$SCENARIOS" \
  --wires tap,memif --out "$WORK/out" >"$WORK/log" 2>&1 || rc=$?
[ "$rc" = 0 ] || fail "bench/ab.py exited with $rc: $(grep -E 'FAIL|Error|error' "$WORK/log" | tail -5)"
for f in runs.json summary.md summary.json throughput.png latency.png cpu.png; do
  [ -s "$WORK/out/$f" ] || fail "no $f written"
done
n=$(grep -c "answered the file's bytes" "$WORK/log" || true)
[ "$n" = 8 ] || fail "expected 8 byte-exact HTTP probes (2 scenarios x 2 wires x 2 sides), saw $n"

# Each run: ops counted, no errors; utcp runs: utcpd's counters moved with the traffic.
python3 - "$WORK/out/runs.json" <<'PY' || FAILED=1
import json, sys
runs = json.load(open(sys.argv[1]))["runs"]
bad = 0
def fail(msg):
    global bad
    print(f"[ab] FAIL: {msg}", file=sys.stderr)
    bad = 1
cells = {(r["scenario"], r["wire"], r["side"]) for r in runs}
for s in ("nginx-ka-1w", "nginx-close", "msg-rr", "bulk-1"):
    for w in ("tap", "memif"):
        for side in ("utcp", "kernel"):
            if (s, w, side) not in cells:
                fail(f"no run of {s} {w} {side}")
for r in runs:
    name = f"{r['scenario']} {r['wire']} {r['side']}"
    if r.get("failed") or r["ops"] <= 0:
        fail(f"{name}: {r.get('reason', 'no ops')}")
        continue
    if r["errors"]:
        fail(f"{name}: {r['errors']} client errors")
    if r["side"] == "utcp":
        x = r.get("extra", {})
        # Requests: at least one frame in per request; bulk: at least one per 64 KiB.
        need = r["ops"] if r["unit"] == "req" else r["ops"] // 65536
        if x.get("utcpd_frames_in", 0) < need or x.get("utcpd_frames_out", 0) < need:
            fail(f"{name}: utcpd frames in/out {x.get('utcpd_frames_in')}/{x.get('utcpd_frames_out')} "
                 f"for {r['ops']} {r['unit']}s: the traffic did not go through utcp")
        print(f"[ab] {name}: {r['rate']:.0f} {r['unit']}/s, utcpd frames in {x.get('utcpd_frames_in')}")
sys.exit(bad)
PY
grep -q "^| scenario | wire | rate" "$WORK/out/summary.md" || fail "no ratio table in summary.md"
[ "$FAILED" = 0 ] && { sed -n '/^| scenario | wire | rate/,/^$/p' "$WORK/out/summary.md"; log PASS; }
exit "$FAILED"
