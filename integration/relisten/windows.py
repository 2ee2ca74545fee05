"""relisten windows: which reset connections were established while NO listener was open.

Reads the server's log ("listen NS", "closed NS": after listen() returned, after close()
of the listener returned) and the client's ("reset NS": when a connection that was later
reset finished its connect()), all on the machine's CLOCK_MONOTONIC. A connection reset
because its listener closed is normal on any stack if it was established while that
listener was open. One whose connect() finished more than SLACK_US after close()
returned, and before the next listen(), was accepted by a listener that close() had
already closed: a window the kernel does not have (its close is synchronous).
Prints "late=N of M resets".
Usage: windows.py SERVER_LOG CLIENT_LOG [SLACK_US]
"""
import bisect
import sys

server_log, client_log = sys.argv[1], sys.argv[2]
slack = int(sys.argv[3]) * 1000 if len(sys.argv) > 3 else 200_000
events = []  # (ns, kind)
with open(server_log) as f:
    for line in f:
        kind, ns = line.split()
        events.append((int(ns), kind))
events.sort()
times = [t for t, _ in events]
late = total = 0
with open(client_log) as f:
    for line in f:
        _, ns = line.split()
        t = int(ns)
        total += 1
        i = bisect.bisect_right(times, t) - 1  # the server's last event before t
        if i >= 0 and events[i][1] == "closed" and t - events[i][0] > slack:
            late += 1
print(f"late={late} of {total} resets")
