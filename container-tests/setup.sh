#!/usr/bin/env bash
# Install everything the container tests need, from Debian packages only.
# Idempotent: installs only what is missing, runs `apt-get update` at most once,
# and holds /tmp/apt.lock so that concurrent installers never race on dpkg.
# Run as root. Usage: container-tests/setup.sh [--check]
#   --check  only report what is missing (exit 1 if anything is).
set -euo pipefail

# package -> a file it installs (how we tell it is present without dpkg races)
PACKAGES=(
  "podman:/usr/bin/podman"
  "runc:/usr/sbin/runc"
  "busybox-static:/bin/busybox"
  "uidmap:/usr/bin/newuidmap"
  "postgresql:/usr/lib/postgresql"
  "redis-server:/usr/bin/redis-server"
  "nginx:/usr/sbin/nginx"
  "python3:/usr/bin/python3"
  "gunicorn:/usr/bin/gunicorn"
  "jq:/usr/bin/jq"
  "curl:/usr/bin/curl"
  "shellcheck:/usr/bin/shellcheck"
  "python3-venv:/usr/share/doc/python3-venv"
  "gcc:/usr/bin/gcc"
  "e2fsprogs:/usr/sbin/mkfs.ext4"
)

# Manifest validators from PyPI, each in its own venv under a cache dir
# (the Debian python3, not whatever python3 is first on PATH):
# kubernetes-validate ships the Kubernetes OpenAPI schemas (offline, strict);
# checkov is the policy scanner. name -> the executable the venv provides.
PY_CACHE=${SEALINIT_PY_CACHE:-/var/cache/sealinit-ci}
PY_TOOLS=(
  "kubernetes-validate:$PY_CACHE/kv/bin/kubernetes-validate"
  "checkov:$PY_CACHE/ck/bin/checkov"
)

missing=()
for entry in "${PACKAGES[@]}"; do
  pkg=${entry%%:*}
  file=${entry#*:}
  if [[ ! -e $file ]] || ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done

missing_py=()
for entry in "${PY_TOOLS[@]}"; do
  [[ -x ${entry#*:} ]] || missing_py+=("${entry%%:*}")
done

if [[ ${1:-} == --check ]]; then
  missing+=("${missing_py[@]}")
  if ((${#missing[@]})); then
    echo "setup: missing packages: ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: all packages present"
  exit 0
fi

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: must run as root to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # policy-rc.d (exit 101) keeps postinst scripts from starting nginx, redis
  # or postgres on the host. Provide one only for the duration of the install.
  created_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    created_policy=1
  fi
  flock /tmp/apt.lock apt-get update -qq
  flock /tmp/apt.lock apt-get install -y -qq --no-install-recommends "${missing[@]}"
  if ((created_policy)); then rm -f /usr/sbin/policy-rc.d; fi
else
  echo "setup: all packages present"
fi

for entry in "${PY_TOOLS[@]}"; do
  tool=${entry%%:*} exe=${entry#*:}
  [[ -x $exe ]] && continue
  venv=$(dirname "$(dirname "$exe")")
  echo "setup: installing $tool into $venv"
  mkdir -p "$PY_CACHE"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install -q "$tool"
done

# Podman: no configuration file is written; every quirk of this machine is a
# flag in container-tests/lib.sh (pod_run). Only make sure a policy file
# exists, because podman refuses to build or run without one.
if [[ ! -e /etc/containers/policy.json ]]; then
  mkdir -p /etc/containers
  cat >/etc/containers/policy.json <<'JSON'
{ "default": [ { "type": "insecureAcceptAnything" } ] }
JSON
fi

# Report versions for the log.
podman --version
runc --version | sed -n 1p
{ busybox || true; } | sed -n 1p
