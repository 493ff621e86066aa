#!/usr/bin/env bash
# Minimal-image scenarios: sealinit as the ENTRYPOINT of the FROM scratch test
# image (Dockerfile.test), whose baked spec (container-tests/image/spec.toml)
# declares /tmp a 16Mi tmpfs and /var/cache/app a 64Mi emptyDir.
# Sourced by run.sh. Each s_* function is one scenario.
# shellcheck disable=SC2016  # the workloads' scripts expand inside the container

image_ready() {
  need_sealinit
  pod image exists "$IMAGE" || fail "test image $IMAGE not built (see image_build)"
}

# The declared layout, as Kubernetes would mount it.
image_layout() {
  local cache
  cache=$(mkvol "$1" cache)
  printf '%s\n' --read-only --tmpfs /tmp:size=16m -v "$cache:/var/cache/app"
}

s_image_build() {
  need_sealinit
  "$CT_DIR/mkimage.sh" || fail "podman build -f Dockerfile.test failed"
  pod image exists "$IMAGE" || fail "image $IMAGE missing after build"
  pod run --rm --pull never --entrypoint /bin/sh "$IMAGE" -c 'test -x /usr/bin/sealinit' 2>/dev/null ||
    note "(image has no /usr/bin/sealinit?)"
}

s_image_clean_readonly() {
  image_ready
  local out=$CT_WORK/image_clean.out rc=0
  mapfile -t layout < <(image_layout clean)
  pod_run --rm "${layout[@]}" -e SEALINIT_LOG_FORMAT=json -e SEALINIT_LOG=debug "$IMAGE" \
    sh -c 'echo workload-ran; echo x >/tmp/ok; echo x >/var/cache/app/ok; exit 42' >"$out" 2>&1 || rc=$?
  cat "$out"
  expect_code 42 "$rc" "workload exit code through podman run"
  grep -qx workload-ran "$out" || fail "the workload did not run"
  ev "$out" checks.summary >/dev/null || fail "no checks.summary event"
  ev_none "$out" check verdict=fail || fail "a check failed on the declared layout"
  ev "$out" check path=/ verdict=pass >/dev/null || fail "no passing check for the read-only root /"
  ev "$out" check path=/tmp kind=tmpfs verdict=pass >/dev/null || fail "no passing tmpfs check for /tmp"
  ev "$out" check path=/var/cache/app kind=emptydir verdict=pass >/dev/null || fail "no passing emptydir check for /var/cache/app"
  ev "$out" spawn >/dev/null || fail "no spawn event"
  ev "$out" exit code=42 >/dev/null || fail "no exit event with code 42"
}

s_image_writable_root() {
  image_ready
  local out=$CT_WORK/image_rw.out txt=$CT_WORK/image_rw.txt rc=0
  mapfile -t layout < <(image_layout rw)
  layout=("${layout[@]:1}") # drop --read-only
  pod_run --rm "${layout[@]}" -e SEALINIT_LOG_FORMAT=json -e SEALINIT_LOG=debug "$IMAGE" \
    sh -c 'echo workload-ran' >"$out" 2>&1 || rc=$?
  cat "$out"
  expect_code 78 "$rc" "writable root (JSON run)"
  ! grep -qx workload-ran "$out" || fail "the workload ran despite the violation"
  ev "$out" check path=/ verdict=fail >/dev/null || fail "no failing check for /"
  ev_none "$out" spawn || fail "spawn event despite the violation"
  ev "$out" exit code=78 >/dev/null || fail "no exit event with code 78"
  rc=0
  pod_run --rm "${layout[@]}" "$IMAGE" sh -c 'echo workload-ran' >"$txt" 2>&1 || rc=$?
  cat "$txt"
  expect_code 78 "$rc" "writable root (text run)"
  grep -q '^sealinit: ' "$txt" || fail "text report lines lack the 'sealinit: ' prefix"
  grep -qi 'writable' "$txt" || fail "text report does not say the root is writable"
  grep -q 'readOnlyRootFilesystem' "$txt" || fail "text report does not give the fix (readOnlyRootFilesystem: true)"
}

s_image_missing_mount() {
  image_ready
  local out=$CT_WORK/image_missing.out txt=$CT_WORK/image_missing.txt rc=0
  # /var/cache/app is declared in the baked spec but not mounted
  pod_run --rm --read-only --tmpfs /tmp:size=16m -e SEALINIT_LOG_FORMAT=json -e SEALINIT_LOG=debug "$IMAGE" \
    sh -c 'echo workload-ran' >"$out" 2>&1 || rc=$?
  cat "$out"
  expect_code 78 "$rc" "missing mount"
  ! grep -qx workload-ran "$out" || fail "the workload ran despite the missing mount"
  ev "$out" check path=/var/cache/app verdict=fail >/dev/null || fail "no failing check naming /var/cache/app"
  ev "$out" check path=/var/cache/app verdict=fail 'fix~mountPath: "/var/cache/app"' >/dev/null ||
    fail "the fix does not contain the volumeMounts YAML (mountPath: /var/cache/app)"
  ev "$out" check path=/var/cache/app verdict=fail 'fix~emptyDir' >/dev/null ||
    fail "the fix does not contain the emptyDir volume YAML"
  ev "$out" check path=/tmp verdict=pass >/dev/null || fail "/tmp should still pass"
  rc=0
  pod_run --rm --read-only --tmpfs /tmp:size=16m "$IMAGE" sh -c 'echo workload-ran' >"$txt" 2>&1 || rc=$?
  cat "$txt"
  expect_code 78 "$rc" "missing mount (text run)"
  grep -q '/var/cache/app' "$txt" || fail "text report does not name /var/cache/app"
  grep -q 'volumeMounts:' "$txt" || fail "text report does not print the volumeMounts YAML"
  grep -q 'sizeLimit: "64Mi"' "$txt" || fail "text report YAML lacks the declared sizeLimit 64Mi"
}

