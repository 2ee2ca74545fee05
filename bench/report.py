"""The report of an A/B benchmark run (`make -f Makefile.bench ab`): utcp against the
kernel over every scenario x wire, from the driver's RESULTS_DIR/runs.json to a Markdown
table, aggregated JSON and three PNG plots.

usage: python3 bench/report.py RESULTS_DIR

Writes RESULTS_DIR/summary.md (also printed), summary.json, throughput.png, latency.png,
cpu.png, and the gnuplot inputs in RESULTS_DIR/plots/ (re-make a plot by hand with
`cd RESULTS_DIR/plots && gnuplot throughput.gp`). Medians, not means: on a shared
machine one disturbed run must not move the result. Bulk ("byte") scenarios are counted
in MB (1e6 bytes), so for them an "op" is a MB throughout. Python stdlib + gnuplot only.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys

SIDES = ("utcp", "kernel")
CPU_PARTS = ("client", "server", "daemon", "softirq")
# name in summary.json, Markdown header
METRICS = [("rate", "rate"), ("p50_us", "p50 µs"), ("p99_us", "p99 µs"),
           ("cpu_per_op", "CPU µs/op"), ("server_cpu_per_op", "server CPU µs/op"),
           ("ops_per_cpu_s", "ops per CPU-s")]
RATIO_KEYS = ("rate", "ops_per_cpu_s", "server_cpu_per_op", "cpu_per_op", "p50_us", "p99_us")


def fail(msg):
    sys.exit(f"report.py: {msg}")


def load(results_dir):
    """runs.json as (meta, runs); exits with one line if it is unusable."""
    path = os.path.join(results_dir, "runs.json")
    try:
        with open(path) as f:
            text = f.read()
        doc = json.loads(text) if text.strip() else None
    except FileNotFoundError:
        fail(f"{path} not found")
    except (OSError, ValueError) as e:
        fail(f"{path} is not readable JSON: {e}")
    if not doc:
        fail(f"{path} is empty")
    runs = doc.get("runs") if isinstance(doc, dict) else None
    if not isinstance(runs, list) or not runs:
        fail(f"{path} has no runs")
    for i, r in enumerate(runs):
        if not isinstance(r, dict) or any(k not in r for k in ("scenario", "wire", "side")):
            fail(f"{path}: run {i} lacks scenario, wire or side")
        if r["side"] not in SIDES:
            fail(f"{path}: run {i} has side {r['side']!r}, not utcp or kernel")
    return doc.get("meta") or {}, runs


def failed(run):
    return bool(run.get("failed")) or not run.get("ops")


def derive(run):
    """The per-run figures; ops in requests, or in MB for bulk."""
    scale = 1e6 if run.get("unit") == "byte" else 1.0
    ops = run["ops"] / scale
    rate = run.get("rate")
    rate = rate / scale if rate is not None else ops / run["seconds"]
    d = {"rate": rate, "p50_us": run.get("p50_us"), "p99_us": run.get("p99_us"),
         "cpu_per_op": None, "server_cpu_per_op": None, "ops_per_cpu_s": None}
    cpu = run.get("cpu_us") or {}
    if cpu:
        total = sum(cpu.get(k) or 0 for k in CPU_PARTS)
        # Server side is everything but the load generator; softirq cannot be split by
        # process, so it is in both this and the total.
        server = sum(cpu.get(k) or 0 for k in ("server", "daemon", "softirq"))
        d["cpu_per_op"] = total / ops
        d["server_cpu_per_op"] = server / ops
        d["ops_per_cpu_s"] = ops / (total / 1e6) if total else None
    return d


def spread(values):
    v = [x for x in values if x is not None]
    if not v:
        return None
    return {"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v)}


def ordered(meta_names, seen):
    """meta's order (the driver's intent) first, then any name only the runs mention."""
    names = [n for n in (meta_names or {}) if n in seen]
    return names + [n for n in seen if n not in names]


def aggregate(meta, runs):
    """One dict per (scenario, wire): per-side statistics, ratios of medians, pairs."""
    scenarios = ordered(meta.get("scenarios"), list(dict.fromkeys(r["scenario"] for r in runs)))
    wires = ordered(meta.get("wires"), list(dict.fromkeys(r["wire"] for r in runs)))
    groups = []
    for sc in scenarios:
        for w in wires:
            rs = [r for r in runs if r["scenario"] == sc and r["wire"] == w]
            if rs:
                groups.append(aggregate_group(sc, w, rs))
    return groups


def aggregate_group(scenario, wire, runs):
    unit = "MB" if any(r.get("unit") == "byte" for r in runs) else "req"
    g = {"scenario": scenario, "wire": wire, "unit": unit, "sides": {}, "ratios": {},
         "pair_rate_ratios": []}
    pair_rates = {}
    for side in SIDES:
        mine = [r for r in runs if r["side"] == side]
        if not mine:
            continue
        ok = [(r, derive(r)) for r in mine if not failed(r)]
        s = {"runs": len(mine), "failed": len(mine) - len(ok),
             "errors": sum(int(r.get("errors") or 0) for r in mine)}
        for key, _ in METRICS:
            s[key] = spread(d[key] for _, d in ok)
        g["sides"][side] = s
        for r, d in ok:
            pair_rates.setdefault(r.get("pair"), {}).setdefault(side, []).append(d["rate"])
    u, k = g["sides"].get("utcp"), g["sides"].get("kernel")
    for key in RATIO_KEYS:
        ok = u and k and u[key] and k[key] and k[key]["median"]
        g["ratios"][key] = u[key]["median"] / k[key]["median"] if ok else None
    # Per pair too: the two runs of a pair saw the most similar background load.
    for pair, by_side in sorted(pair_rates.items(), key=lambda p: (str(type(p[0])), p[0])):
        if len(by_side) == 2:
            ratio = statistics.median(by_side["utcp"]) / statistics.median(by_side["kernel"])
            g["pair_rate_ratios"].append({"pair": pair, "ratio": ratio})
    return g


def num(v, like=None):
    """v with digits that suit the size of `like` (the median of its cell)."""
    a = abs(like if like is not None else v)
    digits = 0 if a >= 100 else 1 if a >= 10 else 2 if a >= 0.1 else 3
    return f"{v:,.{digits}f}"


def cell(st, suffix=""):
    if not st:
        return "–"
    m = st["median"]
    return f"{num(m)}{suffix} ({num(st['min'], m)}–{num(st['max'], m)})"


def ratio_cell(r, higher_better):
    if r is None:
        return "–"
    better = r > 1 if higher_better else r < 1
    return f"**{r:.2f}**" if better else f"{r:.2f}"


def markdown(meta, groups):
    mode = "quick" if meta.get("quick") else "full"
    out = [f"# utcp vs kernel A/B, {meta.get('date', '?')}", "",
           f"`{meta.get('command', '?')}`: {meta.get('pairs', '?')} pairs × "
           f"{meta.get('duration_s', '?')} s per run, {mode} run, build "
           f"`{meta.get('build', '?')}`, kernel {meta.get('kernel_release', '?')}. "
           "Cells are median (min–max) over the successful runs.", "",
           "| scenario | wire | side | " + " | ".join(h for _, h in METRICS)
           + " | errors / failed runs |",
           "|---" * (len(METRICS) + 4) + "|"]
    for g in groups:
        for side, s in g["sides"].items():
            cells = [cell(s["rate"], f" {g['unit']}/s")]
            cells += [cell(s[key]) for key, _ in METRICS[1:]]
            out.append(f"| {g['scenario']} | {g['wire']} | {side} | " + " | ".join(cells)
                       + f" | {s['errors']} / {s['failed']} of {s['runs']} |")
    out += ["", "utcp / kernel, ratios of the medians (**bold**: utcp is better); the "
            "per-pair rate ratios (utcp run / kernel run of the same pair) in brackets.", "",
            "| scenario | wire | rate | ops per CPU-s | server CPU/op | p99 |",
            "|---|---|---|---|---|---|"]
    for g in groups:
        r = g["ratios"]
        rate = ratio_cell(r["rate"], True)
        missing = [s for s in SIDES if not (g["sides"].get(s) or {}).get("rate")]
        if missing:
            rate += f" (no successful {' or '.join(missing)} run)"
        pairs = [p["ratio"] for p in g["pair_rate_ratios"]]
        if pairs:
            rate += f" ({min(pairs):.2f}–{max(pairs):.2f})"
        out.append(f"| {g['scenario']} | {g['wire']} | {rate} | "
                   f"{ratio_cell(r['ops_per_cpu_s'], True)} | "
                   f"{ratio_cell(r['server_cpu_per_op'], False)} | "
                   f"{ratio_cell(r['p99_us'], False)} |")
    for heading, key in (("Scenarios", "scenarios"), ("Wires", "wires")):
        if meta.get(key):
            out += ["", heading + ":", ""]
            out += [f"- **{k}**: {v}" for k, v in meta[key].items()]
    out += ["", "Notes: an op is a request, or for bulk scenarios a MB (1e6 bytes) received. "
            "CPU µs/op counts client + server + daemon (utcpd) + the whole machine's "
            "softirq time over the measured window; server CPU µs/op leaves out the "
            "client. Softirq cannot be split by process (on the tap wire it is the kernel's "
            "packet work for client and server alike), so it is counted in both figures. "
            "Ops per CPU-s = ops / total CPU seconds (requests per CPU-second). A run "
            "with no ops or marked failed is left out of the statistics and counted as "
            f"failed. The machine has {meta.get('cpus', '?')} CPUs and may be shared, "
            "hence medians over pairs and ranges."]
    return "\n".join(out) + "\n"


def gp_value(v):
    return "?" if v is None else f"{v:.6g}"


def write_dat(path, rows):
    """Tab-separated: scenario, wire, then numbers; '?' marks a missing value."""
    with open(path, "w") as f:
        for sc, w, values in rows:
            f.write("\t".join([sc, w] + [gp_value(v) for v in values]) + "\n")


def normalised(st, base):
    if not st or not base:
        return [None] * 3
    return [st["median"] / base, st["min"] / base, st["max"] / base]


def plot_data(groups):
    """(name, rows) for the three plots; rows as write_dat takes them."""
    thr, lat, cpu = [], [], []
    for g in groups:
        u, k = g["sides"].get("utcp"), g["sides"].get("kernel")
        base = k["rate"]["median"] if k and k["rate"] else None
        thr.append((g["scenario"], g["wire"], normalised(u and u["rate"], base)
                    + normalised(k and k["rate"], base)))
        if g["unit"] == "req":
            vals = []
            for key in ("p50_us", "p99_us"):
                for s in (u, k):
                    st = s and s[key]
                    vals += [st["median"], st["min"], st["max"]] if st else [None] * 3
            lat.append((g["scenario"], g["wire"], vals))
        cpu.append((g["scenario"], g["wire"],
                    [g["ratios"]["cpu_per_op"], g["ratios"]["server_cpu_per_op"]]))
    return {"throughput": thr, "latency": lat, "cpu": cpu}


def gp_header(name, terminal, groups, title, ylabel):
    width = max(900, 90 * groups)
    rotate = " rotate by -35 left" if groups > 8 else ""
    bmargin = 9 if rotate else 6
    return f"""# {title}; re-make with `gnuplot {name}.gp` in this directory.
