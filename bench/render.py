#!/usr/bin/env python3
"""Renders bench/results/raw/* into the markdown tables of bench/results/*.md.

    render.py init RAW     -> init.md  (start-up, RSS, size, signals, reaping)
    render.py checks RAW   -> checks.md
    render.py usage RAW    -> usage.md
"""
import glob
import json
import os
import re
import statistics
import sys

TINI = "tini-static"


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def ms(s):
    return "–" if s is None else f"{s * 1e3:.2f} ms"


def us(ns):
    return f"{ns / 1e3:.1f} µs"


def verdict(ok):
    return "met" if ok else "**missed**"


def header(title):
    rev = os.environ.get("SEALINIT_REV", "?")
    mach = os.environ.get("BENCH_MACHINE", "")
    return f"## {title}\n\nsealinit `{rev}`; {mach}\n"


def hyperfine(path):
    with open(path) as f:
        return {r["command"]: r for r in json.load(f)["results"]}


def interleaved(raw, prefix, base_name):
    """Table of the spawntime cross-check in RAW/PREFIX-spawn.txt."""
    out = []
    p = f"{raw}/{prefix}-spawn.txt"
    if not os.path.exists(p):
        return out
    cmds = [l.split("|")[0] for l in open(f"{raw}/{prefix}-spawn-cmds.txt").read().splitlines()]
    xs = {}
    for line in open(p):
        i, v = line.split()
        xs.setdefault(cmds[int(i)], []).append(int(v))
    b = xs[base_name]
    bm, b10 = statistics.median(b), pct(b, 10)
    true = [n for n in cmds if n.startswith("/bin/true")]
    bt = statistics.median(xs[true[0]]) if true else 0
    rounds = os.environ.get("INTERLEAVED", "?")
    out.append(f"Interleaved cross-check (`spawntime`, {rounds} rounds, order rotated each round, fork→waitpid):\n")
    out.append(f"| command | median | p10 | p90 | median vs {base_name.split()[0]} | p10 vs {base_name.split()[0]} | over /bin/true (median) |")
    out.append("|---|---|---|---|---|---|---|")
    for n in cmds:
        m = statistics.median(xs[n])
        out.append(
            f"| {n} | {us(m)} | {us(pct(xs[n], 10))} | {us(pct(xs[n], 90))} | {m / bm:.2f}x "
            f"| {pct(xs[n], 10) / b10:.2f}x | {us(m - bt)} |"
        )
    out.append("")
    return out


