#!/usr/bin/env python3
"""Driver for bench/usage.sh, run inside its mount namespace (as root).

    usage_driver.py SEALINIT TINI RAW TMPFS DISK10K DISK100K

Starts one sealinit that watches three mounts (a tmpfs, and two disk bind
mounts holding 10,000 and 100,000 files) and supervises `sleep`, with
`--log-format json`, and reads its stderr:

1. Detection latency: each mount starts at 70% of its declared limit
   (a filler file); a write of 12% of the limit crosses --warn-at 80%.
   The sample is the time from just before that write(2) to the arrival of
   the `usage.threshold` event with transition `crossed_warn` for that path.
   The file is then deleted and the driver waits for `cleared_warn` (the
   re-arm, 5 points below) before the next round. Rounds interleave the
   mounts. Writes RAW/usage-latency.txt ("LABEL FILES NS" per sample).
2. Idle cost over IDLE seconds (env, default 60), after SETTLE seconds
   (default 45: the writeback watch re-stats a closed file of 64 KiB or
   more once a second for 40 s after its last write, and the latency
   part has just written): CPU time and context
   switches per thread of sealinit (from /proc/PID/task/*/stat and
   status), beside tini-static -s, catatonit and dumb-init supervising
   `sleep` at the same time. Writes RAW/usage-idle.md.
3. Memory while watching: VmRSS/VmHWM of that sealinit, and the number
   of inotify watches it holds (from /proc/PID/fdinfo). Writes
   RAW/usage-rss.md.
"""
import json
import os
import queue
import statistics
import subprocess
import sys
import threading
import time

MI = 1 << 20
ROUNDS = int(os.environ.get("LAT_ROUNDS", "40"))
IDLE = int(os.environ.get("IDLE", "60"))
SETTLE = int(os.environ.get("SETTLE", "45"))
TICK = os.sysconf("SC_CLK_TCK")


def used_bytes(path, tmpfs):
    if tmpfs:
        s = os.statvfs(path)
        return (s.f_blocks - s.f_bfree) * s.f_frsize
    out = subprocess.run(["du", "-sx", "-B1", path], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def write_file(path, size):
    buf = b"x" * size
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, buf)
    finally:
        os.close(fd)


def task_stats(pid):
    """{tid: (name, cpu_ticks, voluntary, nonvoluntary)} for every thread."""
    res = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            stat = open(f"/proc/{pid}/task/{tid}/stat").read()
            status = open(f"/proc/{pid}/task/{tid}/status").read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        f = stat[stat.rindex(")") + 2 :].split()
        cpu = int(f[11]) + int(f[12])  # utime + stime
        kv = dict(l.split(":\t", 1) for l in status.splitlines() if ":\t" in l)
        res[tid] = (name, cpu, int(kv["voluntary_ctxt_switches"]), int(kv["nonvoluntary_ctxt_switches"]))
    return res


def status_kb(pid, key):
    for l in open(f"/proc/{pid}/status"):
        if l.startswith(key + ":"):
            return int(l.split()[1])
    return -1


def inotify_watches(pid):
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            n += sum(1 for l in open(f"/proc/{pid}/fdinfo/{fd}") if l.startswith("inotify wd:"))
        except OSError:
            pass
    return n


