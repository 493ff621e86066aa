#!/usr/bin/env bash
# Run the container scenarios. Prints PASS/FAIL per scenario and ends with
# the line `N passed, N failed`; exits non-zero on any failure.
#
#   container-tests/run.sh                 every scenario
#   container-tests/run.sh infra image     groups: infra, image, apps, manifests, learn
#   container-tests/run.sh image_watcher_stop app_nginx   single scenarios
#
# Environment: SEALINIT_BIN (default target/release/sealinit, must be static;
# .ci/run passes container-tests/build.sh's, the musl image binary),
# CT_VERBOSE=1 (print whole scenario logs on failure), CT_KEEP=1 (keep the
# work dir). Must run as root. Install the packages first: setup.sh.
set -uo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=mkrootfs.sh
. "$CT_DIR/mkrootfs.sh"
for f in "$CT_DIR"/scenarios/*.sh; do
  # shellcheck source=/dev/null
  . "$f"
done

INFRA=(infra_scratch_readonly infra_rootfs_host_usr infra_stop_delivers_sigterm)
IMAGE_S=(image_clean_readonly image_writable_root image_missing_mount image_secret_wrong_type
  image_stop_sigterm image_kill_usr1 image_orphans_reaped image_watcher_stop image_manifest_roundtrip)
APPS=(app_postgres app_postgres_no_socket_dir app_redis_cache app_redis_db
  app_nginx app_nginx_no_cache_dir app_gunicorn)
LEARN=(learn_nginx learn_postgres learn_redis_cache learn_redis_aof learn_gunicorn)
MANIFESTS=(manifest_kube_validate manifest_checkov manifest_nginx_file_bind readme_dockerfiles)

selected=()
if (($# == 0)); then set -- infra image apps manifests learn; fi
for a in "$@"; do
  case $a in
    infra) selected+=("${INFRA[@]}") ;;
    image) selected+=("${IMAGE_S[@]}") ;;
    apps) selected+=("${APPS[@]}") ;;
    learn) selected+=("${LEARN[@]}") ;;
    manifests) selected+=("${MANIFESTS[@]}") ;;
    *)
      declare -F "s_$a" >/dev/null || { echo "run.sh: no scenario '$a'" >&2; exit 64; }
      selected+=("$a")
      ;;
  esac
done

if [[ $(id -u) -ne 0 ]]; then
  echo "run.sh: must run as root (podman, bind mounts)" >&2
  exit 1
fi

if [[ -n ${CT_SELFTEST:-} ]]; then
  if [[ $(basename "$SEALINIT_BIN") != passthrough-init ]]; then
    echo "run.sh: CT_SELFTEST=1 is only for SEALINIT_BIN=container-tests/passthrough-init" >&2
    exit 64
  fi
  echo "SELFTEST: sealinit is replaced by a pass-through stand-in; event assertions are skipped"
fi

ct_init_work
ROOTFS=$CT_WORK/rootfs
cleanup() {
  ct_rm_containers
  learn_rm_volumes
  mkrootfs_clean "$ROOTFS" 2>/dev/null || true
  if [[ -z ${CT_KEEP:-} ]]; then rm -rf --one-file-system "$CT_WORK"; else echo "work dir kept: $CT_WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start=$SECONDS
echo "container tests: sealinit=$SEALINIT_BIN work=$CT_WORK"

# Missing packages are a loud failure, never a silent skip.
s_setup() { "$CT_DIR/setup.sh" --check || fail "packages missing: run container-tests/setup.sh as root"; }
run_scenario setup s_setup

# The image is needed by the infra and image groups; build it once.
needs_image=0 needs_rootfs=0
for s in "${selected[@]}"; do
  [[ $s == infra_* || $s == image_* || $s == manifest_nginx_file_bind || $s == readme_* ]] && needs_image=1
  [[ $s == app_* || $s == infra_rootfs* ]] && needs_rootfs=1
done
if ((needs_image)); then
  if [[ -x $SEALINIT_BIN ]]; then
    run_scenario image_build s_image_build
  else
    # no sealinit yet: build the image around busybox so the infra scenarios run
    echo "note: $SEALINIT_BIN missing; infra scenarios use an image without sealinit"
    SEALINIT_BIN=/bin/busybox "$CT_DIR/mkimage.sh" >/dev/null
  fi
fi
((needs_rootfs)) && mkrootfs_build "$ROOTFS"

for s in "${selected[@]}"; do
  run_scenario "$s" "s_$s"
done

echo "time: $((SECONDS - start))s"
ct_summary
