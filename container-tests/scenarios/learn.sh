#!/usr/bin/env bash
# `sealinit learn` scenarios (issue 12): each server is learned once on a
# writable overlay root (`podman run --rootfs FARM:O`, FARM an image-like
# tree: the host's /usr as a hard-link farm, a copy of /etc), then run with
# --read-only on FARM, only the learned mounts (the podman commands
# `sealinit manifest --format podman` prints for the learned spec) and
# `sealinit --spec learned.toml`: the start-up checks pass and the server
# serves. Sourced by run.sh. Each s_* function is one scenario.
#
# FARM/usr shares inodes with the host's /usr: nothing here may chown or
# write below it (the overlay copies up; the read-only run cannot write).

LSEAL=/sealinit/sealinit
FARM=""  # set by learn_ready: $CT_WORK/farm

# Builds the farm once per run.
learn_ready() {
  need_sealinit
  # scenarios run in subshells: the farm on disk is the memo
  FARM=$CT_WORK/farm
  [[ -x $FARM/sealinit/sealinit ]] && return 0
  mkdir -p "$FARM"
  chmod 755 "$FARM"
  cp -al /usr "$FARM/usr" || fail "cannot hard-link /usr into the farm" || return 1
  cp -a /etc "$FARM/etc" 2>/dev/null || true
  local l d
  for l in bin lib lib64 sbin; do ln -s "usr/$l" "$FARM/$l"; done
  for d in proc sys dev run tmp var/tmp var/lib var/log var/cache srv/www app sealinit; do
    mkdir -p "$FARM/$d"
  done
  ln -s /run "$FARM/var/run"
  chmod 1777 "$FARM/tmp" "$FARM/var/tmp"
  # What the packages' maintainer scripts would have made in an image.
  mkdir -p "$FARM/var/lib/postgresql" "$FARM/run/postgresql" "$FARM/var/lib/redis" \
    "$FARM/var/cache/nginx" "$FARM/run/nginx"
  chown postgres:postgres "$FARM/var/lib/postgresql" "$FARM/run/postgresql"
  chown redis:redis "$FARM/var/lib/redis"
  chown www-data:www-data "$FARM/var/cache/nginx" "$FARM/run/nginx"
  rm -f "$FARM/etc/nginx/nginx.conf"
  nginx_conf >"$FARM/etc/nginx/nginx.conf"
  echo "sealinit-nginx-ok" >"$FARM/srv/www/index.html"
  wsgi_app_py >"$FARM/app/app.py"
  chmod 644 "$FARM/etc/nginx/nginx.conf" "$FARM/srv/www/index.html" "$FARM/app/app.py"
  install -m 755 "$SEALINIT_BIN" "$FARM/sealinit/sealinit"
}

