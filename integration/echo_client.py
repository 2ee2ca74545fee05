#!/usr/bin/env python3
# echo_client.py HOST PORT FILE [--elapsed]: the integration tests' echo client (plain
# kernel sockets). A sender thread writes FILE, then half-closes; the main thread reads
# the echo until EOF. Prints "sha256 bytes" of what came back (and the seconds taken
# with --elapsed). The caller bounds the run (timeout); on SIGTERM it says how far it got.
import hashlib, os, signal, socket, sys, threading, time

host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
show_elapsed = "--elapsed" in sys.argv[4:]
with open(path, "rb") as f:
    data = f.read()
sent = received = 0


def on_term(signum, frame):
    print(f"client stopped: sent {sent} of {len(data)} bytes, received {received}",
          file=sys.stderr, flush=True)
    os._exit(3)


signal.signal(signal.SIGTERM, on_term)
t0 = time.monotonic()
s = socket.create_connection((host, port), timeout=10)
s.settimeout(None)  # the caller bounds the whole transfer


def send():
    global sent
    view = memoryview(data)
    while sent < len(view):
        sent += s.send(view[sent:sent + (1 << 16)])
    s.shutdown(socket.SHUT_WR)


t = threading.Thread(target=send, daemon=True)
t.start()
h = hashlib.sha256()
while True:
    chunk = s.recv(1 << 18)
    if not chunk:
        break
    h.update(chunk)
    received += len(chunk)
elapsed = time.monotonic() - t0
t.join(timeout=10)
if t.is_alive() or sent != len(data):
    print(f"EOF before the sender finished: sent {sent}", file=sys.stderr)
    sys.exit(2)
print(h.hexdigest(), received, *([f"{elapsed:.3f}"] if show_elapsed else []))