s_image_secret_wrong_type() {
  image_ready
  local out=$CT_WORK/image_secret.out ok=$CT_WORK/image_secret_ok.out sec rc=0
  sec=$(mkvol secret disk)
  echo hunter2 >"$sec/password"
  mapfile -t layout < <(image_layout secret)
  # wrong: the secret path is a writable disk directory
  pod_run --rm "${layout[@]}" -v "$sec:/var/run/secrets/app" \
    -e SEALINIT_SPEC=/etc/sealinit/secret.toml -e SEALINIT_LOG_FORMAT=json -e SEALINIT_LOG=debug "$IMAGE" \
    sh -c 'echo workload-ran' >"$out" 2>&1 || rc=$?
  cat "$out"
  expect_code 78 "$rc" "secret on a writable disk dir"
  ev "$out" check path=/var/run/secrets/app verdict=fail >/dev/null || fail "no failing check for the secret path"
  ! grep -qx workload-ran "$out" || fail "the workload ran despite the violation"
  # control: the same spec with a read-only tmpfs there passes
  rc=0
  pod_run --rm "${layout[@]}" --tmpfs /var/run/secrets/app:ro,size=1m \
    -e SEALINIT_SPEC=/etc/sealinit/secret.toml -e SEALINIT_LOG_FORMAT=json -e SEALINIT_LOG=debug "$IMAGE" \
    sh -c 'echo workload-ran' >"$ok" 2>&1 || rc=$?
  cat "$ok"
  expect_code 0 "$rc" "secret on a read-only tmpfs (control)"
  ev "$ok" check path=/var/run/secrets/app verdict=pass >/dev/null || fail "read-only tmpfs secret did not pass"
}

# The workload used by the signal scenarios: reports what it receives.
SIG_WORKLOAD='trap "echo got-TERM; exit 0" TERM
trap "echo got-USR1" USR1
echo ready
while :; do sleep 1; done'

s_image_stop_sigterm() {
  image_ready
  local name code
  name=$(ct_name stop)
  mapfile -t layout < <(image_layout stop)
  pod_run -d --name "$name" "${layout[@]}" -e SEALINIT_LOG_FORMAT=json -e SEALINIT_LOG=debug "$IMAGE" \
    sh -c "$SIG_WORKLOAD" >/dev/null
  poll 120 log_has "$name" '^ready$' || fail "workload never became ready"
  pod stop -t 30 "$name" >/dev/null
  code=$(pod_wait "$name")
  local out=$CT_WORK/stop.out
  pod_logs "$name" >"$out"
  cat "$out"
  grep -qx got-TERM "$out" || fail "the workload did not get SIGTERM"
  expect_code 0 "$code" "container exit after podman stop"
  ev "$out" signal 'signal~TERM' >/dev/null || fail "no signal event for SIGTERM"
  ev "$out" child.exit >/dev/null || fail "no child.exit event"
  ev "$out" exit code=0 >/dev/null || fail "no exit event with code 0"
}

s_image_kill_usr1() {
  image_ready
  local name
  name=$(ct_name usr1)
  mapfile -t layout < <(image_layout usr1)
  pod_run -d --name "$name" "${layout[@]}" -e SEALINIT_LOG_FORMAT=json -e SEALINIT_LOG=debug "$IMAGE" \
    sh -c "$SIG_WORKLOAD" >/dev/null
  poll 120 log_has "$name" '^ready$' || fail "workload never became ready"
  pod kill -s USR1 "$name" >/dev/null
  poll 120 log_has "$name" '^got-USR1$' || fail "SIGUSR1 never reached the workload"
  local out=$CT_WORK/usr1.out
  pod_logs "$name" >"$out"
  cat "$out"
  ev "$out" signal 'signal~USR1' >/dev/null || fail "no signal event for SIGUSR1"
  pod inspect -f '{{.State.Running}}' "$name" | grep -qx true || fail "container stopped on SIGUSR1"
}

