#!/usr/bin/env bash
# bench/tamper_latency.sh — tamper detection (issue 6): latency from a change
# to its `tamper` event, median and p99, for
#   - a mount change: `mount -o remount,bind,ro` of a declared tmpfs →
#     `mount-changed` (the mountinfo POLLPRI thread), and
#   - an exec drop: writing a copy of /bin/true onto a watched tmpfs →
#     `exec-drop` (the usage watcher's inotify batches),
# then the idle cost: voluntary context switches of both threads over an
# idle window (from /proc/self/task/TID/status; the test fails on any
# wake-up of the tamper thread), then `strace -c` attached to the tamper
# thread over a second idle window (attaching interrupts the poll once,
# so it is kept out of the first; no syscall after that = no wake-up).
# Runs as root, in a private mount namespace (the ignored test
# `inner_bench_tamper_latency` of tests/tamper_ns.rs, release build).
# Writes bench/results/tamper.md (and prints it).
#     bench/tamper_latency.sh          # ~30 s + the first release test build
# Knobs (env): ROUNDS (samples per kind, 500), IDLE (seconds, 10).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-500}
IDLE=${IDLE:-10}
mkdir -p bench/results
command -v strace >/dev/null || flock /tmp/apt.lock apt-get install -y strace >/dev/null

exe=$(cargo test --release --test tamper_ns --no-run --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*tamper_ns[^"]*\)".*/\1/p' | tail -1)
[ -x "$exe" ] || { echo "cannot build the tamper_ns test binary" >&2; exit 1; }

scratch=$(mktemp -d /var/tmp/sealinit-bench-tamper.XXXXXX)
mkdir -p "$scratch/t" "$scratch/disk"
log="$scratch/bench.log"
trap 'rm -rf "$scratch"' EXIT

SEALINIT_NS_SCRATCH=$scratch ROUNDS=$ROUNDS IDLE=$IDLE STRACE_WINDOW=$IDLE \
    unshare -m --propagation private "$exe" --exact inner_bench_tamper_latency \
    --ignored --nocapture --test-threads=1 >"$log" 2>&1 &
pid=$!

# Attach strace to the tamper thread once the second idle window starts.
for _ in $(seq 1200); do
    grep -q "strace window" "$log" 2>/dev/null && break
    sleep 0.1
done
tid=""
for t in /proc/[0-9]*/task/[0-9]*; do
    if [ "$(cat "$t/comm" 2>/dev/null)" = sealinit-tamper ]; then tid=${t##*/}; fi
done
strace_out="(thread not found)"
if [ -n "$tid" ]; then
    strace_out=$(timeout $((IDLE - 2)) strace -c -p "$tid" 2>&1 || true)
fi
wait "$pid" || { cat "$log"; exit 1; }

{
    echo "## Tamper detection latency and idle cost"
    echo
    echo "$(uname -r), $(nproc) CPUs, $(date -u +%Y-%m-%d), ROUNDS=$ROUNDS, IDLE=${IDLE}s"
    echo
    echo '```'
    grep -E "median|idle .* voluntary" "$log"
    echo '```'
    echo
    echo "strace -c -p <sealinit-tamper thread> over $((IDLE - 2)) s of a second idle window:"
    echo
    echo '```'
    echo "$strace_out"
    echo '```'
} | tee bench/results/tamper.md
