#!/usr/bin/env python3
"""ab.py: utcp against the kernel stack, scenario by scenario, in one run (issue 5).

For each wire (bench/ab_wires.py: tap, memif) it builds its own namespaces and
devices, starts the same server binary with the same config on both stacks, and runs
the same client against each, alternating A B B A ... for PAIRS pairs. Every run
records throughput, latency and the CPU time of every process involved (client,
server, utcpd) plus the machine's softirq time, so CPU per request stays honest on a
shared machine. bench/report.py turns runs.json into the table and the plots.
Rules: TESTBED.md (own netns, 198.18.0.0/15, every process stopped by its pid).

usage: bench/ab.py [--quick] [--scenarios A,B] [--wires tap,memif] [--pairs N]
                   [--duration S] [--build DIR] [--out DIR]
"""
import argparse
import datetime
import json
import os
import platform
import resource
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ab_procs  # noqa: E402
import ab_scenarios  # noqa: E402
import ab_wires  # noqa: E402

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args():
    p = argparse.ArgumentParser(description="utcp vs the kernel stack, A/B in one run")
    p.add_argument("--quick", action="store_true", help="3 pairs of 1 s, no warm-up (CI smoke)")
    p.add_argument("--scenarios", default="all", help="comma list (default all): " +
                   ",".join(s.name for s in ab_scenarios.SCENARIOS))
    p.add_argument("--wires", default="tap,memif", help="comma list of tap, memif")
    p.add_argument("--pairs", type=int, help="A/B pairs per scenario (default 5; quick 3)")
    p.add_argument("--duration", type=int, help="seconds per run (default 5; quick 1)")
    p.add_argument("--build", default=os.path.join(SRC, "build/release"))
    p.add_argument("--utcpd-flags", default="", help="extra utcpd flags, e.g. '--poll busy'")
    p.add_argument("--out", help="results directory (default bench/results/<date>[-quick])")
    a = p.parse_args()
    a.pairs = a.pairs or (3 if a.quick else 5)
    a.duration = a.duration or (1 if a.quick else 5)
    if a.pairs < 1 or a.duration < 1:
        p.error("--pairs and --duration must be at least 1")
    known = {s.name: s for s in ab_scenarios.SCENARIOS}
    names = list(known) if a.scenarios == "all" else a.scenarios.split(",")
    bad = [n for n in names if n not in known]
    if bad:
        p.error(f"unknown scenario {','.join(bad)} (known: {','.join(known)})")
    a.scenario_list = [known[n] for n in names]
    a.wire_list = a.wires.split(",")
    bad = [w for w in a.wire_list if w not in ab_wires.WIRES]
    if bad:
        p.error(f"unknown wire {','.join(bad)} (known: {','.join(ab_wires.WIRES)})")
    a.build = os.path.abspath(a.build)
    date = datetime.date.today().isoformat()
    a.out = os.path.abspath(a.out or os.path.join(SRC, "bench/results", date + ("-quick" if a.quick else "")))
    return a


def check_tools(args):
    missing = [f for f in (os.path.join(args.build, "daemon/utcpd"),
                           os.path.join(args.build, "preload/libutcp.so"),
                           os.path.join(args.build, "tools/utcp-msgload")) if not os.path.exists(f)]
    missing += [t for t in ("wrk", "nginx", "lighttpd", "curl", "ip")
                if subprocess.run(["sh", "-c", f"command -v {t}"], capture_output=True).returncode]
    if missing:
        sys.exit(f"ab: missing: {', '.join(missing)} (./scripts/build.sh {args.build}; "
                 "./scripts/install-deps.sh)")
    if os.geteuid() != 0:
        sys.exit("ab: needs root (network namespaces, tap and memif devices)")


class Progress:
    """One line per run, with what is left (runs, and a time estimate)."""

    def __init__(self, total):
        self.total, self.done, self.start = total, 0, time.monotonic()

    def line(self, text):
        self.done += 1
        spent = time.monotonic() - self.start
        left = spent / self.done * (self.total - self.done)
        print(f"[ab] {self.done}/{self.total} ~{int(left) // 60}:{int(left) % 60:02d} left  {text}",
              flush=True)


def describe(run):
    if run.get("failed"):
        return f"FAILED: {run['reason']}"
    cpu = sum(run["cpu_us"].values())
    if run["unit"] == "byte":
        return f"{run['rate'] / 1e6:9.1f} MB/s  CPU {cpu / (run['ops'] / 1e6):7.0f} us/MB"
    return (f"{run['rate']:9.0f} req/s  p50 {run['p50_us']:7.0f} us  p99 {run['p99_us']:7.0f} us  "
            f"CPU {cpu / run['ops']:6.1f} us/req (client {run['cpu_us']['client'] / run['ops']:.1f}, "
            f"server {run['cpu_us']['server'] / run['ops']:.1f}, utcpd {run['cpu_us']['daemon'] / run['ops']:.1f}, "
            f"softirq {run['cpu_us']['softirq'] / run['ops']:.1f})  errors {run['errors']}")


