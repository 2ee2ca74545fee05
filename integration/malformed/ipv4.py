# IPv4 header lengths, Ethernet padding and fragments (RFC 791 §3.1, RFC 1122 §3.2.1,
# RFC 894). Each bad datagram carries a tagged TCP segment at RCV.NXT of an established
# echo connection, so a datagram wrongly accepted shows up in the echo by its tag.
# Expected: IHL < 5 or IHL*4 beyond the frame -> drop_parse_bad_header_len; total
# length < IHL*4 or > the frame -> drop_parse_bad_total_len; version != 4 ->
# drop_parse_bad_version; a TCP segment shorter than 20 bytes after trimming ->
# drop_parse_truncated; bytes beyond the total length (Ethernet padding to 60 bytes,
# or any trailing junk) are not data: the datagram is accepted and only its own
# payload echoed; valid IP options (IHL > 5) are skipped. Fragments (MF set or offset
# != 0) are dropped and counted (drop_parse_fragment): utcp sends DF and does not
# reassemble (stack/wire/ipv4.cc), and an unfragmented DF=0 datagram is accepted.
import struct

from common import ACK, PSH, SYN, csum, end_batch, stream_batch, tcp_frame


def patch_ip(frame, ihl=None, total=None, version=None, frag=None, trailer=b"", options=None):
    """frame with its IPv4 header fields changed (header checksum recomputed, so the
    field is the only thing wrong); options are inserted after the 20-byte header."""
    eth, ip, rest = frame[:14], bytearray(frame[14:34]), frame[34:]
    if options is not None:
        ip[0] = 0x40 | (5 + len(options) // 4)
        struct.pack_into("!H", ip, 2, 20 + len(options) + len(rest))
        ip = ip + options
    if ihl is not None:
        ip[0] = (ip[0] & 0xF0) | ihl
    if version is not None:
        ip[0] = (version << 4) | (ip[0] & 0x0F)
    if total is not None:
        struct.pack_into("!H", ip, 2, total)
    if frag is not None:
        struct.pack_into("!H", ip, 6, frag)
    ip[10:12] = b"\0\0"
    hl = max(20, (ip[0] & 0x0F) * 4) if options is not None else 20
    ip[10:12] = struct.pack("!H", csum(bytes(ip[:hl])))
    return eth + bytes(ip) + rest + trailer


def run_ipv4(ctx):
    f = ctx.f
    conn = ctx.conn(ts=False, sack=False)
    cases = []  # (name, counter or None when accepted, patch kwargs)
    for ihl in range(5):
        cases.append((f"IHL {ihl}", "drop_parse_bad_header_len", dict(ihl=ihl)))
    cases.append(("IHL 15 beyond the frame", "drop_parse_bad_header_len", dict(ihl=15)))
    # IHL 15 = 60 bytes: inside the frame thanks to a trailer, but beyond total length.
    cases.append(("IHL 15 beyond total length", "drop_parse_bad_total_len", dict(ihl=15, trailer=b"\0" * 64)))
    for tot in (0, 19):
        cases.append((f"total length {tot}", "drop_parse_bad_total_len", dict(total=tot)))
    cases.append(("total length 39 (TCP header cut)", "drop_parse_truncated", dict(total=39)))
    for extra in (1, 100, 65535):
        cases.append((f"total length frame+{extra}", "drop_parse_bad_total_len", dict(total=("+", extra))))
    cases.append(("version 6", "drop_parse_bad_version", dict(version=6)))
    cases.append(("version 0", "drop_parse_bad_version", dict(version=0)))
    cases.append(("padding to 60 bytes", None, dict(pad60=True)))
    cases.append(("300 bytes of trailing junk", None, dict(trailer=b"\xaa" * 300)))
    cases.append(("IP options: 4 NOPs (IHL 6)", None, dict(options=b"\x01\x01\x01\x00")))
    cases.append(("IP options: router alert + EOL (IHL 7)", None, dict(options=b"\x94\x04\x00\x00\x00\x00\x00\x00")))

    before = ctx.stats.get()
    items = []
    want = {}
    for n, (name, counter, kw) in enumerate(cases):
        accepted = counter is None
        # A short payload: with padding the frame is below the 60-byte minimum.
        payload = f"<i{n}{'A' if accepted else 'D'}>".encode() if not kw.get("pad60") else b"p"
        if counter:
            want[counter] = want.get(counter, 0) + 1

        def build(seq, pl, kw=kw):
            fr = conn.frame(ACK | PSH, seq=seq, payload=pl)
            kw = dict(kw)
            if kw.pop("pad60", False):
                assert len(fr) < 60
                fr = fr + b"\0" * (60 - len(fr))
            if isinstance(kw.get("total"), tuple):
                kw["total"] = min(len(fr) - 14 + kw["total"][1], 65535)
            return patch_ip(fr, **kw)
        items.append((build, accepted, payload))
    ok, why = stream_batch(conn, items)
    d = ctx.stats.delta(before)
    f.check(ok, f"ipv4: {why}")
    moved = []
    for counter in ("drop_parse_bad_header_len", "drop_parse_bad_total_len", "drop_parse_truncated",
                    "drop_parse_bad_version"):
        f.check(d[counter] == want.get(counter, 0),
                f"ipv4: {counter} +{d[counter]}, {want.get(counter, 0)} such datagrams sent")
        moved.append(f"{counter.replace('drop_parse_', '')} +{d[counter]}")
    f.check(conn.echo_ok(b"after ipv4"), "ipv4: the connection no longer echoes")
    conn.reset()
    n_bad = sum(want.values())
    return (f"{len(cases)} datagrams: {n_bad} malformed dropped ({', '.join(moved)}), "
            f"{len(cases) - n_bad} accepted (60-byte padding, trailing junk, IP options), "
            f"echo {'exact' if ok else 'WRONG'}")


def run_fragments(ctx):
    f, w = ctx.f, ctx.wire
    conn = ctx.conn(ts=False, sack=False)
    DF, MF = 0x4000, 0x2000
    cases = [("MF, offset 0", MF), ("offset 8 bytes, last", 1), ("MF, offset 800 bytes", MF | 100),
             ("DF+MF, offset 0", DF | MF), ("offset 65528 bytes", 0x1FFF), ("unfragmented, DF=0", 0)]
    before = ctx.stats.get()
    items = []
    n_frag = 0
    for n, (name, frag) in enumerate(cases):
        accepted = frag == 0
        n_frag += not accepted
        items.append((lambda seq, pl, frag=frag: patch_ip(conn.frame(ACK | PSH, seq=seq, payload=pl), frag=frag),
                      accepted, f"<f{n}{'A' if accepted else 'D'}>".encode()))
    ok, why = stream_batch(conn, items)
    # A SYN to the listener in a first fragment: no SYN-ACK.
    port = ctx.next_port()
    w.send(patch_ip(tcp_frame(w, port, ctx.echo_port, 77, 0, SYN, 65535), frag=MF))
    n_frag += 1
    answered = [s for s in conn.w.recv(0.5) if s.dport == port]
    f.check(not answered, f"fragments: a fragmented SYN was answered: {answered}")
    d = end_batch(ctx, conn, "fragments", before, ok, why, "drop_parse_fragment", n_frag)
    return (f"{n_frag} fragments (MF and/or offset, data and SYN) dropped, drop_parse_fragment "
            f"+{d['drop_parse_fragment']}, SYN fragment answered: {'yes' if answered else 'no'}; "
            f"an unfragmented DF=0 datagram accepted, echo {'exact' if ok else 'WRONG'}")
