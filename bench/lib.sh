# Shared helpers for bench/*.sh (sourced, not run).
#
# BENCH_DIR     this directory
# RESULTS       bench/results (markdown tables, committed)
# RAW           bench/results/raw (raw samples, not committed)
# BIN           bench/.bin (compiled C helpers)
# SEALINIT      the binary under test (default: container-tests/build.sh's,
#               musl where the target can be had; BENCH_GNU, the glibc
#               build, is then measured beside it on the start path)

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)
RESULTS=$BENCH_DIR/results
RAW=$RESULTS/raw
BIN=$BENCH_DIR/.bin
TINI=/usr/bin/tini-static
mkdir -p "$RESULTS" "$RAW" "$BIN"

log() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (namespaces, mounts)"

# need PKG... : install missing Debian packages under the shared apt lock.
need() {
    local missing=()
    for p in "$@"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        flock /tmp/apt.lock apt-get install -y "${missing[@]}" >&2 ||
            { flock /tmp/apt.lock apt-get update >&2 &&
              flock /tmp/apt.lock apt-get install -y "${missing[@]}" >&2; }
    fi
}

# Inside a private mount namespace: every writable mount of the host but /,
# /proc, /sys and /dev remounted read-only. The host's own mounts
# (/run/netns, ...) are no part of a pod, and sealinit would warn about them
# and print its whole report in every measured run. (tests/output.rs does
# the same for the tests.)
quiet_host() {
    awk '{print $5}' /proc/self/mountinfo | while read -r m; do
        case $m in /|/proc|/proc/*|/sys|/sys/*|/dev|/dev/*) ;;
        *) mount -o remount,bind,ro "$m" 2>/dev/null || true ;; esac
    done
}

# Builds the C helpers into $BIN.
build_helpers() {
    need gcc
    local src
    for src in "$BENCH_DIR"/*.c; do
        local out="$BIN/$(basename "$src" .c)"
        local flags=()
        # stamp.c is the timed workload: no libc start-up (x86-64 only).
        [ "$(basename "$src")" = stamp.c ] && flags=(-nostdlib -static -fno-stack-protector)
        # startfloor.c is an init, compared with static inits: static too.
        [ "$(basename "$src")" = startfloor.c ] && flags=(-static)
        if [ ! -x "$out" ] || [ "$src" -nt "$out" ]; then
            gcc -O2 -Wall "${flags[@]}" -o "$out" "$src" || die "gcc $src failed"
        fi
    done
    # stamp-run: the same workload living 20 ms (the exit tail with the
    # init's watches in place).
    if [ ! -x "$BIN/stamp-run" ] || [ "$BENCH_DIR/stamp.c" -nt "$BIN/stamp-run" ]; then
        gcc -O2 -Wall -nostdlib -static -fno-stack-protector -DRUN_MS=20 \
            -o "$BIN/stamp-run" "$BENCH_DIR/stamp.c" || die "gcc stamp-run failed"
    fi
}

# Sets SEALINIT (building the release binary if needed).
find_sealinit() {
    if [ -z "${SEALINIT:-}" ]; then
        # The image binary (musl where the target can be had), and the
        # glibc build beside it for the start path's comparison.
        log "building sealinit (container-tests/build.sh, and cargo build --release)"
        SEALINIT=$(bash "$REPO_DIR/container-tests/build.sh") || die "cargo build failed"
        (cd "$REPO_DIR" && cargo build --release >&2) || die "cargo build failed"
        [ "$SEALINIT" = "$REPO_DIR/target/release/sealinit" ] ||
            BENCH_GNU=${BENCH_GNU:-$REPO_DIR/target/release/sealinit}
    fi
    [ -x "$SEALINIT" ] || die "no sealinit at $SEALINIT"
    case $SEALINIT in
        */x86_64-unknown-linux-musl/*) BENCH_BUILD="static, musl" ;;
        *) BENCH_BUILD="static" ;;
    esac
    # Not SEALINIT_*: sealinit warns about unknown SEALINIT_* variables,
    # which would add a log line to every measured run.
    BENCH_REV=$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)
    export SEALINIT BENCH_REV BENCH_BUILD BENCH_GNU
}

# Prints a one-line description of the machine for the results header.
machine() {
    printf '%s, %s CPUs (%s), kernel %s, %s' \
        "$(date -u +%Y-%m-%dT%H:%MZ)" "$(nproc)" \
        "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')" \
        "$(uname -r)" "load $(cut -d' ' -f1-3 /proc/loadavg)"
}

# True when SEALINIT has the storage checks wired in (it then refuses a
# read-write root without --root any).
has_checks() {
    ! "$SEALINIT" -q -- /bin/true 2>/dev/null
}

# Waits (up to 5 s) until PID has a child process; prints the child's pid.
wait_child() {
    local pid=$1 i c
    for i in $(seq 1 500); do
        c=$(cat /proc/"$pid"/task/*/children 2>/dev/null | tr -s ' ' '\n' | grep -m1 . || true)
        if [ -n "$c" ]; then echo "$c"; return 0; fi
        sleep 0.01
    done
    return 1
}