def init(raw):
    names = open(f"{raw}/init-names.txt").read().split("\n")
    names = [n for n in names if n]
    out = [header("sealinit as an init, beside tini-static, catatonit, dumb-init")]
    runs = os.environ.get("RUNS", "?")

    # start-up
    hf = hyperfine(f"{raw}/init-startup.json")
    base = hf[TINI]
    out.append(f"### Start-up: `INIT -- /bin/true` (hyperfine -N, {runs} runs, / read-only)\n")
    out.append("| init | mean ± σ | median | min | median vs tini-static | mean vs tini-static |")
    out.append("|---|---|---|---|---|---|")
    for n in names + ["/bin/true (no init)"]:
        r = hf[n]
        out.append(
            f"| {n} | {ms(r['mean'])} ± {ms(r['stddev'])} | {ms(r['median'])} | {ms(r['min'])} "
            f"| {r['median'] / base['median']:.2f}x | {r['mean'] / base['mean']:.2f}x |"
        )
    sea = hf["sealinit --root any"]
    ratio = sea["median"] / base["median"]
    out.append(f"\nTarget ≤ 1.10x tini-static: {verdict(ratio <= 1.10)} ({ratio:.2f}x, median, `--root any`).")
    if "sealinit (root check)" in hf:
        r2 = hf["sealinit (root check)"]["median"] / base["median"]
        out.append(f"With the default root check (no mounts declared): {r2:.2f}x.")
    out.append("")

    out += interleaved(raw, "init", TINI)

    # RSS
    out.append("### Resident memory while supervising `sleep` (/proc/PID/status)\n")
    out.append("| init | VmRSS | VmHWM | threads | vs tini-static (RSS) |")
    out.append("|---|---|---|---|---|")
    rows = [l.split("|") for l in open(f"{raw}/init-rss.txt").read().splitlines()]
    tini_rss = next(int(r[1]) for r in rows if r[0] == TINI)
    for n, rss, hwm, thr in rows:
        out.append(f"| {n} | {int(rss)} KiB | {int(hwm)} KiB | {thr} | {int(rss) / tini_rss:.2f}x |")
    sea_rss = max(int(r[1]) for r in rows if r[0].startswith("sealinit"))
    out.append(f"\nTarget ≤ 1.25 MiB (1280 KiB): {verdict(sea_rss <= 1280)} ({sea_rss} KiB).\n")

    # size
    out.append("### Binary size\n")
    out.append("| binary | bytes | MiB | linkage | vs tini-static |")
    out.append("|---|---|---|---|---|")
    rows = [l.split("|") for l in open(f"{raw}/init-size.txt").read().splitlines()]
    tini_sz = next(int(r[1]) for r in rows if r[0] == TINI)
    for n, sz, kind in rows:
        note = " (+ libc, not counted)" if "dynamic" in kind else ""
        out.append(f"| {n} | {int(sz)} | {int(sz) / 2**20:.2f} | {kind}{note} | {int(sz) / tini_sz:.2f}x |")
    sea_sz = next(int(r[1]) for r in rows if r[0] == "sealinit")
    out.append(f"\nTarget ≤ 1.5 MiB: {verdict(sea_sz <= 1.5 * 2**20)} ({sea_sz / 2**20:.2f} MiB).\n")

    # signals
    out.append("### Signal forwarding latency: kill(INIT) → child's handler → byte back\n")
    out.append("| init | signal | n | median | p90 | p99 | median vs tini-static |")
    out.append("|---|---|---|---|---|---|---|")
    sig = {}
    for i, n in enumerate(names, 1):
        for path in glob.glob(f"{raw}/init-sig-{i}-*.txt"):
            for line in open(path):
                k, v = line.split()
                sig.setdefault((n, k), []).append(int(v))
    worst = 0.0
    for k in ("TERM", "USR1"):
        b = statistics.median(sig[(TINI, k)])
        for n in names:
            xs = sig[(n, k)]
            m = statistics.median(xs)
            if n.startswith("sealinit"):
                worst = max(worst, m / b)
            out.append(
                f"| {n} | SIG{k} | {len(xs)} | {us(m)} | {us(pct(xs, 90))} | {us(pct(xs, 99))} | {m / b:.2f}x |"
            )
    out.append(f"\nTarget ≤ 1.10x tini-static (median): {verdict(worst <= 1.10)} (worst {worst:.2f}x).\n")

    # reaping
    orph = os.environ.get("ORPHANS", "10000")
    cmds = [l.split("|")[0] for l in open(f"{raw}/init-reap-cmds.txt").read().splitlines()]
    wall = {}
    for line in open(f"{raw}/init-reap.txt"):
        i, v = line.split()
        wall.setdefault(cmds[int(i)], []).append(int(v) / 1e6)
    left, create = {}, {}
    for line in open(f"{raw}/init-orphans.txt"):
        m = re.match(r"(\S+) zombies_left=(-?\d+) create_ms=([\d.]+)", line)
        if m:
            left.setdefault(m[1], []).append(int(m[2]))
            create.setdefault(m[1], []).append(float(m[3]))
    out.append(
        f"### Reaping {orph} orphans (init as PID 1 of `unshare --pid --fork --mount-proc`; "
        "wall time until the namespace is empty; rounds interleaved)\n"
    )
    out.append("| init | runs | wall median | min | vs tini-static (median) | zombies left when the workload exits (mean) | workload's fork loop (median) | wall − fork loop (median) |")
    out.append("|---|---|---|---|---|---|---|---|")
    bm = statistics.median(wall[TINI])
    for n in cmds:
        key = "no_init" if n.startswith("no init") else n.replace(" ", "_")
        w, cs = wall[n], create.get(key, [])
        tails = [a - b for a, b in zip(w, cs)]
        out.append(
            f"| {n} | {len(w)} | {statistics.median(w):.0f} ms | {min(w):.0f} ms | {statistics.median(w) / bm:.2f}x "
            f"| {statistics.mean(left.get(key, [float('nan')])):.0f} | {statistics.median(cs) if cs else float('nan'):.0f} ms "
            f"| {statistics.median(tails) if tails else float('nan'):.0f} ms |"
        )
    ratio = statistics.median(wall["sealinit --root any"]) / bm
    out.append(f"\nTarget no slower than tini-static: {verdict(ratio <= 1.05)} ({ratio:.2f}x median wall; 5% tolerance). "
               "The wall time is bounded by the workload's own fork loop, which competes with the init for "
               "the CPUs; `wall − fork loop` is what is left after the last orphan has exited: the reaping "
               "backlog and the init's exit. 'zombies left' counts, at that moment, the orphans the init had "
               "not reaped yet.\n")
    print("\n".join(out))


