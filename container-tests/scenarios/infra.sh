#!/usr/bin/env bash
# Infrastructure scenarios: prove podman + runc + read-only roots + tmpfs +
# volumes work on this machine, with busybox alone (no sealinit needed).
# Sourced by run.sh. Each s_* function is one scenario.

# The test image, but with busybox sh as the entrypoint instead of sealinit.
bb_image() {
  pod image exists "$IMAGE" || fail "test image $IMAGE not built (see image_build)"
}

s_infra_scratch_readonly() {
  bb_image
  local vol out rc=0
  vol=$(mkvol infra vol)
  out=$CT_WORK/infra_scratch.out
  pod_run --rm --read-only --tmpfs /tmp:size=8m -v "$vol:/var/cache/app" \
    --entrypoint /bin/sh "$IMAGE" -c '
      touch /rootfile 2>&1 | grep -q "Read-only file system" && echo root-erofs
      dd if=/dev/zero of=/tmp/f bs=1k count=64 2>/dev/null && echo tmp-writable
      grep -q " /tmp .* - tmpfs .*size=8192k" /proc/self/mountinfo && echo tmp-tmpfs-8m
      echo data >/var/cache/app/f && echo vol-writable
      grep -q " /run " /proc/self/mountinfo || echo run-not-mounted
      grep -q "^[0-9]* [0-9]* [^ ]* / / ro," /proc/self/mountinfo && echo root-mount-ro
      exit 42' >"$out" 2>&1 || rc=$?
  cat "$out"
  expect_code 42 "$rc" "exit code through podman run"
  local w
  for w in root-erofs tmp-writable tmp-tmpfs-8m vol-writable run-not-mounted root-mount-ro; do
    grep -qx "$w" "$out" || fail "inside the container: expected '$w'"
  done
  [[ $(cat "$vol/f") == data ]] || fail "volume write not visible on the host"
}

s_infra_rootfs_host_usr() {
  local vol out rc=0
  vol=$(mkvol infra pvc)
  chown postgres:postgres "$vol"
  out=$CT_WORK/infra_rootfs.out
  pod_run --rm --read-only --user postgres -v "$vol:/var/lib/postgresql/data" \
    --tmpfs /tmp:size=8m --rootfs "$ROOTFS" /bin/sh -c '
      id -un
      touch /usr/x 2>/dev/null || echo usr-ro
      touch /etc/x 2>/dev/null || echo etc-ro
      touch /x 2>/dev/null || echo root-ro
      touch /var/lib/postgresql/data/ok && echo pvc-rw
      /usr/bin/python3 -c "print(\"python-ok\")"
      ls /usr/lib/postgresql/*/bin/postgres >/dev/null && echo postgres-present' >"$out" 2>&1 || rc=$?
  cat "$out"
  expect_code 0 "$rc" "rootfs container"
  local w
  for w in postgres usr-ro etc-ro root-ro pvc-rw python-ok postgres-present; do
    grep -qx "$w" "$out" || fail "inside the rootfs container: expected '$w'"
  done
  [[ $(stat -c %U "$vol/ok") == postgres ]] || fail "PVC file not owned by postgres on the host"
}

s_infra_stop_delivers_sigterm() {
  bb_image
  local name
  name=$(ct_name infra-stop)
  # busybox sh as PID 1 with a TERM trap: podman stop must deliver SIGTERM.
  pod_run -d --name "$name" --read-only --entrypoint /bin/sh "$IMAGE" -c '
    trap "echo got-TERM; exit 0" TERM; echo ready
    while :; do sleep 1; done' >/dev/null
  poll 80 log_has "$name" '^ready$' || fail "container never printed ready"
  pod stop -t 20 "$name" >/dev/null
  local code
  code=$(pod_wait "$name")
  pod_logs "$name"
  log_has "$name" '^got-TERM$' || fail "PID 1 did not get SIGTERM from podman stop"
  expect_code 0 "$code" "exit after SIGTERM"
}
