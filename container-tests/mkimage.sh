#!/usr/bin/env bash
# Prepare the build context for Dockerfile.test and build the image.
#   container-tests/mkimage.sh [--context-only]
# The context (target/container-image/) holds a tiny root tree: the static
# sealinit, busybox-static with one symlink per applet, empty mount points and
# the baked spec files. A FROM scratch image has no shell for RUN, so
# everything is laid out here and COPY'd whole.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CTX=$REPO_ROOT/target/container-image
BUSYBOX=${BUSYBOX:-/bin/busybox}

[[ -x $SEALINIT_BIN ]] || { echo "mkimage: no sealinit at $SEALINIT_BIN (cargo build --release, or set SEALINIT_BIN)" >&2; exit 1; }
[[ -x $BUSYBOX ]] || { echo "mkimage: no busybox at $BUSYBOX (container-tests/setup.sh)" >&2; exit 1; }
if file "$BUSYBOX" | grep -q 'dynamically linked'; then
  echo "mkimage: $BUSYBOX is dynamically linked; install busybox-static" >&2
  exit 1
fi

rm -rf "$CTX"
root=$CTX/rootfs
mkdir -p "$root"/{bin,usr/bin,etc/sealinit,proc,sys,dev,run,tmp,var/tmp,var/cache/app,var/run/secrets/app,data}
chmod 1777 "$root/tmp" "$root/var/tmp"
install -m 755 "$BUSYBOX" "$root/bin/busybox"
for applet in $("$BUSYBOX" --list); do
  [[ $applet == busybox ]] && continue
  ln -sf busybox "$root/bin/$applet"
done
install -m 755 "$SEALINIT_BIN" "$root/usr/bin/sealinit"
install -m 644 "$CT_DIR/image/spec.toml" "$root/etc/sealinit/spec.toml"
install -m 644 "$CT_DIR/image/secret.toml" "$root/etc/sealinit/secret.toml"
printf 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"

[[ ${1:-} == --context-only ]] && exit 0
pod build --pull=never -q -f "$REPO_ROOT/Dockerfile.test" -t "$IMAGE" "$CTX"
