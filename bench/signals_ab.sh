#!/usr/bin/env bash
# bench/signals_ab.sh OLD NEW — signal forwarding latency of two sealinit
# builds side by side with tini-static, to judge a change to the signal path
# (init.sh's signal rows move by 5-10 % between runs here; a paired A/B in
# one run does not). Each round runs `sigpong` (see init.sh) through
# tini-static -s, OLD and NEW with the root check, OLD and NEW with
# `--root any`, 60 SIGTERM + 60 SIGUSR1 each, in a private mount namespace
# whose / is read-only. Prints medians, p90 and the ratio to tini-static.
#     bench/signals_ab.sh /path/old/sealinit target/.../sealinit   # ~2 min
# Knobs (env): ROUNDS (20).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

if [ "${BENCH_IN_NS:-}" != 1 ]; then
    [ $# = 2 ] || die "usage: bench/signals_ab.sh OLD NEW (two sealinit binaries)"
    need tini
    build_helpers
    work=$(mktemp -d /var/tmp/sealinit-sigab.XXXXXX)
    cp "$1" "$work/old"
    cp "$2" "$work/new"
    out="$work/samples.txt"
    rc=0
    env BENCH_IN_NS=1 WORK="$work" unshare -m --propagation private "$0" >"$out" || rc=$?
    python3 - "$out" <<'PY'
import collections, statistics, sys
d = collections.defaultdict(list)
for line in open(sys.argv[1]):
    p = line.split()
    if len(p) == 3:
        d[(p[0], p[1])].append(int(p[2]) / 1000)
for sig in ("TERM", "USR1"):
    base = statistics.median(d[("tini-static", sig)])
    for name in ("tini-static", "old-rootcheck", "new-rootcheck", "old-any", "new-any"):
        v = sorted(d[(name, sig)])
        print(f"{name:14} SIG{sig:5} n={len(v):5} median {statistics.median(v):6.1f} us"
              f"  p90 {v[int(len(v) * 0.9)]:6.1f} us  {statistics.median(v) / base:.2f}x")
PY
    rm -rf "$work"
    exit $rc
fi

# --- inside the namespace: / read-only, the FIFO on a tmpfs ---
mount -t tmpfs -o size=16m tmpfs /tmp
mount -o remount,bind,ro /
INITS=(
    "tini-static|$TINI -s --"
    "old-rootcheck|$WORK/old --"
    "new-rootcheck|$WORK/new --"
    "old-any|$WORK/old --root any --"
    "new-any|$WORK/new --root any --"
)
for _ in $(seq 1 "${ROUNDS:-20}"); do
    for e in "${INITS[@]}"; do
        # shellcheck disable=SC2086
        "$BIN/sigpong" drive /tmp/sigpong.fifo /tmp/samples.txt 1 60 \
            -- ${e#*|} "$BIN/sigpong" child /tmp/sigpong.fifo 2>/dev/null ||
            die "sigpong failed for ${e%%|*}"
        sed "s/^/${e%%|*} /" /tmp/samples.txt
    done
done
