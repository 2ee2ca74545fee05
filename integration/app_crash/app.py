"""The program that gets killed (runs under libutcp.so; python3 standard library only).

  app.py server IP PORT N   accepts N connections and sends to each without end
  app.py client IP PORT N   opens N connections and sends on each without end
Prints "streaming" once every connection has carried 1 MiB; then waits for SIGKILL."""
import socket
import sys
import threading
import time

CHUNK = b"u" * 65536


def stream(sock, counts, i):
    while True:
        sock.sendall(CHUNK)
        counts[i] += len(CHUNK)


def main():
    mode, ip, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    socks = []
    if mode == "server":
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((ip, port))
        ls.listen(64)
        print("listening", flush=True)
        socks = [ls.accept()[0] for _ in range(n)]
    else:
        socks = [socket.create_connection((ip, port), timeout=10) for _ in range(n)]
    counts = [0] * n
    for i, s in enumerate(socks):
        threading.Thread(target=stream, args=(s, counts, i), daemon=True).start()
    deadline = time.time() + 30
    while min(counts) < (1 << 20) and time.time() < deadline:
        time.sleep(0.05)
    print("streaming" if min(counts) >= (1 << 20) else f"slow {counts}", flush=True)
    time.sleep(120)


if __name__ == "__main__":
    main()