set terminal {terminal} size {width},540 noenhanced font ",10"
set encoding utf8
set output "../{name}.png"
set title "{title}"
set ylabel "{ylabel}"
set datafile separator "\\t"
set datafile missing "?"
set style data histogram
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set xtics nomirror{rotate}
# the key goes under the x labels; gnuplot leaves room for one line of them only
set bmargin {bmargin}
set key at screen 0.5, 0.03 center bottom horizontal reverse Left
# x labels are "scenario<newline>wire" from the first two columns (c is unused:
# a gnuplot function needs an argument)
label(c) = strcol(1) . "\\n" . strcol(2)
"""


def gp_scripts(terminal, data):
    n = {k: max(1, len(v)) for k, v in data.items()}
    # 1.0 (as much CPU as the kernel) stays in view even when every bar is below it
    ymax = 1.15 * max([1.0] + [v for _, _, vals in data["cpu"] for v in vals if v])
    thr = gp_header("throughput", terminal, n["throughput"],
                    "Throughput relative to the kernel (median, min–max)",
                    "rate / kernel median rate") + """\
set style histogram errorbars gap 1 lw 1
set yrange [0:*]
set arrow from graph 0, first 1 to graph 1, first 1 nohead front dt 2 lc rgb "gray40"
plot "throughput.dat" using 3:4:5:xtic(label(0)) title "utcp" lc rgb "#1f77b4", \\
     "" using 6:7:8 title "kernel" lc rgb "#ff7f0e"
