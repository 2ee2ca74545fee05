"""Processes for the A/B benchmark (bench/ab.py): started inside a network namespace,
stopped by their pid with a bounded wait, and measured in CPU time (/proc for the
long-lived servers and daemons, the child's rusage for a client run).
"""
import os
import signal
import subprocess
import time

TICK_US = 1_000_000 // os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """A scenario or wire that cannot go on; the message says why."""


def in_netns(ns, argv, env=None):
    """argv run inside netns ns (ip netns exec execs: the pid is the program's)."""
    prefix = ["ip", "netns", "exec", ns]
    if env:
        prefix += ["env"] + [f"{k}={v}" for k, v in env.items()]
    return prefix + list(argv)


def sh(*argv, check=True):
    r = subprocess.run(list(argv), capture_output=True, text=True)
    if check and r.returncode != 0:
        raise BenchError(f"{' '.join(argv)}: {r.stderr.strip() or r.returncode}")
    return r.stdout


class Proc:
    """A long-lived process (server, utcpd): own session (lighttpd and nginx signal
    their process group), output in files under log_dir."""

    def __init__(self, name, argv, log_dir):
        self.name = name
        self.out = os.path.join(log_dir, name + ".out")
        self.err = os.path.join(log_dir, name + ".err")
        with open(self.out, "w") as out, open(self.err, "w") as err:
            self.popen = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                          start_new_session=True)
        self.pid = self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def wait_for_line(self, prefix, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.out) as f:
                if any(line.startswith(prefix) for line in f):
                    return
            if not self.alive():
                break
            time.sleep(0.05)
        raise BenchError(f"{self.name} did not print '{prefix}' in {timeout} s: {self.tail()}")

    def tail(self, n=3):
        with open(self.err) as f:
            lines = f.read().strip().splitlines()
        return " | ".join(lines[-n:]) or f"(exit status {self.popen.poll()})"

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """By pid: sig, up to timeout s, then SIGKILL. Returns the exit status."""
        if self.alive():
            os.kill(self.pid, sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                print(f"[ab] {self.name} (pid {self.pid}) ignored {sig.name} for {timeout} s: SIGKILL",
                      flush=True)
                os.kill(self.pid, signal.SIGKILL)
                self.popen.wait()
        return self.popen.returncode


def children(pid):
    """The pids whose parent is pid (nginx's workers)."""
    kids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                kids.append(int(d))
    return kids


def cpu_us(pids):
    """utime + stime of the processes (all their threads), in microseconds."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError as e:
            raise BenchError(f"process {pid} is gone") from e
        total += int(fields[11]) + int(fields[12])
    return total * TICK_US


def softirq_us():
    """The whole machine's softirq time: the kernel's packet work that no process pays."""
    with open("/proc/stat") as f:
        fields = f.readline().split()
    return int(fields[7]) * TICK_US


class ClientResult:
    def __init__(self, ok, reason, cpu_us, fields):
        self.ok, self.reason, self.cpu_us, self.fields = ok, reason, cpu_us, fields


def run_client(argv, timeout, log_path):
    """Runs a client to completion (bounded): (exit status, stdout, stderr, CPU µs from
    its rusage). wait4 reaps it here so the rusage is the client's own."""
    with open(log_path + ".out", "w") as out, open(log_path + ".err", "w") as err:
        p = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid == p.pid:
            break
        if time.monotonic() > deadline:
            os.kill(p.pid, signal.SIGKILL)
            pid, status, ru = os.wait4(p.pid, 0)
            status = -1
            break
        time.sleep(0.02)
    p.returncode = status  # reaped here: keep Popen from waiting again
    with open(log_path + ".out") as f:
        stdout = f.read()
    with open(log_path + ".err") as f:
        stderr = f.read()
    code = -1 if status == -1 else os.waitstatus_to_exitcode(status)
    return code, stdout, stderr, round((ru.ru_utime + ru.ru_stime) * 1e6)
