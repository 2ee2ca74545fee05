# ICMP errors about an established connection (RFC 5927 §4.1, RFC 1122 §4.2.3.9,
# RFC 1191): with echoed data outstanding at utcpd (we do not ACK it), errors quoting
# a sequence number outside [SND.UNA, SND.NXT) are ignored and counted
# (tcp_icmp_rejected), as are errors quoting no connection or a cut quote
# (icmp_errors_rejected); a soft error (host unreachable) quoting the right one does
# not abort the connection; a frag-needed quoting the wrong one changes nothing, and
# quoting the right one lowers the MSS at once: the outstanding data is resent in
# segments that fit the next-hop MTU (like Linux's tcp_v4_mtu_reduced).
import os
import time

from common import ACK, outstanding
from scapy.layers.inet import ICMP, IP, TCP
from scapy.packet import Raw


def icmp_frame(ctx, conn, seq, code, mtu=0, quote_len=28, sport=None):
    w = ctx.wire
    quoted = bytes(IP(src=w.utcp_ip, dst=w.peer_ip, flags="DF", len=1500) /
                   TCP(sport=conn.dport, dport=conn.sport if sport is None else sport, seq=seq & 0xFFFFFFFF,
                       ack=conn.snd_nxt, flags="A"))[:quote_len]
    return bytes(w.ether() / w.ip() / ICMP(type=3, code=code, nexthopmtu=mtu) / Raw(quoted))


def run_icmp(ctx):
    f = ctx.f
    c = ctx.conn(ts=True)
    mss_ts = 1460 - 12
    una, biggest, ok = outstanding(c, 3 * mss_ts, mss_ts)
    f.check(ok, f"icmp: echo of {3 * mss_ts} bytes incomplete")
    f.check(biggest == mss_ts, f"icmp: biggest echo segment {biggest}, expected {mss_ts} (MSS 1460 less TS)")
    snd_max = c.rcv_nxt
    before = ctx.stats.get()
    cases = [
        ("host unreachable quoting SND.UNA-5000", una - 5000, 1, 0, 28, None, "tcp_icmp_rejected"),
        ("host unreachable quoting SND.NXT", snd_max, 1, 0, 28, None, "tcp_icmp_rejected"),
        ("frag needed (MTU 600) quoting SND.NXT+1000", snd_max + 1000, 4, 600, 28, None, "tcp_icmp_rejected"),
        ("port unreachable quoting no connection", una, 3, 0, 28, c.sport + 5000, "icmp_errors_rejected"),
        ("quote cut to 24 bytes", una, 1, 0, 24, None, "icmp_errors_rejected"),
    ]
    want = {}
    for name, seq, code, mtu, qlen, sport, counter in cases:
        c.w.send(icmp_frame(ctx, c, seq, code, mtu, qlen, sport))
        want[counter] = want.get(counter, 0) + 1
    got = c.collect(0.4)
    d = ctx.stats.delta(before)
    for counter, n in want.items():
        f.check(d[counter] == n, f"icmp: {counter} +{d[counter]}, {n} such errors sent")
    f.check(d["tcp_icmp_unreachable"] == 0, f"icmp: tcp_icmp_unreachable +{d['tcp_icmp_unreachable']} for wrong quotes")
    # Only the RTO (200 ms floor) may resend here, and with the MSS unchanged.
    f.check(all(len(s.payload) in (0, mss_ts) for s in got), f"icmp: wrong-quote errors changed the MSS: {got}")
    rejected = dict(d)

    # A soft error quoting the right sequence number: counted, connection kept.
    before = ctx.stats.get()
    c.w.send(icmp_frame(ctx, c, una, 1))
    c.collect(0.3)
    d = ctx.stats.delta(before)
    f.check(d["tcp_icmp_unreachable"] == 1, f"icmp soft error: tcp_icmp_unreachable +{d['tcp_icmp_unreachable']}")
    c.send(ACK)  # acknowledge the outstanding echo
    f.check(c.echo_ok(b"after a soft icmp error"), "icmp: a soft error (host unreachable) broke the connection")
    # The unacknowledged echo above may have met the RTO (cwnd back to one segment):
    # grow cwnd again so the next three segments leave at once.
    f.check(c.echo_ok(os.urandom(40000)), "icmp: 40 kB echo failed")

    # MSS unchanged by the rejected frag-needed: a new echo still uses full segments.
    una, biggest, ok = outstanding(c, 3 * mss_ts, mss_ts)
    f.check(ok and biggest == mss_ts, f"icmp: after a rejected frag-needed the biggest segment is {biggest}")
    # Frag needed quoting SND.UNA, next-hop MTU 1000: resent at once in <= 1000-40-12.
    before = ctx.stats.get()
    c.w.send(icmp_frame(ctx, c, una, 4, 1000))
    t_icmp = time.monotonic()
    first = c.collect(1.0, until=lambda g: any(s.payload for s in g))
    t_first = time.monotonic() - t_icmp
    resent = [s for s in first + c.collect(0.3) if s.payload]
    d = ctx.stats.delta(before)
    limit = 1000 - 40 - 12
    sizes = sorted({len(s.payload) for s in resent})
    f.check(d["tcp_icmp_unreachable"] == 1, f"icmp frag needed: tcp_icmp_unreachable +{d['tcp_icmp_unreachable']}")
    # At once: well before the RTO (200 ms floor, and the data left ~ms ago) could fire.
    f.check(resent and resent[0].seq == una and max(sizes) == limit and t_first < 0.15,
            f"icmp frag needed: resent {len(resent)} segments after {t_first * 1000:.0f} ms, sizes {sizes}, "
            f"expected at once, from SND.UNA, at most {limit}")
    c.send(ACK)
    f.check(c.echo_ok(os.urandom(40000)), "icmp: 40 kB echo failed after frag needed")
    una, biggest, ok = outstanding(c, 3 * limit, mss_ts)
    f.check(ok and biggest == limit, f"icmp: after frag-needed new data uses segments of {biggest}, expected {limit}")
    c.send(ACK)
    f.check(c.echo_ok(b"after frag needed" * 100), "icmp: the connection no longer echoes after frag needed")
    c.reset()
    return (f"{len(cases)} errors quoting a wrong sequence number / tuple / cut quote ignored "
            f"(tcp_icmp_rejected +{rejected['tcp_icmp_rejected']}, icmp_errors_rejected "
            f"+{rejected['icmp_errors_rejected']}, MSS unchanged); soft error on the right one kept the "
            f"connection; frag-needed MTU 1000 on the right one: {len(resent)} segments resent after {t_first * 1000:.0f} ms, "
            f"sizes {sizes} (<= {limit}), new data then {biggest}-byte segments")