def run_scenario(args, wire, scenario, progress, runs, save):
    """Both servers up, an unrecorded warm-up, then PAIRS pairs alternating the order."""
    servers = {}
    try:
        for side in ("utcp", "kernel"):
            servers[side] = scenario.start_server(wire.endpoint(side), wire.work)
        for side in ("utcp", "kernel"):
            scenario.warm_up(wire.endpoint(side), 0 if args.quick else 1,
                             os.path.join(wire.work, f"{scenario.name}-{side}-warm-up"))
        for pair in range(1, args.pairs + 1):
            order = ("utcp", "kernel") if pair % 2 else ("kernel", "utcp")
            for side in order:
                run = measure(args, wire, scenario, servers[side], side, pair)
                runs.append(run)
                save()
                progress.line(f"{wire.name:5} {scenario.name:12} {side:6} pair {pair}: {describe(run)}")
    except ab_procs.BenchError as e:
        print(f"[ab] {wire.name} {scenario.name}: FAILED: {e}", flush=True)
        runs.append({"scenario": scenario.name, "wire": wire.name, "side": "utcp", "pair": 0,
                     "unit": scenario.unit, "failed": True, "reason": str(e), "ops": 0})
        save()
    finally:
        for server in servers.values():
            server.stop()


def measure(args, wire, scenario, server, side, pair):
    """One client run; the CPU of everything involved over its window."""
    ep = wire.endpoint(side)
    before = wire.counters(side)
    server_pids = server.pids()
    daemon_pids = ep.daemons
    srv0, dmn0 = ab_procs.cpu_us(server_pids), ab_procs.cpu_us(daemon_pids)
    soft0 = ab_procs.softirq_us()
    log = os.path.join(wire.work, f"{scenario.name}-{side}-client-{pair}")
    result = scenario.run_client(ep, args.duration, log)
    soft1 = ab_procs.softirq_us()
    srv1, dmn1 = ab_procs.cpu_us(server_pids), ab_procs.cpu_us(daemon_pids)
    wire.check_alive()
    after = wire.counters(side)
    run = {"scenario": scenario.name, "wire": wire.name, "side": side, "pair": pair,
           "unit": scenario.unit, **result.fields,
           "cpu_us": {"client": result.cpu_us, "server": srv1 - srv0,
                      "daemon": dmn1 - dmn0, "softirq": soft1 - soft0}}
    if after is not None:
        # Proof that the utcp side's traffic went through utcpd: its counters moved.
        run["extra"] = {"utcpd_" + k: after.get(k, 0) - before.get(k, 0) for k in after}
    if not result.ok:
        run.update(failed=True, reason=result.reason)
    return run


def main():
    args = parse_args()
    check_tools(args)
    ab_scenarios.BUILD.append(args.build)
    # wrk and the load generator open many sockets; the kernel's default soft limit is 1024.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    os.makedirs(args.out, exist_ok=True)
    meta = {"date": datetime.date.today().isoformat(), "quick": args.quick, "pairs": args.pairs,
            "duration_s": args.duration, "cpus": os.cpu_count(),
            "kernel_release": platform.release(), "build": os.path.relpath(args.build, SRC),
            "command": " ".join(["bench/ab.py"] + sys.argv[1:]),
            "scenarios": {s.name: s.desc for s in args.scenario_list},
            "wires": {w: ab_wires.WIRES[w].desc for w in args.wire_list}}
    runs = []

    def save():
        with open(os.path.join(args.out, "runs.json"), "w") as f:
            json.dump({"meta": meta, "runs": runs}, f, indent=1)
            f.write("\n")

    total = len(args.wire_list) * len(args.scenario_list) * args.pairs * 2
    print(f"[ab] {len(args.scenario_list)} scenarios x {len(args.wire_list)} wires x {args.pairs} "
          f"pairs x 2 sides x {args.duration} s -> {args.out}", flush=True)
    progress = Progress(total)
    for name in args.wire_list:
        wire = ab_wires.WIRES[name](args.build, args.out, args.utcpd_flags.split())
        try:
            wire.setup()
            print(f"[ab] wire {name}: {wire.desc}", flush=True)
            for scenario in args.scenario_list:
                run_scenario(args, wire, scenario, progress, runs, save)
        except ab_procs.BenchError as e:
            print(f"[ab] wire {name}: FAILED: {e}", flush=True)
            runs.append({"scenario": "-", "wire": name, "side": "utcp", "pair": 0, "unit": "req",
                         "failed": True, "reason": str(e), "ops": 0})
        finally:
            wire.teardown()
    save()
    rc = subprocess.run([sys.executable, os.path.join(SRC, "bench/report.py"), args.out]).returncode
    results = os.path.join(SRC, "bench/results")
    if os.path.dirname(args.out) == results:  # bench/results/latest: the newest run
        latest = os.path.join(results, "latest")
        if os.path.islink(latest):
            os.unlink(latest)
        if not os.path.exists(latest):
            os.symlink(os.path.basename(args.out), latest)
    failed = [r for r in runs if r.get("failed")]
    print(f"[ab] {len(runs) - len(failed)} runs, {len(failed)} failed; results in {args.out}", flush=True)
    sys.exit(1 if failed or rc else 0)


if __name__ == "__main__":
    main()
