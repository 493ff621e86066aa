#!/usr/bin/env bash
# Application scenarios: the seed's Part 3 layouts, each application from
# Debian's packages, run as a non-root user under `sealinit --profile NAME`
# in a read-only root composed by mkrootfs.sh. Volumes are host directories.
# Sourced by run.sh. Each s_* function is one scenario.

SEAL=/sealinit/sealinit

apps_ready() {
  need_sealinit
  [[ -n ${ROOTFS:-} && -x $ROOTFS/sealinit/sealinit ]] || fail "rootfs not prepared (mkrootfs.sh)"
}

# app_start NAME USER PROFILE [podman args...] -- COMMAND...
# Start a detached read-only container with sealinit --profile as PID 1.
app_start() {
  local name=$1 user=$2 profile=$3
  shift 3
  local args=()
  while [[ $# -gt 0 && $1 != -- ]]; do args+=("$1"); shift; done
  shift
  pod_run -d --name "$name" --user "$user" --read-only "${args[@]}" --rootfs "$ROOTFS" \
    "$SEAL" --profile "$profile" --log-format json -v -- "$@" >/dev/null
}

# app_run_fg OUT USER PROFILE [podman args...] -- COMMAND...: same, in the
# foreground; output to OUT; prints the exit code.
app_run_fg() {
  local out=$1 user=$2 profile=$3 rc=0
  shift 3
  local args=()
  while [[ $# -gt 0 && $1 != -- ]]; do args+=("$1"); shift; done
  shift
  pod_run --rm --user "$user" --read-only "${args[@]}" --rootfs "$ROOTFS" \
    "$SEAL" --profile "$profile" --log-format json -v -- "$@" >"$out" 2>&1 || rc=$?
  echo "$rc"
}

# app_stop NAME OUT: podman stop, wait, save the logs; prints the exit code.
app_stop() {
  pod stop -t 60 "$1" >/dev/null
  local code
  code=$(pod_wait "$1")
  pod_logs "$1" >"$2"
  echo "$code"
}

# The start-up report must be clean: a summary and no failing check.
assert_clean_report() {
  local out=$1 p
  shift
  ev "$out" checks.summary >/dev/null || fail "no checks.summary event"
  ev_none "$out" check verdict=fail || fail "a check failed on the seed's layout"
  for p in "$@"; do
    ev "$out" check "path=$p" verdict=pass >/dev/null || fail "no passing check for $p"
  done
  ev "$out" spawn >/dev/null || fail "no spawn event"
}

# --- PostgreSQL -----------------------------------------------------------------
pg_bin() {
  local v
  v=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort -V | tail -1)
  echo "/usr/lib/postgresql/${v:-missing}/bin"
}

# The seed's layout: data PVC, socket emptyDir, /tmp emptyDir, /dev/shm tmpfs.
pg_layout() { # $1 scenario, $2 = with-socket|without-socket
  local data sock tmp
  data=$(mkvol "$1" data)
  tmp=$(mkvol "$1" tmp)
  chown postgres:postgres "$data" "$tmp"
  chmod 700 "$data"
  printf '%s\n' -v "$data:/var/lib/postgresql/data" -v "$tmp:/tmp" --shm-size 1g
  if [[ $2 == with-socket ]]; then
    sock=$(mkvol "$1" sock)
    chown postgres:postgres "$sock"
    printf '%s\n' -v "$sock:/var/run/postgresql"
  fi
}

pg_cmd() {
  local bin
  bin=$(pg_bin)
  # like the official images' entrypoint: initdb on first start, then exec
  echo "D=/var/lib/postgresql/data
[ -s \$D/PG_VERSION ] || $bin/initdb -D \$D -U postgres --auth=trust -E UTF8 --locale=C >&2 || exit 1
exec $bin/postgres -D \$D -c listen_addresses= -c unix_socket_directories=/var/run/postgresql -c log_temp_files=0"
}

psql_in() { # container, sql
  pod exec "$1" "$(pg_bin)/psql" -h /var/run/postgresql -U postgres -X -v ON_ERROR_STOP=1 -Atc "$2"
}

s_app_postgres() {
  apps_ready
  need_cmd "$(pg_bin)/postgres"
  local name1 name2 out=$CT_WORK/pg1.out out2=$CT_WORK/pg2.out code
  mapfile -t layout < <(pg_layout pg with-socket)
  name1=$(ct_name pg1)
  app_start "$name1" postgres postgres "${layout[@]}" -- /bin/sh -c "$(pg_cmd)"
  poll 480 pod exec "$name1" "$(pg_bin)/pg_isready" -q -h /var/run/postgresql || {
    pod_logs "$name1"
    fail "postgres never became ready"
  }
  pod_logs "$name1" >"$out"
  assert_clean_report "$out" /var/lib/postgresql/data /var/run/postgresql /tmp /dev/shm
  psql_in "$name1" "CREATE TABLE t (id int PRIMARY KEY, v text);
    INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 1000) g;" >/dev/null ||
    fail "CREATE/INSERT failed"
  # a sort far larger than work_mem=64kB spills to temporary files
  psql_in "$name1" "SET work_mem = '64kB';
    SELECT count(*) FROM (SELECT md5(g::text) AS m FROM generate_series(1, 200000) g ORDER BY m) s;" |
    grep -qx 200000 || fail "the spilling sort did not return 200000"
  local temp_files
  temp_files=$(psql_in "$name1" "SELECT temp_files FROM pg_stat_database WHERE datname = current_database();")
  note "pg_stat_database.temp_files=$temp_files"
  [[ $temp_files =~ ^[1-9][0-9]*$ ]] || fail "no temporary files were written (temp_files=$temp_files)"
  poll 200 log_has "$name1" 'LOG: +temporary file: path' || fail "log_temp_files logged no temporary file"
  code=$(app_stop "$name1" "$out")
  cat "$out"
  expect_code 0 "$code" "postgres after podman stop"
  grep -q 'database system is shut down' "$out" || fail "postgres did not shut down cleanly"
  ev "$out" signal 'signal~TERM' >/dev/null || fail "no signal event for SIGTERM"
  # second start on the same PVC: every committed row is there
  name2=$(ct_name pg2)
  app_start "$name2" postgres postgres "${layout[@]}" -- /bin/sh -c "$(pg_cmd)"
  poll 480 pod exec "$name2" "$(pg_bin)/pg_isready" -q -h /var/run/postgresql || fail "postgres never became ready again"
  [[ $(psql_in "$name2" "SELECT count(*) FROM t;") == 1000 ]] || fail "rows lost across restart"
  log_has "$name2" 'not properly shut down' && fail "second start found an unclean shutdown"
  code=$(app_stop "$name2" "$out2")
  expect_code 0 "$code" "postgres second stop"
}

s_app_postgres_no_socket_dir() {
  apps_ready
  need_cmd "$(pg_bin)/postgres"
  local out=$CT_WORK/pg_nosock.out code data
  mapfile -t layout < <(pg_layout pgnosock without-socket)
  code=$(app_run_fg "$out" postgres postgres "${layout[@]}" -- /bin/sh -c "$(pg_cmd)")
  cat "$out"
  expect_code 78 "$code" "postgres without the socket emptyDir"
  ev "$out" check path=/var/run/postgresql verdict=fail >/dev/null || fail "no failing check naming /var/run/postgresql"
  ev_none "$out" spawn || fail "spawn event: postgres was started"
  data=$CT_WORK/vol/pgnosock/data
  [[ -z $(ls -A "$data") ]] || fail "initdb/postgres ran: the data dir is not empty"
  ! grep -qiE 'postgres|initdb|database system' <(grep -v '^{' "$out") || fail "postgres or initdb printed output"
}

# --- Redis --------------------------------------------------------------------
redis_cli() { # container, args...
  local c=$1
  shift
  pod exec "$c" /usr/bin/redis-cli -h 127.0.0.1 -p 6379 "$@"
}

s_app_redis_cache() {
  apps_ready
  need_cmd /usr/bin/redis-server
  local name data tmp run out=$CT_WORK/redis_cache.out code
  data=$(mkvol rcache data); tmp=$(mkvol rcache tmp); run=$(mkvol rcache run)
  chown redis:redis "$data" "$tmp" "$run"
  name=$(ct_name rcache)
  app_start "$name" redis redis-cache -v "$data:/data" -v "$tmp:/tmp" -v "$run:/var/run/redis" -- \
    /usr/bin/redis-server --port 6379 --bind 127.0.0.1 --dir /data --save '' --appendonly no \
    --unixsocket /var/run/redis/redis.sock --unixsocketperm 700
  poll 240 redis_cli "$name" ping || fail "redis never answered PING"
  redis_cli "$name" SET cache:key hello >/dev/null
  [[ $(redis_cli "$name" GET cache:key) == hello ]] || fail "GET did not return the value"
  pod exec "$name" /usr/bin/redis-cli -s /var/run/redis/redis.sock ping | grep -qx PONG ||
    fail "the unix socket in /var/run/redis does not answer"
  pod_logs "$name" >"$out"
  assert_clean_report "$out" /data /tmp
  code=$(app_stop "$name" "$out")
  cat "$out"
  expect_code 0 "$code" "redis cache after podman stop"
}

s_app_redis_db() {
  apps_ready
  need_cmd /usr/bin/redis-server
  local conf data tmp name1 name2 out=$CT_WORK/redis_db.out code i
  conf=$(mkvol rdb conf); data=$(mkvol rdb data); tmp=$(mkvol rdb tmp)
  chown redis:redis "$data" "$tmp"
  cat >"$conf/redis.conf" <<'CONF'
port 6379
bind 127.0.0.1
dir /data
appendonly yes
appendfsync always
save ""
CONF
  chmod 644 "$conf/redis.conf"
  local layout=(-v "$conf:/etc/redis:ro" -v "$data:/data" -v "$tmp:/tmp")
  name1=$(ct_name rdb1)
  app_start "$name1" redis redis-db "${layout[@]}" -- /usr/bin/redis-server /etc/redis/redis.conf
  poll 240 redis_cli "$name1" ping || fail "redis never answered PING"
  local mset=()
  for i in $(seq 1 100); do mset+=("key:$i" "value:$i"); done
  redis_cli "$name1" MSET "${mset[@]}" | grep -qx OK || fail "MSET failed"
  pod_logs "$name1" >"$out"
  assert_clean_report "$out" /etc/redis /data /tmp
  code=$(app_stop "$name1" "$out")
  cat "$out"
  expect_code 0 "$code" "redis db after podman stop"
  compgen -G "$data/appendonlydir/*.aof" >/dev/null || fail "no AOF files on the PVC"
  name2=$(ct_name rdb2)
  app_start "$name2" redis redis-db "${layout[@]}" -- /usr/bin/redis-server /etc/redis/redis.conf
  poll 240 redis_cli "$name2" ping || fail "redis never answered PING after restart"
  [[ $(redis_cli "$name2" DBSIZE) == 100 ]] || fail "keys lost across restart: DBSIZE $(redis_cli "$name2" DBSIZE)"
  [[ $(redis_cli "$name2" GET key:42) == value:42 ]] || fail "key:42 has the wrong value after restart"
}

# --- nginx --------------------------------------------------------------------
nginx_conf() {
  cat <<'CONF'
daemon off;
worker_processes 1;
pid /var/run/nginx/nginx.pid;
error_log stderr;
events { worker_connections 64; }
http {
  include /etc/nginx/mime.types;
  access_log /dev/stdout;
  client_body_temp_path /var/cache/nginx/client_temp;
  proxy_temp_path /var/cache/nginx/proxy_temp;
  fastcgi_temp_path /var/cache/nginx/fastcgi_temp;
  uwsgi_temp_path /var/cache/nginx/uwsgi_temp;
  scgi_temp_path /var/cache/nginx/scgi_temp;
  server {
    listen 127.0.0.1:8080;
    root /srv/www;
  }
}
CONF
}

# The seed's layout: config read-only (subPath file), emptyDirs cache/run/tmp.
nginx_layout() { # $1 scenario, $2 = with-cache|without-cache
  local conf www cache run tmp
  conf=$(mkvol "$1" conf); www=$(mkvol "$1" www); run=$(mkvol "$1" run); tmp=$(mkvol "$1" tmp)
  nginx_conf >"$conf/nginx.conf"
  echo "sealinit-nginx-ok" >"$www/index.html"
  chmod 644 "$conf/nginx.conf" "$www/index.html"
  chown www-data:www-data "$run" "$tmp"
  printf '%s\n' -v "$conf/nginx.conf:/etc/nginx/nginx.conf:ro" -v "$www:/srv/www:ro" \
    -v "$run:/var/run/nginx" -v "$tmp:/tmp"
  if [[ $2 == with-cache ]]; then
    cache=$(mkvol "$1" cache)
    chown www-data:www-data "$cache"
    printf '%s\n' -v "$cache:/var/cache/nginx"
  fi
}

s_app_nginx() {
  apps_ready
  need_cmd /usr/sbin/nginx /usr/bin/curl
  local name out=$CT_WORK/nginx.out code
  mapfile -t layout < <(nginx_layout nginx with-cache)
  name=$(ct_name nginx)
  app_start "$name" www-data nginx "${layout[@]}" -- /usr/sbin/nginx -e stderr -c /etc/nginx/nginx.conf
  # fetched from inside the container's network namespace
  poll 240 pod exec "$name" /usr/bin/curl -fsS http://127.0.0.1:8080/ || fail "nginx never served the page"
  [[ $(pod exec "$name" /usr/bin/curl -fsS http://127.0.0.1:8080/) == sealinit-nginx-ok ]] || fail "wrong page content"
  [[ -d $CT_WORK/vol/nginx/cache/client_temp ]] || fail "nginx did not create its temp dirs in the cache emptyDir"
  pod_logs "$name" >"$out"
  assert_clean_report "$out" /var/cache/nginx /var/run/nginx /tmp
  code=$(app_stop "$name" "$out")
  cat "$out"
  # nginx exits 0 on SIGTERM (fast shutdown)
  expect_code 0 "$code" "nginx after podman stop"
}

s_app_nginx_no_cache_dir() {
  apps_ready
  need_cmd /usr/sbin/nginx
  local out=$CT_WORK/nginx_nocache.out code
  mapfile -t layout < <(nginx_layout nginxnc without-cache)
  code=$(app_run_fg "$out" www-data nginx "${layout[@]}" -- /usr/sbin/nginx -e stderr -c /etc/nginx/nginx.conf)
  cat "$out"
  expect_code 78 "$code" "nginx without the cache emptyDir"
  ev "$out" check path=/var/cache/nginx verdict=fail >/dev/null || fail "sealinit did not name /var/cache/nginx"
  ev_none "$out" spawn || fail "spawn event: nginx was started"
  ! grep -q 'mkdir()' "$out" || fail "nginx's own mkdir() error appeared"
}

# --- Python web app under gunicorn --------------------------------------------
s_app_gunicorn() {
  apps_ready
  need_cmd /usr/bin/gunicorn /usr/bin/curl
  local app tmp cache name out=$CT_WORK/gunicorn.out code
  app=$(mkvol gunicorn app); tmp=$(mkvol gunicorn tmp); cache=$(mkvol gunicorn cache)
  mkdir -p "$app/cache"
  wsgi_app_py >"$app/app.py"
  chmod 644 "$app/app.py"
  chown nobody:nogroup "$tmp" "$cache"
  name=$(ct_name gunicorn)
  app_start "$name" nobody app -v "$app:/app:ro" -v "$tmp:/tmp" -v "$cache:/app/cache" \
    -e PYTHONDONTWRITEBYTECODE=1 -- \
    /usr/bin/gunicorn --bind 127.0.0.1:8000 --workers 2 --chdir /app app:application
  poll 240 pod exec "$name" /usr/bin/curl -fsS http://127.0.0.1:8000/health || fail "gunicorn never answered /health"
  [[ $(pod exec "$name" /usr/bin/curl -fsS http://127.0.0.1:8000/health) == ok ]] || fail "/health did not answer ok"
  pod_logs "$name" >"$out"
  assert_clean_report "$out" /tmp
  code=$(app_stop "$name" "$out")
  cat "$out"
  expect_code 0 "$code" "gunicorn after podman stop"
}
