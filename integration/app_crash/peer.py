"""The kernel side of app_crash_test.sh (python3 standard library only).

  peer.py client IP PORT N OUT   N connections to IP:PORT; each reads until it ends
                                 and writes "<index> <bytes> <eof|reset|timeout> <t>"
                                 to OUT (t: seconds since the file MARK was created;
                                 -1 if it ended before MARK existed)
  peer.py sink IP PORT N OUT     accepts N connections and reads each to its end,
                                 same report
Every wait is bounded (60 s)."""
import os
import socket
import sys
import threading
import time

LIMIT_S = 60


def read_until_end(sock, index, out, lock, mark):
    sock.settimeout(LIMIT_S)
    total, how = 0, "timeout"
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                how = "eof"
                break
            total += len(data)
    except ConnectionResetError:
        how = "reset"
    except socket.timeout:
        how = "timeout"
    ended = time.time()
    since = ended - os.stat(mark).st_mtime if os.path.exists(mark) else -1
    with lock:
        out.write(f"{index} {total} {how} {since:.3f}\n")
        out.flush()


def main():
    mode, ip, port, n, path = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    mark = path + ".mark"
    lock = threading.Lock()
    threads = []
    with open(path, "w") as out:
        if mode == "client":
            for i in range(n):
                s = socket.create_connection((ip, port), timeout=10)
                t = threading.Thread(target=read_until_end, args=(s, i, out, lock, mark))
                t.start()
                threads.append(t)
        else:
            ls = socket.socket()
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            ls.bind((ip, port))
            ls.listen(64)
            ls.settimeout(LIMIT_S)
            print("listening", flush=True)
            for i in range(n):
                s, _ = ls.accept()
                t = threading.Thread(target=read_until_end, args=(s, i, out, lock, mark))
                t.start()
                threads.append(t)
        for t in threads:
            t.join(LIMIT_S + 5)


if __name__ == "__main__":
    main()
