# In-window attacks on an established connection: urgent pointer (RFC 9293 §3.8.5,
# RFC 6093), SACK blocks outside [SND.UNA, SND.NXT] (RFC 2018 §3, RFC 6675), blind
# RST / SYN / data (RFC 5961 §3-5) and the challenge-ACK rate limit (§7), ACKs to
# out-of-window segments (RFC 9293 §3.10.7.4, rate-limited like Linux's
# tcp_invalid_ratelimit, 500 ms), PAWS (RFC 7323 §5.3). Sub-tests that draw challenge
# ACKs each use a fresh connection: the limit is per connection (10 a second in utcp).
import time

from common import outstanding, ACK, PSH, RST, SYN, URG, opt_sack, opt_ts, stream_batch


def acks_for(conn, segs):
    return [s for s in segs if s.has(ACK) and not s.has(RST) and not s.has(SYN)]


def blast(ctx, conn, frames):
    """Sends `frames` as fast as the wire takes them; returns the ACKs that came back
    within 0.6 s, the seconds it took and utcpd's counter deltas."""
    before = ctx.stats.get()
    t0 = time.monotonic()
    conn.w.send_many(frames)
    got = conn.collect(0.6)
    return len(acks_for(conn, got)), time.monotonic() - t0, ctx.stats.delta(before)


def run_urgent(ctx):
    """URG is not supported as out-of-band data (RFC 6093 §5 / SO_OOBINLINE semantics):
    whatever the pointer says, the data is delivered in line, exactly once."""
    f = ctx.f
    conn = ctx.conn()
    cases = [("URG, pointer 0", URG, 0), ("URG, pointer = length", URG, None),
             ("URG, pointer beyond the data", URG, 1000), ("URG, pointer 65535 (beyond the window)", URG, 65535),
             ("pointer 500 without URG", 0, 500), ("URG+FIN-less pure data, pointer 1", URG, 1)]
    items = []
    for n, (name, flag, ptr) in enumerate(cases):
        payload = f"<u{n}:{name}>".encode()
        p = len(payload) if ptr is None else ptr
        items.append((lambda seq, pl, flag=flag, p=p: conn.frame(ACK | PSH | flag, seq=seq, payload=pl, urgptr=p),
                      True, payload))
    ok, why = stream_batch(conn, items)
    # A pure ACK with URG and a pointer far beyond anything: no effect.
    conn.send(ACK | URG, urgptr=0xFFFF)
    f.check(ok, f"urgent: {why}")
    f.check(conn.echo_ok(b"after urgent"), "urgent: the connection no longer echoes")
    conn.reset()
    return f"{len(cases)} segments with URG/pointer edge cases and a URG pure ACK: data echoed in line {'exactly' if ok else 'WRONG'}"


