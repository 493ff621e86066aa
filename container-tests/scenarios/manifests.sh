#!/usr/bin/env bash
# Manifest scenarios: what `sealinit manifest` prints is accepted by the
# Kubernetes OpenAPI schemas (strict, offline) and by Checkov, and the
# podman flags it prints run. Sourced by run.sh; uses lib.sh.
# The validators come from container-tests/setup.sh (venvs under a cache
# dir); a missing one is a failure, never a skip.

PY_CACHE=${SEALINIT_PY_CACHE:-/var/cache/sealinit-ci}
KUBE_VALIDATE=$PY_CACHE/kv/bin/kubernetes-validate
CHECKOV=$PY_CACHE/ck/bin/checkov
# An image pinned by digest (Checkov wants a digest, not a tag).
PINNED=registry.local/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
PROFILES=(postgres redis-cache redis-db kafka nginx app)

# wrap_pod FRAGMENT: the pod-spec fragment as a Pod object (its first
# document indented under spec:), then its other documents (the claims).
wrap_pod() {
  awk 'BEGIN { print "apiVersion: v1\nkind: Pod\nmetadata:\n  name: fragment\nspec:"; doc = 1 }
       /^---$/ { doc++ }
       doc == 1 { print "  " $0; next }
       { print }' "$1"
}

