# Runs the malformed-packet classes (issue 6) against a running utcpd with --echo, from
# the kernel side of its tap wire (see common.py for the peer). Each class prints one
# summary line; after each, liveness: the crafted "sentinel" connection opened before
# any bad packet still echoes, and a kernel client's 64 KiB echo comes back whole.
# Exit status 1 if any check failed.
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402
import hostile  # noqa: E402
import icmp_errors  # noqa: E402
import ipv4  # noqa: E402
import ooo  # noqa: E402
import options  # noqa: E402

CLASSES = [
    ("options", options.run_options),
    ("data_offset", options.run_data_offset),
    ("ipv4", ipv4.run_ipv4),
    ("fragments", ipv4.run_fragments),
    ("urgent", hostile.run_urgent),
    ("sack", hostile.run_sack),
    ("rfc5961", hostile.run_rfc5961),
    ("challenge_rate", hostile.run_challenge_rate),
    ("paws", hostile.run_paws),
    ("icmp", icmp_errors.run_icmp),
    ("ooo", ooo.run_ooo),
]


class Ctx:
    def __init__(self, a):
        self.a = a
        self.wire = common.Wire(a.iface, a.peer_ip, a.peer_mac, a.utcp_ip)
        self.stats = common.Stats(a.utcp, a.control)
        self.f = common.Failures()
        self.port = 20000
        self.echo_port = a.echo_port
        self.utcpd_pid = a.utcpd_pid
        self.tx_drop_allowed = 0  # tap drops a class recovered from by resending

    def next_port(self):
        self.port += 1
        return self.port

    def conn(self, **kw):
        c = common.Conn(self.wire, self.next_port(), self.echo_port, **kw)
        c.open()
        return c


def main():
    p = argparse.ArgumentParser()
    for name in ("iface", "peer-ip", "peer-mac", "utcp-ip", "utcp", "control", "classes"):
        p.add_argument("--" + name, required=True)
    p.add_argument("--echo-port", type=int, required=True)
    p.add_argument("--utcpd-pid", type=int, required=True)
    a = p.parse_args()
    ctx = Ctx(a)
    f = ctx.f
    wanted = a.classes.split()
    sentinel = ctx.conn()
    f.check(sentinel.echo_ok(b"sentinel before" * 10), "sentinel connection does not echo at the start")
    t_all = time.monotonic()
    for name, fn in CLASSES:
        if wanted != ["all"] and name not in wanted:
            continue
        ctx.wire.announce()  # refresh utcpd's ARP entry for the peer (60 s TTL)
        t0 = time.monotonic()
        before_fail = len(f.items)
        ctx.tx_drop_allowed = 0
        tx_drop0 = ctx.wire.tx_dropped()
        try:
            summary = fn(ctx)
        except Exception as e:  # a crashed class is a failed class; the others still run
            summary = f"aborted: {type(e).__name__}: {e}"
            f.check(False, f"{name}: {summary}")
        lost = ctx.wire.tx_dropped() - tx_drop0 - ctx.tx_drop_allowed
        f.check(lost == 0, f"{name}: the tap dropped {lost} of our frames (utcpd did not read them in time: "
                           f"machine too busy?), so counts cannot match")
        live_sentinel = sentinel.echo_ok(f"sentinel after {name}".encode() * 20)
        live_kernel = common.kernel_echo_ok(a.utcp_ip, a.echo_port)
        f.check(live_sentinel, f"{name}: the connection opened before the bad packets no longer echoes")
        f.check(live_kernel, f"{name}: a kernel client's 64 KiB echo failed afterwards")
        verdict = "ok" if len(f.items) == before_fail else "FAILED"
        common.log(f"{name}: {summary}; liveness: sentinel {'ok' if live_sentinel else 'FAIL'}, "
                   f"kernel echo {'ok' if live_kernel else 'FAIL'}; {time.monotonic() - t0:.1f} s [{verdict}]")
    sentinel.reset()
    common.log(f"all classes in {time.monotonic() - t_all:.1f} s: {len(f.items)} failed checks")
    sys.exit(1 if f.items else 0)


if __name__ == "__main__":
    main()
