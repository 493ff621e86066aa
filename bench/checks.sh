#!/usr/bin/env bash
# bench/checks.sh — cost of the start-up storage checks (issue 3):
# `sealinit --profile postgres -- /bin/true` beside `tini-static -s -- /bin/true`
# with hyperfine (plus an interleaved cross-check), in a private mount
# namespace where the postgres contract holds, and `strace -f` of one run to
# show /proc/self/mountinfo is read once. Writes bench/results/checks.md.
#     bench/checks.sh          # ~1 min
# Knobs (env): RUNS (hyperfine runs, 200), INTERLEAVED (rounds, 500).
#
# The namespace (unshare -m --propagation private), as in a read-only pod:
#   /                         remounted read-only (per-mount flag, statvfs ST_RDONLY)
#   /var/lib/postgresql/data  bind of a directory on the host's disk (pvc 50Gi)
#   /var/run/postgresql       bind of a directory on the host's disk (emptydir 10Mi)
#   /tmp                      bind of a directory on the host's disk (emptydir 5Gi)
#   /dev/shm                  tmpfs size=1Gi (tmpfs 1Gi)
# all writable ones nosuid,nodev,noexec. No `--root any`: the root check runs.
# The only trace left on the host is an empty /var/lib/postgresql/data
# mount point when /var/lib/postgresql already exists (removed afterwards).
# The raw results are written to the namespace's /tmp (the declared
# emptyDir) and copied out afterwards: a writable bind of bench/results
# would be an undeclared mount, and sealinit would print its report in
# every measured run.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

WORK=/var/tmp/sealinit-bench-checks
RUNS=${RUNS:-200}
INTERLEAVED=${INTERLEAVED:-500}
export RUNS INTERLEAVED
if [ "${BENCH_IN_NS:-}" != 1 ]; then
    need hyperfine tini strace
    build_helpers
    find_sealinit
    export BENCH_MACHINE="$(machine)"
    rm -f "$RAW"/checks-*
    mkdir -p "$WORK"/data "$WORK"/run "$WORK"/tmp
    made=()
    for d in /var/lib/postgresql/data /var/run/postgresql; do
        if [ ! -d "$d" ]; then mkdir -p "$d"; made+=("$d"); fi
    done
    rc=0
    env BENCH_IN_NS=1 unshare -m --propagation private "$0" "$@" || rc=$?
    for d in "${made[@]}"; do rmdir "$d" 2>/dev/null || true; done
    if [ $rc = 0 ]; then
        cp "$WORK"/tmp/raw/checks-* "$RAW"/
        python3 "$BENCH_DIR/render.py" checks "$RAW" | tee "$RESULTS/checks.md"
    fi
    rm -rf "$WORK"
    exit $rc
fi

# --- inside the namespace ---
quiet_host
bindw() { mount --bind "$1" "$2" && mount -o remount,bind,nosuid,nodev,noexec "$2"; }
bindw "$WORK/data" /var/lib/postgresql/data
bindw "$WORK/run" /var/run/postgresql
bindw "$WORK/tmp" /tmp
mount -t tmpfs -o size=1g,nosuid,nodev,noexec tmpfs /dev/shm
mount -o remount,bind,ro /
RAW=/tmp/raw
mkdir -p "$RAW"

log "the contract: sealinit check --profile postgres"
if "$SEALINIT" check --profile postgres >"$RAW/checks-report.txt" 2>&1; then
    echo "sealinit check --profile postgres: exit 0" >>"$RAW/checks-report.txt"
else
    echo "sealinit check --profile postgres: exit $?" >>"$RAW/checks-report.txt"
fi
cat "$RAW/checks-report.txt" >&2
"$SEALINIT" --profile postgres -- /bin/true 2>&1 >/dev/null | tail -3 >&2 ||
    die "sealinit --profile postgres -- /bin/true fails here (see above)"

log "hyperfine, $RUNS runs"
hyperfine -N --warmup 30 --runs "$RUNS" --style basic --export-json "$RAW/checks-startup.json" \
    -n "tini-static -s -- /bin/true" "$TINI -s -- /bin/true" \
    -n "sealinit --profile postgres -- /bin/true" "$SEALINIT --profile postgres -- /bin/true" \
    -n "sealinit -q --profile postgres -- /bin/true" "$SEALINIT -q --profile postgres -- /bin/true" \
    -n "sealinit --root any -- /bin/true" "$SEALINIT --root any -- /bin/true" \
    -n "/bin/true" "/bin/true" >&2

log "interleaved cross-check, $INTERLEAVED rounds"
cat >"$RAW/checks-spawn-cmds.txt" <<EOF
tini-static -s -- /bin/true|$TINI -s -- /bin/true
sealinit --profile postgres -- /bin/true|$SEALINIT --profile postgres -- /bin/true
sealinit --root any -- /bin/true|$SEALINIT --root any -- /bin/true
/bin/true|/bin/true
EOF
"$BIN/spawntime" "$INTERLEAVED" 20 "$RAW/checks-spawn.txt" "$RAW/checks-spawn-cmds.txt"

log "strace -f of one run"
strace -f -qq -o "$RAW/checks-strace-full.txt" "$SEALINIT" --profile postgres -- /bin/true 2>/dev/null
strace -c -f -qq -o "$RAW/checks-strace-c.txt" "$SEALINIT" --profile postgres -- /bin/true 2>/dev/null
{
    echo "# opens of mountinfo (all processes):"
    grep -c 'mountinfo' "$RAW/checks-strace-full.txt" | sed 's/^/#   lines naming mountinfo: /'
    grep 'mountinfo' "$RAW/checks-strace-full.txt" | sed 's/^[0-9]* *//' | cut -c1-110
    echo "# strace -c -f (one run):"
    sed -n '1,40p' "$RAW/checks-strace-c.txt"
} >"$RAW/checks-strace.txt"