"""
    lat = gp_header("latency", terminal, n["latency"],
                    "Request latency (median, min–max over runs), request scenarios",
                    "latency µs (log scale)") + """\
set style histogram errorbars gap 1 lw 1
set logscale y
plot "latency.dat" using 3:4:5:xtic(label(0)) title "utcp p50" lc rgb "#9ecae1", \\
     "" using 6:7:8 title "kernel p50" lc rgb "#fdae6b", \\
     "" using 9:10:11 title "utcp p99" lc rgb "#08519c", \\
     "" using 12:13:14 title "kernel p99" lc rgb "#d94801"
"""
    cpu = gp_header("cpu", terminal, n["cpu"],
                    "CPU per op relative to the kernel (utcp median / kernel median)",
                    "utcp / kernel CPU per op") + f"""\
set style histogram clustered gap 1
set yrange [0:{ymax:.3g}]
set arrow from graph 0, first 1 to graph 1, first 1 nohead front dt 2 lc rgb "gray40"
set arrow from graph 0, first 0.5 to graph 1, first 0.5 nohead front dt 3 lw 2 \\
    lc rgb "#2ca02c"
set style textbox opaque noborder
set label "target server CPU" at graph 0.99, first 0.5 offset 0,0.9 right front boxed \\
    tc rgb "#2ca02c"
