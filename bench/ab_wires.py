"""The wires of the A/B benchmark (bench/ab.py): for each, a utcp side and a kernel side
of the same shape, each an Endpoint (where the server and the client run, with which
environment, and which utcpd processes serve them). TESTBED.md: own namespaces,
addresses in 198.18.0.0/15, utcp's addresses on no kernel interface.

tap:   a kernel client -> utcpd over net_tap -> a server under libutcp.so, against the
       same client -> a veth pair -> the same server on the kernel.
memif: a client under libutcp.so on one utcpd -> net_memif -> a server under
       libutcp.so on another utcpd (no kernel on the packet path), against the same
       client -> loopback -> the same server on the kernel.
"""
import os
import signal
import time
from dataclasses import dataclass, field

from ab_procs import BenchError, Proc, in_netns, sh

# The counters that show a run went through utcpd (summed over engines).
PROOF_COUNTERS = ("frames_in", "frames_out", "shim_sockets_opened", "shim_commands")


@dataclass
class Endpoint:
    side: str
    server_ns: str
    server_env: dict
    server_ip: str
    client_ns: str
    client_env: dict
    daemons: list = field(default_factory=list)  # utcpd pids whose CPU counts


def utcpd_counters(proc):
    """SIGUSR1 to a utcpd and its next snapshot: {name: sum over engines}."""
    def snapshots():
        with open(proc.out) as f:
            return f.read().count("\nengine 0 frames_in ")
    before = snapshots()
    os.kill(proc.pid, signal.SIGUSR1)
    deadline = time.monotonic() + 5
    while snapshots() == before:
        if time.monotonic() > deadline:
            raise BenchError(f"{proc.name}: no counter snapshot after SIGUSR1")
        time.sleep(0.02)
    time.sleep(0.05)  # the rest of the snapshot's lines
    with open(proc.out) as f:
        text = f.read()
    last = text[text.rfind("\nengine 0 frames_in "):]
    values = {}
    for line in last.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[0] == "engine":
            values[parts[2]] = values.get(parts[2], 0) + int(parts[3])
    return {k: values.get(k, 0) for k in PROOF_COUNTERS}


class Wire:
    name = desc = ""

    def __init__(self, build, out, utcpd_flags=()):
        self.build = build
        self.utcpd_flags = list(utcpd_flags)
        self.lib = os.path.join(build, "preload/libutcp.so")
        self.utcpd = os.path.join(build, "daemon/utcpd")
        self.work = os.path.join(out, "logs", self.name)
        os.makedirs(self.work, exist_ok=True)
        os.chmod(out, 0o755)  # nginx's worker (nobody) reads files under it
        self.tag = f"{os.getpid()}"
        self.namespaces = []
        self.daemons = []
        self.sides = {}

    def add_netns(self, name):
        sh("ip", "netns", "add", name)
        self.namespaces.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
        return name

    def start_utcpd(self, name, ns, flags):
        # utcpd refuses to start without its control socket's group; create it as
        # scripts/install-deps.sh does (the bench runs as root).
        sh("sh", "-c", "getent group utcp >/dev/null || groupadd --system utcp")
        proc = Proc(name, in_netns(ns, [self.utcpd] + flags + self.utcpd_flags), self.work)
        self.daemons.append(proc)
        proc.wait_for_line("ready", 20)
        return proc

    def endpoint(self, side):
        return self.sides[side]

    def counters(self, side):
        """utcpd's proof counters for the utcp side (None for the kernel side)."""
        if side != "utcp":
            return None
        return utcpd_counters(self.daemons[0])

    def check_alive(self):
        for d in self.daemons:
            if not d.alive():
                raise BenchError(f"{d.name} died: {d.tail()}")

    def teardown(self):
        for d in reversed(self.daemons):
            d.stop()
        for ns in self.namespaces:
            sh("ip", "netns", "del", ns, check=False)


