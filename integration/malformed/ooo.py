# 100,000 tiny out-of-order segments (issue 6): 1-byte payloads at odd offsets of an
# established echo connection's receive window (a hole before every byte), sent as
# fast as the tap takes them from prebuilt bytes (scapy builds the template; only the
# sequence number, the byte and the TCP checksum change). Checked: utcpd's RSS grows
# by less than RSS_BOUND_KIB (its out-of-order state is bounded by max_ooo_ranges
# inside a preallocated receive buffer, so the growth should be pages, not a copy per
# segment: 100,000 kept mbufs would be ~200 MiB); utcpd gets through them within
# TIME_BOUND_S and stays responsive; once the holes are filled in order, the echo
# carries exactly the right bytes.
import struct
import time

from common import ACK, PSH, utcpd_cpu_s, utcpd_rss_kib, tcp_frame, kernel_echo_ok

N = 100_000
RSS_BOUND_KIB = 16 * 1024
TIME_BOUND_S = 60
CPU_BOUND_S = 20  # utcpd CPU for the flood: 200 us a segment (measured: ~10 us)


def pattern(n):
    return bytes((i * 7 + 3) % 251 for i in range(n))


def fast_frames(conn, base_seq, offsets, data):
    """Frames for 1-byte segments at base_seq+off: the template's TCP checksum is
    recomputed from its sum with seq and byte zeroed (one's complement arithmetic)."""
    tmpl = bytearray(tcp_frame(conn.w, conn.sport, conn.dport, 0, conn.rcv_nxt, ACK, conn.win, b"", b"\0"))
    tcp_off = 14 + 20
    tmpl[tcp_off + 16:tcp_off + 18] = b"\0\0"
    # Sum of the pseudo header and the TCP segment with checksum, seq and payload zero.
    pseudo = tmpl[26:34] + struct.pack("!BBH", 0, 6, len(tmpl) - tcp_off)
    seg = bytes(tmpl[tcp_off:]) + b"\0"
    base = sum(struct.unpack(f"!{len(pseudo) // 2}H", pseudo)) + sum(struct.unpack(f"!{len(seg) // 2}H", seg))
    frames = []
    for off in offsets:
        seq = (base_seq + off) & 0xFFFFFFFF
        b = data[off]
        s = base + (seq >> 16) + (seq & 0xFFFF) + (b << 8)
        s = (s & 0xFFFF) + (s >> 16)
        s = (s & 0xFFFF) + (s >> 16)
        ck = (~s) & 0xFFFF
        fr = bytearray(tmpl)
        struct.pack_into("!I", fr, tcp_off + 4, seq)
        struct.pack_into("!H", fr, tcp_off + 16, ck)
        fr[-1] = b
        frames.append(bytes(fr))
    return frames


def run_ooo(ctx):
    f, w = ctx.f, ctx.wire
    conn = ctx.conn(ts=False, sack=True)
    # utcpd's receive window (its SYN-ACK carries the scale; later windows are scaled).
    scale = conn.synack.wscale or 0
    conn.send(ACK)
    wnd = 0
    for s in conn.collect(0.3) or []:
        wnd = s.win << scale
    if wnd == 0:
        wnd = conn.synack.win  # unscaled in the SYN-ACK; the window is at least this
    span = min(wnd, 2 * N) - 1       # odd offsets 1, 3, ... < span; cycled when span/2 < N
    data = pattern(span + 1)
    offsets = [1 + 2 * (k % (span // 2)) for k in range(N)]
    base_seq = conn.snd_nxt
    frames = fast_frames(conn, base_seq, offsets, data)

    before = ctx.stats.get()
    rss0, cpu0 = utcpd_rss_kib(ctx.utcpd_pid), utcpd_cpu_s(ctx.utcpd_pid)
    t0 = time.monotonic()
    tx_drop0 = w.tx_dropped()
    resent = w.send_many(frames, batch=256, pause=0.0002, resend=True)
    ctx.tx_drop_allowed = w.tx_dropped() - tx_drop0  # lost and sent again: not a failure
    t_sent = time.monotonic() - t0
    # Wait (bounded) until utcpd has taken them all in: its tcp_segs_in counter.
    done = False
    while time.monotonic() - t0 < TIME_BOUND_S:
        w._frames(0)  # drain the dup ACKs utcpd sends back
        d = ctx.stats.delta(before)
        if d["tcp_segs_in"] >= N:  # at least once each (a resent batch counts twice)
            done = True
            break
        time.sleep(0.2)
    t_done = time.monotonic() - t0
    rss1, cpu1 = utcpd_rss_kib(ctx.utcpd_pid), utcpd_cpu_s(ctx.utcpd_pid)
    d = ctx.stats.delta(before)
    live_during = kernel_echo_ok(w.utcp_ip, ctx.echo_port)
    f.check(done, f"ooo: utcpd took in {d['tcp_segs_in']} of {N} segments in {TIME_BOUND_S} s "
                  f"(tap tx_dropped {w.tx_dropped()})")
    f.check(rss1 - rss0 < RSS_BOUND_KIB, f"ooo: utcpd RSS grew by {rss1 - rss0} KiB (bound {RSS_BOUND_KIB})")
    f.check(cpu1 - cpu0 < CPU_BOUND_S, f"ooo: utcpd used {cpu1 - cpu0:.1f} s of CPU (bound {CPU_BOUND_S})")
    f.check(live_during, "ooo: kernel echo failed right after the flood")
    w._frames(0.2)

    # Fill the holes in order: the echo must be exactly data[0:span+1].
    start = len(conn.rx)
    for i in range(0, len(data), 1000):
        conn.send(ACK | PSH, data[i:i + 1000])
    conn.expect_rx(start + len(data), timeout=15.0)
    got = bytes(conn.rx[start:])
    ok = got == data
    f.check(ok, f"ooo: after filling the holes the echo has {len(got)} bytes, "
                f"{'equal' if ok else 'DIFFERENT'} to the {len(data)} sent")
    f.check(conn.echo_ok(b"after the ooo flood"), "ooo: the connection no longer echoes")
    conn.reset()
    return (f"{N} 1-byte out-of-order segments over a {span + 1}-byte window in {t_sent:.1f} s ({resent} batches of 256 resent after tap "
            f"drops), taken in by "
            f"utcpd in {t_done:.1f} s (utcpd CPU {cpu1 - cpu0:.1f} s, bound {CPU_BOUND_S}), RSS +{rss1 - rss0} KiB (bound "
            f"{RSS_BOUND_KIB}), tcp_ooo_segments +{d['tcp_ooo_segments']}, tcp_ooo_dropped "
            f"+{d['tcp_ooo_dropped']}, tcp_out_of_window +{d['tcp_out_of_window']}; holes filled: "
            f"{len(got)} bytes echoed {'exactly' if ok else 'WRONG'}")
