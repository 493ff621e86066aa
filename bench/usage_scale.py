"""Driver of bench/usage_scale.sh (runs inside its private mount namespace).

usage_scale.py SEALINIT TINI CHURN W BIG
Prints a markdown table; raw numbers on stderr.
"""
import json, os, statistics, subprocess, sys, time

sealinit, tini, churn, W, big = sys.argv[1:6]
ROUNDS = int(os.environ.get("ROUNDS", "15"))
CHURN = os.environ.get("CHURN", "10")
disk = f"{W}/disk"
trees = [("0", "e0"), ("200k", "e200k")] + ([("1M", "e1m")] if big == "1" else [])

def bind(src, dst):
    os.makedirs(dst, exist_ok=True)
    subprocess.run(["mount", "--bind", src, dst], check=True)

BASE = [sealinit, "-v", "--root", "any", "--on-violation", "warn", "--log-format", "json",
        "--rescan", "1h"]

def tte(argv):
    t0 = time.time_ns()
    out = subprocess.run(argv + ["--", "/bin/date", "+%s%N"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, check=True).stdout
    return (int(out) - t0) / 1e6

def rss_after_ready(argv):
    p = subprocess.Popen(argv + ["--", "sleep", "600"], stderr=subprocess.PIPE, text=True)
    ready = None
    for line in p.stderr:
        if '"usage.ready"' in line:
            ready = json.loads(line)
            break
    st = open(f"/proc/{p.pid}/status").read()
    f = {l.split(":")[0]: l.split()[1] for l in st.splitlines() if l.startswith(("VmRSS", "VmHWM"))}
    p.terminate()
    p.wait()
    return ready, int(f["VmRSS"]) / 1024, int(f["VmHWM"]) / 1024

rows = []
for label, sub in trees:
    ed = f"{W}/mnt/{sub}"
    bind(f"{disk}/{sub}", ed)
    cases = [("emptyDir (walked)", BASE + ["--emptydir", ed])]
    if label == trees[-1][0]:
        cases.append(("PVC, fs mounted whole (statfs)", BASE + ["--pvc", disk]))
    for name, argv in cases:
        tte(argv)  # warm
        s, t = [], []
        for _ in range(ROUNDS):
            s.append(tte(argv))
            t.append(tte([tini, "-s"]))
        ready, rss, hwm = rss_after_ready(argv)
        ms = ready.get("duration_ms") if ready else None
        ent = ready.get("entries") if ready else None
        print(f"raw {name} {label}: sealinit {s} tini {t}", file=sys.stderr)
        rows.append((name, label, statistics.median(s), statistics.median(t), ms, ent, rss, hwm))

print("| mount | files present | time-to-exec sealinit (median ms) | tini-static | ratio | usage.ready after (ms) | entries | RSS after ready (MiB) | peak RSS (MiB) |")
print("|---|---|---|---|---|---|---|---|---|")
for name, label, s, t, ms, ent, rss, hwm in rows:
    print(f"| {name} | {label} | {s:.2f} | {t:.2f} | {s/t:.2f}x | {ms} | {ent} | {rss:.1f} | {hwm:.1f} |")

# Churn on one CPU.
cdir = f"{W}/mnt/e0"
def run_churn(argv):
    p = subprocess.Popen(["taskset", "-c", "0"] + argv + ["--", churn, cdir, CHURN],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    n, wl_us = map(int, out.split())
    total_us = (ru.ru_utime + ru.ru_stime) * 1e6
    return n, wl_us, total_us - wl_us

res = {"sealinit": [], "tini": []}
for _ in range(3):
    res["sealinit"].append(run_churn(BASE + ["--emptydir", cdir]))
    res["tini"].append(run_churn([tini, "-s"]))
print(f"raw churn {res}", file=sys.stderr)
ns = statistics.median(r[0] for r in res["sealinit"])
nt = statistics.median(r[0] for r in res["tini"])
frac = statistics.median(r[2] / r[1] for r in res["sealinit"])
print()
print(f"Churn (create, append 1 KiB, close, delete; {CHURN} s on CPU 0, median of 3): "
      f"{ns:.0f} files under sealinit, {nt:.0f} under tini-static: {ns/nt:.2f}x; "
      f"sealinit's CPU time / the workload's: {frac*100:.1f} %")
