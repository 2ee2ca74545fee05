# The crafted TCP peer for the malformed-packet suite (issue 6): a raw AF_PACKET socket
# on the kernel side of the tap wire plays 198.18.0.3, an address and MAC no kernel
# interface owns, so utcpd's answers reach only us (the kernel drops frames for another
# MAC as PACKET_OTHERHOST and never sends RSTs for connections it does not know).
# Frames are built with scapy; replies are parsed by hand (fast, and independent of
# the stack under test). Every wait is bounded. RFCs: 9293 §3.10.7, 5961, 7323, 2018.
import json
import os
import random
import select
import socket
import struct
import subprocess
import time

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Raw

ETH_P_ALL = 3
PACKET_OUTGOING = 4
SO_SNDBUFFORCE = 32
SO_RCVBUFFORCE = 33
PACKET_QDISC_BYPASS = 20
SOL_PACKET = 263

FIN, SYN, RST, PSH, ACK, URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20


class Failures:
    """Collects FAIL lines; a class's check adds to it and goes on (one run shows all)."""

    def __init__(self):
        self.items = []

    def check(self, ok, what):
        if not ok:
            self.items.append(what)
            print(f"[malformed] FAIL: {what}", flush=True)
        return ok


def log(msg):
    print(f"[malformed] {msg}", flush=True)


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ip4(addr):
    return socket.inet_aton(addr)


class Seg:
    """One parsed TCP segment from utcpd (hand parser: only what the checks need)."""

    __slots__ = ("sport", "dport", "seq", "ack", "flags", "win", "opts", "payload", "tsval", "tsecr", "sack", "mss", "wscale")

    def __init__(self, tcp):
        (self.sport, self.dport, self.seq, self.ack, off, self.flags, self.win) = struct.unpack("!HHIIBBH", tcp[:16])
        hl = (off >> 4) * 4
        self.opts = tcp[20:hl]
        self.payload = tcp[hl:]
        self.tsval = self.tsecr = self.mss = self.wscale = None
        self.sack = []
        i, o = 0, self.opts
        while i < len(o):
            k = o[i]
            if k == 0:
                break
            if k == 1:
                i += 1
                continue
            if i + 1 >= len(o) or o[i + 1] < 2:
                break
            ln = o[i + 1]
            if k == 8 and ln == 10:
                self.tsval, self.tsecr = struct.unpack("!II", o[i + 2:i + 10])
            elif k == 2 and ln == 4:
                self.mss = struct.unpack("!H", o[i + 2:i + 4])[0]
            elif k == 3 and ln == 3:
                self.wscale = o[i + 2]
            elif k == 5:
                self.sack = [struct.unpack("!II", o[j:j + 8]) for j in range(i + 2, i + ln - 7, 8)]
            i += ln

    def has(self, f):
        return (self.flags & f) == f

    def __repr__(self):
        names = "".join(n for b, n in ((SYN, "S"), (ACK, "A"), (FIN, "F"), (RST, "R"), (PSH, "P"), (URG, "U")) if self.flags & b)
        return f"<{self.sport}>{self.dport} {names} seq={self.seq} ack={self.ack} win={self.win} len={len(self.payload)}>"


class Icmp:
    __slots__ = ("type", "code", "quoted")

    def __init__(self, b):
        self.type, self.code = b[0], b[1]
        self.quoted = b[8:]


