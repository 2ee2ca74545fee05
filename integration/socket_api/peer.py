#!/usr/bin/python3
"""Kernel-side peer for the socket-API differential test (socket_api, see README.md).

Usage: peer.py PROGRAM_IP PEER_IP
  PROGRAM_IP: where socket_api listens (the CONNECT command connects there)
  PEER_IP:    the address this peer listens on (all services below)

Services on PEER_IP (fixed ports, so the program may print them):
  7000 control  line protocol, one reply line per command (see CONTROL below)
  7001 echo     echoes everything; on EOF it half-closes and closes
  7002 sink     reads to EOF, then replies "n=<bytes> fnv=<fnv1a32 hex>\n" and closes
  7003 pieces   sends PIECES_TOTAL pattern bytes in PIECES_N writes PIECES_GAP apart, closes
  7004 reset    accepts, then closes with SO_LINGER {1,0}: the program gets a RST
  7005 delay    waits DELAY_S, sends "delayed\n", then holds until the program closes
  7006 fin      sends "bye\n", shuts down its sending side, reads (discards) to EOF
  7007 hold     never reads, never sends: the program's send buffer fills up; held
                until the program closes (RST or FIN seen through poll)
Nothing listens on 7009 (connection refused); run.sh drops SYNs to 7010.

CONTROL commands (ids name connections this peer made with CONNECT):
  PING                 -> PONG
  CONNECT <port>       -> OK <id> | ERR <ERRNO NAME> | ERR TIMEOUT
  SEND <id> <text>     -> OK          (text up to the end of the line, no newline sent)
  RECV <id> <n>        -> DATA <text> | ERR EOF <got> | ERR TIMEOUT | ERR <ERRNO>
  WAITEOF <id>         -> EOF n=<bytes read before EOF> | RST | ERR TIMEOUT
  SHUTWR <id>          -> OK
  CLOSE <id>           -> OK
  RESET <id>           -> OK          (SO_LINGER {1,0} then close: a RST)
Every wait is bounded; a connection thread never lives longer than CONN_LIMIT_S.
SIGTERM: listeners close, the process exits with status 0.
"""
import errno
import os
import select
import signal
import socket
import struct
import sys
import threading
import time

CTRL, ECHO, SINK, PIECES, RESET, DELAY, FIN, HOLD = range(7000, 7008)
PIECES_TOTAL, PIECES_N, PIECES_GAP = 3000, 6, 0.05
DELAY_S = 0.5
CONN_LIMIT_S = 60.0   # no connection is served longer than this
IO_TIMEOUT_S = 5.0    # one RECV/WAITEOF or CONNECT may take this long

stop = threading.Event()
held = {}             # id -> socket made by CONNECT
held_lock = threading.Lock()
next_id = [1]


def log(msg):
    print("peer: " + msg, file=sys.stderr, flush=True)


def ename(e):
    return errno.errorcode.get(e, str(e))


def fnv1a(data, h=0x811C9DC5):
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def pattern(n):
    """The bytes 'a'..'z' repeated: the program checks them."""
    return bytes(0x61 + i % 26 for i in range(n))


def linger0_close(s):
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    s.close()


def read_to_eof(s, limit=CONN_LIMIT_S, sink=None):
    """Reads until EOF; returns ('EOF', n) | ('RST', n) | ('TIMEOUT', n)."""
    s.settimeout(limit)
    n = 0
    try:
        while True:
            b = s.recv(65536)
            if not b:
                return "EOF", n
            n += len(b)
            if sink is not None:
                sink.append(b)
    except ConnectionResetError:
        return "RST", n
    except socket.timeout:
        return "TIMEOUT", n
    except OSError as e:
        return ename(e.errno), n


# --- Services, one thread per accepted connection.

def serve_echo(s):
    s.settimeout(CONN_LIMIT_S)
    try:
        while True:
            b = s.recv(65536)
            if not b:
                s.shutdown(socket.SHUT_WR)
                break
            s.sendall(b)
    except OSError:
        pass
    s.close()


def serve_sink(s):
    s.settimeout(CONN_LIMIT_S)
    n, h = 0, 0x811C9DC5
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            n += len(b)
            h = fnv1a(b, h)
        s.sendall(("n=%d fnv=%08x\n" % (n, h)).encode())
    except OSError:
        pass
    s.close()


def serve_pieces(s):
    data = pattern(PIECES_TOTAL)
    step = PIECES_TOTAL // PIECES_N
    try:
        for i in range(PIECES_N):
            s.sendall(data[i * step:(i + 1) * step])
            time.sleep(PIECES_GAP)
    except OSError:
        pass
    s.close()