s_image_orphans_reaped() {
  image_ready
  local out=$CT_WORK/orphans.out rc=0
  mapfile -t layout < <(image_layout orphans)
  # Five grandchildren are orphaned (their parent sh exits at once) and exit:
  # only PID 1 can reap them. The workload then counts zombies in /proc.
  pod_run --rm "${layout[@]}" -e SEALINIT_LOG_FORMAT=json -e SEALINIT_LOG=debug "$IMAGE" sh -c '
    for i in 1 2 3 4 5; do sh -c "sleep 0.2 &"; done
    i=0
    while [ $i -lt 400 ]; do
      z=$(grep -l "^State:.*Z" /proc/[0-9]*/status 2>/dev/null | wc -l)
      s=$(grep -l "^Name:.*sleep" /proc/[0-9]*/status 2>/dev/null | wc -l)
      [ "$z" -eq 0 ] && [ "$s" -eq 0 ] && break
      i=$((i + 1)); sleep 0.05
    done
    echo "zombies=$z sleeping=$s"
    [ "$z" -eq 0 ]' >"$out" 2>&1 || rc=$?
  cat "$out"
  expect_code 0 "$rc" "zombies left in the container"
  grep -qx 'zombies=0 sleeping=0' "$out" || fail "zombies were not reaped"
  local reaps
  reaps=$(ev "$out" reap | wc -l) || true
  ((reaps >= 5)) || fail "expected >= 5 reap events for the orphans, got $reaps"
}

s_image_watcher_stop() {
  image_ready
  local name code
  name=$(ct_name watcher)
  mapfile -t layout < <(image_layout watcher)
  pod_run -d --name "$name" "${layout[@]}" -e SEALINIT_LOG_FORMAT=json -e SEALINIT_LOG=debug \
    -e SEALINIT_LIMIT_ACTION=stop -e SEALINIT_WARN_AT=80 -e SEALINIT_ACT_AT=95 "$IMAGE" \
    sh -c 'echo ready; while :; do sleep 1; done' >/dev/null
  poll 120 log_has "$name" '^ready$' || fail "workload never became ready"
  # 14Mi of the 16Mi sizeLimit: 87.5%, above warn-at, below act-at
  pod exec "$name" dd if=/dev/zero of=/tmp/fill1 bs=1M count=14 2>/dev/null
  poll 240 log_event "$name" usage.threshold path=/tmp || fail "no usage.threshold event for /tmp at 87%"
  local out=$CT_WORK/watcher.out
  pod_logs "$name" >"$out"
  ev_none "$out" limit.action || fail "limit.action fired below act-at"
  pod inspect -f '{{.State.Running}}' "$name" | grep -qx true || fail "container stopped below act-at"
  # +1.5Mi: 96.9%, above act-at
  # sealinit may stop the container (and this dd with it) before dd returns.
  pod exec "$name" dd if=/dev/zero of=/tmp/fill2 bs=512k count=3 2>/dev/null || true
  poll 240 not_running "$name" || fail "container still running above act-at with --limit-action stop"
  code=$(pod_wait "$name")
  pod_logs "$name" >"$out"
  cat "$out"
  expect_code 75 "$code" "limit stop"
  ev "$out" usage.threshold path=/tmp >/dev/null || fail "no usage.threshold event"
  ev "$out" limit.action 'action~stop' >/dev/null || fail "no limit.action event with action stop"
  ev "$out" exit code=75 >/dev/null || fail "no exit event with code 75"
}

# Issue 7's round trip: the contract produces the podman flags (sealinit
# manifest --format podman), the flags produce the container, and the
# container passes the contract at start-up (as uid 65532, no capabilities).
s_image_manifest_roundtrip() {
  image_ready
  local out=$CT_WORK/manifest_rt.out flags=$CT_WORK/manifest_rt.flags rc=0 vol
  "$SEALINIT_BIN" manifest --spec "$CT_DIR/image/spec.toml" --format podman --name ct$$ >"$flags" ||
    fail "sealinit manifest --format podman failed"
  cat "$flags"
  # Run the generated `podman volume create` lines, then keep the flag
  # lines between `podman run \` and the IMAGE placeholder.
  manifest_podman_flags "$flags"
  ((${#ARGS[@]} > 0)) || fail "no flags parsed from the manifest"
  ((${#VOLS[@]} > 0)) || fail "no podman volume create line for the emptyDir"
  pod_run --rm "${ARGS[@]}" -e SEALINIT_LOG_FORMAT=json -e SEALINIT_LOG=debug "$IMAGE" \
    sh -c 'id -u; echo x >/tmp/ok && echo x >/var/cache/app/ok && echo wrote-both' >"$out" 2>&1 || rc=$?
  for vol in "${VOLS[@]}"; do pod volume rm -f "$vol" >/dev/null 2>&1; done
  cat "$out"
  expect_code 0 "$rc" "container started from the generated flags"
  grep -qx 65532 "$out" || fail "the workload did not run as the manifest's uid 65532"
  grep -qx wrote-both "$out" || fail "the workload could not write both declared mounts"
  ev_none "$out" check verdict=fail || fail "a check failed on the layout the manifest generated"
  # The flags set noexec where podman allows it: a correct pod has no warning.
  ev_none "$out" check verdict=warn || fail "the generated layout logged a warning"
  ev "$out" check path=/tmp kind=tmpfs verdict=pass >/dev/null || fail "no passing tmpfs check for /tmp"
  ev "$out" check path=/var/cache/app kind=emptydir verdict=pass >/dev/null || fail "no passing emptydir check for /var/cache/app"
}
