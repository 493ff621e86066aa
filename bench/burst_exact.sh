#!/usr/bin/env bash
# bench/burst_exact.sh — is the watched figure still du's after a workload
# makes thousands of directories in bursts (issue 11's new-directory delay)?
# In a private mount namespace, on a loop ext4 whose data/ directory is
# bind-mounted as an emptyDir-like volume, the workload (under sealinit,
# `--rescan 1h`, so no safety rescan can hide a wrong figure) makes 2,000
# directories of 100 files each, hard-links one file in a hundred
# directories, renames every 250th directory, then unpacks a 67,000-entry
# tarball; 3 s later it scrapes /metrics and runs du. Prints both. Run as
# root: bench/burst_exact.sh   (about 1 min)
set -euo pipefail
BIN=${SEALINIT:-$(cd "$(dirname "$0")/.." && pwd)/target/release/sealinit}
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 1; }
W=$(mktemp -d /var/tmp/sealinit-burst.XXXXXX)
trap 'rm -rf "$W"' EXIT
truncate -s 4G "$W/img"
mkfs.ext4 -q -F -N 400000 "$W/img"
python3 - "$W/tree.tar" <<'PY'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w") as t:
    for d in range(670):
        ti = tarfile.TarInfo(f"t/d{d:04}"); ti.type = tarfile.DIRTYPE; ti.mode = 0o755
        t.addfile(ti)
        for f in range(99):
            size = (d * 99 + f) * 37 % 4096
            ti = tarfile.TarInfo(f"t/d{d:04}/f{f:02}"); ti.size = size; ti.mode = 0o644
            t.addfile(ti, io.BytesIO(b"x" * size))
PY
unshare -m --propagation private bash -s "$BIN" "$W" <<'SH'
set -euo pipefail
BIN=$1 W=$2
mkdir -p "$W/disk" "$W/ed"
mount -o loop "$W/img" "$W/disk"; mkdir "$W/disk/data"
mount --bind "$W/disk/data" "$W/ed"; umount "$W/disk"
"$BIN" --root any --emptydir "$W/ed" --rescan 1h --metrics 127.0.0.1:9911 -- sh -c '
python3 - "$0" <<PY
import os, sys
root = sys.argv[1]
for d in range(2000):
    p = f"{root}/n{d:04}"
    os.mkdir(p)
    for f in range(100):
        with open(f"{p}/f{f:02}", "wb") as fh:
            fh.write(b"x" * ((d * 37 + f * 11) % 9000))
    if d % 100 == 0:
        os.link(f"{p}/f00", f"{root}/link{d}")
    if d % 250 == 249:
        os.rename(p, f"{root}/moved{d}")
PY
tar -xf "$1" -C "$0"
sleep 3
python3 -c "import urllib.request as u; print(u.urlopen(\"http://127.0.0.1:9911/metrics\").read().decode())" | grep "^sealinit_mount_used"
echo "du -sx -B1: $(du -sx -B1 "$0" | cut -f1)   du -sx --inodes: $(du -sx --inodes "$0" | cut -f1)"
' "$W/ed" "$W/tree.tar" 2>/dev/null
umount "$W/ed"
SH
