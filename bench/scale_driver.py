#!/usr/bin/env python3
"""bench/scale.sh's driver, run inside its private mount namespace.

    scale_driver.py SEALINIT TINI BIN RAW W

Writes RAW/scale.json (rendered by `render.py scale`). Relies only on
sealinit's command line, its JSON events and /proc. See scale.sh for the
fixtures and the knobs.
"""
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import queue

SEALINIT, TINI, BIN, RAW, W = sys.argv[1:6]
SIZES = [int(n) for n in os.environ.get("SIZES", "0 10000").split()]
MNT = f"{W}/mnt"
CPU = os.environ.get("CPU", "1")
CHURN_SECS = os.environ.get("CHURN_SECS", "15")
CPU_ROUNDS = int(os.environ.get("CPU_ROUNDS", "2"))
PG_ROUNDS = int(os.environ.get("PG_ROUNDS", "300"))
TAIL_ROUNDS = int(os.environ.get("TAIL_ROUNDS", "60"))
LAT_ROUNDS = int(os.environ.get("LAT_ROUNDS", "10"))
TAR, TAR_ENTRIES = os.environ["TAR"], int(os.environ["TAR_ENTRIES"])
# The glibc build, beside a musl SEALINIT on the start path (bench/lib.sh).
GNU = os.environ.get("BENCH_GNU", "")
STAMP = f"{BIN}/stamp"
STAMP_RUN = f"{BIN}/stamp-run"  # the same, living 20 ms
ALL_PARTS = ("exec", "rss", "pg", "cpu", "latency", "cold")
PARTS = os.environ.get("PARTS", " ".join(ALL_PARTS)).split()
# sealinit reads SEALINIT_* variables (and warns about unknown ones): the
# runs measured here get none.
for k in [k for k in os.environ if k.startswith("SEALINIT_")]:
    del os.environ[k]
out = {}
if os.environ.get("PARTS") and os.path.exists(f"{RAW}/scale.json"):
    out = json.load(open(f"{RAW}/scale.json"))  # rerun some parts, keep the others
out["sizes"] = SIZES


def log(msg):
    print(f"\n== {msg}", file=sys.stderr, flush=True)


def sh(*args):
    subprocess.run(args, check=True)


def save():
    with open(f"{RAW}/scale.json", "w") as f:
        json.dump(out, f, indent=1)


# ---- mounts ----

def mount_kind(kind, n):
    """Mounts the N-file image as KIND ('emptydir' or 'pvc'); returns the path."""
    img = f"{W}/ext4-{n}.img" if n is not None else f"{W}/work.img"
    if kind == "pvc":
        at = f"{MNT}/pvc"
        os.makedirs(at, exist_ok=True)
        sh("mount", "-o", "loop", img, at)
        return at
    disk, at = f"{MNT}/disk", f"{MNT}/ed"
    os.makedirs(disk, exist_ok=True)
    os.makedirs(at, exist_ok=True)
    sh("mount", "-o", "loop", img, disk)
    sh("mount", "--bind", f"{disk}/data", at)
    sh("umount", disk)  # the bind keeps the filesystem: root "/data" in mountinfo
    return at


def unmount(at):
    sh("umount", at)  # a loop device set up by mount -o loop is freed with it


def init_cmd(init, kind, path, extra=()):
    if init == "tini-static":
        return [TINI, "-s", "--"]
    return [SEALINIT, "--root", "any", *extra, f"--{kind}", path, "--"]


# ---- /proc ----

def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime, all threads


