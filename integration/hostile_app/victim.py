"""The well-behaved side of integration/hostile_app_test.sh.

  victim.py server IP PORT                  echo server (runs under libutcp.so)
  victim.py echo IP PORT                    echo server on the kernel stack (the hostile
                                            program's connections end here)
  victim.py client IP PORT CONNS SECONDS REPORT STOPFILE
                                            kernel-side clients of the victim: each
                                            connection sends random requests, reads the
                                            exact echo back and records the latency;
                                            every 20 requests it reconnects (accept and
                                            connect keep running during the attack).
The client writes REPORT (JSON) when SECONDS pass or STOPFILE appears: requests,
bytes, wrong (echoes that differed), errors (exceptions), max_latency, and the
slowest requests with their wall-clock times.
"""
import json
import os
import socket
import sys
import threading
import time


def serve(ip, port):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((ip, port))
    ls.listen(64)
    print("listening", flush=True)

    def echo(c):
        try:
            while True:
                data = c.recv(65536)
                if not data:
                    break
                c.sendall(data)
        except OSError:
            pass
        finally:
            c.close()

    while True:
        c, _ = ls.accept()
        threading.Thread(target=echo, args=(c,), daemon=True).start()


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = 0
        self.bytes = 0
        self.wrong = 0
        self.errors = []
        self.max_latency = 0.0
        self.slowest = []  # (latency, wall-clock time)


def recv_exact(s, n):
    parts = []
    while n > 0:
        b = s.recv(min(n, 65536))
        if not b:
            raise ConnectionError("connection closed by the victim")
        parts.append(b)
        n -= len(b)
    return b"".join(parts)


def client_thread(ip, port, deadline, stop, stats, k):
    s = None
    done = 0
    while time.monotonic() < deadline and not os.path.exists(stop):
        try:
            if s is None:
                s = socket.create_connection((ip, port), timeout=10)
                s.settimeout(10)
            size = 1 + int.from_bytes(os.urandom(2), "little") % 16384
            msg = os.urandom(size)
            t0 = time.monotonic()
            s.sendall(msg)
            got = recv_exact(s, size)
            lat = time.monotonic() - t0
            with stats.lock:
                stats.requests += 1
                stats.bytes += size
                if got != msg:
                    stats.wrong += 1
                if lat > stats.max_latency:
                    stats.max_latency = lat
                stats.slowest.append((lat, time.time()))
                stats.slowest = sorted(stats.slowest, reverse=True)[:5]
            done += 1
            if done % 20 == 0:
                s.close()
                s = None
            time.sleep(0.002)
        except (OSError, ConnectionError) as e:
            with stats.lock:
                stats.errors.append("conn %d at %.3f: %r" % (k, time.time(), e))
            if s is not None:
                s.close()
            s = None
            time.sleep(0.1)
    if s is not None:
        s.close()


def client(ip, port, conns, seconds, report, stop):
    stats = Stats()
    deadline = time.monotonic() + seconds
    threads = [threading.Thread(target=client_thread, args=(ip, port, deadline, stop, stats, k))
               for k in range(conns)]
    for t in threads:
        t.start()
    announced = False
    while any(t.is_alive() for t in threads):
        if not announced and stats.requests > 0:
            print("running", flush=True)
            announced = True
        time.sleep(0.1)
    with open(report, "w") as f:
        json.dump({"requests": stats.requests, "bytes": stats.bytes, "wrong": stats.wrong,
                   "errors": stats.errors[:10], "error_count": len(stats.errors),
                   "max_latency": stats.max_latency, "slowest": stats.slowest}, f)


def main():
    mode, ip, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode in ("server", "echo"):
        serve(ip, port)
    else:
        client(ip, port, int(sys.argv[4]), float(sys.argv[5]), sys.argv[6], sys.argv[7])


if __name__ == "__main__":
    main()