def main():
    sealinit, tini, raw, tmpfs, d10k, d100k = sys.argv[1:7]
    mounts = []  # (label, files, path, is_tmpfs, limit)
    # tmpfs: limit 100Mi = its size=; the filler takes it to 70%.
    write_file(f"{tmpfs}/filler", 70 * MI)
    mounts.append(("tmpfs", 0, tmpfs, True, 100 * MI))
    for label, files, path in (("disk-ext4-bind", 10000, d10k), ("disk-ext4-bind", 100000, d100k)):
        write_file(f"{path}/filler", 70 * MI)
        base = used_bytes(path, False)
        limit = (int(base / 0.70) // 4096) * 4096
        mounts.append((label, files, path, False, limit))

    # -v: the "spawn" event is at debug level.
    args = [sealinit, "-v", "--root", "any", "--on-violation", "warn", "--log-format", "json",
            "--warn-at", "80", "--act-at", "99"]
    if os.environ.get("RESCAN"):  # e.g. RESCAN=1h to take the safety rescan out of the idle window
        args += ["--rescan", os.environ["RESCAN"]]
    for label, files, path, is_tmpfs, limit in mounts:
        args += ["--tmpfs" if is_tmpfs else "--emptydir", f"{path}:{limit}"]
    args += ["--", "sleep", "1000000"]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    events = queue.Queue()
    spawned = threading.Event()
    other = []

    def reader():
        for line in proc.stderr:
            t = time.monotonic_ns()
            try:
                ev = json.loads(line)
            except ValueError:
                other.append(line)
                continue
            if ev.get("event") == "spawn":
                spawned.set()
            elif ev.get("event") == "usage.threshold":
                events.put((t, ev.get("path"), ev.get("transition")))
            elif ev.get("level") in ("WARN", "ERROR", "warn", "error"):
                other.append(line)

    threading.Thread(target=reader, daemon=True).start()
    if not spawned.wait(30):
        proc.terminate()  # sealinit stops its workload and exits: nothing left watching
        proc.wait(10)
        sys.exit(f"sealinit did not spawn its workload: {b''.join(other)[:2000]!r}")
    time.sleep(3)  # the initial walk of 110,000 files and the inotify watches
    while not events.empty():
        events.get()

    def wait_for(path, transition, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                t, p, tr = events.get(timeout=left)
            except queue.Empty:
                return None
            if p == path and tr == transition:
                return t

    lat = open(f"{raw}/usage-latency.txt", "w")
    misses = 0
    for r in range(ROUNDS):
        for label, files, path, is_tmpfs, limit in mounts:
            f = f"{path}/crossing"
            t0 = time.monotonic_ns()
            write_file(f, int(limit * 0.12))
            t1 = wait_for(path, "crossed_warn")
            if t1 is None:
                misses += 1
                print(f"usage: no crossed_warn for {path} within 10 s", file=sys.stderr)
            else:
                lat.write(f"{label} {files} {t1 - t0}\n")
            os.unlink(f)
            if wait_for(path, "cleared_warn") is None:
                print(f"usage: no cleared_warn for {path} within 10 s", file=sys.stderr)
    lat.close()

    # memory while watching
    pid = proc.pid
    watches = inotify_watches(pid)
    rss, hwm = status_kb(pid, "VmRSS"), status_kb(pid, "VmHWM")
    ndirs = sum(1 for _, _, p, _, _ in mounts for _ in os.walk(p))
    with open(f"{raw}/usage-rss.md", "w") as fh:
        fh.write("### Memory while watching 110,000 files (tmpfs + 10,000 + 100,000 files on disk)\n\n")
        fh.write("| process | VmRSS | VmHWM | inotify watches | directories watched | files |\n|---|---|---|---|---|---|\n")
        fh.write(f"| sealinit (3 mounts) | {rss} KiB | {hwm} KiB | {watches} | {ndirs} | 110,000 |\n\n")
        fh.write("inotify watches are per directory, so memory grows with directories, not files; "
                 "compare with sealinit's RSS as a plain init in init.md.\n")

    # idle cost, side by side
    peers = {
        "tini-static -s": subprocess.Popen([tini, "-s", "--", "sleep", "1000000"], stderr=subprocess.DEVNULL),
        "catatonit": subprocess.Popen(["/usr/bin/catatonit", "--", "sleep", "1000000"], stderr=subprocess.DEVNULL),
        "dumb-init": subprocess.Popen(["/usr/bin/dumb-init", "sleep", "1000000"], stderr=subprocess.DEVNULL),
    }
    time.sleep(SETTLE)
    procs = {"sealinit (3 watched mounts)": proc, **peers}
    before = {n: task_stats(p.pid) for n, p in procs.items()}
    t0 = time.monotonic()
    time.sleep(IDLE)
    secs = time.monotonic() - t0
    after = {n: task_stats(p.pid) for n, p in procs.items()}
    with open(f"{raw}/usage-idle.md", "w") as fh:
        fh.write(f"### Idle cost over {secs:.0f} s of supervising `sleep` (all four at the same time, "
                 f"from {SETTLE} s after the last write)\n\n")
        fh.write("| process | thread | CPU time | voluntary ctxt switches | involuntary | wake-ups/s |\n|---|---|---|---|---|---|\n")
        for n in procs:
            for tid, (name, cpu, vol, inv) in sorted(after[n].items()):
                b = before[n].get(tid, (name, 0, 0, 0))
                dv, di = vol - b[2], inv - b[3]
                fh.write(f"| {n} | {name} ({tid}) | {(cpu - b[1]) * 1000 // TICK} ms | {dv} | {di} | {(dv + di) / secs:.2f} |\n")
        fh.write("\nsealinit's watcher sleeps in poll(2) with no timeout but the next safety rescan "
                 "(--rescan, default 60 s); a window of 60 s can hold one rescan.\n")
    for p in peers.values():
        p.terminate()
        p.wait()
    proc.terminate()
    proc.wait(30)
    if misses:
        sys.exit(f"{misses} crossings not detected within 10 s")


if __name__ == "__main__":
    main()
