#!/usr/bin/env bash
# Compose a read-only root for the application scenarios from the host's
# installed Debian packages:
#   container-tests/mkrootfs.sh DIR          build DIR (idempotent)
#   container-tests/mkrootfs.sh --clean DIR  unmount everything and remove DIR
# DIR/usr and DIR/etc are read-only bind mounts of the host's /usr and /etc;
# /bin, /lib, /lib64 and /sbin are the usual merged-/usr symlinks; the mount
# points the scenarios use are empty directories; the static sealinit is
# copied to DIR/sealinit/sealinit (not under /usr, which is the host's).
# Run it as `podman run --rootfs DIR --read-only ...` (see lib.sh: pod_run).
# Must run as root. Source lib.sh and call mkrootfs_clean DIR from a trap.
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Mount points, relative to DIR. Kept empty; the scenarios mount over them.
MOUNT_POINTS=(
  proc sys dev dev/shm run tmp var/tmp
  var/run/postgresql var/lib/postgresql/data
  data var/run/redis
  var/cache/nginx var/run/nginx var/lib/nginx var/log/nginx srv/www
  app app/cache
)

mkrootfs_clean() {
  local dir=$1 m
  [[ -d $dir ]] || return 0
  # deepest first; only mounts below DIR, never anything else
  while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m"
  done < <(awk -v d="$(realpath "$dir")" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/self/mounts | sort -r)
  rm -rf --one-file-system "$dir"
}

mkrootfs_build() {
  local dir=$1 sub m
  mkdir -p "$dir"
  dir=$(realpath "$dir")
  chmod 755 "$dir"
  for sub in usr etc; do
    mkdir -p "$dir/$sub"
    if ! mountpoint -q "$dir/$sub"; then
      mount --bind "/$sub" "$dir/$sub"
      mount -o remount,bind,ro "$dir/$sub"
    fi
  done
  for l in bin lib lib64 sbin; do
    [[ -L $dir/$l ]] || ln -s "usr/$l" "$dir/$l"
  done
  for m in "${MOUNT_POINTS[@]}"; do mkdir -p "$dir/$m"; done
  chmod 1777 "$dir/tmp" "$dir/var/tmp"
  mkdir -p "$dir/sealinit"
  if [[ -x $SEALINIT_BIN ]]; then
    install -m 755 "$SEALINIT_BIN" "$dir/sealinit/sealinit"
  fi
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  set -euo pipefail
  if [[ ${1:-} == --clean ]]; then
    mkrootfs_clean "${2:?usage: mkrootfs.sh --clean DIR}"
  else
    mkrootfs_build "${1:?usage: mkrootfs.sh DIR}"
  fi
fi