# learn_start NAME USER OUTDIR [podman args...] -- COMMAND...: the learn run,
# detached, on the writable overlay root; the spec lands in OUTDIR.
learn_start() {
  local name=$1 user=$2 outdir=$3
  shift 3
  local args=()
  while [[ $# -gt 0 && $1 != -- ]]; do args+=("$1"); shift; done
  shift
  mkdir -p "$outdir"
  chmod 1777 "$outdir"
  pod_run -d --name "$name" --user "$user" -v "$outdir:/out" "${args[@]}" --rootfs "$FARM:O" \
    "$LSEAL" learn --out /out/learned.toml --report-every 2s --log-format json -- "$@" >/dev/null
}

# learn_stop NAME OUT OUTDIR: podman stop; the learn run must exit 0, leave a
# learned spec and the final report.
learn_stop() {
  local code
  code=$(app_stop "$1" "$2")
  cat "$2"
  expect_code 0 "$code" "$1 under learn after podman stop"
  [[ -s $3/learned.toml ]] || fail "no learned spec in $3"
  ev "$2" learn report=final >/dev/null || fail "no final learn report"
  ev "$2" learn 'podman?' >/dev/null || fail "no learn event with the podman commands"
  echo "    --- learned.toml" >&2
  sed 's/^/    /' "$3/learned.toml" >&2
}

# learned_mounts SPEC: "path kind size" per learned mount.
learned_mounts() {
  "$PY" - "$1" <<'PY'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    doc = tomllib.load(f)
for m in doc.get("mount", []):
    print(m["path"], m["kind"], m.get("size_limit", ""))
PY
}

# ro_flags NAME SPEC USER: creates the named volumes and prints the podman run
# flags (one per line) that `sealinit manifest --format podman` gives for the
# learned spec, with the uid:gid of USER.
ro_flags() {
  local name=$1 spec=$2 uid gid text line
  uid=$(id -u "$3"); gid=$(id -g "$3")
  text=$("$SEALINIT_BIN" manifest --spec "$spec" --format podman --name "$name" \
    --run-as-user "$uid" --run-as-group "$gid") || { fail "sealinit manifest refused the learned spec"; return 1; }
  while read -r line; do
    case $line in
      "podman volume create "*)
        pod volume rm -f "${line##* }" >/dev/null 2>&1 || true
        local words
        read -ra words <<<"${line#podman }"
        pod "${words[@]}" >/dev/null || { fail "cannot create a volume: $line"; return 1; }
        ;;
    esac
  done <<<"$text"
  # the run flags: the lines between "podman run \" and "IMAGE", one flag
  # and its value per line
  awk '/^podman run/ {on=1; next} on && /IMAGE/ {exit} on {sub(/^ +/, ""); sub(/ *\\$/, ""); print}' <<<"$text" |
    tr ' ' '\n'
}

# learn_rm_volumes: every named volume this run created (run.sh's cleanup;
# a failed scenario leaves its volumes behind).
learn_rm_volumes() { ro_volumes_rm "sealinit-ct-$$"; }

# ro_volumes_rm NAME: the named volumes of a scenario.
ro_volumes_rm() {
  local v
  while read -r v; do
    [[ $v == "$1-"* ]] && pod volume rm -f "$v" >/dev/null 2>&1
  done < <(pod volume ls --format '{{.Name}}' 2>/dev/null)
  return 0
}

# ro_start NAME SPEC USER -- COMMAND...: the read-only run with only the
# learned mounts and `sealinit --spec learned.toml`.
ro_start() {
  local name=$1 spec=$2 user=$3
  shift 4
  local flags
  mapfile -t flags < <(ro_flags "$name" "$spec" "$user")
  note "read-only run flags: ${flags[*]}"
  pod_run -d --name "$name" "${flags[@]}" -v "$(dirname "$spec"):/learned:ro" --rootfs "$FARM" \
    "$LSEAL" --spec /learned/learned.toml --log-format json -v -- "$@" >/dev/null
}

# --- nginx --------------------------------------------------------------------
s_learn_nginx() {
  learn_ready
  need_cmd /usr/sbin/nginx /usr/bin/curl
  local name out=$CT_WORK/learn_nginx.out dir=$CT_WORK/learn/nginx mounts
  name=$(ct_name lnginx)
  learn_start "$name" www-data "$dir" -- /usr/sbin/nginx -e stderr -c /etc/nginx/nginx.conf
  poll 240 pod exec "$name" /usr/bin/curl -fsS http://127.0.0.1:8080/ || fail "nginx never served under learn"
  learn_stop "$name" "$out" "$dir"
  mounts=$(learned_mounts "$dir/learned.toml")
  grep -qx '/var/cache/nginx emptydir 100Mi' <<<"$mounts" || fail "/var/cache/nginx not learned as an emptydir: $mounts"
  grep -qx '/run/nginx emptydir 10Mi' <<<"$mounts" || fail "/run/nginx (pid file) not learned as a 10Mi emptydir: $mounts"
  ! grep -q '^/etc' <<<"$mounts" || fail "a writable /etc was learned: $mounts"
  grep -q 'fsGroup: 33' "$dir/learned.toml" || fail "no fsGroup advice for www-data"
  local ro
  ro=$(ct_name lnginx-ro)
  ro_start "$ro" "$dir/learned.toml" www-data -- /usr/sbin/nginx -e stderr -c /etc/nginx/nginx.conf
  poll 240 pod exec "$ro" /usr/bin/curl -fsS http://127.0.0.1:8080/ || { pod_logs "$ro"; fail "nginx never served read-only"; }
  [[ $(pod exec "$ro" /usr/bin/curl -fsS http://127.0.0.1:8080/) == sealinit-nginx-ok ]] || fail "wrong page"
  pod_logs "$ro" >"$out.ro"
  assert_clean_report "$out.ro" /var/cache/nginx /run/nginx
  expect_code 0 "$(app_stop "$ro" "$out.ro")" "nginx read-only after podman stop"
  ro_volumes_rm "$ro"
}

# --- PostgreSQL -----------------------------------------------------------------
s_learn_postgres() {
  learn_ready
  need_cmd "$(pg_bin)/postgres"
  local name out=$CT_WORK/learn_pg.out dir=$CT_WORK/learn/pg mounts ro ro2
  name=$(ct_name lpg)
  learn_start "$name" postgres "$dir" -- /bin/sh -c "$(pg_cmd)"
  poll 480 pod exec "$name" "$(pg_bin)/pg_isready" -q -h /var/run/postgresql || { pod_logs "$name"; fail "postgres never ready under learn"; }
  psql_in "$name" "CREATE TABLE t (id int PRIMARY KEY, v text);
    INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 1000) g;" >/dev/null || fail "INSERT failed under learn"
  learn_stop "$name" "$out" "$dir"
  mounts=$(learned_mounts "$dir/learned.toml")
  grep -q '^/var/lib/postgresql pvc ' <<<"$mounts" || fail "postgres's own directory is not a pvc: $mounts"
  grep -qx '/run/postgresql emptydir 10Mi' <<<"$mounts" || fail "/run/postgresql not a 10Mi emptydir: $mounts"
  grep -q 'PG_VERSION' "$dir/learned.toml" || fail "the pvc reason does not name PG_VERSION"
  ro=$(ct_name lpg-ro)
  ro_start "$ro" "$dir/learned.toml" postgres -- /bin/sh -c "$(pg_cmd)"
  poll 480 pod exec "$ro" "$(pg_bin)/pg_isready" -q -h /var/run/postgresql || { pod_logs "$ro"; fail "postgres never ready read-only"; }
  pod_logs "$ro" >"$out.ro"
  assert_clean_report "$out.ro" /var/lib/postgresql /run/postgresql
  psql_in "$ro" "CREATE TABLE t (id int PRIMARY KEY, v text);
    INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 1000) g;" >/dev/null || fail "INSERT failed read-only"
  expect_code 0 "$(app_stop "$ro" "$out.ro")" "postgres read-only after podman stop"
  # the same learned volumes again: the rows are there
  ro2=$(ct_name lpg-ro2)
  local flags
  mapfile -t flags < <(awk '/^podman run/ {on=1; next} on && /IMAGE/ {exit} on {sub(/^ +/, ""); sub(/ *\\$/, ""); print}' \
    <<<"$("$SEALINIT_BIN" manifest --spec "$dir/learned.toml" --format podman --name "$ro" \
      --run-as-user "$(id -u postgres)" --run-as-group "$(id -g postgres)")" | tr ' ' '\n')
  pod_run -d --name "$ro2" "${flags[@]}" -v "$dir:/learned:ro" --rootfs "$FARM" \
    "$LSEAL" --spec /learned/learned.toml --log-format json -v -- /bin/sh -c "$(pg_cmd)" >/dev/null
  poll 480 pod exec "$ro2" "$(pg_bin)/pg_isready" -q -h /var/run/postgresql || fail "postgres never ready after restart"
  [[ $(psql_in "$ro2" "SELECT count(*) FROM t;") == 1000 ]] || fail "rows lost across the restart"
  expect_code 0 "$(app_stop "$ro2" "$out.ro2")" "postgres second read-only stop"
  ro_volumes_rm "$ro"
}

# --- Redis --------------------------------------------------------------------
s_learn_redis_cache() {
  learn_ready
  need_cmd /usr/bin/redis-server
  local name out=$CT_WORK/learn_rcache.out dir=$CT_WORK/learn/rcache mounts ro
  local cmd=(/usr/bin/redis-server --port 6379 --bind 127.0.0.1 --dir /var/lib/redis --save '' --appendonly no)
  name=$(ct_name lrcache)
  learn_start "$name" redis "$dir" -- "${cmd[@]}"
  poll 240 redis_cli "$name" ping || fail "redis never answered under learn"
  redis_cli "$name" SET k v >/dev/null
  learn_stop "$name" "$out" "$dir"
  mounts=$(learned_mounts "$dir/learned.toml")
  [[ -z $mounts ]] || fail "a cache that writes nothing learned mounts: $mounts"
  ev "$out" learn 'msg~wrote nothing' >/dev/null || fail "no 'wrote nothing' summary"
  ro=$(ct_name lrcache-ro)
  ro_start "$ro" "$dir/learned.toml" redis -- "${cmd[@]}"
  poll 240 redis_cli "$ro" ping || { pod_logs "$ro"; fail "redis never answered read-only"; }
  pod_logs "$ro" >"$out.ro"
  assert_clean_report "$out.ro"
  expect_code 0 "$(app_stop "$ro" "$out.ro")" "redis cache read-only after podman stop"
}

s_learn_redis_aof() {
  learn_ready
  need_cmd /usr/bin/redis-server
  local name out=$CT_WORK/learn_raof.out dir=$CT_WORK/learn/raof mounts ro
  local cmd=(/usr/bin/redis-server --port 6379 --bind 127.0.0.1 --dir /var/lib/redis --save '' --appendonly yes --appendfsync always)
  name=$(ct_name lraof)
  learn_start "$name" redis "$dir" -- "${cmd[@]}"
  poll 240 redis_cli "$name" ping || fail "redis never answered under learn"
  redis_cli "$name" SET k v >/dev/null
  learn_stop "$name" "$out" "$dir"
  mounts=$(learned_mounts "$dir/learned.toml")
  grep -q '^/var/lib/redis pvc ' <<<"$mounts" || fail "the AOF directory is not a pvc: $mounts"
  ro=$(ct_name lraof-ro)
  ro_start "$ro" "$dir/learned.toml" redis -- "${cmd[@]}"
  poll 240 redis_cli "$ro" ping || { pod_logs "$ro"; fail "redis never answered read-only"; }
  redis_cli "$ro" SET k2 v2 | grep -qx OK || fail "SET failed read-only"
  pod_logs "$ro" >"$out.ro"
  assert_clean_report "$out.ro" /var/lib/redis
  expect_code 0 "$(app_stop "$ro" "$out.ro")" "redis aof read-only after podman stop"
  ro_volumes_rm "$ro"
}

# --- gunicorn -------------------------------------------------------------------
s_learn_gunicorn() {
  learn_ready
  need_cmd /usr/bin/gunicorn /usr/bin/curl
  local name out=$CT_WORK/learn_gunicorn.out dir=$CT_WORK/learn/gunicorn mounts ro
  local cmd=(/usr/bin/gunicorn --bind 127.0.0.1:8000 --workers 2 --chdir /app app:application)
  name=$(ct_name lgunicorn)
  learn_start "$name" nobody "$dir" -- "${cmd[@]}"
  poll 240 pod exec "$name" /usr/bin/curl -fsS http://127.0.0.1:8000/health || fail "gunicorn never answered under learn"
  learn_stop "$name" "$out" "$dir"
  mounts=$(learned_mounts "$dir/learned.toml")
  grep -q '^/tmp emptydir ' <<<"$mounts" || fail "/tmp not learned: $mounts"
  ! grep -q '^/app ' <<<"$mounts" || fail "the code directory /app was learned as a mount: $mounts"
  ro=$(ct_name lgunicorn-ro)
  ro_start "$ro" "$dir/learned.toml" nobody -- "${cmd[@]}"
  poll 240 pod exec "$ro" /usr/bin/curl -fsS http://127.0.0.1:8000/health || { pod_logs "$ro"; fail "gunicorn never answered read-only"; }
  [[ $(pod exec "$ro" /usr/bin/curl -fsS http://127.0.0.1:8000/health) == ok ]] || fail "/health did not answer ok"
  pod_logs "$ro" >"$out.ro"
  assert_clean_report "$out.ro" /tmp
  expect_code 0 "$(app_stop "$ro" "$out.ro")" "gunicorn read-only after podman stop"
  ro_volumes_rm "$ro"
}
