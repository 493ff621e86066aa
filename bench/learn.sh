#!/usr/bin/env bash
# sealinit learn cost (issue 12): the scan time on a root of N entries, and
# the workload's wall time under `learn` against a plain run.
#   bench/learn.sh [SEALINIT_BINARY] [ENTRIES]     (root; default 150000 entries)
# In a private mount namespace: a tmpfs laid out as a root (the host's /usr
# bind-mounted read-only, so not walked), ENTRIES files in 100-file
# directories, the static binary chrooted into it. The workload writes and
# removes 20000 files in a loop and prints its own wall time; it runs plain
# (chroot sh) and under `sealinit learn --report-every 1s` (a full scan every
# second while it runs), three times each.
set -euo pipefail
BIN=${1:-target/release/sealinit}
N=${2:-150000}
[[ $(id -u) == 0 ]] || { echo "needs root" >&2; exit 1; }
BIN=$(realpath "$BIN")
exec unshare -m --propagation private bash -s "$BIN" "$N" <<'INNER'
set -euo pipefail
BIN=$1 N=$2
R=$(mktemp -d)
trap 'umount -R "$R" 2>/dev/null; rmdir "$R"' EXIT
mount -t tmpfs -o size=2g,nr_inodes=0 tmpfs "$R"
mkdir -p "$R"/{usr,proc,dev,tmp,run,etc,var/lib/app}
mount --rbind /usr "$R/usr"; mount -o remount,bind,ro "$R/usr"
ln -s usr/bin "$R/bin"; ln -s usr/lib "$R/lib"; ln -s usr/lib64 "$R/lib64"
mount -t proc proc "$R/proc"; mount --rbind /dev "$R/dev"
cp "$BIN" "$R/sealinit"
# ENTRIES files, 100 per directory (like a distribution's /usr/share)
python3 - "$R/srv/tree" "$N" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for d in range(n // 100):
    p = f"{root}/{d // 100}/{d}"
    os.makedirs(p, exist_ok=True)
    for f in range(100):
        open(f"{p}/{f}", "w").close()
PY
echo "root entries: $(find "$R" -xdev | wc -l)"
s=$(date +%s%N); find "$R" -xdev -printf "%C@\n" >/dev/null; e=$(date +%s%N); echo "find -xdev -printf %C@ (same walk, GNU find): $(( (e-s)/1000000 )) ms"
W='s=$(date +%s%N); i=0; while [ $i -lt 20000 ]; do echo $i > /var/lib/app/f$i; i=$((i+1)); done; rm -f /var/lib/app/f*; e=$(date +%s%N); echo "workload_ms=$(( (e-s)/1000000 ))"'
for k in 1 2 3; do
  echo "plain: $(chroot "$R" /bin/sh -c "$W")"
  rm -f "$R"/var/lib/app/*
  out=$(chroot "$R" /sealinit learn --report-every 1s -- /bin/sh -c "$W" 2>&1)
  echo "learn: $(echo "$out" | grep -o "workload_ms=[0-9]*" | tail -1)" \
       "baseline_ms=$(echo "$out" | grep -o 'baseline of [0-9]* entries in [0-9]* ms' | grep -o '[0-9]* ms' | tr -d ' ms')" \
       "final_scan_ms=$(echo "$out" | grep 'learn report (final)' | grep -o 'took [0-9]* ms' | grep -o '[0-9]*')" \
       "scans=$(echo "$out" | grep 'learn report (final)' | grep -o 'after [0-9]* scan' | grep -o '[0-9]*')"
done
INNER
