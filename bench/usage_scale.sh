#!/usr/bin/env bash
# bench/usage_scale.sh — the usage engine at scale (issue 11), beside
# tini-static in the same run: time-to-exec and sealinit's RSS once
# `usage.ready` is logged, against the files already present (0, 200k in
# 200 directories, 1M in 10k directories) in an emptyDir-like directory of a
# loop-mounted ext4 (walked) and in a PVC-like filesystem mounted whole
# (statfs); then a 1 KiB create/append/delete churn on one CPU: the
# workload's throughput under sealinit over under tini-static, and
# sealinit's CPU time over the workload's.
#     bench/usage_scale.sh            # ~5 min, 3 GiB sparse image in /var/tmp
# Knobs (env): BIG=0 (skip the 1M-file tree), ROUNDS (time-to-exec runs, 15),
# CHURN (seconds, 10), KEEP=1 (keep the image for the next run).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

W=/var/tmp/sealinit-bench-scale
if [ "${BENCH_IN_NS:-}" != 1 ]; then
    find_sealinit
    gcc -O2 -o "$BIN/usage_churn" "$BENCH_DIR/usage_churn.c"
    mkdir -p "$W"
    rc=0
    env BENCH_IN_NS=1 SEALINIT="$SEALINIT" unshare -m --propagation private "$0" "$@" || rc=$?
    [ "${KEEP:-}" = 1 ] || rm -rf "$W"
    exit $rc
fi

img=$W/disk.img
if [ ! -e "$W/.done${BIG:-1}" ]; then
    rm -f "$img"
    truncate -s 3G "$img"
    mkfs.ext4 -q -F -N 1400000 "$img"
fi
mkdir -p "$W/disk"
mount -o loop "$img" "$W/disk"
trap 'umount -l "$W/disk" 2>/dev/null || true' EXIT
if [ ! -e "$W/.done${BIG:-1}" ]; then
    log "building the trees (200k files in 200 dirs; 1M in 10k dirs)"
    python3 - "$W/disk" "${BIG:-1}" <<'PY'
import os, sys
root, big = sys.argv[1], sys.argv[2] == "1"
def tree(name, ndirs, per):
    for d in range(ndirs):
        p = f"{root}/{name}/d{d:05}"
        os.makedirs(p)
        for f in range(per):
            os.close(os.open(f"{p}/f{f:04}", os.O_CREAT | os.O_WRONLY, 0o644))
os.makedirs(f"{root}/e0")
tree("e200k", 200, 1000)
if big:
    tree("e1m", 10000, 100)
PY
    sync
    touch "$W/.done${BIG:-1}"
fi
python3 "$BENCH_DIR/usage_scale.py" "$SEALINIT" "$TINI" "$BIN/usage_churn" "$W" "${BIG:-1}"