class Wire:
    """The raw socket on utcp0, the peer's identity (IP, MAC) and utcpd's MAC."""

    def __init__(self, ifname, peer_ip, peer_mac, utcp_ip):
        self.ifname, self.peer_ip, self.peer_mac, self.utcp_ip = ifname, peer_ip, peer_mac, utcp_ip
        self.peer_ip_b, self.utcp_ip_b = ip4(peer_ip), ip4(utcp_ip)
        self.peer_mac_b = bytes.fromhex(peer_mac.replace(":", ""))
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 64 << 20)
        s.setsockopt(socket.SOL_SOCKET, SO_SNDBUFFORCE, 8 << 20)
        # Straight to the tap's ring (no qdisc): a frame the ring has no room for is
        # dropped inside send(), so tx_dropped read right after tells us (tun never
        # pushes back, it drops; see send_many).
        s.setsockopt(SOL_PACKET, PACKET_QDISC_BYPASS, 1)
        s.bind((ifname, ETH_P_ALL))
        s.setblocking(False)
        self.s = s
        self.utcp_mac = None
        self.icmp_in = []
        self.utcp_mac = self.announce()

    def tx_dropped(self):
        with open(f"/sys/class/net/{self.ifname}/statistics/tx_dropped") as f:
            return int(f.read())

    def send(self, frame):
        deadline = time.monotonic() + 5
        while True:  # ENOBUFS/EAGAIN: the tap's queue is stopped; wait for utcpd to read
            try:
                self.s.send(frame)
                return
            except (BlockingIOError, OSError):
                if time.monotonic() > deadline:
                    raise RuntimeError("tap wire refuses frames for 5 s")
                time.sleep(0.001)

    def send_many(self, frames, batch=32, pause=0.0005, resend=False):
        """Sends frames in paced batches. The tap drops what utcpd has not read when
        its ring is full: with resend, a batch that lost frames is sent again after a
        back-off (for floods where duplicates are harmless); without, the loss shows
        in tx_dropped, which run.py turns into a failure of the class. Returns the
        number of batches resent."""
        resent = 0
        for i in range(0, len(frames), batch):
            for attempt in range(100):
                d0 = self.tx_dropped() if resend else 0
                for f in frames[i:i + batch]:
                    self.send(f)
                if not resend or self.tx_dropped() == d0:
                    break
                resent += 1
                time.sleep(0.002 * min(attempt + 1, 10))
            time.sleep(pause)
        return resent

    def announce(self):
        """ARP request from the peer for utcp's address: utcpd learns (RFC 826 merge)
        our MAC and answers with its own. Also refreshes the mapping (60 s TTL)."""
        req = bytes(Ether(src=self.peer_mac, dst="ff:ff:ff:ff:ff:ff") /
                    ARP(op=1, hwsrc=self.peer_mac, psrc=self.peer_ip, pdst=self.utcp_ip))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            self.send(req)
            end = time.monotonic() + 0.3
            while time.monotonic() < end:
                for fr in self._frames(0.05):
                    if fr[12:14] == b"\x08\x06" and fr[20:22] == b"\x00\x02" and fr[28:32] == self.utcp_ip_b:
                        return ":".join(f"{x:02x}" for x in fr[22:28])
        raise RuntimeError("utcpd did not answer ARP")

    def _frames(self, timeout):
        """Frames that arrived on utcp0 (not those we sent), waiting up to timeout for
        the first one."""
        out = []
        r, _, _ = select.select([self.s], [], [], max(timeout, 0))
        if not r:
            return out
        while True:
            try:
                fr, addr = self.s.recvfrom(65535)
            except BlockingIOError:
                return out
            if addr[2] != PACKET_OUTGOING:
                out.append(fr)

    def _answer_arp(self, fr):
        # utcpd re-resolving our address (TTL expired): answer it like a host would.
        if fr[20:22] == b"\x00\x01" and fr[38:42] == self.peer_ip_b:
            rep = Ether(src=self.peer_mac, dst=fr[6:12]) / ARP(
                op=2, hwsrc=self.peer_mac, psrc=self.peer_ip, hwdst=fr[22:28], pdst=fr[28:32])
            self.send(bytes(rep))

    def recv(self, timeout):
        """TCP segments from utcpd to the peer within timeout (ICMP goes to icmp_in)."""
        out = []
        for fr in self._frames(timeout):
            et = fr[12:14]
            if et == b"\x08\x06":
                self._answer_arp(fr)
                continue
            if et != b"\x08\x00" or fr[0:6] != self.peer_mac_b:
                continue
            ihl = (fr[14] & 0x0F) * 4
            tot = struct.unpack("!H", fr[16:18])[0]
            if fr[26:30] != self.utcp_ip_b or fr[30:34] != self.peer_ip_b:
                continue
            body = fr[14 + ihl:14 + tot]
            if fr[23] == 6:
                out.append(Seg(body))
            elif fr[23] == 1:
                self.icmp_in.append(Icmp(body))
        return out

    # ---- frame building (scapy) ----
    def ether(self):
        return Ether(src=self.peer_mac, dst=self.utcp_mac)

    def ip(self, **kw):
        return IP(src=self.peer_ip, dst=self.utcp_ip, **kw)


def tcp_frame(wire, sport, dport, seq, ack, flags, win=65535, opts=b"", payload=b"",
              dataofs=None, urgptr=0, ip_kw=None):
    """A whole Ethernet frame; opts are raw option bytes (padded to 4 with NOPs)."""
    if len(opts) % 4:
        opts += b"\x01" * (4 - len(opts) % 4)
    if dataofs is None:
        dataofs = 5 + len(opts) // 4
    pkt = wire.ether() / wire.ip(**(ip_kw or {})) / TCP(
        sport=sport, dport=dport, seq=seq & 0xFFFFFFFF, ack=ack & 0xFFFFFFFF, flags=flags,
        window=win, dataofs=dataofs, urgptr=urgptr)
    if opts or payload:
        pkt = pkt / Raw(opts + payload)
    return bytes(pkt)


def opt_mss(v=1460):
    return struct.pack("!BBH", 2, 4, v)


