# TCP option lengths and data offset (RFC 9293 §3.1-3.2, RFC 7323 §2-3, RFC 2018 §2-3).
# The rule checked: an option area is well formed when every option other than EOL/NOP
# has a length byte inside the area, the length is >= 2 and ends inside the area, and
# a kind the RFCs define has its defined length (MSS 4, WS 3, SACK-permitted 2, SACK
# 2+8n with n 1..4, TS 10). A malformed area drops the segment and counts it
# (drop_parse_bad_option); an unknown kind with a sane length is skipped. (Linux is
# laxer: it stops parsing at a bad length, ignores a wrongly sized known option and
# keeps the segment; utcp's stricter drop is its documented choice, stack/wire/tcp.cc.)
import time

from common import ACK, PSH, SYN, RST, end_batch, stream_batch, tcp_frame

KINDS = [0, 1, 2, 3, 4, 5, 8, 30, 254, 99]    # EOL NOP MSS WS SACKP SACK TS MPTCP exp. unknown
DEFINED_LEN = {2: {4}, 3: {3}, 4: {2}, 5: {10, 18, 26, 34}, 8: {10}}
AREA = 40
POSITIONS = {"first": 0, "middle": 20, "last": AREA - 1}
# Values for a correctly sized defined option (a wrong size never gets this far).
GOOD_VALUE = {2: bytes([0x05, 0xB4]), 3: bytes([7]), 8: bytes([0, 0, 0, 1, 0, 0, 0, 0])}


def area_valid(area):
    i = 0
    while i < len(area):
        k = area[i]
        if k == 0:
            return True
        if k == 1:
            i += 1
            continue
        if i + 1 >= len(area):
            return False
        ln = area[i + 1]
        if ln < 2 or i + ln > len(area):
            return False
        if k in DEFINED_LEN and ln not in DEFINED_LEN[k]:
            return False
        i += ln
    return True


def make_area(kind, length, pos):
    """40 bytes of NOPs with <kind, length, value> written at pos (cut at the end of
    the area). Returns (area, length byte left out of the area)."""
    if kind in (0, 1):
        opt = bytes([kind, length])
    else:
        value = GOOD_VALUE.get(kind, b"") if length in DEFINED_LEN.get(kind, ()) else b""
        value = (value + b"\0" * 40)[:max(length - 2, 0)]
        opt = bytes([kind, length]) + value
    area = bytearray(b"\x01" * AREA)
    piece = opt[:AREA - pos]
    area[pos:pos + len(piece)] = piece
    return bytes(area), len(piece) < len(opt)