def status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def child_of(pid, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            for t in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{t}/children") as f:
                    c = f.read().split()
                    if c:
                        return int(c[0])
        except OSError:
            pass
        time.sleep(0.005)
    return None


def settle(pid, since, quiet=1.0, cap=300):
    """Waits until PID's CPU time has not moved for QUIET seconds (its
    start-up walk, whatever the design, is over); returns when it last
    moved, in seconds after SINCE (the init's start), or None at CAP."""
    last, moved = cpu_ticks(pid), time.monotonic()
    while time.monotonic() - since < cap:
        time.sleep(0.1)
        now = cpu_ticks(pid)
        if now != last:
            last, moved = now, time.monotonic()
        elif time.monotonic() - moved >= quiet:
            return moved - since
    return None


def stop(p):
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


# ---- 1. time-to-exec and exit tail against files present ----

def part_exec():
    def exectime(cmds, rounds, warmup, tag):
        cf, of = f"{RAW}/scale-{tag}-cmds.txt", f"{RAW}/scale-{tag}.txt"
        with open(cf, "w") as f:
            for name, argv in cmds:
                f.write(f"{name}|{' '.join(argv)}\n")
        if os.path.exists(of):
            os.unlink(of)
        sh(f"{BIN}/exectime", str(rounds), str(warmup), of, cf)
        res = {}
        for line in open(of):
            i, a, b, c = map(int, line.split())
            res.setdefault(cmds[i][0], []).append((a, b, c))
        summary = {}
        for name, xs in res.items():
            col = lambda k: sorted(x[k] for x in xs)
            summary[name] = {
                "n": len(xs),
                "to_exec_med": statistics.median(col(0)), "to_exec_p10": col(0)[len(xs) // 10],
                "tail_med": statistics.median(col(1)), "tail_p10": col(1)[len(xs) // 10],
                "total_med": statistics.median(col(2)),
            }
        return summary


    def rounds_for(n):
        return 200 if n <= 10000 else 20 if n <= 100000 else 5


    log(f"time-to-exec and exit tail, sizes {SIZES}")
    out["exec"] = {}
    for kind in ("emptydir", "pvc"):
        for n in SIZES:
            path = mount_kind(kind, n)
            cmds = [("tini-static", init_cmd("tini-static", kind, path) + [STAMP]),
                    ("sealinit", init_cmd("sealinit", kind, path) + [STAMP])]
            r = rounds_for(n)
            out["exec"][f"{kind} {n}"] = exectime(cmds, r, min(3, r), f"exec-{kind}-{n}")
            unmount(path)
            print(kind, n, json.dumps(out["exec"][f"{kind} {n}"]), file=sys.stderr)
            save()


# ---- 2. RSS against files present ----

def part_rss():
    log("RSS against files present")
    out["rss"] = {}
    p = subprocess.Popen([TINI, "-s", "--", "sleep", "600"], stdin=subprocess.DEVNULL)
    child_of(p.pid)
    time.sleep(0.3)
    out["rss"]["tini-static"] = {"rss": status_kb(p.pid, "VmRSS"), "hwm": status_kb(p.pid, "VmHWM")}
    stop(p)
    for kind in ("emptydir", "pvc"):
        for n in SIZES:
            path = mount_kind(kind, n)
            t0 = time.monotonic()
            p = subprocess.Popen(init_cmd("sealinit", kind, path) + ["sleep", "600"],
                                 stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            spawned = child_of(p.pid) is not None
            t_spawn = time.monotonic() - t0
            s = settle(p.pid, t0)
            out["rss"][f"{kind} {n}"] = {
                "rss": status_kb(p.pid, "VmRSS"), "hwm": status_kb(p.pid, "VmHWM"),
                "threads": status_kb(p.pid, "Threads"), "spawned": spawned,
                "spawn_s": t_spawn, "settled_s": s, "cpu_ticks": cpu_ticks(p.pid),
            }
            stop(p)
            unmount(path)
            print(kind, n, out["rss"][f"{kind} {n}"], file=sys.stderr)
            save()


# ---- 3. the start path: --root any and the postgres profile ----

def part_pg():
    pg = f"{W}/pg"
    for d in ("data", "run", "tmp"):
        os.makedirs(f"{pg}/{d}", exist_ok=True)
    with open(f"{pg}/tmp/scale-pg-cmds.txt", "w") as f:
        f.write(f"tini-static|{TINI} -s -- {STAMP}\n"
                f"sealinit --root any|{SEALINIT} --root any -- {STAMP}\n"
                f"sealinit --profile postgres|{SEALINIT} --profile postgres -- {STAMP}\n"
                f"floor: startfloor|{BIN}/startfloor -w /var/lib/postgresql/data -w /var/run/postgresql "
                f"-w /tmp -w /dev/shm -- {STAMP}\n")
        if GNU:
            f.write(f"sealinit --root any (glibc build)|{GNU} --root any -- {STAMP}\n"
                    f"sealinit --profile postgres (glibc build)|{GNU} --profile postgres -- {STAMP}\n")
    # The exit tail of a workload that lives long enough (20 ms) for the
    # init's watches to be in place when it exits.
    with open(f"{pg}/tmp/scale-pg-cmds-run.txt", "w") as f:
        f.write(f"tini-static|{TINI} -s -- {STAMP_RUN}\n"
                f"sealinit --root any|{SEALINIT} --root any -- {STAMP_RUN}\n"
                f"sealinit --profile postgres|{SEALINIT} --profile postgres -- {STAMP_RUN}\n")
    # Every writable mount there is watched by the sealinit under test, so the
    # samples and traces leave through stdout (a pipe to this driver), never
    # through a file that would wake the watcher.
    # The host's own writable mounts (`/run/netns`, ...) remounted read-only
    # first (bench/lib.sh's quiet_host).
    script = f"""
    set -e
    . "{BIN}/../lib.sh"
    quiet_host
    bindw() {{ mount --bind "$1" "$2" && mount -o remount,bind,nosuid,nodev,noexec "$2"; }}
    bindw {pg}/data /var/lib/postgresql/data
    bindw {pg}/run /var/run/postgresql
    bindw {pg}/tmp /tmp
    mount -t tmpfs -o size=1g,nosuid,nodev,noexec tmpfs /dev/shm
    mount -o remount,bind,ro /
    {SEALINIT} --profile postgres -- /bin/true >&2
    echo ==exec
    {BIN}/exectime {PG_ROUNDS} 20 /dev/stdout /tmp/scale-pg-cmds.txt
    echo ==tail-run
    {BIN}/exectime {TAIL_ROUNDS} 3 /dev/stdout /tmp/scale-pg-cmds-run.txt
    for c in "{TINI} -s" "{SEALINIT} --root any" "{SEALINIT} --profile postgres"; do
        echo "==strace $c"
        strace -f -qq -o /dev/fd/9 $c -- /bin/true 9>&1 >/dev/null 2>&1
    done
    """
    log(f"start path: --root any, --profile postgres vs tini-static ({PG_ROUNDS} rounds)")
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "bash", "-c", script], check=True,
                       stdout=subprocess.PIPE, text=True)
    os.unlink(f"{pg}/tmp/scale-pg-cmds.txt")
    os.unlink(f"{pg}/tmp/scale-pg-cmds-run.txt")
    sections, cur = {}, None
    for line in r.stdout.splitlines():
        if line.startswith("=="):
            cur = line[2:]
            sections[cur] = []
        elif cur:
            sections[cur].append(line)
    with open(f"{RAW}/scale-pg.txt", "w") as f:
        f.write("\n".join(sections["exec"]) + "\n")
    names = ["tini-static", "sealinit --root any", "sealinit --profile postgres", "floor: startfloor",
             "sealinit --root any (glibc build)", "sealinit --profile postgres (glibc build)"]
    files = ["tini", "any", "postgres"]
    for (k, lines), name in zip([(k, v) for k, v in sections.items() if k.startswith("strace")], files):
        with open(f"{RAW}/scale-strace-{name}.txt", "w") as f:
            f.write("\n".join(lines) + "\n")
    res = {}
    for line in sections["exec"]:
        i, a, b, c = map(int, line.split())
        res.setdefault(names[i], []).append((a, b, c))
    out["pg"] = {k: {"n": len(v),
                     "to_exec_med": statistics.median(x[0] for x in v),
                     "to_exec_p10": sorted(x[0] for x in v)[len(v) // 10],
                     "tail_med": statistics.median(x[1] for x in v),
                     "total_med": statistics.median(x[2] for x in v)} for k, v in res.items()}

    def own_syscalls(path):
        """Syscalls of the init (all threads), not of the workload after its exec."""
        lines = [l for l in open(path) if "resumed>" not in l and "+++" not in l and "---" not in l]
        init_pid = lines[0].split()[0]
        wl, n = None, 0
        for l in lines:
            pid = l.split()[0]
            if pid != init_pid and "execve(" in l and wl is None:
                wl = pid
                continue
            if wl is not None and pid == wl:
                continue
            n += 1
        return n

    run = {}
    for line in sections["tail-run"]:
        i, a, b, c = map(int, line.split())
        run.setdefault(names[i], []).append(b)
    out["pg_tail_run"] = {k: {"n": len(v), "tail_med": statistics.median(v)} for k, v in run.items()}

    out["syscalls"] = {"tini-static": own_syscalls(f"{RAW}/scale-strace-tini.txt"),
                       "root any": own_syscalls(f"{RAW}/scale-strace-any.txt"),
                       "postgres": own_syscalls(f"{RAW}/scale-strace-postgres.txt")}
    print(out["pg"], out["syscalls"], file=sys.stderr)
    save()


# ---- 4. CPU on one CPU: churn and tar x ----

def part_cpu():
    log(f"CPU on CPU {CPU}: churn {CHURN_SECS} s and tar x of {TAR_ENTRIES} entries, {CPU_ROUNDS} rounds")
    path = mount_kind("emptydir", None)
    out["cpu"] = {"churn": {"tini-static": [], "sealinit": []}, "tar": {"tini-static": [], "sealinit": []},
                  "floor": []}
    # Two seconds after the workload: an init still catching up on what it
    # did (the watcher lists a new directory 100 ms after it appears, a
    # quiet one on a 200 ms timer or later, re-lists and hunts after 1 s)
    # does it within the run, so its CPU is counted.
    env = dict(os.environ, CPUOF_SETTLE_MS="2000")

    def run_pinned(argv):
        p = subprocess.Popen(["taskset", "-c", CPU] + argv, stdin=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env=env)
        _, st, ru = os.wait4(p.pid, 0)
        p.returncode = st
        if st != 0:
            sys.exit(f"scale: {' '.join(argv)} failed ({st:#x})")
        return (ru.ru_utime + ru.ru_stime) * 1e6  # µs: the init, its threads and what it reaped


    for r in range(CPU_ROUNDS):
        order = ["tini-static", "sealinit"] if r % 2 == 0 else ["sealinit", "tini-static"]
        for init in order:
            d = f"{path}/churn"
            os.makedirs(d, exist_ok=True)
            res_f = f"{W}/churn.out"
            total = run_pinned(init_cmd(init, "emptydir", path) +
                               [f"{BIN}/cpuof", "/dev/null", "--", f"{BIN}/churn", d, CHURN_SECS, res_f])
            ops, secs, u, s = open(res_f).read().split()
            wl = int(u) + int(s)
            out["cpu"]["churn"][init].append({"ops_per_s": int(ops) / float(secs), "workload_us": wl,
                                              "init_us": max(0.0, total - wl)})
            os.rmdir(d)
        for init in order:
            d = f"{path}/tar"
            os.makedirs(d, exist_ok=True)
            res_f = f"{W}/tar.out"
            total = run_pinned(init_cmd(init, "emptydir", path) +
                               [f"{BIN}/cpuof", res_f, "--", "tar", "-xf", TAR, "-C", d])
            wall, u, s = map(int, open(res_f).read().split())
            wl = u + s
            out["cpu"]["tar"][init].append({"entries_per_s": TAR_ENTRIES / (wall / 1e9), "workload_us": wl,
                                            "init_us": max(0.0, total - wl), "wall_s": wall / 1e9})
            if init == "tini-static":
                # The floor of any exact per-file design, on the tree just
                # unpacked, beside the tar that made it.
                f = subprocess.run(["taskset", "-c", CPU, f"{BIN}/statfloor", d], check=True,
                                   capture_output=True, text=True).stdout.split()
                out["cpu"]["floor"].append({"entries": int(f[0]), "dirs": int(f[1]), "cpu_us": int(f[2]),
                                            "workload_us": wl})
            sh("rm", "-rf", d)
        print(json.dumps(out["cpu"]), file=sys.stderr)
        save()
    unmount(path)


# ---- 5. breach detection latency at the largest size ----

def part_latency():
    log(f"breach detection latency at {big} files")
    out["latency"] = {}


    def du(path):
        r = subprocess.run(["du", "-sx", "-B1", path], capture_output=True, text=True, check=True)
        return int(r.stdout.split()[0])


    for kind in ("emptydir", "pvc"):
        path = mount_kind(kind, big)
        base = du(path)
        limit = (int((base + 70 * 2**20) / 0.70) // 4096) * 4096
        filler = f"{path}/filler"
        with open(filler, "wb") as f:
            f.write(b"\0" * (70 * 2**20))
            f.flush()
            os.fsync(f.fileno())
        t0 = time.monotonic()
        p = subprocess.Popen([SEALINIT, "--root", "any", "--log-format", "json", "--warn-at", "80",
                              "--act-at", "99", f"--{kind}", f"{path}:{limit}", "--", "sleep", "100000"],
                             stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
        events = queue.Queue()

        def reader(pipe=p.stderr, q=events):
            for line in pipe:
                t = time.monotonic_ns()
                try:
                    ev = json.loads(line)
                except ValueError:
                    continue
                if ev.get("event") == "usage.threshold":
                    q.put((t, ev.get("transition")))

        threading.Thread(target=reader, daemon=True).start()
        child_of(p.pid)
        settled = settle(p.pid, t0)
        while not events.empty():
            events.get()

        def wait_for(transition, timeout=30.0):
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                try:
                    t, tr = events.get(timeout=max(0.01, end - time.monotonic()))
                except queue.Empty:
                    return None
                if tr == transition:
                    return t
            return None

        lats, misses = [], 0
        for r in range(LAT_ROUNDS):
            f = f"{path}/crossing"
            t0 = time.monotonic_ns()
            with open(f, "wb") as fh:
                fh.write(b"\0" * int(limit * 0.12))
            t1 = wait_for("crossed_warn")
            if t1 is None:
                misses += 1
            else:
                lats.append(t1 - t0)
            os.unlink(f)
            wait_for("cleared_warn")
        stop(p)
        os.unlink(filler)
        out["latency"][f"{kind} {big}"] = {"samples_ns": lats, "misses": misses, "settled_s": settled,
                                           "limit": limit, "base": base}
        print(kind, big, out["latency"][f"{kind} {big}"], file=sys.stderr)
        unmount(path)
        save()


# ---- 6. memory charged to a memory cgroup by a cold start ----

def part_cold():
    log(f"cold start at {big} files: memory charged to the cgroup (drop_caches first)")
    out["cold"] = {}
    v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
    base_cg = "/sys/fs/cgroup" if v2 else "/sys/fs/cgroup/memory"
    cases = [("tini-static", "emptydir"), ("sealinit", "emptydir"), ("sealinit", "pvc")]
    for init, kind in cases:
        path = mount_kind(kind, big)
        cg = f"{base_cg}/sealinit-bench-scale-{os.getpid()}"
        os.makedirs(cg, exist_ok=True)
        sh("sync")
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        argv = init_cmd(init, kind, path) + ["sleep", "600"]
        t0 = time.monotonic()
        p = subprocess.Popen(["sh", "-c", f'echo $$ > {cg}/cgroup.procs && exec "$@"', "sh", *argv],
                             stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        child_of(p.pid)
        settled = settle(p.pid, t0)

        def rd(name):
            try:
                return int(open(f"{cg}/{name}").read().split()[0])
            except (OSError, ValueError):
                return None

        if v2:
            row = {"current": rd("memory.current"), "peak": rd("memory.peak")}
        else:
            row = {"current": rd("memory.usage_in_bytes"), "peak": rd("memory.max_usage_in_bytes"),
                   "kmem": rd("memory.kmem.usage_in_bytes")}
        stat = {}
        for line in open(f"{cg}/memory.stat"):
            k, v = line.split()
            stat[k] = int(v)
        row["stat"] = {k: stat[k] for k in ("cache", "rss", "file", "anon", "slab",
                                             "slab_reclaimable") if k in stat}
        row["settled_s"] = settled
        row["rss_kb"] = status_kb(p.pid, "VmRSS")
        stop(p)
        # Empty the cgroup's charges before removing it (v1 would reparent them).
        if not v2:
            try:
                with open(f"{cg}/memory.force_empty", "w") as f:
                    f.write("0\n")
            except OSError:
                pass
        os.rmdir(cg)
        unmount(path)
        out["cold"][f"{init} {kind}"] = row
        print(init, kind, row, file=sys.stderr)
        save()

    save()


big = SIZES[-1]
for part in ALL_PARTS:
    if part in PARTS and not (part == "cold" and os.environ.get("SKIP_COLD") == "1"):
        globals()[f"part_{part}"]()
save()