s_manifest_kube_validate() {
  need_sealinit
  need_cmd "$KUBE_VALIDATE"
  local dir=$CT_WORK/kube-validate p w f n=0
  mkdir -p "$dir"
  for p in "${PROFILES[@]}"; do
    for w in deployment statefulset; do
      "$SEALINIT_BIN" manifest --profile "$p" --workload "$w" --metrics :9090 --image "$PINNED" \
        >"$dir/$p-$w.yaml" || fail "manifest --profile $p --workload $w"
    done
    "$SEALINIT_BIN" manifest --profile "$p" >"$dir/$p-fragment.raw" || fail "manifest --profile $p"
    wrap_pod "$dir/$p-fragment.raw" >"$dir/$p-fragment.yaml"
  done
  # A contract without a profile (sealinit check as the readiness probe).
  "$SEALINIT_BIN" manifest --spec "$CT_DIR/image/spec.toml" --workload deployment \
    >"$dir/spec-deployment.yaml" || fail "manifest --spec"
  "$SEALINIT_BIN" manifest --spec "$CT_DIR/image/spec.toml" >"$dir/spec-fragment.raw" || fail "manifest --spec fragment"
  wrap_pod "$dir/spec-fragment.raw" >"$dir/spec-fragment.yaml"
  # The README's complete Deployment.
  local blocks i
  blocks=$(readme_blocks yaml "$dir")
  for ((i = 1; i <= blocks; i++)); do
    grep -q '^kind: Deployment' "$dir/block-$i" && mv "$dir/block-$i" "$dir/readme-deployment-$i.yaml"
  done
  ls "$dir"/readme-deployment-*.yaml >/dev/null 2>&1 || fail "no Deployment in README.md"
  for f in "$dir"/*.yaml; do
    "$KUBE_VALIDATE" --strict --quiet "$f" || { cat "$f"; fail "$(basename "$f") does not validate (strict)"; }
    n=$((n + 1))
  done
  echo "validated $n manifests"
  ((n >= ${#PROFILES[@]} * 3 + 3)) || fail "validated $n manifests"
  # The validator really rejects what is wrong: an unknown container key.
  sed 's/^\(\s*\)- name: "app"$/&\n\1  bogusField: 1/' "$dir/app-deployment.yaml" >"$dir/bad.yaml"
  grep -q bogusField "$dir/bad.yaml" || fail "negative control not injected"
  if "$KUBE_VALIDATE" --strict --quiet "$dir/bad.yaml"; then fail "strict validation accepted an unknown field"; fi
}

# Checkov on generated Deployments pinned by digest: nothing fails but the
# namespace (CKV_K8S_21) and NetworkPolicy (CKV2_K8S_6) checks, which are
# the user's to set.
s_manifest_checkov() {
  need_sealinit
  need_cmd "$CHECKOV"
  local dir=$CT_WORK/checkov p failed
  mkdir -p "$dir"
  for p in nginx postgres; do
    "$SEALINIT_BIN" manifest --profile "$p" --workload deployment --image "$PINNED" >"$dir/$p.yaml" ||
      fail "manifest --profile $p"
    "$CHECKOV" -f "$dir/$p.yaml" --framework kubernetes -o json --quiet --skip-download \
      >"$dir/$p.json" 2>"$dir/$p.err" || true
    failed=$("$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
d = d if isinstance(d, list) else [d]
if not d or d[0].get("summary", {}).get("passed", 0) == 0:
    sys.exit("checkov ran no checks")
print(" ".join(sorted({c["check_id"] for r in d for c in r["results"]["failed_checks"]})))
' "$dir/$p.json") || { cat "$dir/$p.err"; fail "checkov output unreadable for $p"; }
    echo "$p: failed checks: $failed"
    [[ $failed == "CKV2_K8S_6 CKV_K8S_21" ]] || fail "$p: checkov failed $failed (want only CKV2_K8S_6 CKV_K8S_21)"
  done
}

# The podman flags for the nginx profile run: nginx.conf is bound as a file
# (a directory over it is refused, "not a directory", rc 126), the writable
# mounts are noexec, and the contract passes without a warning.
s_manifest_nginx_file_bind() {
  image_ready
  local dir=$CT_WORK/nginx-bind flags out=$CT_WORK/nginx-bind.out rc=0
  mkdir -p "$dir/etc-nginx-nginx-conf"
  echo "worker_processes 1;" >"$dir/etc-nginx-nginx-conf/nginx.conf"
  chmod -R a+rX "$dir"
  flags=$dir/flags
  "$SEALINIT_BIN" manifest --profile nginx --format podman --name ct$$ --host-dir "$dir" >"$flags" ||
    fail "manifest --profile nginx --format podman"
  cat "$flags"
  grep -q -- "-v $dir/etc-nginx-nginx-conf/nginx.conf:/etc/nginx/nginx.conf:ro" "$flags" ||
    fail "nginx.conf is not bound as a file"
  manifest_podman_flags "$flags"
  # The test image bakes its own contract in /etc/sealinit/spec.toml: cover
  # it with an empty one, so the generated SEALINIT_MOUNTS is the contract.
  echo 'root = "read-only"' >"$dir/spec.toml"
  chmod 644 "$dir/spec.toml"
  pod_run --rm "${ARGS[@]}" -v "$dir/spec.toml:/etc/sealinit/spec.toml:ro" \
    -e SEALINIT_LOG_FORMAT=json -e SEALINIT_LOG=debug "$IMAGE" \
    sh -c 'cat /etc/nginx/nginx.conf; grep -E " /(var/cache/nginx|var/run/nginx|tmp) " /proc/self/mounts' \
    >"$out" 2>&1 || rc=$?
  for v in "${VOLS[@]}"; do pod volume rm -f "$v" >/dev/null 2>&1; done
  cat "$out"
  expect_code 0 "$rc" "container from the generated nginx flags"
  grep -qx "worker_processes 1;" "$out" || fail "nginx.conf not readable in the container"
  [[ $(grep -cE ' /(var/cache/nginx|var/run/nginx|tmp) .*noexec' "$out") == 3 ]] ||
    fail "the writable mounts are not all noexec"
  ev_none "$out" check verdict=warn || fail "a correct pod logged a warning"
  ev "$out" checks.summary verdict=pass >/dev/null || fail "no passing summary"
}

# readme_blocks LANG: the README's ```LANG code blocks, one file each under
# $2 (block-1, block-2, ...); prints the count.
readme_blocks() {
  awk -v lang="$1" -v dir="$2" '
    $0 == "```" lang { n++; f = dir "/block-" n; printf "" > f; inside = 1; next }
    inside && /^```/ { inside = 0; close(f); next }
    inside { print > f }
    END { print n + 0 }' "$REPO_ROOT/README.md"
}

# The README's Dockerfiles build as written. One built from `FROM scratch`
# with a locally built sealinit (no registry here) and run; a block whose
# base image is remote is checked for the mistake that broke the old one
# (a trailing `# comment` on a COPY line is read as another source path).
s_readme_dockerfiles() {
  image_ready
  local dir=$CT_WORK/readme n i f froms built=0 tag out rc
  mkdir -p "$dir"
  n=$(readme_blocks dockerfile "$dir")
  ((n >= 2)) || fail "found $n dockerfile blocks in README.md"
  for ((i = 1; i <= n; i++)); do
    f=$dir/block-$i
    if grep -nE '^\s*(COPY|ADD)\s.*#' "$f"; then fail "README dockerfile $i: a trailing comment on COPY/ADD"; fi
    froms=$(awk 'toupper($1) == "FROM" { print $2 }' "$f" | sort -u | tr '\n' ' ')
    if [[ $froms != "scratch " ]]; then
      note "README dockerfile $i: base images ${froms}need a registry; syntax checked only"
      continue
    fi
    mkdir -p "$dir/ctx-$i"
    install -m 755 "$SEALINIT_BIN" "$dir/ctx-$i/sealinit"
    install -m 644 "$CT_DIR/image/spec.toml" "$dir/ctx-$i/spec.toml"
    tag=localhost/sealinit-readme-$$-$i
    pod build --pull=never -q -f "$f" -t "$tag" "$dir/ctx-$i" || fail "README dockerfile $i does not build"
    rc=0
    out=$(pod_run --rm -e SEALINIT_ROOT=any -e SEALINIT_ON_VIOLATION=warn "$tag" \
      /usr/bin/sealinit --version 2>&1) || rc=$?
    pod rmi -f "$tag" >/dev/null 2>&1 || true
    echo "$out"
    expect_code 0 "$rc" "the image built from README dockerfile $i"
    grep -q '^sealinit ' <<<"$out" || fail "sealinit did not run in the image from README dockerfile $i"
    built=$((built + 1))
  done
  ((built >= 1)) || fail "no README dockerfile was built"
}
