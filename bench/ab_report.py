"""The summary of an HTTP A/B (bench/http_ab.sh): per-run rows in, a Markdown table
(median and min-max per side, utcp/kernel ratios) and the raw runs as JSON out.
Medians, not means: on a shared 2-core machine one disturbed run must not move the
result. Run configuration comes from the environment http_ab.sh sets.

usage: ab_report.py RUNS.tsv EXIT_COUNTERS OUT_BASE  (writes OUT_BASE.md, OUT_BASE.json)
"""
import json
import os
import platform
import statistics
import sys

# http_ab.sh's run_one writes these, tab-separated, one run per line.
COLS = ["side", "pair", "wall_us", "rps", "requests", "p50_us", "p99_us", "server_utime_us",
        "server_stime_us", "softirq_us",
        "wrk_cpu_us", "machine_busy_us", "socket_errors", "non2xx", "server_retrans",
        "client_retrans", "wire_drops", "utcpd_http_requests"]


def read_runs(path):
    runs = []
    with open(path) as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            r = {"side": fields[0], "pair": int(fields[1])}
            for name, v in zip(COLS[2:], fields[2:]):
                r[name] = None if v == "-" else float(v)
            n = r["requests"]
            # Server CPU includes all softirq time: kernel TCP work for either side may
            # run there, and it cannot be split by process.
            server = r["server_utime_us"] + r["server_stime_us"] + r["softirq_us"]
            r["server_us_per_req"] = server / n
            r["server_user_us_per_req"] = r["server_utime_us"] / n
            r["total_us_per_req"] = r["server_us_per_req"] + r["wrk_cpu_us"] / n
            runs.append(r)
    return runs


def stats(runs, side, key):
    v = [r[key] for r in runs if r["side"] == side]
    return statistics.median(v), min(v), max(v)


def cell(runs, side, key, digits):
    m, lo, hi = stats(runs, side, key)
    return f"{m:.{digits}f} ({lo:.{digits}f}–{hi:.{digits}f})"


def table(runs, env):
    sides = [s for s in ("utcp", "kernel") if any(r["side"] == s for r in runs)]
    out = [f"HTTP A/B {env['DATE']}: `wrk -t{env['THREADS']} -c{env['CONNS']} -d{env['DURATION']}s "
           f"--latency`, {env['PAIRS']} pairs alternating (ABBA). utcp: {env['UTCP_DESC']}. "
           f"kernel: {env['KERNEL_DESC']}. Median (min–max) over runs.", "",
           "| side | req/s | p50 µs | p99 µs | server CPU µs/req | of it user µs/req "
           "| server+wrk CPU µs/req | wrk errors |",
           "|---|---|---|---|---|---|---|---|"]
    for s in sides:
        errs = sum(int(r["socket_errors"] + r["non2xx"]) for r in runs if r["side"] == s)
        out.append(f"| {s} | {cell(runs, s, 'rps', 0)} | {cell(runs, s, 'p50_us', 0)} "
                   f"| {cell(runs, s, 'p99_us', 0)} | {cell(runs, s, 'server_us_per_req', 2)} "
                   f"| {cell(runs, s, 'server_user_us_per_req', 2)} "
                   f"| {cell(runs, s, 'total_us_per_req', 2)} | {errs} |")
    ratios = {}
    if len(sides) == 2:
        for key in ("rps", "p50_us", "p99_us", "server_us_per_req", "total_us_per_req"):
            ratios[key] = stats(runs, "utcp", key)[0] / stats(runs, "kernel", key)[0]
        # Per pair too: the two runs of a pair saw the most similar background load.
        by_pair = {}
        for r in runs:
            by_pair.setdefault(r["pair"], {})[r["side"]] = r
        per_pair = [p["utcp"]["rps"] / p["kernel"]["rps"]
                    for _, p in sorted(by_pair.items()) if len(p) == 2]
        ratios["rps_per_pair"] = per_pair
        out += ["", f"utcp/kernel (ratio of medians): req/s **{ratios['rps']:.2f}**, "
                f"server CPU per request **{ratios['server_us_per_req']:.2f}**, "
                f"server+wrk CPU per request {ratios['total_us_per_req']:.2f}, "
                f"p99 latency {ratios['p99_us']:.2f}. "
                f"Per-pair req/s ratios: {', '.join(f'{x:.2f}' for x in per_pair)}."]
    busy = [r["machine_busy_us"] / (r["wall_us"] * int(env["CPUS"])) for r in runs]
    out += ["", "Server CPU = utime+stime of the server process (utcpd: all threads) + the whole "
            "machine's softirq time (/proc/stat) during the run, per request wrk completed; "
            "\"of it user\" is the server's utime alone (for utcpd: its TCP stack and services; "
            "its stime is tap I/O and the kernel work that runs in its syscalls); "
            "wrk CPU from its rusage. The machine is shared (other workers' tests may run): "
            f"whole-machine busy during runs {min(busy):.0%}–{max(busy):.0%} "
            f"of {env['CPUS']} CPUs."]
    return "\n".join(out) + "\n", ratios


def main():
    runs_path, exit_path, base = sys.argv[1:4]
    env = os.environ
    runs = read_runs(runs_path)
    if not runs:
        sys.exit("ab_report.py: no runs recorded")
    text, ratios = table(runs, env)
    print(text, end="")
    with open(base + ".md", "w") as f:
        f.write(text)
    with open(exit_path) as f:
        exit_counters = f.read().splitlines()
    doc = {
        "date": env["DATE"], "kernel_release": platform.release(), "cpus": int(env["CPUS"]),
        "config": {"pairs": int(env["PAIRS"]), "duration_s": int(env["DURATION"]),
                   "conns": int(env["CONNS"]), "threads": int(env["THREADS"]),
                   "build": env["BUILD"], "kernel_server_pinned": env["PIN"] == "1",
                   "engine_cpu": int(env["ENGINE_CPU"]),
                   "utcp": env["UTCP_DESC"], "kernel": env["KERNEL_DESC"]},
        "columns_note": "CPU and time fields in microseconds over the run (wall_us: wrk's "
                        "wall time, the measured window); retrans = TCP "
                        "retransmissions of server / client during the run; wire_drops = "
                        "rx+tx dropped of the client-side device (utcp0 or the veth)",
        "runs": runs, "ratios_utcp_over_kernel": ratios, "exit_counters": exit_counters,
    }
    with open(base + ".json", "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