def serve_reset(s):
    linger0_close(s)


def serve_delay(s):
    time.sleep(DELAY_S)
    try:
        s.sendall(b"delayed\n")
    except OSError:
        pass
    read_to_eof(s)
    s.close()


def serve_fin(s):
    try:
        s.sendall(b"bye\n")
        s.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    read_to_eof(s)
    s.close()


def serve_hold(s):
    # Never read: poll only for the program's FIN (RDHUP) or RST (HUP/ERR).
    p = select.poll()
    p.register(s, select.POLLRDHUP | select.POLLHUP | select.POLLERR)
    deadline = time.monotonic() + CONN_LIMIT_S
    while not stop.is_set() and time.monotonic() < deadline:
        if p.poll(200):
            break
    linger0_close(s)


# --- Control connection.

def get_held(arg):
    with held_lock:
        return held.get(int(arg))


def pop_held(arg):
    with held_lock:
        return held.pop(int(arg), None)


def cmd_connect(program_ip, port):
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    c.settimeout(3.0)
    try:
        c.connect((program_ip, int(port)))
    except socket.timeout:
        c.close()
        return "ERR TIMEOUT"
    except OSError as e:
        c.close()
        return "ERR " + ename(e.errno)
    with held_lock:
        i = next_id[0]
        next_id[0] += 1
        held[i] = c
    return "OK %d" % i


def cmd_recv(c, n):
    c.settimeout(IO_TIMEOUT_S)
    got = b""
    try:
        while len(got) < n:
            b = c.recv(n - len(got))
            if not b:
                return "ERR EOF %d" % len(got)
            got += b
    except socket.timeout:
        return "ERR TIMEOUT"
    except OSError as e:
        return "ERR " + ename(e.errno)
    return "DATA " + got.decode("latin-1")


def control_command(program_ip, line):
    parts = line.split(" ", 2)
    cmd = parts[0]
    try:
        if cmd == "PING":
            return "PONG"
        if cmd == "CONNECT":
            return cmd_connect(program_ip, parts[1])
        c = get_held(parts[1])
        if c is None:
            return "ERR NOID"
        if cmd == "SEND":
            c.sendall(parts[2].encode("latin-1") if len(parts) > 2 else b"")
            return "OK"
        if cmd == "RECV":
            return cmd_recv(c, int(parts[2]))
        if cmd == "WAITEOF":
            what, n = read_to_eof(c, IO_TIMEOUT_S)
            return "EOF n=%d" % n if what == "EOF" else ("RST" if what == "RST" else "ERR " + what)
        if cmd == "SHUTWR":
            c.shutdown(socket.SHUT_WR)
            return "OK"
        if cmd == "CLOSE":
            pop_held(parts[1]).close()
            return "OK"
        if cmd == "RESET":
            linger0_close(pop_held(parts[1]))
            return "OK"
    except (IndexError, ValueError):
        return "ERR SYNTAX"
    except OSError as e:
        return "ERR " + ename(e.errno)
    return "ERR UNKNOWN"


def serve_control(s, program_ip):
    s.settimeout(CONN_LIMIT_S * 3)   # a whole program run
    buf = b""
    try:
        while True:
            b = s.recv(4096)
            if not b:
                break
            buf += b
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                reply = control_command(program_ip, line.decode("latin-1").rstrip("\r"))
                s.sendall((reply + "\n").encode("latin-1"))
    except OSError:
        pass
    s.close()


# --- Listeners.

def listener(ip, port, handler, *args):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((ip, port))
    ls.listen(64)
    ls.settimeout(0.2)   # so the loop sees `stop`

    def loop():
        while not stop.is_set():
            try:
                s, _ = ls.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            s.settimeout(None)
            threading.Thread(target=handler, args=(s,) + args, daemon=True).start()
        ls.close()

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    return t


def main():
    if len(sys.argv) != 3:
        print("usage: peer.py PROGRAM_IP PEER_IP", file=sys.stderr)
        return 2
    program_ip, peer_ip = sys.argv[1], sys.argv[2]
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threads = [
        listener(peer_ip, CTRL, serve_control, program_ip),
        listener(peer_ip, ECHO, serve_echo),
        listener(peer_ip, SINK, serve_sink),
        listener(peer_ip, PIECES, serve_pieces),
        listener(peer_ip, RESET, serve_reset),
        listener(peer_ip, DELAY, serve_delay),
        listener(peer_ip, FIN, serve_fin),
        listener(peer_ip, HOLD, serve_hold),
    ]
    print("ready", flush=True)
    while not stop.wait(0.5):
        pass
    for t in threads:
        t.join(2.0)
    with held_lock:
        for c in held.values():
            c.close()
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
