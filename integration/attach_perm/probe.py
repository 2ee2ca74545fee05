"""The program attach_perm_test.sh runs as an unprivileged user under libutcp.so.

probe.py SERVER PORT UTCP_IP: one line per call, its outcome ("ok ..." or "errno N"):
  connect   to the kernel's server SERVER:PORT; "ok LOCAL_IP REPLY" (LOCAL_IP tells the
            stack: utcp's address under utcp, the kernel's own under the kernel)
  connect2  the same again (the "permission denied" line must still be printed once)
  bind      to UTCP_IP, port 0
  listen    without bind (Linux autobinds to 0.0.0.0: utcp's and the kernel's)
  loopback  bind to 127.0.0.1 and listen: always the kernel's
"""
import socket
import sys


def attempt(name, call):
    s = socket.socket()
    s.settimeout(10)
    try:
        print(name, "ok", call(s) or "", flush=True)
    except OSError as e:
        print(name, "errno", e.errno, flush=True)
    finally:
        s.close()


def fetch(s, server, port):
    s.connect((server, port))
    local = s.getsockname()[0]
    got = b""
    while True:
        chunk = s.recv(100)
        if not chunk:
            break
        got += chunk
    return f"{local} {got.decode().strip()}"


def main():
    server, port, utcp_ip = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    attempt("connect", lambda s: fetch(s, server, port))
    attempt("connect2", lambda s: fetch(s, server, port))
    attempt("bind", lambda s: s.bind((utcp_ip, 0)))
    attempt("listen", lambda s: s.listen())
    attempt("loopback", lambda s: (s.bind(("127.0.0.1", 0)), s.listen())[0])


main()
