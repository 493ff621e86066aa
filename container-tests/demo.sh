#!/usr/bin/env bash
# The README's first command: build sealinit, build the FROM-scratch test
# image, and run sealinit as PID 1 in a read-only container (podman + runc),
# twice: once with the contract met (report, then the workload runs), once
# with the /var/cache/app volume left out (the report names the path, prints
# the YAML fix, and exits 78 before the workload starts).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash container-tests/setup.sh
# The image binary: static, against musl where the target can be had.
SEALINIT_BIN=$(bash container-tests/build.sh)
SEALINIT_BIN=$SEALINIT_BIN bash container-tests/mkimage.sh
# shellcheck source=lib.sh
. container-tests/lib.sh
cache=$(mktemp -d)
trap 'rm -rf "$cache"' EXIT

echo
echo "=== 1. read-only root, /tmp a 16Mi tmpfs, /var/cache/app a volume: the contract holds"
set -x
pod_run --rm --read-only --tmpfs /tmp:size=16m,noexec,nosuid,nodev -v "$cache":/var/cache/app:noexec,nosuid,nodev "$IMAGE" \
  sh -c 'echo "workload: pid $$, / is $(grep " / / " /proc/self/mountinfo | cut -d" " -f6)"; exit 3' || echo "(exit code $?: the workload's own)"
{ set +x; } 2>/dev/null

echo
echo "=== 2. the same container without the /var/cache/app volume: sealinit refuses to start it"
set -x
pod_run --rm --read-only --tmpfs /tmp:size=16m,noexec,nosuid,nodev "$IMAGE" sh -c 'echo never printed' || echo "(exit code $?: start-up violation)"
