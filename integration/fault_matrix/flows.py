#!/usr/bin/env python3
# flows.py: the fault matrix's client (plain kernel sockets, one thread, selectors).
# Opens FLOWS concurrent connections to an echo service; each sends SIZE bytes of its
# own seeded random data, half-closes, and reads the echo until EOF. A flow passes when
# what came back has the SHA-256 and length of what was sent (a corruption in either
# direction changes it), it never went STALL seconds without wire progress, and it ended
# within DEADLINE seconds of the start.
# Wire progress is read from the kernel's TCP_INFO: tcpi_bytes_acked (our bytes the peer
# acknowledged) and tcpi_bytes_received (the peer's bytes in order) — bytes that merely
# entered our socket buffer are not progress. Once a flow stalls it is given up (its state
# printed), so a stall costs STALL seconds, not DEADLINE.
# Prints one JSON object on stdout (per flow and in total); exit 0 when every flow passed.
import argparse, hashlib, json, os, random, selectors, socket, struct, sys, time

TCP_INFO_LEN = 232
# struct tcp_info (linux/tcp.h): offsets of the fields read here.
OFF_STATE, OFF_RTO, OFF_RTT, OFF_TOTAL_RETRANS = 0, 8, 68, 100
OFF_BYTES_ACKED, OFF_BYTES_RECEIVED = 120, 128
TCP_STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1",
              5: "FIN_WAIT2", 6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT",
              9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING"}


def tcp_info(sock):
    raw = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, TCP_INFO_LEN)
    raw = raw.ljust(TCP_INFO_LEN, b"\0")
    return {
        "state": TCP_STATES.get(raw[OFF_STATE], str(raw[OFF_STATE])),
        "rto_ms": struct.unpack_from("I", raw, OFF_RTO)[0] / 1000,
        "rtt_ms": struct.unpack_from("I", raw, OFF_RTT)[0] / 1000,
        "total_retrans": struct.unpack_from("I", raw, OFF_TOTAL_RETRANS)[0],
        "bytes_acked": struct.unpack_from("Q", raw, OFF_BYTES_ACKED)[0],
        "bytes_received": struct.unpack_from("Q", raw, OFF_BYTES_RECEIVED)[0],
    }


class Flow:
    def __init__(self, index, size, seed, t0):
        self.index = index
        self.data = random.Random(seed * 1000003 + index).randbytes(size)
        self.want = hashlib.sha256(self.data).hexdigest()
        self.got = hashlib.sha256()
        self.sent = self.received = 0
        self.shut = self.eof = False
        self.error = None
        self.stalled = False
        self.done_at = None
        self.progress = (-1, -1)      # (bytes_acked, bytes_received) last seen
        self.last_progress = t0
        self.max_gap = 0.0
        self.info = {}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)

    def finished(self):
        return self.done_at is not None or self.error is not None or self.stalled


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--flows", type=int, default=20)
    ap.add_argument("--size", type=int, required=True, help="bytes each flow sends")
    ap.add_argument("--seed", type=int, default=1, help="the flows' data")
    ap.add_argument("--deadline", type=float, required=True, help="seconds for every flow")
    ap.add_argument("--stall", type=float, required=True,
                    help="longest time a flow may go without wire progress")
    a = ap.parse_args()

    t0 = time.monotonic()
    flows = [Flow(i, a.size, a.seed, t0) for i in range(a.flows)]
    sel = selectors.DefaultSelector()
    for f in flows:
        err = f.sock.connect_ex((a.host, a.port))
        if err not in (0, 115):  # EINPROGRESS
            f.error = f"connect: {os.strerror(err)}"
            continue
        sel.register(f.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, f)

    def close(f):
        try:
            f.info = tcp_info(f.sock)
        except OSError:
            pass
        try:
            sel.unregister(f.sock)
        except (KeyError, ValueError):
            pass
        f.sock.close()

    last_check = 0.0
    while not all(f.finished() for f in flows):
        now = time.monotonic()
        if now - t0 > a.deadline:
            break
        for key, mask in sel.select(timeout=0.05):
            f = key.data
            if f.finished():
                continue
            try:
                if mask & selectors.EVENT_WRITE and not f.shut:
                    if f.sent < len(f.data):
                        f.sent += f.sock.send(memoryview(f.data)[f.sent:f.sent + (1 << 16)])
                    if f.sent == len(f.data):
                        f.sock.shutdown(socket.SHUT_WR)
                        f.shut = True
                        sel.modify(f.sock, selectors.EVENT_READ, f)
                if mask & selectors.EVENT_READ:
                    chunk = f.sock.recv(1 << 18)
                    if chunk:
                        f.got.update(chunk)
                        f.received += len(chunk)
                    else:
                        f.eof = True
            except BlockingIOError:
                pass
            except OSError as e:
                f.error = f"{type(e).__name__}: {e}"
            if f.eof and not f.error:
                if f.shut:
                    f.done_at = time.monotonic() - t0
                else:
                    f.error = f"EOF after {f.received} bytes, before sending all ({f.sent})"
            if f.finished():
                close(f)
        now = time.monotonic()
        if now - last_check < 0.1:
            continue
        last_check = now
        for f in flows:
            if f.finished():
                continue
            try:
                info = tcp_info(f.sock)
            except OSError as e:
                f.error = f"TCP_INFO: {e}"
                close(f)
                continue
            progress = (info["bytes_acked"], info["bytes_received"])
            if progress != f.progress:
                f.progress = progress
                f.last_progress = now
            gap = now - f.last_progress
            f.max_gap = max(f.max_gap, gap)
            if gap > a.stall:
                f.stalled = True
                f.info = info
                close(f)

    end = time.monotonic() - t0
    out = {"flows": [], "ok": 0, "mismatches": 0, "stalls": 0, "errors": 0, "late": 0}
    for f in flows:
        if not f.finished():
            try:
                f.info = tcp_info(f.sock)
            except OSError:
                pass
            f.sock.close()
        got = f.got.hexdigest()
        complete = f.done_at is not None
        match = complete and got == f.want and f.received == len(f.data)
        status = ("stall" if f.stalled else "error" if f.error else "late" if not complete
                  else "ok" if match else "mismatch")
        out[{"ok": "ok", "mismatch": "mismatches", "stall": "stalls", "error": "errors",
             "late": "late"}[status]] += 1
        out["flows"].append({
            "flow": f.index, "status": status, "sent": f.sent, "received": f.received,
            "sha256_sent": f.want, "sha256_received": got,
            "seconds": round(f.done_at if complete else end, 3),
            "max_gap": round(f.max_gap, 3), "error": f.error, "tcp_info": f.info})
    done = [fl["seconds"] for fl in out["flows"] if fl["status"] == "ok"]
    out["slowest"] = max(done) if done else None
    out["max_gap"] = max(fl["max_gap"] for fl in out["flows"])
    out["kernel_retrans"] = sum(fl["tcp_info"].get("total_retrans", 0) for fl in out["flows"])
    out["elapsed"] = round(end, 3)
    json.dump(out, sys.stdout)
    print()
    return 0 if out["ok"] == len(flows) else 1


if __name__ == "__main__":
    sys.exit(main())
