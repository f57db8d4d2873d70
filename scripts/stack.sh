#!/usr/bin/env bash
# The local stack without Docker: private PostgreSQL and Redis under .stack/,
# N API replicas, nginx on :8080, cron, and (demo) the GitHub simulator.
#   scripts/stack.sh up [--demo] | down | status
source "$(dirname "$0")/lib.sh"

BIN="$ROOT/target/release"
NGINX_DIR="$STACK/nginx"
REDIS_DIR="$STACK/redis"

start_postgres() {
  local data port=$HUBPULSE_PG_PORT
  data=$(pg_data_dir)
  if as_pg "$(pg_bin pg_ctl)" -D "$data" status >/dev/null 2>&1; then
    say "postgres already running on 127.0.0.1:$port"
    return
  fi
  require_free_port "$port" HUBPULSE_PG_PORT
  if [ ! -f "$data/PG_VERSION" ]; then
    say "initialising postgres in $data"
    mkdir -p "$data"
    is_root && chown -R postgres:postgres "$data"
    chmod 700 "$data"
    as_pg "$(pg_bin initdb)" -D "$data" -U postgres -E UTF8 \
      --auth-local=trust --auth-host=scram-sha-256 >"$LOGS/initdb.log" 2>&1 \
      || die "initdb failed; see $LOGS/initdb.log"
  fi
  as_pg "$(pg_bin pg_ctl)" -D "$data" -l "$data/server.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$data -c max_connections=200" \
    start >/dev/null || die "postgres did not start; see $data/server.log"
  # Role and database, created once; the role logs in over TCP with its password.
  local psql=(as_pg "$(pg_bin psql)" -h "$data" -p "$port" -U postgres -d postgres -qtAX -v ON_ERROR_STOP=1)
  "${psql[@]}" -v pw="$HUBPULSE_DB_PASSWORD" <<'SQL' >/dev/null
SELECT format('CREATE ROLE hubpulse LOGIN PASSWORD %L', :'pw')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'hubpulse') \gexec
SELECT format('ALTER ROLE hubpulse PASSWORD %L', :'pw') \gexec
SELECT 'CREATE DATABASE hubpulse OWNER hubpulse'
  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'hubpulse') \gexec
SQL
  say "postgres on 127.0.0.1:$port (data $data)"
}

start_redis() {
  local port=$HUBPULSE_REDIS_PORT
  if pid_alive "$RUN/redis.pid"; then
    say "redis already running on 127.0.0.1:$port"
    return
  fi
  require_free_port "$port" HUBPULSE_REDIS_PORT
  mkdir -p "$REDIS_DIR"
  redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --daemonize yes \
    --dir "$REDIS_DIR" --pidfile "$RUN/redis.pid" --logfile "$LOGS/redis.log" >/dev/null
  # --daemonize yes returns 0 even when the bind fails: wait for PING.
  wait_for "redis on port $port" 10 sh -c "redis-cli -p $port ping | grep -q PONG"
  say "redis on 127.0.0.1:$port"
}

build() {
  if [ "${SKIP_BUILD:-0}" = 1 ] && [ -x "$BIN/hubpulse-api" ]; then return; fi
  say "building release binaries (cargo build --release --workspace)"
  (cd "$ROOT" && cargo build --release --workspace --quiet)
}

# Starts a binary in the background, detached, logging to .stack/logs.
spawn() { # name, then env assignments and the command
  local name=$1; shift
  # exec: the recorded pid is the program itself, in a session of its own,
  # holding none of this script's file descriptors.
  (cd "$ROOT" && exec setsid env "$@" >>"$LOGS/$name.log" 2>&1 </dev/null) &
  echo $! >"$RUN/$name.pid"
}

start_sim() {
  local port=$HUBPULSE_SIM_PORT
  if pid_alive "$RUN/sim.pid"; then
    say "simulator already running on 127.0.0.1:$port"
    return
  fi
  require_free_port "$port" HUBPULSE_SIM_PORT
  spawn sim HUBPULSE__SIM__PORT="$port" HUBPULSE__LOG__FORMAT=json "$BIN/hubpulse-sim"
  wait_for "the simulator" 30 http_ok "http://127.0.0.1:$port/rate_limit"
  say "GitHub simulator on http://127.0.0.1:$port"
}

replica_port() { echo $((HUBPULSE_API_BASE_PORT + $1 - 1)); }

start_replicas() {
  local github_url=$1 i port
  for i in $(seq 1 "$REPLICAS"); do
    port=$(replica_port "$i")
    if pid_alive "$RUN/api-$i.pid"; then
      say "api-$i already running on 127.0.0.1:$port"
      continue
    fi
    require_free_port "$port" HUBPULSE_API_BASE_PORT
    spawn "api-$i" \
      HUBPULSE__SERVER__HOST=127.0.0.1 \
      HUBPULSE__SERVER__PORT="$port" \
      HUBPULSE__SERVER__REPLICA="api-$i" \
      HUBPULSE__LOG__FORMAT=json \
      HUBPULSE__DATABASE__URL="postgres://hubpulse:$HUBPULSE_DB_PASSWORD@127.0.0.1:$HUBPULSE_PG_PORT/hubpulse" \
      HUBPULSE__REDIS__URL="redis://127.0.0.1:$HUBPULSE_REDIS_PORT" \
      HUBPULSE__GITHUB__BASE_URL="$github_url" \
      "$BIN/hubpulse-api"
  done
  for i in $(seq 1 "$REPLICAS"); do
    wait_for "api-$i" 30 http_ok "http://127.0.0.1:$(replica_port "$i")/health"
    say "api-$i on http://127.0.0.1:$(replica_port "$i") (pid $(cat "$RUN/api-$i.pid"))"
  done
}