def run_sack(ctx):
    """With 3 echoed segments unacknowledged at utcpd, ACKs carry SACK blocks above
    SND.NXT, below SND.UNA (in second place: in first place it is a D-SACK), reversed,
    straddling SND.NXT, and one valid block: exactly the invalid ones are ignored and
    counted (tcp_sack_blocks_ignored). Then a first block below SND.UNA: a D-SACK
    (RFC 2883 §4), counted as tcp_dsacks_in and not as ignored."""
    f = ctx.f
    conn = ctx.conn(ts=True, sack=True)
    f.check(conn.sack_ok, "sack: SACK not negotiated")
    una, _, ok = outstanding(conn, 3 * 1448, 1448)
    f.check(ok, "sack: the echo of 3 segments did not come back")
    snd_max = conn.rcv_nxt  # utcpd's SND.NXT (what it sent), SND.UNA is still una
    bad_blocks = [
        [(snd_max + 100, snd_max + 200)],                 # above SND.NXT
        [(snd_max + 100, snd_max + 200), (una - 2000, una - 1000)],  # above; below SND.UNA
        [(una + 2000, una + 1000)],                       # left > right
        [(una + 100, snd_max + 100), (snd_max + 5000, snd_max + 6000)],  # straddling, far above
        [(una - 0x7FFFFFFF, una + 10)],                   # wrapping around the sequence space
    ]
    before = ctx.stats.get()
    n_bad = 0
    for blocks in bad_blocks:
        n_bad += len(blocks)
        conn.send(ACK, ack=una, opts=opt_ts(conn.tsval(), conn.ts_recent) + opt_sack(blocks))
    conn.send(ACK, ack=una, opts=opt_ts(conn.tsval(), conn.ts_recent) + opt_sack([(una + 1000, una + 2000)]))
    conn.collect(0.3)
    d = ctx.stats.delta(before)
    f.check(d["tcp_sack_blocks_ignored"] == n_bad,
            f"sack: tcp_sack_blocks_ignored +{d['tcp_sack_blocks_ignored']}, {n_bad} invalid blocks sent (and 1 valid)")
    f.check(d["tcp_dsacks_in"] == 0, f"sack: tcp_dsacks_in +{d['tcp_dsacks_in']} for no D-SACK")
    before = ctx.stats.get()
    conn.send(ACK, ack=una, opts=opt_ts(conn.tsval(), conn.ts_recent) + opt_sack([(una - 2000, una - 1000)]))
    conn.collect(0.3)
    dd = ctx.stats.delta(before)
    f.check(dd["tcp_dsacks_in"] == 1 and dd["tcp_sack_blocks_ignored"] == 0,
            f"sack: a D-SACK counted tcp_dsacks_in +{dd['tcp_dsacks_in']}, ignored +{dd['tcp_sack_blocks_ignored']}")
    conn.send(ACK)  # acknowledge everything
    f.check(conn.echo_ok(b"after sack" * 50), "sack: the connection no longer echoes")
    conn.reset()
    return (f"{n_bad} SACK blocks outside [SND.UNA, SND.NXT] in 5 ACKs plus 1 valid block: "
            f"tcp_sack_blocks_ignored +{d['tcp_sack_blocks_ignored']}; a D-SACK: tcp_dsacks_in +{dd['tcp_dsacks_in']}")


def challenge(conn, seg_frame_kw, expect, counter, ctx, name, settle=0.3):
    """Sends one crafted segment and checks the answer: 'challenge' (an ACK with
    <SEQ=SND.NXT><ACK=RCV.NXT>), 'ack' (the same ACK, from the out-of-window rule),
    'none'. counter must move by 1."""
    f = ctx.f
    before = ctx.stats.get()
    rcv_nxt_utcp = conn.snd_nxt
    conn.w.send(conn.frame(**seg_frame_kw))
    got = conn.collect(settle)
    acks = [s for s in acks_for(conn, got) if s.ack == rcv_nxt_utcp and s.seq == conn.rcv_nxt and not s.payload]
    others = [s for s in got if s not in acks]
    d = ctx.stats.delta(before)
    if expect == "none":
        f.check(not got, f"rfc5961 {name}: expected no answer, got {got}")
    else:
        f.check(len(acks) == 1 and not others, f"rfc5961 {name}: expected one ACK <SEQ=SND.NXT><ACK=RCV.NXT>, got {got}")
    if counter:
        f.check(d[counter] == 1, f"rfc5961 {name}: {counter} +{d[counter]}, expected +1")
    return d


