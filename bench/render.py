#!/usr/bin/env python3
"""Renders bench/results/raw/* into the markdown tables of bench/results/*.md.

    render.py init RAW     -> init.md  (start-up, RSS, size, signals, reaping)
    render.py checks RAW   -> checks.md
    render.py usage RAW    -> usage.md
    render.py scale RAW    -> scale.md (bench/scale.sh, issue 11)
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
    rev = os.environ.get("BENCH_REV", "?")
    build = os.environ.get("BENCH_BUILD", "")
    mach = os.environ.get("BENCH_MACHINE", "")
    return f"## {title}\n\nsealinit `{rev}`{f' ({build})' if build else ''}; {mach}\n"


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
    {"init": init, "checks": checks, "usage": usage, "scale": scale}[what](raw)


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


def scale(raw):
    d = json.load(open(f"{raw}/scale.json"))
    out = [header("At scale (issue 11): files present, start path, CPU on one CPU, latency, cold memory")]
    sizes = d["sizes"]

    def tm(ns):
        return f"{ns / 1e6:.1f} ms" if ns >= 1e7 else us(ns)

    def n_(n):
        return f"{n:,}"

    def mb(b):
        return "–" if b is None else f"{b / 2**20:.1f} MiB"

    def secs(s):
        return "–" if s is None else f"{s:.2f} s"

    if "exec" in d:
        out.append("### Time-to-exec and exit tail against files already present (`exectime` + `stamp`)\n")
        out.append("Spawn of the init → the workload's first instruction (a libc-free static `stamp`); "
                   "exit tail: the workload's last instruction → the init's parent sees it exit. "
                   "Medians (p10), interleaved with tini-static in the same run (200 rounds up to 10k files, "
                   "20 at 100k, 5 at 1M). emptyDir: a bind-mounted directory of a loop ext4 "
                   "(mountinfo root `/data`); PVC: its own loop ext4. `--root any`.\n")
        out.append("| mount | files | tini-static to-exec | sealinit to-exec (p10) | ratio | vs empty | "
                   "tini-static tail | sealinit tail (p10) |")
        out.append("|---|---|---|---|---|---|---|---|")
        for kind in ("emptydir", "pvc"):
            empty = d["exec"].get(f"{kind} 0", {}).get("sealinit", {}).get("to_exec_med")
            for n in sizes:
                r = d["exec"].get(f"{kind} {n}")
                if not r:
                    continue
                t, s_ = r["tini-static"], r["sealinit"]
                vs = f"{s_['to_exec_med'] / empty:.2f}x" if empty else "–"
                out.append(f"| {kind} | {n_(n)} | {tm(t['to_exec_med'])} | {tm(s_['to_exec_med'])} "
                           f"({tm(s_['to_exec_p10'])}) | {s_['to_exec_med'] / t['to_exec_med']:.2f}x | {vs} "
                           f"| {tm(t['tail_med'])} | {tm(s_['tail_med'])} ({tm(s_['tail_p10'])}) |")
        out.append("\nTarget: time-to-exec with 200k or 1M files within 1.5x of the empty case.\n")

    if "rss" in d:
        out.append("### Resident memory against files present\n")
        t = d["rss"]["tini-static"]
        out.append(f"`INIT -- sleep`, read once the init's CPU time has been still for 1 s (its start-up "
                   f"walk is over, whatever the design). tini-static: VmRSS {t['rss']} KiB.\n")
        out.append("| mount | files | VmRSS | VmHWM | threads | workload spawned after | CPU still from | CPU ticks |")
        out.append("|---|---|---|---|---|---|---|---|")
        for kind in ("emptydir", "pvc"):
            for n in sizes:
                r = d["rss"].get(f"{kind} {n}")
                if not r:
                    continue
                out.append(f"| {kind} | {n_(n)} | {r['rss']} KiB | {r['hwm']} KiB | {r['threads']} "
                           f"| {r['spawn_s'] * 1e3:.0f} ms | {secs(r['settled_s'])} | {r['cpu_ticks']} |")
        out.append("")

    if "pg" in d:
        pg = d["pg"]
        base = pg["tini-static"]
        out.append(f"### Start path: `/` read-only, postgres's four mounts present ({base['n']} interleaved rounds)\n")
        out.append("| command | to-exec median (p10) | vs tini-static (p10) | exit tail | fork→waitpid | target |")
        out.append("|---|---|---|---|---|---|")
        targets = {"sealinit --root any": 1.10, "sealinit --profile postgres": 1.15}
        for k, v in pg.items():
            ratio = v["to_exec_med"] / base["to_exec_med"]
            r10 = v["to_exec_p10"] / base["to_exec_p10"]
            tg = targets.get(k)
            tgt = f"≤ {tg:.2f}x: {verdict(ratio <= tg)}" if tg else ""
            out.append(f"| {k} | {tm(v['to_exec_med'])} ({tm(v['to_exec_p10'])}) | {ratio:.2f}x ({r10:.2f}x) "
                       f"| {tm(v['tail_med'])} | {tm(v['total_med'])} | {tgt} |")
        if "pg_tail_run" in d:
            tr = d["pg_tail_run"]
            row = ", ".join(f"{k} {tm(v['tail_med'])}" for k, v in tr.items())
            n = next(iter(tr.values()))["n"]
            out.append(f"\nExit tail of a workload that lives 20 ms (`stamp-run`, {n} interleaved rounds, "
                       f"median), so that the watches are in place when it exits: {row}. The exit tail "
                       "in the table above is that of a workload that exits at once: sealinit starts no "
                       "watch for a workload gone within 1 ms of its spawn. With an inotify instance, the "
                       "kernel's teardown of it at exit waits for an SRCU grace period (`bench/README.md`).")
        if any(k.endswith("(glibc build)") for k in pg):
            out.append("\nThe glibc rows are the same sealinit built against glibc (static), run in the same "
                       "rounds. A static glibc program asks the CPU about its features and caches before `main` "
                       "(some 50 CPUID instructions; in a VM each traps to the hypervisor), as tini-static does; "
                       "the musl build asks nothing.")
        if "floor: startfloor" in pg:
            out.append("\nThe floor row is `bench/startfloor.c`: the system calls of sealinit's postgres checks "
                       "and nothing else, in C (the mount table read once, statfs of `/`, the identity, and per "
                       "mount lstat, realpath, the O_TMPFILE write probe and statfs), then the same vfork + exec "
                       "of the workload. Its ratio is what the checks cost the kernel on this machine: no glibc init "
                       "that makes them before the spawn can start the workload sooner.")
        if "syscalls" in d:
            s_ = d["syscalls"]
            out.append(f"\nSyscalls made by sealinit itself in one run (`strace -f`, all its threads, "
                       f"not the workload after its exec): `--root any` {s_['root any']}, "
                       f"`--profile postgres` {s_['postgres']}"
                       + (f"; tini-static -s {s_['tini-static']}." if "tini-static" in s_ else "."))
        out.append("")

    if "cpu" in d:
        c = d["cpu"]
        out.append("### On one CPU (`taskset`): the workload's throughput and the init's CPU\n")
        out.append("The workload writes in an emptyDir-like mount watched by sealinit (`--emptydir`), or "
                   "runs under tini-static; the init and the workload pinned to the same CPU. Init CPU = "
                   "the init's rusage (wait4: its threads and everything it reaped) − the workload's own. "
                   "churn: create + write 1 KiB, append 1 KiB to an older file, delete an older one; "
                   "tar: `tar -xf` of the fixture tarball.\n")
        out.append("| workload | init | throughput (median) | vs tini-static | workload CPU | init CPU | init / workload CPU | target |")
        out.append("|---|---|---|---|---|---|---|---|")
        for w, key, unit in (("churn", "ops_per_s", "files/s"), ("tar", "entries_per_s", "entries/s")):
            tp_t = statistics.median(x[key] for x in c[w]["tini-static"])
            for init in ("tini-static", "sealinit"):
                xs = c[w][init]
                tp = statistics.median(x[key] for x in xs)
                wl = statistics.median(x["workload_us"] for x in xs)
                ic = statistics.median(x["init_us"] for x in xs)
                frac = ic / wl if wl else 0
                tgt = ""
                if init == "sealinit":
                    ok = tp / tp_t >= 0.95 and frac < 0.10
                    tgt = f"≥ 0.95x and < 10 %: {verdict(ok)}"
                out.append(f"| {w} | {init} | {tp:,.0f} {unit} | {tp / tp_t:.2f}x | {wl / 1e6:.2f} s "
                           f"| {ic / 1e6:.3f} s | {frac * 100:.1f} % | {tgt} |")
        if c.get("floor"):
            fl = c["floor"]
            cpu = statistics.median(x["cpu_us"] for x in fl)
            wl = statistics.median(x["workload_us"] for x in fl)
            out.append(f"| tar | floor: `statfloor` | | | | {cpu / 1e6:.3f} s | {cpu / wl * 100:.1f} % "
                       f"| the kernel work alone |")
            out.append(f"\nThe floor row is `bench/statfloor.c` run on the tree the tini-static `tar x` just "
                       f"unpacked ({n_(fl[0]['entries'])} entries in {n_(fl[0]['dirs'])} directories), on the same "
                       f"CPU: an `inotify_add_watch`, one `getdents64` pass and one `statx` per entry, in C, "
                       f"nothing else. That is the kernel work of any watcher that keeps the kubelet's figure "
                       f"exact by stat'ing each file, as a fraction of the CPU of the `tar` that made the tree. "
                       f"Both inits run each workload followed by a 2 s wait inside the measured run, so work an "
                       f"init does after the workload's last operation (a new directory is listed 100 ms after "
                       f"it appears) is counted.")
        out.append("")

    if "latency" in d:
        out.append("### Breach detection latency (a write of 12% of the limit → `usage.threshold` crossed_warn)\n")
        out.append("| mount | files | median | p90 | max | misses | watcher CPU still from |")
        out.append("|---|---|---|---|---|---|---|")
        for k, v in d["latency"].items():
            kind, n = k.split()
            xs = v["samples_ns"]
            if xs:
                out.append(f"| {kind} | {n_(int(n))} | {tm(statistics.median(xs))} | {tm(pct(xs, 90))} "
                           f"| {tm(max(xs))} | {v['misses']} | {secs(v['settled_s'])} |")
            else:
                out.append(f"| {kind} | {n_(int(n))} | – | – | – | {v['misses']} | {secs(v['settled_s'])} |")
        out.append("")

    if "cold" in d:
        out.append(f"### Cold start at {n_(sizes[-1])} files: memory charged to the init's memory cgroup\n")
        out.append("`sync; echo 3 > /proc/sys/vm/drop_caches`, then the init (and its `sleep`) in a fresh "
                   "memory cgroup, read once the init's CPU has been still for 1 s.\n")
        out.append("| init | mount | peak charge | current | of which kernel (kmem/slab) | page cache | init VmRSS | CPU still from |")
        out.append("|---|---|---|---|---|---|---|---|")
        for k, v in d["cold"].items():
            init, kind = k.split()
            st = v["stat"]
            km = v.get("kmem", st.get("slab"))
            cache = st.get("cache", st.get("file"))
            out.append(f"| {init} | {kind} | {mb(v['peak'])} | {mb(v['current'])} | {mb(km)} | {mb(cache)} "
                       f"| {v['rss_kb']} KiB | {secs(v['settled_s'])} |")
        out.append("")
    print("\n".join(out))


if __name__ == "__main__":
    main()
