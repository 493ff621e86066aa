#!/usr/bin/env bash
# Runs every cargo-fuzz target of sealinit for a set time.
#
#   fuzz/run.sh            60 s per target
#   fuzz/run.sh SECONDS    SECONDS per target
#   fuzz/run.sh --ci       20 s per target (CI smoke run, < 2 min with build)
#
# Targets: mountinfo (MountTable::parse/parse_lenient + classify), quantity
# (parse, format->parse round trip), spec (parse_spec_toml, parse_mounts_env,
# parse_mount_flag), cli (parse_args on arbitrary argv + env_layer, then the
# whole fold into a Config and its --print-spec).
#
# The seed corpus lives in fuzz/corpus/<target>/ (kept small, in git); what
# libFuzzer discovers goes to a scratch copy under fuzz/work/ (not in git),
# crashes to fuzz/artifacts/<target>/. Exit status is non-zero when any
# target crashed. A per-target summary (executions, seconds, corpus size)
# is printed at the end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

secs=60
case "${1:-}" in
    --ci) secs=20 ;;
    "") ;;
    *[!0-9]*) echo "usage: fuzz/run.sh [--ci | SECONDS]" >&2; exit 64 ;;
    *) secs=$1 ;;
esac

targets=(mountinfo quantity spec cli)
# Nightly for -Zsanitizer; cargo-fuzz from crates.io when missing.
toolchain=+nightly
if ! cargo "$toolchain" fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

# The parent crate's .cargo/config.toml links +crt-static (for the shipped
# binary), and ASan cannot link into a static executable. cargo fuzz passes
# its flags (-Cpasses=sancov-module, -Zsanitizer=address, ...) in RUSTFLAGS,
# which replaces build.rustflags from every config file, so crt-static is
# not applied here; the explicit --target keeps build scripts and proc
# macros uninstrumented. A RUSTFLAGS from the caller would be merged into
# cargo fuzz's own, so drop it.
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS
target=x86_64-unknown-linux-gnu

echo "== building ${targets[*]}"
cargo "$toolchain" fuzz build --target "$target"

mkdir -p work
status=0
summary=()
for t in "${targets[@]}"; do
    work="work/$t"
    mkdir -p "$work" "artifacts/$t"
    log="work/$t.log"
    echo "== fuzzing $t for ${secs}s"
    start=$SECONDS
    set +e
    cargo "$toolchain" fuzz run --target "$target" "$t" "$work" "corpus/$t" -- \
        -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$log" 2>&1
    rc=$?
    set -e
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    took=$((SECONDS - start))
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
    if [[ $rc -ne 0 ]]; then
        status=1
        echo "!! $t FAILED (exit $rc); last lines of $log:"
        tail -n 40 "$log"
        ls -1 "artifacts/$t" | sed 's/^/   artifact: /'
    fi
    summary+=("$(printf '%-10s exit=%-3s execs=%-10s secs=%-5s execs/s=%-7s cov=%-6s corpus=%-6s rss_mb=%s' \
        "$t" "$rc" "${execs:-?}" "$took" "${rate:-?}" "${cov:-?}" "$(ls "$work" | wc -l)" "${rss:-?}")")
done

echo "== summary"
printf '%s\n' "${summary[@]}"
exit "$status"