def run_rfc5961(ctx):
    f = ctx.f
    lines = []

    def fresh():
        c = ctx.conn()
        f.check(c.echo_ok(b"hello"), "rfc5961: fresh connection does not echo")
        return c

    W = 1 << 30  # far outside any window utcp offers (its buffer is far below 1 GiB)
    # (name, frame kwargs relative to the connection, expected answer, counter)
    specs = [
        ("RST in window, not RCV.NXT", lambda c: dict(flags=RST | ACK, seq=c.snd_nxt + 1000), "challenge", "tcp_challenge_acks"),
        ("RST out of window", lambda c: dict(flags=RST | ACK, seq=c.snd_nxt + W), "none", "tcp_out_of_window"),
        ("RST just left of the window", lambda c: dict(flags=RST, seq=c.snd_nxt - 1), "none", "tcp_out_of_window"),
        ("SYN in window", lambda c: dict(flags=SYN, seq=c.snd_nxt + 10), "challenge", "tcp_challenge_acks"),
        ("SYN at RCV.NXT with ACK", lambda c: dict(flags=SYN | ACK, seq=c.snd_nxt), "challenge", "tcp_challenge_acks"),
        ("SYN out of window", lambda c: dict(flags=SYN, seq=c.snd_nxt + W), "ack", None),
        ("data, ACK above SND.NXT", lambda c: dict(flags=ACK | PSH, ack=c.rcv_nxt + 100000, payload=b"BADACK1"), "challenge", "tcp_challenge_acks"),
        ("data, ACK below SND.UNA-MAX.SND.WND", lambda c: dict(flags=ACK | PSH, ack=c.rcv_nxt - 40000000, payload=b"BADACK2"), "challenge", "tcp_challenge_acks"),
        ("data out of window", lambda c: dict(flags=ACK | PSH, seq=c.snd_nxt + W, payload=b"FARDATA"), "ack", "tcp_out_of_window"),
        ("data before the window", lambda c: dict(flags=ACK | PSH, seq=c.snd_nxt - 100000, payload=b"OLDDATA"), "ack", "tcp_out_of_window"),
    ]
    for name, kw, expect, counter in specs:
        c = fresh()
        challenge(c, kw(c), expect, counter, ctx, name)
        # The bad segment changed nothing: the stream goes on at the same RCV.NXT (the
        # payload of a dropped data segment never appears in the echo).
        f.check(c.echo_ok(f"still alive after {name}".encode()), f"rfc5961 {name}: the connection no longer echoes")
        c.reset()
        lines.append(f"{name} -> {expect}")

    # RST exactly at RCV.NXT resets (RFC 5961 §3.2 / RFC 9293): no answer, tcp_resets_in
    # +1, and the tuple is then CLOSED: data on it is answered with a RST.
    c = fresh()
    before = ctx.stats.get()
    c.w.send(c.frame(flags=RST | ACK))
    quiet = c.collect(0.3)
    c.w.send(c.frame(flags=ACK | PSH, payload=b"after reset"))
    rst = [s for s in c.collect(0.5) if s.has(RST)]
    d = ctx.stats.delta(before)
    f.check(not quiet, f"rfc5961 exact RST: answered {quiet}")
    f.check(d["tcp_resets_in"] == 1, f"rfc5961 exact RST: tcp_resets_in +{d['tcp_resets_in']}")
    f.check(len(rst) == 1, f"rfc5961 exact RST: data on the reset tuple got {len(rst)} RSTs, expected 1")
    lines.append("exact RST -> reset, later data -> RST")
    return f"{len(specs) + 1} blind segments: " + "; ".join(lines)


