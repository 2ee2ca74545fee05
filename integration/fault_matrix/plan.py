#!/usr/bin/env python3
# plan.py LOSS DUP REORDER CORRUPT DELAY_MS MTU: a fault-matrix cell's flow size, stall
# bound and deadline (printed as "size stall deadline": bytes, seconds, seconds).
# LOSS, DUP, REORDER and CORRUPT are the cell's percentages, DELAY_MS the round trip
# the wire adds. Read the model before changing a figure:
# - p, the chance a frame is lost in one direction: the cell's loss is split, half by
#   utcpd's injector and half by nftables, so p = 1-(1-L/2)^2 (~L); a corrupted frame
#   is dropped by the receiver's checksum, so corruption adds to p.
# - A flow's rate is Padhye et al.'s TCP throughput model (SIGCOMM 1998, eq. 30, b=2
#   for delayed ACKs) with RTT = the added delay + 2 ms for the VM and T0 = RTT + 200 ms
#   (Linux's RTO floor), capped by what this VM's tap wire carries per flow at 20 flows.
# - Size: the largest power of two the model moves in TARGET seconds (env
#   FAULT_TARGET_SECONDS, default 8), between 16 KiB and FAULT_SIZE_MAX (1 MiB).
# - Stall: without progress for longer than k RTO backoffs a flow is stalled. After an
#   RTO only one segment is out (cwnd 1): a backoff round fails when the segment or its
#   ACK is lost, q = 1-(1-p)^2. k is the smallest with q^k <= 1e-3 (a recovery chain
#   that backs off k times is that rare), and the gap is sum_{i=0..k} min(T*2^i, 120 s)
#   with T = max(1 s, T0): 1 s is the SYN's initial RTO (RFC 6298 2.1), so the
#   handshake is covered too; at least 10 s (a shared, noisy 2-core VM).
# - Deadline: 60 s + 10 times the model's time for the flow + the stall bound.
import math, os, sys

CAP_PER_FLOW = 2.0e6  # bytes/s per flow at 20 flows (tap, both directions, RelWithDebInfo)


def plan(loss, dup, reorder, corrupt, delay_ms, mtu):
    half = loss / 200
    p = 1 - (1 - half) ** 2 + corrupt / 100
    rtt = delay_ms / 1000 + 0.002
    t0 = rtt + 0.2
    mss = mtu - 40
    if p > 0:
        b = 2
        per_segment = (rtt * math.sqrt(2 * b * p / 3)
                       + t0 * min(1, 3 * math.sqrt(3 * b * p / 8)) * p * (1 + 32 * p * p))
        rate = min(mss / per_segment, CAP_PER_FLOW)
    else:
        rate = CAP_PER_FLOW
    target = float(os.environ.get("FAULT_TARGET_SECONDS", "8"))
    size_max = int(os.environ.get("FAULT_SIZE_MAX", str(1 << 20)))
    size = 16 << 10
    while size * 2 <= min(rate * target, size_max):
        size *= 2
    q = 1 - (1 - p) ** 2
    k = 1 if q <= 0 else max(1, math.ceil(math.log(1e-3) / math.log(q)))
    backoff = max(1.0, t0)
    stall = max(10.0, sum(min(backoff * 2 ** i, 120.0) for i in range(k + 1)))
    deadline = 60 + 10 * size / rate + stall
    return size, stall, deadline


if __name__ == "__main__":
    args = [float(x) for x in sys.argv[1:7]]
    size, stall, deadline = plan(*args[:5], int(args[5]))
    print(size, f"{stall:.0f}", f"{deadline:.0f}")