def run_options(ctx):
    f, w = ctx.f, ctx.wire
    cases = [(k, ln, p) for k in KINDS for ln in range(41) for p in POSITIONS]

    # --- On SYNs to the listener: well formed -> SYN-ACK, malformed -> nothing.
    before = ctx.stats.get()
    syn_bad = syn_good = syn_wrong = 0
    wrong = []
    for i in range(0, len(cases), 100):
        chunk = cases[i:i + 100]
        sent = {}
        frames = []
        for k, ln, p in chunk:
            area, _ = make_area(k, ln, POSITIONS[p])
            port = ctx.next_port()
            good = area_valid(area)  # on a SYN the area ends the segment: no payload
            sent[port] = (k, ln, p, good)
            frames.append(tcp_frame(w, port, ctx.echo_port, 1000 + port, 0, SYN, 65535, area))
        w.send_many(frames)
        answered = set()
        deadline = time.monotonic() + 1.5
        want = sum(1 for v in sent.values() if v[3])
        while time.monotonic() < deadline:
            for s in w.recv(0.05):
                if s.dport in sent and s.has(SYN | ACK):
                    answered.add(s.dport)
            if len(answered) >= want:
                deadline = min(deadline, time.monotonic() + 0.2)  # catch unexpected extras
        rsts = []
        for port, (k, ln, p, good) in sent.items():
            if port in answered:
                # RST at exactly RCV.NXT ends the half-open connection (RFC 5961 §3.2).
                rsts.append(tcp_frame(w, port, ctx.echo_port, 1000 + port + 1, 0, RST, 0))
            if good != (port in answered):
                syn_wrong += 1
                wrong.append(f"SYN kind={k} len={ln} pos={p}: {'no SYN-ACK' if good else 'answered'}")
            syn_good += good
            syn_bad += not good
        w.send_many(rsts)
    time.sleep(0.2)
    d = ctx.stats.delta(before)
    f.check(syn_wrong == 0, f"options on SYN: {syn_wrong} wrong answers, e.g. {wrong[:5]}")
    f.check(d["drop_parse_bad_option"] == syn_bad,
            f"options on SYN: drop_parse_bad_option +{d['drop_parse_bad_option']}, {syn_bad} malformed sent")
    syn_counter = d["drop_parse_bad_option"]

    # --- On an established connection (no TS, no SACK, so any TS/SACK value is inert):
    # each segment carries a tagged payload at RCV.NXT; the echo must hold exactly the
    # well-formed ones. In the "last" position the length byte is the first payload byte.
    conn = ctx.conn(ts=False, sack=False)
    before = ctx.stats.get()
    items = []
    est_bad = 0
    for n, (k, ln, p) in enumerate(cases):
        area, _ = make_area(k, ln, POSITIONS[p])
        lead = bytes([ln]) if p == "last" else b""
        good = area_valid(area)
        est_bad += not good
        payload = lead + f"<{'A' if good else 'D'}{n}>".encode()
        items.append((lambda seq, pl, area=area: conn.frame(ACK | PSH, seq=seq, payload=pl, opts=area),
                      good, payload))
    ok, why = stream_batch(conn, items, timeout=8.0)
    d = end_batch(ctx, conn, "options on established segments", before, ok, why,
                  "drop_parse_bad_option", est_bad)
    return (f"{len(KINDS)} kinds x 41 lengths x {len(POSITIONS)} positions = {len(cases)} SYNs "
            f"({syn_good} answered with SYN-ACK, {syn_bad} dropped, drop_parse_bad_option +{syn_counter}, "
            f"{syn_wrong} wrong) and {len(cases)} established segments ({len(cases) - est_bad} echoed, "
            f"{est_bad} dropped, drop_parse_bad_option +{d['drop_parse_bad_option']}, echo {'exact' if ok else 'WRONG'})")


def run_data_offset(ctx):
    """Data offset 0-15 on a 44-byte segment: < 5 or beyond the segment -> dropped
    (drop_parse_bad_header_len); otherwise the bytes between 20 and 4*offset are options
    (NOPs here) and the rest is payload."""
    conn = ctx.conn(ts=False, sack=False)
    before = ctx.stats.get()
    items = []
    bad = 0
    body_len = 24
    for off in range(16):
        hl = off * 4
        good = 20 <= hl <= 20 + body_len
        bad += not good
        tag = f"<o{off}{'A' if good else 'D'}".encode()
        if good:
            payload = b"\x01" * (hl - 20) + (tag + b"." * body_len)[:body_len - (hl - 20)]
            echoed = payload[hl - 20:]
        else:
            payload = (tag + b"." * body_len)[:body_len]
            echoed = payload

        def build(seq, _pl, off=off, payload=payload):
            return tcp_frame(ctx.wire, conn.sport, conn.dport, seq, conn.rcv_nxt, ACK | PSH, 65535,
                             b"", payload, dataofs=off)
        items.append((build, good, echoed))
    ok, why = stream_batch(conn, items)
    d = end_batch(ctx, conn, "data offset", before, ok, why, "drop_parse_bad_header_len", bad)
    return (f"offsets 0-15 on a {20 + body_len}-byte segment: {16 - bad} accepted (payload after "
            f"4*offset echoed {'exactly' if ok else 'WRONG'}), {bad} dropped, "
            f"drop_parse_bad_header_len +{d['drop_parse_bad_header_len']}")