render_nginx() {
  local servers="" file
  for file in "$RUN"/api-*.pid; do
    [ -e "$file" ] || continue
    local i=${file##*/api-}; i=${i%.pid}
    servers+="        server 127.0.0.1:$(replica_port "$i") max_fails=1 fail_timeout=2s;"$'\n'
  done
  mkdir -p "$NGINX_DIR"
  awk -v prefix="$NGINX_DIR" -v port="$HUBPULSE_NGINX_PORT" -v servers="$servers" '
    { gsub("@PREFIX@", prefix); gsub("@PORT@", port) }
    /@UPSTREAM_SERVERS@/ { printf "%s", servers; next }
    { print }' "$ROOT/proxy/nginx.conf" >"$NGINX_DIR/nginx.conf"
}

nginx_bin() { command -v nginx || echo /usr/sbin/nginx; }

start_nginx() {
  render_nginx
  if pid_alive "$NGINX_DIR/nginx.pid"; then
    "$(nginx_bin)" -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" -e "$NGINX_DIR/error.log" -s reload
    say "nginx reloaded on http://127.0.0.1:$HUBPULSE_NGINX_PORT"
    return
  fi
  require_free_port "$HUBPULSE_NGINX_PORT" HUBPULSE_NGINX_PORT
  "$(nginx_bin)" -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" -e "$NGINX_DIR/error.log" -t -q \
    || die "nginx rejected its configuration ($NGINX_DIR/nginx.conf)"
  "$(nginx_bin)" -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" -e "$NGINX_DIR/error.log"
  say "nginx on http://127.0.0.1:$HUBPULSE_NGINX_PORT"
}

start_cron() {
  [ -x "$BIN/hubpulse-cron" ] && [ -f "$ROOT/cron/schedule.toml" ] || return 0
  if pid_alive "$RUN/cron.pid"; then
    say "cron already running"
    return
  fi
  spawn cron HUBPULSE__CRON__BASE_URL="http://127.0.0.1:$HUBPULSE_NGINX_PORT" \
    HUBPULSE__CRON__SCHEDULE_FILE="$ROOT/cron/schedule.toml" HUBPULSE__LOG__FORMAT=json \
    "$BIN/hubpulse-cron"
  say "cron (schedule cron/schedule.toml, log $LOGS/cron.log)"
}

up() {
  local demo=${1:-}
  "$ROOT/scripts/install-deps.sh"
  mkdir -p "$STACK" "$LOGS" "$RUN"
  start_postgres
  start_redis
  build
  local github_url=$HUBPULSE__GITHUB__BASE_URL
  if [ "$demo" = --demo ]; then
    start_sim
    github_url="http://127.0.0.1:$HUBPULSE_SIM_PORT"
  fi
  start_replicas "$github_url"
  start_nginx
  wait_for "/ready through nginx" 60 http_ok "http://127.0.0.1:$HUBPULSE_NGINX_PORT/ready"
  start_cron
  cat <<TXT

HubPulse is up.
  API (through nginx)  http://127.0.0.1:$HUBPULSE_NGINX_PORT   e.g. curl -i http://127.0.0.1:$HUBPULSE_NGINX_PORT/ready
  replicas             $(for i in $(seq 1 "$REPLICAS"); do printf 'api-%s :%s  ' "$i" "$(replica_port "$i")"; done)
  postgres             127.0.0.1:$HUBPULSE_PG_PORT (db hubpulse, role hubpulse)
  redis                127.0.0.1:$HUBPULSE_REDIS_PORT
  docs                 http://127.0.0.1:$HUBPULSE_NGINX_PORT/docs   metrics: /metrics
$( [ "$demo" = --demo ] && echo "  GitHub simulator     http://127.0.0.1:$HUBPULSE_SIM_PORT" )
  logs                 $LOGS/ (api-N.log, sim.log, cron.log, redis.log), nginx: $NGINX_DIR/
  stop                 make down
TXT
}

down() {
  mkdir -p "$RUN"
  stop_pidfile "$RUN/cron.pid" cron 10
  local file
  for file in "$RUN"/api-*.pid; do
    [ -e "$file" ] || continue
    local name=${file##*/}; stop_pidfile "$file" "${name%.pid}" 30
  done
  # TERM is nginx's fast shutdown; it removes its own pid file.
  stop_pidfile "$NGINX_DIR/nginx.pid" nginx 10
  stop_pidfile "$RUN/sim.pid" simulator 10
  if pid_alive "$RUN/redis.pid"; then
    redis-cli -p "$HUBPULSE_REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    stop_pidfile "$RUN/redis.pid" redis 10
  fi
  local data="$STACK/postgres"
  if [ -f "$data/postmaster.pid" ] && as_pg "$(pg_bin pg_ctl)" -D "$data" status >/dev/null 2>&1; then
    as_pg "$(pg_bin pg_ctl)" -D "$data" -m fast -w stop >/dev/null
    say "stopped postgres"
  fi
}

status() {
  local file
  for file in "$RUN"/*.pid "$NGINX_DIR/nginx.pid"; do
    [ -e "$file" ] || continue
    local name=${file##*/}
    if pid_alive "$file"; then echo "${name%.pid}: running (pid $(cat "$file"))"; else echo "${name%.pid}: stopped"; fi
  done
  if as_pg "$(pg_bin pg_ctl)" -D "$STACK/postgres" status >/dev/null 2>&1; then echo "postgres: running"; else echo "postgres: stopped"; fi
}

case "${1:-}" in
  up) up "${2:-}" ;;
  down) down ;;
  status) status ;;
  *) die "usage: scripts/stack.sh up [--demo] | down | status" ;;
esac