class TapWire(Wire):
    name = "tap"
    desc = ("kernel client -> net_tap -> utcpd 198.18.0.2 -> server under libutcp.so; kernel: the "
            "same client -> veth pair -> the same server on the kernel (each end in its own netns)")

    def setup(self):
        ns_u = self.add_netns(f"utcp-ab-tap-{self.tag}")
        utcpd = self.start_utcpd("utcpd-tap", ns_u, [
            "--dev", "net_tap0,iface=utcp0", "--ip", "198.18.0.2/24",
            "--file-prefix", f"ab-tap-{self.tag}", "--control", f"{self.work}/utcpd.sock"])
        for _ in range(100):
            if sh("ip", "-n", ns_u, "link", "show", "utcp0", check=False):
                break
            time.sleep(0.05)
        sh("ip", "-n", ns_u, "addr", "add", "198.18.0.1/24", "dev", "utcp0")
        sh("ip", "-n", ns_u, "link", "set", "utcp0", "up")
        if "198.18.0.2" in sh("ip", "-n", ns_u, "addr"):
            raise BenchError("198.18.0.2 is on a kernel interface: the test would not prove anything")
        ns_c = self.add_netns(f"utcp-ab-kc-{self.tag}")
        ns_s = self.add_netns(f"utcp-ab-ks-{self.tag}")
        sh("ip", "link", "add", "abk-c", "netns", ns_c, "type", "veth", "peer", "name", "abk-s",
           "netns", ns_s)
        sh("ip", "-n", ns_c, "addr", "add", "198.19.0.1/24", "dev", "abk-c")
        sh("ip", "-n", ns_s, "addr", "add", "198.19.0.2/24", "dev", "abk-s")
        sh("ip", "-n", ns_c, "link", "set", "abk-c", "up")
        sh("ip", "-n", ns_s, "link", "set", "abk-s", "up")
        preload = {"UTCP_CONTROL": f"{self.work}/utcpd.sock", "LD_PRELOAD": self.lib}
        self.sides = {
            "utcp": Endpoint("utcp", ns_u, preload, "198.18.0.2", ns_u, {}, [utcpd.pid]),
            "kernel": Endpoint("kernel", ns_s, {}, "198.19.0.2", ns_c, {}),
        }


class MemifWire(Wire):
    name = "memif"
    desc = ("client under libutcp.so on utcpd 198.18.2.2 (engine on cpu 1) -> net_memif -> "
            "server under libutcp.so on utcpd 198.18.2.1 (engine on cpu 0); kernel: the same "
            "client -> loopback -> the same server on the kernel (127.0.0.1 in a netns)")

    def setup(self):
        ns_m = self.add_netns(f"utcp-ab-memif-{self.tag}")
        sock = f"{self.work}/memif.sock"
        cpus = os.cpu_count() or 1
        server = self.start_utcpd("utcpd-memif-server", ns_m, [
            "--dev", f"net_memif0,role=server,socket={sock}", "--ip", "198.18.2.1/24",
            "--cores", "0", "--file-prefix", f"ab-ms-{self.tag}",
            "--control", f"{self.work}/server.sock"])
        client = self.start_utcpd("utcpd-memif-client", ns_m, [
            "--dev", f"net_memif0,role=client,socket={sock}", "--ip", "198.18.2.2/24",
            "--cores", str(min(1, cpus - 1)), "--file-prefix", f"ab-mc-{self.tag}",
            "--control", f"{self.work}/client.sock"])
        ns_l = self.add_netns(f"utcp-ab-lo-{self.tag}")
        lib = self.lib
        self.sides = {
            "utcp": Endpoint("utcp", ns_m, {"UTCP_CONTROL": f"{self.work}/server.sock", "LD_PRELOAD": lib},
                             "198.18.2.1", ns_m,
                             {"UTCP_CONTROL": f"{self.work}/client.sock", "LD_PRELOAD": lib},
                             [server.pid, client.pid]),
            "kernel": Endpoint("kernel", ns_l, {}, "127.0.0.1", ns_l, {}),
        }


WIRES = {"tap": TapWire, "memif": MemifWire}