plot "cpu.dat" using 3:xtic(label(0)) title "total CPU / op" lc rgb "#7f7f7f", \\
     "" using 4 title "server CPU / op" lc rgb "#9467bd"
"""
    return {"throughput": thr, "latency": lat, "cpu": cpu}


def png_terminal():
    out = subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True, text=True)
    return "pngcairo" if "pngcairo" in out.stdout + out.stderr else "png"


def plot(results_dir, groups):
    """Writes plots/*.dat and *.gp and runs gnuplot; False if gnuplot is missing."""
    if not shutil.which("gnuplot"):
        return False
    plots = os.path.join(results_dir, "plots")
    os.makedirs(plots, exist_ok=True)
    data = plot_data(groups)
    for name, script in gp_scripts(png_terminal(), data).items():
        # gnuplot fails on a plot with nothing defined, e.g. no request scenarios
        # (latency) or no scenario with both sides (cpu)
        if all(v is None for _, _, vals in data[name] for v in vals):
            print(f"report.py: nothing to plot in {name}.png, left out", file=sys.stderr)
            continue
        write_dat(os.path.join(plots, name + ".dat"), data[name])
        with open(os.path.join(plots, name + ".gp"), "w") as f:
            f.write(script)
        res = subprocess.run(["gnuplot", name + ".gp"], cwd=plots, capture_output=True,
                             text=True)
        if res.returncode != 0:
            last = (res.stderr.strip().splitlines() or ["?"])[-1]
            fail(f"gnuplot {plots}/{name}.gp failed: {last}")
    return True


def main():
    if len(sys.argv) != 2:
        fail("usage: python3 bench/report.py RESULTS_DIR")
    results_dir = sys.argv[1]
    meta, runs = load(results_dir)
    try:
        groups = aggregate(meta, runs)
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as e:
        fail(f"runs.json has a malformed run ({type(e).__name__}: {e})")
    text = markdown(meta, groups)
    print(text, end="")
    with open(os.path.join(results_dir, "summary.md"), "w") as f:
        f.write(text)
    with open(os.path.join(results_dir, "summary.json"), "w") as f:
        json.dump({"meta": meta, "groups": groups}, f, indent=1)
        f.write("\n")
    if not plot(results_dir, groups):
        print("report.py: warning: gnuplot not found, no plots made", file=sys.stderr)


if __name__ == "__main__":
    main()