def run_challenge_rate(ctx):
    """RFC 5961 §7: 1000 in-window RSTs as fast as the wire takes them draw a bounded
    number of challenge ACKs (utcp: 10 per connection per second); the counters add up
    (tcp_challenge_acks + tcp_challenge_acks_suppressed = 1000). Then 1000 out-of-window
    bare ACKs: RFC 9293 answers each with an ACK, Linux rate-limits those (tcp_invalid_ratelimit,
    one per 500 ms per connection) and so does utcp; out-of-window data is always ACKed."""
    f = ctx.f
    c = ctx.conn()
    f.check(c.echo_ok(b"hello"), "challenge_rate: fresh connection does not echo")
    n = 1000
    acks, elapsed, d = blast(ctx, c, [c.frame(flags=RST, seq=c.snd_nxt + 1 + 10 * i) for i in range(n)])
    windows = int(elapsed) + 1
    bound = 10 * windows
    f.check(1 <= acks <= bound, f"challenge_rate: {acks} challenge ACKs for {n} RSTs in {elapsed:.2f} s (bound {bound})")
    f.check(d["tcp_challenge_acks"] == acks,
            f"challenge_rate: tcp_challenge_acks +{d['tcp_challenge_acks']}, {acks} seen on the wire")
    f.check(d["tcp_challenge_acks"] + d["tcp_challenge_acks_suppressed"] == n,
            f"challenge_rate: challenge_acks +{d['tcp_challenge_acks']} + suppressed "
            f"+{d['tcp_challenge_acks_suppressed']} != {n}")
    f.check(c.echo_ok(b"after the RST flood"), "challenge_rate: the connection no longer echoes")
    first = f"{n} in-window RSTs in {elapsed:.2f} s -> {acks} challenge ACKs (bound {bound}), " \
            f"tcp_challenge_acks +{d['tcp_challenge_acks']}, suppressed +{d['tcp_challenge_acks_suppressed']}"

    # Out-of-window segments without data: Linux's tcp_invalid_ratelimit (500 ms per
    # connection) answers at most one per interval, which is what ends the ACK loop of
    # two desynchronized ends; utcp counts the rest in tcp_invalid_acks_suppressed.
    acks, elapsed, d = blast(ctx, c, [c.frame(flags=ACK, seq=c.snd_nxt + (1 << 30) + 100 * i)
                                      for i in range(n)])
    bound = int(elapsed / 0.5) + 2
    f.check(d["tcp_out_of_window"] == n, f"challenge_rate: tcp_out_of_window +{d['tcp_out_of_window']}, {n} sent")
    f.check(1 <= acks <= bound, f"challenge_rate: {acks} ACKs answered {n} out-of-window bare ACKs in "
                                f"{elapsed:.2f} s (Linux: at most one per 500 ms, bound {bound})")
    f.check(d["tcp_invalid_acks_suppressed"] == n - acks,
            f"challenge_rate: tcp_invalid_acks_suppressed +{d['tcp_invalid_acks_suppressed']}, "
            f"{n} sent and {acks} answered")
    second = f"{n} out-of-window bare ACKs in {elapsed:.2f} s -> {acks} ACKs (bound {bound}), " \
             f"tcp_invalid_acks_suppressed +{d['tcp_invalid_acks_suppressed']}"

    # Out-of-window data is a retransmission whose ACK was lost: always answered (Linux
    # exempts data without SYN from the limit).
    m = 50
    acks, _, d = blast(ctx, c, [c.frame(flags=ACK | PSH, seq=c.snd_nxt + (1 << 30) + 100 * i, payload=b"x")
                                for i in range(m)])
    f.check(d["tcp_out_of_window"] == m, f"challenge_rate: tcp_out_of_window +{d['tcp_out_of_window']}, {m} sent")
    f.check(acks == m, f"challenge_rate: {acks} ACKs for {m} out-of-window data segments (each is answered)")
    f.check(c.echo_ok(b"after the out-of-window flood"), "challenge_rate: the connection no longer echoes")
    c.reset()
    return first + f"; {second}; {m} out-of-window data segments -> {acks} ACKs"


def run_paws(ctx):
    """RFC 7323 §5.3 R1: a segment whose TSval is older than TS.Recent is dropped and
    answered with an ACK (tcp_paws_rejected); its data never reaches the application.
    A RST with an old TSval is not PAWS-checked (Linux accepts it; here it is in
    window, not at RCV.NXT, so it draws a challenge ACK and the connection lives)."""
    f = ctx.f
    c = ctx.conn(ts=True)
    f.check(c.ts_ok, "paws: timestamps not negotiated")
    f.check(c.echo_ok(b"hello with timestamps"), "paws: fresh connection does not echo")
    now = c.tsval()
    rejected = 0
    lines = []
    for name, tsval in (("TSval 1000 behind", now - 1000), ("TSval 2^30 behind", now - (1 << 30)),
                        ("TSval 2^31+1 ahead (= behind mod 2^32)", now + (1 << 31) + 1)):
        before = ctx.stats.get()
        want_ack = c.snd_nxt
        c.w.send(c.frame(ACK | PSH, payload=b"PAWSDATA", opts=opt_ts(tsval, c.ts_recent)))
        got = c.collect(0.3)
        d = ctx.stats.delta(before)
        acks = [s for s in acks_for(c, got) if s.ack == want_ack and not s.payload]
        f.check(d["tcp_paws_rejected"] == 1, f"paws {name}: tcp_paws_rejected +{d['tcp_paws_rejected']}")
        f.check(len(acks) >= 1 and all(not s.payload for s in got), f"paws {name}: expected an ACK, got {got}")
        rejected += d["tcp_paws_rejected"]
        lines.append(name)
    # Data with a current TSval continues the stream where it was (PAWSDATA never delivered).
    ok = c.echo_ok(b"after paws")
    f.check(ok, "paws: the connection no longer echoes after the old segments")
    c.reset()
    return f"{len(lines)} segments with old TSvals ({', '.join(lines)}): dropped and ACKed, tcp_paws_rejected +{rejected}"
