#!/usr/bin/env bash
# bench/usage.sh — the usage watcher (issue 4): detection latency on a tmpfs
# and on disk mounts holding 10,000 and 100,000 files; a full scan of a
# 100,000-file tree against GNU `du -sx` in the same run; idle CPU time and
# wake-ups over 60 s beside tini-static, catatonit and dumb-init; memory
# while watching. Writes bench/results/usage.md (and prints it).
#     bench/usage.sh           # ~3 min (+ the first release build of the test)
# Knobs (env): LAT_ROUNDS (crossings per mount, 40), IDLE (seconds, 60),
# RESCAN (sealinit --rescan, default its own 60s), SKIP_SCAN=1 (skip the
# cargo scan-vs-du bench), KEEP=1 (keep the trees in
# /var/tmp for the next run).
#
# Mounts, in a private mount namespace (unshare -m --propagation private):
#   $W/tmpfs   tmpfs size=100m              --tmpfs    limit 100Mi
#   $W/d10k    bind of itself (host ext4)   --emptydir 10 dirs x 1,000 empty files
#   $W/d100k   bind of itself (host ext4)   --emptydir 100 dirs x 1,000 empty files
# Each disk limit is set so that the tree plus a 70 MiB filler is at 70%;
# the crossing write is 12% of the limit. / stays as it is (`--root any`):
# only the watcher is under test here.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

W=/var/tmp/sealinit-bench-usage
if [ "${BENCH_IN_NS:-}" != 1 ]; then
    need tini dumb-init catatonit coreutils
    find_sealinit
    export BENCH_MACHINE="$(machine)"
    rm -f "$RAW"/usage-*
    mk_tree() { # DIR NDIRS: NDIRS directories of 1,000 empty files
        [ -e "$1/.done" ] && return 0
        rm -rf "$1"
        mkdir -p "$1"
        python3 - "$1" "$2" <<'EOF'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for d in range(n):
    p = f"{root}/d{d:03}"
    os.mkdir(p)
    for f in range(1000):
        os.close(os.open(f"{p}/f{f:04}", os.O_CREAT | os.O_WRONLY, 0o644))
open(f"{root}/.done", "w").close()
EOF
    }
    log "building the trees in $W (10,000 and 100,000 files)"
    mkdir -p "$W/tmpfs"
    mk_tree "$W/d10k" 10
    mk_tree "$W/d100k" 100
    rc=0
    env BENCH_IN_NS=1 unshare -m --propagation private "$0" "$@" || rc=$?

    if [ "${SKIP_SCAN:-}" != 1 ] && [ $rc = 0 ]; then
        log "full scan of 100,000 files vs du -sx -B1 (cargo test --release --test usage_du ... bench_)"
        (cd "$REPO_DIR" && cargo test --release --test usage_du -- --ignored --nocapture bench_ 2>&1) |
            tee "$RAW/usage-scan-cargo.txt" | grep -E "100k files|test result" >&2 || rc=$?
        {
            echo "### Full scan of a 100,000-file tree: sealinit's walk vs GNU du, same run"
            echo
            echo "\`cargo test --release --test usage_du -- --ignored --nocapture bench_\`"
            echo "(100 directories x 1,000 files of 0-5,000 bytes, warm cache, best of 5 each):"
            echo
            echo '```'
            grep "100k files" "$RAW/usage-scan-cargo.txt" || echo "(no result; see raw/usage-scan-cargo.txt)"
            echo '```'
        } >"$RAW/usage-scan.md"
    fi
    [ "${KEEP:-}" = 1 ] || rm -rf "$W"
    [ $rc = 0 ] || exit $rc
    python3 "$BENCH_DIR/render.py" usage "$RAW" | tee "$RESULTS/usage.md"
    exit 0
fi

# --- inside the namespace ---
mount -t tmpfs -o size=100m tmpfs "$W/tmpfs"
mount --bind "$W/d10k" "$W/d10k"
mount --bind "$W/d100k" "$W/d100k"
rm -f "$W"/d10k/filler "$W"/d10k/crossing "$W"/d100k/filler "$W"/d100k/crossing
python3 "$BENCH_DIR/usage_driver.py" "$SEALINIT" "$TINI" "$RAW" "$W/tmpfs" "$W/d10k" "$W/d100k"
rm -f "$W"/d10k/filler "$W"/d10k/crossing "$W"/d100k/filler "$W"/d100k/crossing
