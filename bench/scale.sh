#!/usr/bin/env bash
# bench/scale.sh — sealinit at production scale (issue 11), beside
# tini-static in the same run: time-to-exec, exit tail and RSS against the
# number of files already present in an emptyDir-like and a PVC-like mount;
# the start path with `--root any` and with the postgres profile; the
# watcher's CPU and the workload's throughput on one CPU (a small-file
# churn loop, a large `tar x`); breach detection latency at the largest
# size; memory charged to a memory cgroup by a cold start at the largest
# size. Writes bench/results/scale.md (and prints it). Run as root:
#     bench/scale.sh                 # FILES=1000000: ~6 min + ~3 min to build the fixtures once
#     FILES=100000 bench/scale.sh    # a quicker pass
# Knobs (env): FILES (largest tree; sizes are 0, 10k, 100k, 1M up to it),
# CHURN_SECS (15), TAR_ENTRIES (67000), CPU_ROUNDS (2), PG_ROUNDS (300),
# LAT_ROUNDS (10), CPU (the CPU both inits are pinned to, 1), SKIP_COLD=1
# (no drop_caches / cgroup step), PARTS (a subset of "exec rss pg cpu
# latency cold" to rerun, keeping the other results), KEEP=1 (keep the fixture images in
# /var/tmp/sealinit-bench-atscale for the next run), SEALINIT (binary).
#
# Fixtures (built once, reused with KEEP=1): one ext4 image per size,
# loop-mounted, holding data/dNNNN/fNNNN (1,000 empty files per directory).
#   emptyDir-like: the image mounted, data/ bind-mounted at mnt/ed, the
#                  image's own mount dropped: a directory of a shared
#                  filesystem (mountinfo root "/data", not "/").
#   PVC-like:      the image mounted whole at mnt/pvc (its own filesystem,
#                  mountinfo root "/").
# Everything runs in a private mount namespace; `--root any` except the
# postgres case (checks.sh's namespace: / read-only, the four mounts). The
# script relies only on sealinit's command line, its JSON events
# (`usage.threshold`) and /proc, so it runs against any watcher design.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

W=${SCALE_DIR:-/var/tmp/sealinit-bench-atscale}
FILES=${FILES:-1000000}
export W FILES
if [ "${BENCH_IN_NS:-}" != 1 ]; then
    need tini e2fsprogs tar coreutils util-linux
    build_helpers
    find_sealinit
    export BENCH_MACHINE="$(machine)"
    [ -n "${PARTS:-}" ] || rm -f "$RAW"/scale-*
    mkdir -p "$W"
    SIZES=""
    for n in 0 10000 100000 1000000; do [ "$n" -le "$FILES" ] && SIZES="$SIZES $n"; done
    export SIZES
    # mk_image N: ext4 image with N empty files under data/ (1,000 per dir)
    mk_image() {
        local n=$1 img="$W/ext4-$1.img"
        [ -e "$img.done" ] && return 0
        log "building $img ($n files; once, kept with KEEP=1)"
        rm -f "$img"
        truncate -s $((512 + n / 1000))M "$img"
        mkfs.ext4 -q -F -N $((n + 20000)) -E lazy_itable_init=0,lazy_journal_init=0 "$img"
        unshare -m --propagation private bash -c '
            set -e; mkdir -p "$W/build"; mount -o loop "$1" "$W/build"
            mkdir -p "$W/build/data"
            python3 - "$W/build/data" "$2" <<PY
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for d in range((n + 999) // 1000):
    p = f"{root}/d{d:04}"
    os.mkdir(p)
    for f in range(min(1000, n - d * 1000)):
        os.close(os.open(f"{p}/f{f:04}", os.O_CREAT | os.O_WRONLY, 0o644))
PY
            umount "$W/build"' _ "$img" "$n"
        touch "$img.done"
    }
    for n in $SIZES; do mk_image "$n"; done
    # The work image for the CPU runs (churn, tar x) and the tarball.
    if [ ! -e "$W/work.img.done" ]; then
        truncate -s 2G "$W/work.img"
        mkfs.ext4 -q -F -N 400000 -E lazy_itable_init=0,lazy_journal_init=0 "$W/work.img"
        unshare -m --propagation private bash -c 'set -e; mkdir -p "$W/build"
            mount -o loop "$W/work.img" "$W/build"; mkdir -p "$W/build/data"; umount "$W/build"'
        touch "$W/work.img.done"
    fi
    TAR_ENTRIES=${TAR_ENTRIES:-67000}
    if [ ! -e "$W/tree-$TAR_ENTRIES.tar" ]; then
        log "building the $TAR_ENTRIES-entry tarball"
        python3 - "$W/tree-$TAR_ENTRIES.tar" "$TAR_ENTRIES" <<'PY'
import io, sys, tarfile
out, n = sys.argv[1], int(sys.argv[2])
ndirs = max(1, n // 100)
with tarfile.open(out, "w") as t:
    k = 0
    for d in range(ndirs):
        ti = tarfile.TarInfo(f"t/d{d:04}"); ti.type = tarfile.DIRTYPE; ti.mode = 0o755
        t.addfile(ti); k += 1
        for f in range(99):
            if k >= n:
                break
            size = (k * 37) % 4096
            ti = tarfile.TarInfo(f"t/d{d:04}/f{f:02}"); ti.size = size; ti.mode = 0o644
            t.addfile(ti, io.BytesIO(b"x" * size)); k += 1
PY
    fi
    export TAR="$W/tree-$TAR_ENTRIES.tar" TAR_ENTRIES
    # Mount points of the postgres case: only what did not exist is made,
    # and removed again (deepest first).
    made=()
    for d in /var/lib/postgresql /var/lib/postgresql/data /var/run/postgresql; do
        if [ ! -d "$d" ]; then mkdir "$d"; made=("$d" "${made[@]}"); fi
    done
    rc=0
    env BENCH_IN_NS=1 unshare -m --propagation private "$0" "$@" || rc=$?
    for d in "${made[@]}"; do rmdir "$d" 2>/dev/null || true; done
    if [ "${KEEP:-}" = 1 ]; then
        log "fixtures kept in $W"
    else
        rm -rf "$W"
    fi
    [ $rc = 0 ] || exit $rc
    python3 "$BENCH_DIR/render.py" scale "$RAW" | tee "$RESULTS/scale.md"
    exit 0
fi

# --- inside the namespace ---
mkdir -p "$W/mnt"
python3 "$BENCH_DIR/scale_driver.py" "$SEALINIT" "$TINI" "$BIN" "$RAW" "$W"