def opt_ws(s):
    return bytes([1, 3, 3, s])


def opt_sackp():
    return bytes([1, 1, 4, 2])


def opt_ts(val, ecr):
    return struct.pack("!BBBBII", 1, 1, 8, 10, val & 0xFFFFFFFF, ecr & 0xFFFFFFFF)


def opt_sack(blocks):
    b = bytes([1, 1, 5, 2 + 8 * len(blocks)])
    for l, r in blocks:
        b += struct.pack("!II", l & 0xFFFFFFFF, r & 0xFFFFFFFF)
    return b


class Conn:
    """One crafted connection from the peer: our side's sequence space, what utcpd
    echoed (reassembled), TSval clock (1 tick = 1 ms) when timestamps are on."""

    def __init__(self, wire, sport, dport, ts=True, sack=True, wscale=7, win=65535):
        self.w, self.sport, self.dport = wire, sport, dport
        self.use_ts, self.use_sack, self.wscale, self.win = ts, sack, wscale, win
        self.iss = random.getrandbits(32)
        self.snd_nxt = self.iss
        self.irs = self.rcv_nxt = None
        self.ts_ok = self.sack_ok = False
        self.ts_recent = 0
        self.ts_base = random.getrandbits(31)
        self.t0 = time.monotonic()
        self.rx = bytearray()        # in-order bytes from utcpd
        self.ooo = {}                # seq -> payload above rcv_nxt
        self.segs = []               # every segment seen for this connection
        self.peer_wnd = 0
        self.peer_wscale = 0

    def tsval(self, delta=0):
        return (self.ts_base + int((time.monotonic() - self.t0) * 1000) + delta) & 0xFFFFFFFF

    def std_opts(self, tsval=None):
        return opt_ts(self.tsval() if tsval is None else tsval, self.ts_recent) if self.ts_ok else b""

    def frame(self, flags=ACK, seq=None, ack=None, payload=b"", opts=None, win=None, **kw):
        return tcp_frame(self.w, self.sport, self.dport,
                         self.snd_nxt if seq is None else seq,
                         (self.rcv_nxt or 0) if ack is None else ack, flags,
                         self.win if win is None else win,
                         self.std_opts() if opts is None else opts, payload, **kw)

    def send(self, flags=ACK, payload=b"", advance=True, **kw):
        self.w.send(self.frame(flags, payload=payload, **kw))
        if advance and "seq" not in kw:
            self.snd_nxt = (self.snd_nxt + len(payload) + (1 if flags & (SYN | FIN) else 0)) & 0xFFFFFFFF

    def open(self, timeout=3.0):
        opts = opt_mss(1460)
        if self.use_sack:
            opts += opt_sackp()
        if self.use_ts:
            opts += opt_ts(self.tsval(), 0)
        if self.wscale is not None:
            opts += opt_ws(self.wscale)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.w.send(tcp_frame(self.w, self.sport, self.dport, self.iss, 0, SYN, self.win, opts))
            end = time.monotonic() + 0.5
            while time.monotonic() < end:
                for s in self.w.recv(0.1):
                    if s.sport == self.dport and s.dport == self.sport and s.has(SYN | ACK) and \
                            s.ack == (self.iss + 1) & 0xFFFFFFFF:
                        self.irs = s.seq
                        self.rcv_nxt = (s.seq + 1) & 0xFFFFFFFF
                        self.snd_nxt = (self.iss + 1) & 0xFFFFFFFF
                        self.ts_ok = self.use_ts and s.tsval is not None
                        self.sack_ok = self.use_sack and bytes([4, 2]) in s.opts
                        if self.ts_ok:
                            self.ts_recent = s.tsval
                        self.peer_wnd = s.win
                        self.synack = s
                        self.send(ACK)
                        return True
        raise RuntimeError(f"no SYN-ACK for {self.sport}->{self.dport}")

    def take(self, segs):
        """Keeps this connection's segments; reassembles utcpd's bytes."""
        mine = [s for s in segs if s.sport == self.dport and s.dport == self.sport]
        for s in mine:
            self.segs.append(s)
            if s.tsval is not None:
                self.ts_recent = s.tsval
            if s.payload:
                self.ooo[s.seq] = s.payload
        progress = True
        while progress:
            progress = False
            for seq in list(self.ooo):
                off = (self.rcv_nxt - seq) & 0xFFFFFFFF
                data = self.ooo[seq]
                if off < len(data):
                    self.rx += data[off:]
                    self.rcv_nxt = (self.rcv_nxt + len(data) - off) & 0xFFFFFFFF
                    del self.ooo[seq]
                    progress = True
                elif off < 1 << 31:
                    del self.ooo[seq]  # old duplicate
        return mine

    def collect(self, timeout, until=None):
        """Segments for this connection within timeout, or until until(mine) is true."""
        got = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return got
            got += self.take(self.w.recv(min(left, 0.05)))
            if until is not None and until(got):
                return got

    def expect_rx(self, n, timeout=3.0):
        """Waits until utcpd has sent n in-order bytes in total (ACKing as they come)."""
        deadline = time.monotonic() + timeout
        while len(self.rx) < n and time.monotonic() < deadline:
            before = len(self.rx)
            self.collect(0.05)
            if len(self.rx) != before:
                self.send(ACK)
        if self.segs and len(self.rx) >= n:
            self.send(ACK)
        return len(self.rx) >= n

    def echo_ok(self, data, timeout=3.0):
        """Sends data in order (MSS pieces) and checks the echo brings back exactly it."""
        start = len(self.rx)
        for i in range(0, len(data), 1000):
            self.send(ACK | PSH, data[i:i + 1000])
        self.expect_rx(start + len(data), timeout)
        return bytes(self.rx[start:start + len(data)]) == data and len(self.rx) == start + len(data)

    def reset(self):
        self.w.send(self.frame(RST | ACK))


