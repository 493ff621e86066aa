#!/usr/bin/env bash
# bench/init.sh — sealinit as a plain init, side by side with tini-static,
# catatonit and dumb-init, in one run: start-up overhead, resident memory,
# binary size, signal forwarding latency, reaping 10,000 orphans.
# Writes bench/results/init.md (and prints it). Run as root:
#     bench/init.sh            # ~3-4 min (reaping dominates: the fork loop)
# Knobs (env): RUNS (hyperfine runs per start-up command, 200),
# INTERLEAVED (rounds of the interleaved start-up cross-check, 500),
# SIG_ROUNDS x SIG_N (signals per kind per init, 5 x 60), REAP_RUNS (3),
# ORPHANS (10000), SEALINIT (binary, default target/release/sealinit).
#
# Everything runs in a private mount namespace whose / is remounted
# read-only (with a tmpfs on /tmp), so that `sealinit -- CMD` without
# `--root any` passes its root check the way it does in a read-only
# container; the peers are unaffected by it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

if [ "${BENCH_IN_NS:-}" != 1 ]; then
    need hyperfine tini dumb-init catatonit time
    build_helpers
    find_sealinit
    if has_checks; then export HAS_CHECKS=1; else export HAS_CHECKS=0; fi
    export BENCH_MACHINE="$(machine)"
    rm -f "$RAW"/init-*
    exec env BENCH_IN_NS=1 unshare -m --propagation private "$0" "$@"
fi

# --- inside the namespace: read-only /, writable results, tmpfs /tmp ---
mount --bind "$RESULTS" "$RESULTS"
mount -t tmpfs -o size=64m tmpfs /tmp
mount -o remount,bind,ro /
touch /.bench-probe 2>/dev/null && die "/ is still writable"

RUNS=${RUNS:-200}
SIG_ROUNDS=${SIG_ROUNDS:-5}
SIG_N=${SIG_N:-60}
REAP_RUNS=${REAP_RUNS:-3}
ORPHANS=${ORPHANS:-10000}
INTERLEAVED=${INTERLEAVED:-500}
export INTERLEAVED RUNS SIG_ROUNDS SIG_N REAP_RUNS ORPHANS

# name|command prefix before the workload (word-split on spaces)
INITS=(
    "tini-static|$TINI --"
    "catatonit|/usr/bin/catatonit --"
    "dumb-init|/usr/bin/dumb-init"
    "sealinit --root any|$SEALINIT --root any --"
)
if [ "$HAS_CHECKS" = 1 ]; then
    INITS+=("sealinit (root check)|$SEALINIT --")
fi

# 1. start-up overhead
log "start-up: INIT -- /bin/true, hyperfine $RUNS runs each"
args=()
for e in "${INITS[@]}"; do
    args+=(-n "${e%%|*}" "${e#*|} /bin/true")
done
args+=(-n "/bin/true (no init)" "/bin/true")
hyperfine -N --warmup 30 --runs "$RUNS" --style basic \
    --export-json "$RAW/init-startup.json" "${args[@]}" >&2
# Cross-check, interleaved round by round (load on a shared machine drifts
# between hyperfine's back-to-back blocks).
log "start-up, interleaved: spawntime $INTERLEAVED rounds"
for e in "${INITS[@]}"; do echo "${e%%|*}|${e#*|} /bin/true"; done >"$RAW/init-spawn-cmds.txt"
echo "/bin/true (no init)|/bin/true" >>"$RAW/init-spawn-cmds.txt"
"$BIN/spawntime" "$INTERLEAVED" 20 "$RAW/init-spawn.txt" "$RAW/init-spawn-cmds.txt"

# 2. resident memory while supervising sleep
log "resident memory: INIT -- sleep"
for e in "${INITS[@]}"; do
    name=${e%%|*}
    # shellcheck disable=SC2086
    ${e#*|} sleep 600 2>/dev/null &
    pid=$!
    wait_child "$pid" >/dev/null || die "$name did not start sleep"
    sleep 0.3
    awk -v n="$name" '/^VmRSS|^VmHWM|^Threads/ {v[$1]=$2}
        END {printf "%s|%s|%s|%s\n", n, v["VmRSS:"], v["VmHWM:"], v["Threads:"]}' \
        /proc/"$pid"/status >>"$RAW/init-rss.txt"
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
done

# 3. binary size
for f in "$TINI" /usr/bin/catatonit /usr/bin/dumb-init "$SEALINIT"; do
    printf '%s|%s|%s\n' "$(basename "$f")" "$(stat -c %s "$f")" \
        "$(file -b "$f" | grep -o 'static-pie linked\|statically linked\|dynamically linked' | head -1), $(file -b "$f" | grep -o 'not stripped\|stripped' | head -1)" \
        >>"$RAW/init-size.txt"
done

# 4. signal forwarding latency, rounds interleaved between inits
log "signal latency: $SIG_ROUNDS rounds x $SIG_N SIGTERM + $SIG_N SIGUSR1 per init"
for r in $(seq 1 "$SIG_ROUNDS"); do
    i=0
    for e in "${INITS[@]}"; do
        i=$((i + 1))
        # shellcheck disable=SC2086
        "$BIN/sigpong" drive /tmp/sigpong.fifo "$RAW/init-sig-$i-$r.txt" 1 "$SIG_N" \
            -- ${e#*|} "$BIN/sigpong" child /tmp/sigpong.fifo ||
            die "sigpong failed for ${e%%|*}"
    done
done

# 5. reaping 10,000 orphans, each init as PID 1 of a fresh PID namespace,
# runs interleaved between inits (load drifts on a shared machine)
log "reaping: $ORPHANS orphans, $REAP_RUNS interleaved rounds"
: >"$RAW/init-reap-cmds.txt"
for e in "${INITS[@]}"; do
    name=${e%%|*}
    echo "$name|/usr/bin/unshare --pid --fork --mount-proc ${e#*|} $BIN/orphans $ORPHANS $RAW/init-orphans.txt ${name// /_}" >>"$RAW/init-reap-cmds.txt"
done
echo "no init (kernel reaps at namespace end)|/usr/bin/unshare --pid --fork --mount-proc $BIN/orphans $ORPHANS $RAW/init-orphans.txt no_init" >>"$RAW/init-reap-cmds.txt"
"$BIN/spawntime" "$REAP_RUNS" 0 "$RAW/init-reap.txt" "$RAW/init-reap-cmds.txt"

# Names for the renderer, in order.
for e in "${INITS[@]}"; do echo "${e%%|*}"; done >"$RAW/init-names.txt"

python3 "$BENCH_DIR/render.py" init "$RAW" | tee "$RESULTS/init.md"