def main():
    what, raw = sys.argv[1], sys.argv[2]
    {"init": init, "checks": checks, "usage": usage}[what](raw)


def checks(raw):
    out = [header("Start-up checks: `--profile postgres` vs `tini-static -s`")]
    hf = hyperfine(f"{raw}/checks-startup.json")
    names = list(hf)
    base = hf[names[0]]
    runs = os.environ.get("RUNS", "?")
    out.append(f"hyperfine -N, {runs} runs, in a private mount namespace where the postgres contract holds.\n")
    out.append("| command | mean ± σ | median | min | median vs tini-static -s | mean vs tini-static -s |")
    out.append("|---|---|---|---|---|---|")
    for n in names:
        r = hf[n]
        out.append(
            f"| `{n}` | {ms(r['mean'])} ± {ms(r['stddev'])} | {ms(r['median'])} | {ms(r['min'])} "
            f"| {r['median'] / base['median']:.2f}x | {r['mean'] / base['mean']:.2f}x |"
        )
    prof = [n for n in names if "--profile postgres" in n]
    if prof:
        ratio = hf[prof[0]]["median"] / base["median"]
        out.append(f"\nTarget ≤ 1.10x: {verdict(ratio <= 1.10)} ({ratio:.2f}x median, hyperfine).\n")
    out += interleaved(raw, "checks", "tini-static -s -- /bin/true")
    p = f"{raw}/checks-report.txt"
    if os.path.exists(p):
        out.append("The contract holds in the namespace (`sealinit check --profile postgres`):\n")
        out.append("```")
        out.append(open(p).read().rstrip())
        out.append("```\n")
    p = f"{raw}/checks-strace.txt"
    if os.path.exists(p):
        out.append("### System calls of one `--profile postgres` run (`strace -f`)\n")
        out.append("```")
        out.append(open(p).read().rstrip())
        out.append("```\n")
    print("\n".join(out))


def usage(raw):
    out = [header("Usage watcher")]
    p = f"{raw}/usage-latency.txt"
    if os.path.exists(p):
        out.append("### Detection latency: write that crosses --warn-at → `usage.threshold` event on stderr\n")
        out.append("| mount | files | samples | median | p90 | p99 | max | target (median < 100 ms, p99 < 1 s) |")
        out.append("|---|---|---|---|---|---|---|---|")
        groups = {}
        order = []
        for line in open(p):
            label, files, v = line.split()
            if (label, files) not in groups:
                order.append((label, files))
            groups.setdefault((label, files), []).append(int(v))
        for k in order:
            xs = groups[k]
            m, p99 = statistics.median(xs), pct(xs, 99)
            files = f"{int(k[1]):,}" if k[1] != "0" else "(statfs)"
            out.append(
                f"| {k[0]} | {files} | {len(xs)} | {m / 1e6:.1f} ms | {pct(xs, 90) / 1e6:.1f} ms "
                f"| {p99 / 1e6:.1f} ms | {max(xs) / 1e6:.1f} ms | {verdict(m < 100e6 and p99 < 1e9)} |"
            )
        out.append("")
    for name in ("usage-scan.md", "usage-idle.md", "usage-rss.md"):
        q = f"{raw}/{name}"
        if os.path.exists(q):
            out.append(open(q).read().rstrip() + "\n")
    print("\n".join(out))


if __name__ == "__main__":
    main()