class Stats:
    """utcpd's counters (total over engines) through `utcp stat -a --json`."""

    def __init__(self, utcp, control):
        self.utcp, self.control = utcp, control

    def get(self):
        out = subprocess.run([self.utcp, "stat", "-a", "--json", "--control", self.control],
                             capture_output=True, text=True, timeout=10, check=True).stdout
        return json.loads(out)["total"]

    def delta(self, before):
        now = self.get()
        return {k: now.get(k, 0) - before.get(k, 0) for k in now}


def kernel_echo_ok(ip, port, size=65536, timeout=5.0):
    """A kernel TCP client (this namespace's stack) still gets a whole echo back."""
    data = os.urandom(size)
    try:
        with socket.create_connection((ip, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            got = bytearray()
            while len(got) < size:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
            return bytes(got) == data
    except OSError:
        return False


def utcpd_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def utcpd_cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stream_batch(conn, items, timeout=5.0, settle=0.3):
    """Sends items [(build(seq, payload) -> frame, accepted, payload)] on an established
    echo connection, each at the sequence number the RFC rules say is RCV.NXT by then
    (only accepted items advance it). What utcpd echoes must be exactly the accepted
    payloads in order; payloads carry unique tags, so a wrongly accepted item shows up
    by its tag. Returns (ok, diagnosis)."""
    start = len(conn.rx)
    want = bytearray()
    frames = []
    seq = conn.snd_nxt
    for build, accepted, payload in items:
        frames.append(build(seq, payload))
        if accepted:
            seq = (seq + len(payload)) & 0xFFFFFFFF
            want += payload
    conn.w.send_many(frames)
    conn.snd_nxt = seq
    conn.expect_rx(start + len(want), timeout)
    conn.collect(settle)  # anything beyond what is expected would arrive now
    got = bytes(conn.rx[start:])
    if got == bytes(want):
        return True, ""
    n = next((i for i in range(min(len(got), len(want))) if got[i] != want[i]), min(len(got), len(want)))
    return False, (f"echo differs at byte {n} of {len(want)} expected ({len(got)} got): "
                   f"want {bytes(want[max(0, n - 8):n + 24])!r} got {got[max(0, n - 8):n + 24]!r}")


def end_batch(ctx, conn, name, before, ok, why, counter, sent):
    """The end of a class's stream_batch: the echo was right, `counter` moved by exactly
    `sent`, and the connection still echoes; then it is reset. Returns the deltas."""
    f = ctx.f
    d = ctx.stats.delta(before)
    f.check(ok, f"{name}: {why}")
    f.check(d[counter] == sent, f"{name}: {counter} +{d[counter]}, {sent} bad ones sent")
    f.check(conn.echo_ok(f"after {name}".encode()), f"{name}: the connection no longer echoes")
    conn.reset()
    return d


def outstanding(conn, total, chunk):
    """Sends total bytes in chunk-sized segments and collects the echo without
    acknowledging it, so it stays outstanding at utcpd. total should be a multiple of
    utcpd's MSS (Nagle holds a short tail while data is unacknowledged). Returns
    (SND.UNA at utcpd, biggest echoed segment, whether all came back)."""
    una = conn.rcv_nxt
    data = os.urandom(total)
    start = len(conn.rx)
    for i in range(0, total, chunk):
        conn.send(ACK | PSH, data[i:i + chunk], ack=una)
    segs = conn.collect(2.0, until=lambda g: len(conn.rx) >= start + total)
    biggest = max((len(s.payload) for s in segs), default=0)
    return una, biggest, bytes(conn.rx[start:]) == data
