#!/usr/bin/env bash
# Shared helpers for the container tests: the podman flags this machine needs,
# a tiny PASS/FAIL harness, and JSON-event assertions. Source it; do not run it.
# shellcheck disable=SC2034  # variables are used by the sourcing scripts

CT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$CT_DIR/.." && pwd)
SEALINIT_BIN=${SEALINIT_BIN:-$REPO_ROOT/target/release/sealinit}
case $SEALINIT_BIN in /*) ;; *) SEALINIT_BIN=$REPO_ROOT/$SEALINIT_BIN ;; esac
IMAGE=${SEALINIT_TEST_IMAGE:-localhost/sealinit-test:latest}
# Debian's python3: the one inside the application rootfs, and the one that
# runs events.py on the host (whatever `python3` is first on PATH).
PY=${PY:-/usr/bin/python3}

# --- podman -----------------------------------------------------------------
# Quirks of these machines, all as flags (no containers.conf is written):
#  --runtime runc                 crun fails here (cgroup v1/hybrid hierarchy).
#  --cgroup-manager cgroupfs      no systemd is running, so no systemd cgroups.
#  --events-backend file          no journald either.
#  --ulimit nofile/nproc=1024     podman's default rlimits are refused here.
#  --read-only-tmpfs=false        with --read-only, podman would otherwise mount
#                                 its own tmpfs on /run, /tmp and /var/tmp and
#                                 hide exactly the missing mounts we test for.
#  --log-driver k8s-file          `podman logs` works for detached containers.
#  --network none                 a private netns with only loopback: enough
#                                 for every scenario (fetch via `podman exec`).
#  --pull never                   no registry is reachable; images are local.
pod() {
  podman --runtime runc --cgroup-manager cgroupfs --events-backend file "$@"
}

pod_run() {
  pod run --pull never \
    --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
    --read-only-tmpfs=false \
    --log-driver k8s-file \
    --network none \
    "$@"
}

# Exit code of a (detached) container, once it has stopped.
pod_wait() { pod wait "$1" 2>/dev/null | tail -1; }

# Everything the container printed (stdout and stderr), for event parsing.
pod_logs() { pod logs "$1" 2>&1; }

# --- harness ----------------------------------------------------------------
CT_PASSED=0
CT_FAILED=0
CT_FAILED_NAMES=()
CT_WORK=${CT_WORK:-}

# A fresh work directory for this run; removed by ct_cleanup.
ct_init_work() {
  if [[ -z $CT_WORK ]]; then
    CT_WORK=$(mktemp -d /tmp/sealinit-ct.XXXXXX)
    chmod 755 "$CT_WORK"
  fi
}

# Containers created by a run are named sealinit-ct-<run pid>-<what>; the
# name is printed (ct_name is used in $(...)), and run_scenario removes every
# container of this run after each scenario.
ct_name() { echo "sealinit-ct-$$-$1"; }
ct_rm_containers() {
  local c
  while read -r c; do
    [[ $c == "sealinit-ct-$$-"* ]] && pod rm -f -t 0 "$c" >/dev/null 2>&1
  done < <(pod ps -a --format '{{.Names}}' 2>/dev/null)
  return 0
}

# The reason a scenario failed; the first one wins.
CT_REASON=""
fail() {
  [[ -z $CT_REASON ]] && CT_REASON="$*"
  echo "    FAIL: $*" >&2
  return 1
}
note() { echo "    $*" >&2; }

# Run one scenario function: prints PASS/FAIL, keeps counts, always removes
# its containers. Scenario output goes to $CT_WORK/logs/NAME.log.
run_scenario() {
  local name=$1 fn=$2 start rc log
  ct_init_work
  mkdir -p "$CT_WORK/logs"
  log="$CT_WORK/logs/$name.log"
  CT_REASON=""
  start=$SECONDS
  (
    # errexit: a step written `cmd || fail "why"` ends the scenario at the
    # first failure; any other failing command ends it too, and says where.
    set -eE -o pipefail
    trap '[[ -n $CT_REASON ]] || echo "    FAIL: unexpected error at line $LINENO: $BASH_COMMAND" >&2' ERR
    "$fn"
  ) >"$log" 2>&1
  rc=$?
  ct_rm_containers
  # the subshell's CT_REASON is lost: take the first FAIL line from the log
  if ((rc == 0)); then
    CT_PASSED=$((CT_PASSED + 1))
    printf 'PASS %s (%ss)\n' "$name" $((SECONDS - start))
  else
    CT_FAILED=$((CT_FAILED + 1))
    CT_FAILED_NAMES+=("$name")
    local why
    why=$(grep -m1 '    FAIL: ' "$log" | sed 's/^    FAIL: //')
    printf 'FAIL %s (%ss): %s\n' "$name" $((SECONDS - start)) "${why:-exit status $rc}"
    if [[ -n ${CT_VERBOSE:-} ]]; then sed 's/^/    | /' "$log"; else tail -n 25 "$log" | sed 's/^/    | /'; fi
  fi
}

ct_summary() {
  echo "$CT_PASSED passed, $CT_FAILED failed"
  ((CT_FAILED == 0))
}

# --- assertions ---------------------------------------------------------------
# Scenario steps are written `cmd || fail "why"`; run_scenario runs each
# scenario under errexit, so the first failing step ends it.

# poll N CMD...: run CMD until it succeeds, at most N times, 0.25 s apart.
# Readiness only; never used to assert on timing.
poll() {
  local n=$1 i
  shift
  for ((i = 0; i < n; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.25
  done
  return 1
}

# ev FILE EVENT [key=value|key~substring|key>number ...]: print the matching
# JSON events (one per line); exit 0 when at least one matches.
ev() {
  if [[ -n ${CT_SELFTEST:-} ]]; then echo "    selftest: event assertion skipped: $*" >&2; return 0; fi
  "$PY" "$CT_DIR/events.py" "$@"
}
# ev_none FILE EVENT [filters]: exit 0 when no event matches.
ev_none() {
  if [[ -n ${CT_SELFTEST:-} ]]; then echo "    selftest: event assertion skipped: $*" >&2; return 0; fi
  ! "$PY" "$CT_DIR/events.py" "$@" >/dev/null
}

# expect_code WANT GOT WHAT
expect_code() {
  [[ $2 == "$1" ]] || fail "$3: exit code $2, want $1"
}

# A static sealinit must exist before any sealinit scenario can run.
need_sealinit() {
  [[ -x $SEALINIT_BIN ]] || fail "sealinit binary not found at $SEALINIT_BIN (build it: cargo build --release, or set SEALINIT_BIN)" || return 1
  if [[ -n ${CT_SELFTEST:-} ]]; then return 0; fi
  if file "$SEALINIT_BIN" 2>/dev/null | grep -q 'dynamically linked'; then
    fail "$SEALINIT_BIN is dynamically linked; a FROM scratch image needs a static binary"
    return 1
  fi
}

# Fail loudly when a package a scenario needs is absent.
need_cmd() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || [[ -x $c ]] || {
      fail "missing $c: run container-tests/setup.sh"
      return 1
    }
  done
}

# --- scenario helpers -----------------------------------------------------------
# mkvol SCENARIO NAME: a fresh host directory standing in for a volume.
mkvol() {
  local d=$CT_WORK/vol/$1/$2
  rm -rf "$d"
  mkdir -p "$d"
  chmod 755 "$d"
  echo "$d"
}

# log_has CONTAINER REGEX: the container's output has a matching line.
log_has() { pod_logs "$1" | grep -qE "$2"; }

# log_event CONTAINER EVENT [filters]: the container's output has the event.
log_event() {
  local c=$1 tmp
  shift
  tmp=$(mktemp "$CT_WORK/log.XXXXXX")
  pod_logs "$c" >"$tmp"
  ev "$tmp" "$@" >/dev/null
  local rc=$?
  rm -f "$tmp"
  return $rc
}

# not_running CONTAINER: it has exited.
not_running() { [[ $(pod inspect -f '{{.State.Running}}' "$1" 2>/dev/null) == false ]]; }

# manifest_podman_flags FILE: runs the `podman volume create` lines of a
# `sealinit manifest --format podman` output and sets two globals: ARGS, the
# flag words between `podman run \` and the IMAGE placeholder, and VOLS, the
# volumes created (for the caller to remove).
manifest_podman_flags() {
  local line
  local -a cmd=()
  ARGS=() VOLS=()
  while IFS= read -r line; do
    if [[ $line == "podman volume create "* ]]; then
      read -r -a cmd <<<"${line#podman }"
      pod "${cmd[@]}" >/dev/null || fail "generated volume command failed: $line"
      VOLS+=("${cmd[-1]}")
      continue
    fi
    line=${line%\\}
    line=${line#"${line%%[![:space:]]*}"}
    line=${line%"${line##*[![:space:]]}"}
    [[ -z $line || $line == \#* || $line == "podman run" || $line == IMAGE ]] && continue
    # shellcheck disable=SC2206  # each line is one or two plain words
    ARGS+=($line)
  done <"$1"
}

# wsgi_app_py: a tiny WSGI app for gunicorn (/health writes and reads a
# temporary file in /tmp), on stdout.
wsgi_app_py() {
  cat <<'PY'
"""A tiny WSGI app: /health writes and reads a temporary file in /tmp."""
import tempfile


def application(environ, start_response):
    if environ.get("PATH_INFO") == "/health":
        with tempfile.TemporaryFile(dir="/tmp") as fh:
            fh.write(b"ok")
            fh.seek(0)
            body = fh.read()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found"]
PY
}
