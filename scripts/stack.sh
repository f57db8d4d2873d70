#!/usr/bin/env bash
# The local stack without Docker: private PostgreSQL and Redis under .stack/,
# N API replicas, nginx, cron, and (demo) the GitHub simulator.
#   scripts/stack.sh up [--demo] | down | status
#   scripts/stack.sh stop-replica N [--kill] | start-replica N | stop-redis | start-redis
#                    | stop-postgres | start-postgres      (one member; the fault suite)
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

BIN="$ROOT/target/release"
NGINX_DIR="$STACK/nginx"
REDIS_DIR="$STACK/redis"

replica_port() { echo $((HUBPULSE_API_BASE_PORT + $1 - 1)); }
# nginx reaches a replica through a Unix socket: on one host that skips the
# TCP stack on both ends of every proxied request (the replica listens on its
# TCP port as well, for health checks and direct calls). A socket path must
# fit in sun_path (108 bytes); a checkout too deep for that falls back to TCP.
replica_socket() { echo "$RUN/api-$1.sock"; }
replica_upstream() {
  local socket
  socket=$(replica_socket "$1")
  if [ ${#socket} -le 100 ]; then echo "unix:$socket"; else echo "127.0.0.1:$(replica_port "$1")"; fi
}
# Replicas sharing the host split its cores: one runtime thread each on two
# cores, rather than every replica running a thread per core and all of them
# fighting over the same two.
replica_threads() {
  local threads=$(($(nproc) / REPLICAS))
  echo $((threads > 0 ? threads : 1))
}
nginx_bin() { command -v nginx 2>/dev/null || echo /usr/sbin/nginx; }
nginx_cmd() { "$(nginx_bin)" -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" -e "$NGINX_DIR/error.log" "$@"; }

# The real data directory (it may be a link out of .stack, see pg_data_dir).
pg_data_path() { readlink -f "$STACK/postgres" 2>/dev/null || printf '%s' "$STACK/postgres"; }
pg_running() {
  local data
  data=$(pg_data_path)
  [ -f "$data/PG_VERSION" ] && as_pg "$(pg_bin pg_ctl)" -D "$data" status >/dev/null 2>&1
}

# Replica numbers that have a pid file, in order.
replica_ids() {
  local file i
  for file in "$RUN"/api-*.pid; do
    [ -e "$file" ] || continue
    i=${file##*/api-}; i=${i%.pid}
    [[ "$i" =~ ^[0-9]+$ ]] && echo "$i"
  done | sort -n
}

start_postgres() {
  local data port=$HUBPULSE_PG_PORT
  data=$(pg_data_dir)
  if pg_running; then
    say "postgres already running on 127.0.0.1:$port"
  else
    require_free_port "$port" HUBPULSE_PG_PORT
    if [ ! -f "$data/PG_VERSION" ]; then
      say "initialising postgres in $data"
      mkdir -p "$data"
      if is_root; then chown postgres:postgres "$data"; fi
      chmod 700 "$data"
      # Trust only on the socket, which lives in the data directory (mode 700,
      # so only its owner reaches it); every TCP login needs a password.
      as_pg "$(pg_bin initdb)" -D "$data" -U postgres -E UTF8 --locale=C.UTF-8 \
        --auth-local=trust --auth-host=scram-sha-256 >"$LOGS/initdb.log" 2>&1 \
        || die "initdb failed; see $LOGS/initdb.log"
    fi
    as_pg "$(pg_bin pg_ctl)" -D "$data" -l "$data/server.log" -w -t 30 \
      -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$data -c max_connections=200" \
      start >/dev/null 9>&- || { tail -n 20 "$data/server.log" >&2; die "postgres did not start; see $data/server.log"; }
    say "postgres on 127.0.0.1:$port (data $data)"
  fi
  # Every time, so a changed HUBPULSE_DB_PASSWORD takes effect. psql's :'pw'
  # quotes the value; it never appears on a command line.
  as_pg "$(pg_bin psql)" -h "$data" -p "$port" -U postgres -d postgres -qtAX -v ON_ERROR_STOP=1 \
    -v pw="$HUBPULSE_DB_PASSWORD" >/dev/null <<'SQL' || die "could not create the hubpulse role and database"
SELECT format('CREATE ROLE hubpulse LOGIN PASSWORD %L', :'pw')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'hubpulse') \gexec
SELECT format('ALTER ROLE hubpulse PASSWORD %L', :'pw') \gexec
SELECT 'CREATE DATABASE hubpulse OWNER hubpulse'
  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'hubpulse') \gexec
SQL
}

# The password travels in REDISCLI_AUTH, never on a command line (ps shows those).
redis_cli() { REDISCLI_AUTH=${HUBPULSE_REDIS_PASSWORD:-} redis-cli --no-auth-warning -h 127.0.0.1 -p "$HUBPULSE_REDIS_PORT" "$@"; }
redis_ping() { [ "$(redis_cli ping 2>/dev/null)" = PONG ]; }
redis_url() { printf 'redis://:%s@127.0.0.1:%s' "$HUBPULSE_REDIS_PASSWORD" "$HUBPULSE_REDIS_PORT"; }

start_redis() {
  local port=$HUBPULSE_REDIS_PORT
  if live_pid "$RUN/redis.pid" redis-server >/dev/null; then
    say "redis already running on 127.0.0.1:$port"
    return
  fi
  require_free_port "$port" HUBPULSE_REDIS_PORT
  mkdir -p "$REDIS_DIR"
  # The password goes in a file only its owner reads, not on the command line.
  (umask 077 && printf 'requirepass %s\n' "$HUBPULSE_REDIS_PASSWORD" >"$REDIS_DIR/redis.conf")
  redis-server "$REDIS_DIR/redis.conf" --bind 127.0.0.1 --port "$port" --save '' --appendonly no --daemonize yes \
    --dir "$REDIS_DIR" --pidfile "$RUN/redis.pid" --logfile "$LOGS/redis.log" >/dev/null 9>&- \
    || die "redis-server did not start; see $LOGS/redis.log"
  # --daemonize yes returns 0 even when the bind fails: PING decides.
  wait_for "redis on port $port" 10 "" "$LOGS/redis.log" redis_ping
  say "redis on 127.0.0.1:$port"
}

build() { build_release hubpulse-api; }

# Starts a program in the background, detached from this shell, logging to
# .stack/logs/NAME.log, and records its pid. exec all the way down, so the
# pid is the program itself, in a session of its own (Ctrl-C on make does not
# reach it) and holding none of this script's file descriptors.
spawn() { # name, then env assignments and the command
  local name=$1; shift
  (cd "$ROOT" && exec setsid env "$@" >>"$LOGS/$name.log" 2>&1 </dev/null 9>&-) &
  echo $! >"$RUN/$name.pid"
}

start_sim() {
  local port=$HUBPULSE_SIM_PORT pid
  [ -x "$BIN/hubpulse-sim" ] || die "$BIN/hubpulse-sim is missing; the release build did not produce it"
  if pid=$(live_pid "$RUN/sim.pid" hubpulse-sim); then
    say "simulator already running on http://127.0.0.1:$port (pid $pid)"
    return
  fi
  require_free_port "$port" HUBPULSE_SIM_PORT
  # GitHub's own search quota is 30 a minute: the demo's crawls would spend
  # most of their time rescheduled. HUBPULSE_SIM_SEARCH_QUOTA=30 shows that.
  # A simulator config file (HUBPULSE_SIM_CONFIG) wins over .env's quota.
  local quota=() unsets=()
  if [ -z "${HUBPULSE_SIM_CONFIG:-}" ] || ! from_env_file HUBPULSE_SIM_SEARCH_QUOTA; then
    quota=("HUBPULSE__SIM__LIMITS__SEARCH_AUTHENTICATED=$HUBPULSE_SIM_SEARCH_QUOTA")
  fi
  mapfile -t unsets < <(env_file_unsets HUBPULSE_SIM_CONFIG)
  spawn sim "${unsets[@]}" HUBPULSE__SIM__HOST=127.0.0.1 HUBPULSE__SIM__PORT="$port" \
    HUBPULSE__LOG__FORMAT=json "${quota[@]}" "$BIN/hubpulse-sim"
  wait_for "the simulator" 30 "$(cat "$RUN/sim.pid")" "$LOGS/sim.log" \
    http_ok "http://127.0.0.1:$port/rate_limit"
  say "GitHub simulator on http://127.0.0.1:$port (pid $(cat "$RUN/sim.pid"))"
}

# What a replica gets beyond the common settings, by the stack's mode: in the
# demo, the simulator's topics (one past the 1,000-result cap) and a token so
# the crawls run at the authenticated quota.
replica_env() {
  if [ "$(cat "$RUN/mode" 2>/dev/null)" = demo ]; then
    printf '%s\n' "HUBPULSE__TOPICS__TRACKED=$HUBPULSE_DEMO_TOPICS" \
      "HUBPULSE__GITHUB__TOKEN=${HUBPULSE__GITHUB__TOKEN:-ghp_demo0000000000000000000000000000000}" \
      "HUBPULSE__PIPEDRIVE__BASE_URL=http://127.0.0.1:$HUBPULSE_SIM_PORT/api/v2" \
      "HUBPULSE__PIPEDRIVE__API_TOKEN=sim-pipedrive-token"
  fi
}

start_replicas() {
  local github_url=$1 i port pid extra_env=() unsets=()
  mapfile -t extra_env < <(replica_env)
  # GitHub itself unless the stack says otherwise: the API's own default.
  [ -z "$github_url" ] || extra_env+=("HUBPULSE__GITHUB__BASE_URL=$github_url")
  mapfile -t unsets < <(env_file_unsets HUBPULSE_CONFIG)
  [ -x "$BIN/hubpulse-api" ] || die "$BIN/hubpulse-api is missing; the release build did not produce it"
  local started=()
  for i in $(seq 1 "$REPLICAS"); do
    port=$(replica_port "$i")
    if pid=$(live_pid "$RUN/api-$i.pid" hubpulse-api); then
      say "api-$i already running on http://127.0.0.1:$port (pid $pid)"
      continue
    fi
    require_free_port "$port" "HUBPULSE_API_BASE_PORT (replica api-$i listens on base+$((i - 1)))"
    local socket_env=()
    case $(replica_upstream "$i") in
      unix:*) socket_env=("HUBPULSE__SERVER__UNIX_SOCKET=$(replica_socket "$i")") ;;
    esac
    spawn "api-$i" \
      "${unsets[@]}" \
      HUBPULSE__SERVER__HOST=127.0.0.1 \
      HUBPULSE__SERVER__PORT="$port" \
      HUBPULSE__SERVER__WORKER_THREADS="${HUBPULSE__SERVER__WORKER_THREADS:-$(replica_threads)}" \
      "${socket_env[@]}" \
      HUBPULSE__SERVER__REPLICA="api-$i" \
      HUBPULSE__LOG__FORMAT=json \
      HUBPULSE__DATABASE__URL="postgres://hubpulse:$HUBPULSE_DB_PASSWORD@127.0.0.1:$HUBPULSE_PG_PORT/hubpulse" \
      HUBPULSE__REDIS__URL="$(redis_url)" \
      "${extra_env[@]}" \
      "$BIN/hubpulse-api"
    started+=("$i")
  done
  for i in "${started[@]}"; do
    wait_for "api-$i" 60 "$(cat "$RUN/api-$i.pid")" "$LOGS/api-$i.log" \
      http_ok "http://127.0.0.1:$(replica_port "$i")/health"
    say "api-$i on http://127.0.0.1:$(replica_port "$i") (pid $(cat "$RUN/api-$i.pid"))"
  done
}

# Replicas numbered above REPLICAS (a smaller REPLICAS=N make up): out of
# nginx first, then stopped, so no request is sent to one that is draining.
retire_extra_replicas() {
  local i pids=()
  for i in $(replica_ids); do
    [ "$i" -gt "$REPLICAS" ] || continue
    local pid
    pid=$(live_pid "$RUN/api-$i.pid" hubpulse-api) && pids+=("$pid")
    rm -f "$RUN/api-$i.pid"
    say "retiring api-$i"
  done
  [ ${#pids[@]} -gt 0 ] || return 0
  if live_pid "$NGINX_DIR/nginx.pid" nginx >/dev/null; then start_nginx; fi
  terminate 30 "${pids[@]}"
}

render_nginx() {
  local upstreams="" i
  for i in $(replica_ids); do
    live_pid "$RUN/api-$i.pid" hubpulse-api >/dev/null && upstreams+="$(replica_upstream "$i") "
  done
  [ -n "$upstreams" ] || die "no API replica is running; nothing for nginx to proxy to"
  mkdir -p "$NGINX_DIR"
  NGINX_LISTEN="127.0.0.1:$HUBPULSE_NGINX_PORT" NGINX_PREFIX="$NGINX_DIR" NGINX_UPSTREAMS="$upstreams" \
    sh "$ROOT/proxy/render.sh" "$ROOT/proxy/nginx.conf" >"$NGINX_DIR/nginx.conf.new"
  nginx_cmd -t -q -c "$NGINX_DIR/nginx.conf.new" \
    || die "nginx rejected its configuration ($NGINX_DIR/nginx.conf.new)"
  mv "$NGINX_DIR/nginx.conf.new" "$NGINX_DIR/nginx.conf"
}

start_nginx() {
  render_nginx
  if live_pid "$NGINX_DIR/nginx.pid" nginx >/dev/null; then
    # A reload picks up a changed replica list without dropping connections.
    nginx_cmd -s reload || die "nginx did not reload; see $NGINX_DIR/error.log"
    say "nginx on http://127.0.0.1:$HUBPULSE_NGINX_PORT (reloaded)"
    return
  fi
  require_free_port "$HUBPULSE_NGINX_PORT" HUBPULSE_NGINX_PORT
  nginx_cmd 9>&- || die "nginx did not start; see $NGINX_DIR/error.log"
  wait_for "nginx" 10 "" "$NGINX_DIR/error.log" live_pid "$NGINX_DIR/nginx.pid" nginx
  say "nginx on http://127.0.0.1:$HUBPULSE_NGINX_PORT (pid $(cat "$NGINX_DIR/nginx.pid"))"
}

# cron starts only once it is real: its binary built and a schedule present.
start_cron() {
  [ -x "$BIN/hubpulse-cron" ] && [ -f "$ROOT/cron/schedule.toml" ] || return 0
  local pid
  if pid=$(live_pid "$RUN/cron.pid" hubpulse-cron); then
    say "cron already running (pid $pid)"
    return
  fi
  local unsets=()
  mapfile -t unsets < <(env_file_unsets HUBPULSE_CRON_CONFIG)
  spawn cron "${unsets[@]}" HUBPULSE__CRON__BASE_URL="http://127.0.0.1:$HUBPULSE_NGINX_PORT" \
    HUBPULSE__CRON__SCHEDULE_FILE="$ROOT/cron/schedule.toml" HUBPULSE__LOG__FORMAT=json \
    "$BIN/hubpulse-cron"
  sleep 0.3
  pid=$(live_pid "$RUN/cron.pid" hubpulse-cron) || {
    tail -n 20 "$LOGS/cron.log" >&2
    die "cron exited at start-up; see $LOGS/cron.log"
  }
  say "cron (pid $pid, schedule cron/schedule.toml)"
}

# The replicas of a running stack point at GitHub or at the simulator; mixing
# the two would crawl half from each.
check_mode() {
  local wanted=$1 current
  current=$(cat "$RUN/mode" 2>/dev/null || true)
  if [ -n "$current" ] && [ "$current" != "$wanted" ]; then
    local i
    for i in $(replica_ids); do
      if live_pid "$RUN/api-$i.pid" hubpulse-api >/dev/null; then
        die "the stack is running as 'make $current'; run 'make down' before 'make $wanted'"
      fi
    done
  fi
  echo "$wanted" >"$RUN/mode"
}

# Every port a member that is not running yet will need, checked before
# anything starts, so a conflict never leaves a half-started stack behind.
preflight_ports() { # mode
  local i
  pg_running || require_free_port "$HUBPULSE_PG_PORT" HUBPULSE_PG_PORT
  live_pid "$RUN/redis.pid" redis-server >/dev/null || require_free_port "$HUBPULSE_REDIS_PORT" HUBPULSE_REDIS_PORT
  if [ "$1" = demo ]; then
    live_pid "$RUN/sim.pid" hubpulse-sim >/dev/null || require_free_port "$HUBPULSE_SIM_PORT" HUBPULSE_SIM_PORT
  fi
  for i in $(seq 1 "$REPLICAS"); do
    live_pid "$RUN/api-$i.pid" hubpulse-api >/dev/null \
      || require_free_port "$(replica_port "$i")" "HUBPULSE_API_BASE_PORT (replica api-$i listens on base+$((i - 1)))"
  done
  live_pid "$NGINX_DIR/nginx.pid" nginx >/dev/null || require_free_port "$HUBPULSE_NGINX_PORT" HUBPULSE_NGINX_PORT
}

up() {
  local demo=${1:-} mode=up
  [ "$demo" = --demo ] && mode=demo
  "$ROOT/scripts/install-deps.sh"
  mkdir -p "$STACK" "$LOGS" "$RUN"
  # The lock is fd 9; every long-lived child is started with 9>&- so a
  # daemon never holds it after this script ends.
  exec 9>"$RUN/lock"
  flock -n 9 || die "another 'make up/down' is running on this checkout"
  stack_secrets generate
  check_mode "$mode"
  preflight_ports "$mode"
  start_postgres
  start_redis
  build
  local github_url=${HUBPULSE__GITHUB__BASE_URL:-}
  if [ "$mode" = demo ]; then
    start_sim
    github_url="http://127.0.0.1:$HUBPULSE_SIM_PORT"
  fi
  start_replicas "$github_url"
  retire_extra_replicas
  start_nginx
  wait_for "/ready through nginx" 60 "" "" http_ok "http://127.0.0.1:$HUBPULSE_NGINX_PORT/ready"
  start_cron
  local i
  echo
  echo "HubPulse is up ($mode)."
  printf '  %-18s %s\n' \
    "API (nginx)" "http://127.0.0.1:$HUBPULSE_NGINX_PORT   try: curl -i http://127.0.0.1:$HUBPULSE_NGINX_PORT/ready" \
    "  docs, metrics" "http://127.0.0.1:$HUBPULSE_NGINX_PORT/docs, /metrics"
  for i in $(seq 1 "$REPLICAS"); do
    printf '  %-18s %s\n' "api-$i" "http://127.0.0.1:$(replica_port "$i")  pid $(cat "$RUN/api-$i.pid")  log $LOGS/api-$i.log"
  done
  if [ "$mode" = demo ]; then
    printf '  %-18s %s\n' "GitHub simulator" "http://127.0.0.1:$HUBPULSE_SIM_PORT  pid $(cat "$RUN/sim.pid")  log $LOGS/sim.log"
  fi
  if [ -f "$RUN/cron.pid" ]; then
    printf '  %-18s %s\n' "cron" "pid $(cat "$RUN/cron.pid")  log $LOGS/cron.log"
  fi
  printf '  %-18s %s\n' \
    "postgres" "127.0.0.1:$HUBPULSE_PG_PORT  db hubpulse, role hubpulse  data $(pg_data_path)" \
    "redis" "127.0.0.1:$HUBPULSE_REDIS_PORT  pid $(cat "$RUN/redis.pid")  log $LOGS/redis.log" \
    "nginx" "pid $(cat "$NGINX_DIR/nginx.pid")  logs $NGINX_DIR/access.log, error.log" \
    "admin token" "in $STACK/admin-token (the Redis password in $STACK/redis-password)" \
    "follow the logs" "make logs" \
    "stop" "make down"
  # Shown once, when this start generated it; the file keeps it.
  local var
  for var in "${STACK_SECRETS_NEW[@]}"; do
    [ "$var" = HUBPULSE__ADMIN__TOKEN ] && printf '  %-18s %s\n' "new admin token" "$HUBPULSE__ADMIN__TOKEN"
  done
  if [ "$mode" = demo ]; then demo_crawl; demo_org; demo_gists; fi
}

nginx_url() { printf 'http://127.0.0.1:%s%s' "$HUBPULSE_NGINX_PORT" "$1"; }

# cron's bootstrap queued a crawl per topic; /update_cache answers with the
# same job ids while they run, and /v1/tasks/{id} shows their progress.
demo_crawl() {
  local auth="Authorization: Bearer $HUBPULSE__ADMIN__TOKEN" reply ids id task status deadline
  echo
  say "crawling the simulator's topics: $HUBPULSE_DEMO_TOPICS"
  reply=$(curl -fsS -X POST -H "$auth" "$(nginx_url /update_cache)") \
    || die "/update_cache failed; see $LOGS/api-1.log"
  ids=$(jq -r '.jobs[].id' <<<"$reply")
  deadline=$((SECONDS + ${HUBPULSE_DEMO_TIMEOUT_SECS:-600}))
  for id in $ids; do
    while :; do
      task=$(curl -fsS "$(nginx_url "/v1/tasks/$id")") || task='{}'
      status=$(jq -r '.status // "unknown"' <<<"$task")
      case "$status" in
        succeeded) break ;;
        failed) die "crawl job $id failed: $(jq -c '.last_error' <<<"$task")" ;;
      esac
      [ "$SECONDS" -lt "$deadline" ] || die "crawl job $id still $status after ${HUBPULSE_DEMO_TIMEOUT_SECS:-600} s"
      [ -t 1 ] && printf '  job %s: %s %s\r' "$id" "$status" "$(jq -r '"\(.progress_done // 0)/\(.progress_total // "?")"' <<<"$task")"
      sleep 1
    done
    [ -t 1 ] && printf '\r\033[K'
    jq -r '"  job \(.id) \(.result.topic): \(.result.repositories) repositories, \(.result.github_calls) GitHub calls (\(.result.quota_spent) spent quota, \(.result.not_modified) answered 304, \(.result.probes) window probes, \(.result.windows) windows) in \(.result.runs) run(s)"' <<<"$task"
  done
  echo
  echo "Try (through nginx; each view also answers ?limit=N, gzip/br and If-None-Match):"
  local topic
  for topic in ${HUBPULSE_DEMO_TOPICS//,/ }; do
    printf '  curl -s %s | jq length\n' "$(nginx_url "/api/popularity/$topic")"
    printf '  curl -s "%s" | jq .\n' "$(nginx_url "/api/activity/$topic?limit=3")"
    printf '  curl -s -i %s -H "Accept-Encoding: br" -o /dev/null -D -\n' "$(nginx_url "/api/$topic")"
  done
  # shellcheck disable=SC2016 # $(cat ...) is for the reader's shell to expand.
  # Read from the file when pasted, so the line works in any shell and the
  # token itself is not left in the terminal's scrollback again.
  printf '  curl -s -X POST -H "Authorization: Bearer $(cat %q)" %s | jq .\n' "$STACK/admin-token" "$(nginx_url /update_cache)"
  printf '  curl -s %s | jq .topics\n' "$(nginx_url /v1/topics)"
}

# Tracks the simulator's organisation (HUBPULSE_DEMO_ORG, 50 repositories,
# two empty, each answering 202 once before its statistics), waits until no
# repository is still computing, and prints the first rows and the chart.
demo_org() {
  local org=${HUBPULSE_DEMO_ORG:-hubpulse-org} reply page computing total deadline
  local auth="Authorization: Bearer $HUBPULSE__ADMIN__TOKEN"
  echo
  say "syncing the simulator's organisation $org (first-time contributors per month)"
  reply=$(curl -fsS -X POST -H "$auth" -H 'Content-Type: application/json' \
    -d "{\"name\":\"$org\"}" "$(nginx_url /v1/orgs)") \
    || die "POST /v1/orgs failed; see $LOGS/api-1.log"
  jq -r '"  sync job \(.job_id) queued for \(.name)"' <<<"$reply"
  deadline=$((SECONDS + ${HUBPULSE_DEMO_TIMEOUT_SECS:-600}))
  while :; do
    page=$(curl -fsS "$(nginx_url "/v1/orgs/$org/new-contributors?page_size=5")") || page='{}'
    computing=$(jq -r '(.computing // ["?"]) | length' <<<"$page")
    total=$(jq -r '.total_records // 0' <<<"$page")
    if [ "$computing" = 0 ] && [ "$total" -gt 0 ] && [ "$(jobs_live)" = 0 ]; then break; fi
    [ "$SECONDS" -lt "$deadline" ] || die "the sync of $org did not settle within ${HUBPULSE_DEMO_TIMEOUT_SECS:-600} s"
    [ -t 1 ] && printf '  %s rows so far, %s repositories still computing\r' "$total" "$computing"
    sleep 1
  done
  [ -t 1 ] && printf '\r\033[K'
  jq -r '"  \(.total_records) (repository, month) rows; unavailable: \(.unavailable | length); the first:"' <<<"$page"
  jq -r '.items[] | "    \(.month)  \(.repo_name)  \(.number_of_new_contributors)"' <<<"$page"
  echo
  echo "Try:"
  printf '  curl -s "%s" | jq .\n' "$(nginx_url "/v1/orgs/$org/new-contributors?page=1&page_size=10")"
  printf '  curl -s "%s" | jq .\n' "$(nginx_url "/v1/orgs/$org/new-contributors?from=2024-01&to=2024-12&repo=repo-001")"
  printf '  chart: %s (open it in a browser)\n' "$(nginx_url "/v1/orgs/$org/new-contributors.svg")"
}

# Jobs queued, running or waiting to run again, from /metrics (the depth
# is read from Postgres at each scrape).
jobs_live() {
  curl -fsS --max-time 5 "$(nginx_url /metrics)" 2>/dev/null \
    | awk '/^hubpulse_job_queue_depth\{/ { n += $NF } END { print n + 0 }'
}

# Two simulated users get new gists, are tracked, and their files arrive
# in the simulator's Pipedrive stand-in as activities, one deal per user.
demo_gists() {
  local auth="Authorization: Bearer $HUBPULSE__ADMIN__TOKEN" sim="http://127.0.0.1:$HUBPULSE_SIM_PORT"
  local users=(hubpulse-walker hubpulse-nobody) user files=0 held deadline
  echo
  say "tracking the gists of ${users[*]} and posting them to the Pipedrive stand-in"
  for user in "${users[@]}"; do
    curl -fsS -X POST -H 'Content-Type: application/json' -d '{"count":4,"files_per_gist":3}' \
      "$sim/_sim/accounts/$user/gists" >/dev/null || die "the simulator did not add gists to $user"
    files=$((files + 12))
    curl -fsS -X POST -H "$auth" -H 'Content-Type: application/json' -d "{\"login\":\"$user\"}" \
      "$(nginx_url /v1/tracked-users)" >/dev/null || die "tracking $user failed; see $LOGS/api-1.log"
    curl -fsS -X POST -H "$auth" "$(nginx_url "/v1/tracked-users/$user/scan")" >/dev/null \
      || die "scanning $user failed; see $LOGS/api-1.log"
  done
  deadline=$((SECONDS + 120))
  while :; do
    held=$(curl -fsS "$sim/_sim/pipedrive" | jq -r '.activities') || held=0
    [ "$held" -ge "$files" ] && break
    [ "$SECONDS" -lt "$deadline" ] || die "the Pipedrive stand-in holds $held activities of $files after 120 s"
    sleep 1
  done
  curl -fsS "$sim/_sim/pipedrive" | jq -r '"  Pipedrive stand-in: \(.deals) deals, \(.activities) activities"'
  curl -fsS "$sim/_sim/pipedrive/activities" | jq -r '.activities[-3:][] | "  activity \(.id) on deal \(.deal_id): \(.subject)"'
  echo "Try:"
  printf '  curl -s %s | jq .\n' "$(nginx_url /v1/tracked-users)"
  printf '  curl -s "%s" | jq .files[0]\n' "$(nginx_url /v1/tracked-users/hubpulse-walker/gists/latest?limit=3)"
  printf "  curl -s -X POST -H 'Content-Type: application/json' -d '{\"subscriber\":\"me\"}' %s | jq '.files | length'\n" \
    "$(nginx_url /v1/tracked-users/hubpulse-walker/gists/visits)"
  printf '  curl -s %s | jq .deals\n' "$sim/_sim/pipedrive"
}

down() {
  mkdir -p "$RUN"
  exec 9>"$RUN/lock"
  flock -w 60 9 || die "another 'make up/down' is still running on this checkout"
  local pid file pids=()
  if pid=$(live_pid "$RUN/cron.pid" hubpulse-cron); then terminate 10 "$pid"; say "stopped cron"; fi
  rm -f "$RUN/cron.pid"
  # Replicas together: each drains its connections and jobs in parallel.
  for file in "$RUN"/api-*.pid; do
    [ -e "$file" ] || continue
    pid=$(live_pid "$file" hubpulse-api) && pids+=("$pid")
  done
  if [ ${#pids[@]} -gt 0 ]; then terminate 40 "${pids[@]}"; say "stopped ${#pids[@]} API replica(s)"; fi
  rm -f "$RUN"/api-*.pid
  # QUIT lets nginx finish the requests in flight; it removes its pid file.
  if pid=$(live_pid "$NGINX_DIR/nginx.pid" nginx); then
    kill -QUIT "$pid" 2>/dev/null || true
    wait_gone 15 "$pid"
    say "stopped nginx"
  fi
  rm -f "$NGINX_DIR/nginx.pid"
  if pid=$(live_pid "$RUN/sim.pid" hubpulse-sim); then terminate 10 "$pid"; say "stopped the simulator"; fi
  rm -f "$RUN/sim.pid"
  if pid=$(live_pid "$RUN/redis.pid" redis-server); then
    redis_cli shutdown nosave >/dev/null 2>&1 || true
    terminate 10 "$pid"
    say "stopped redis"
  fi
  rm -f "$RUN/redis.pid" "$RUN/mode"
  if pg_running; then
    as_pg "$(pg_bin pg_ctl)" -D "$(pg_data_path)" -m fast -w -t 30 stop >/dev/null \
      || die "postgres did not stop; see $(pg_data_path)/server.log"
    say "stopped postgres"
  fi
  # Anything still listening on a stack port is not ours (or was started by
  # hand); say so rather than leave it unnoticed.
  local port
  for port in "$HUBPULSE_PG_PORT" "$HUBPULSE_REDIS_PORT" "$HUBPULSE_NGINX_PORT" "$HUBPULSE_SIM_PORT" \
    $(for i in $(seq 1 "$REPLICAS"); do replica_port "$i"; done); do
    if port_in_use "$port"; then warn "port $port is still in use by a process this stack did not start"; fi
  done
}

status() {
  local pid file name
  show() { printf '%-10s %s\n' "$1" "$2"; }
  if pg_running; then show postgres "running on 127.0.0.1:$HUBPULSE_PG_PORT"; else show postgres stopped; fi
  if pid=$(live_pid "$RUN/redis.pid" redis-server); then show redis "running (pid $pid) on 127.0.0.1:$HUBPULSE_REDIS_PORT"; else show redis stopped; fi
  for file in "$RUN"/api-*.pid "$RUN/sim.pid" "$RUN/cron.pid" "$NGINX_DIR/nginx.pid"; do
    [ -e "$file" ] || continue
    name=${file##*/}; name=${name%.pid}
    local program=hubpulse-$name
    case "$name" in api-*) program=hubpulse-api ;; nginx) program=nginx ;; esac
    if pid=$(live_pid "$file" "$program"); then show "$name" "running (pid $pid)"; else show "$name" "not running (stale pid file)"; fi
  done
  if http_ok "http://127.0.0.1:$HUBPULSE_NGINX_PORT/ready"; then
    show ready "yes (http://127.0.0.1:$HUBPULSE_NGINX_PORT/ready)"
  else
    show ready "no"
  fi
}

# --- Single members, for the fault suite (scripts/faults.sh) ---------------
# Each takes the stack's lock like up and down, and does nothing to a member
# already in the state asked for.

member_lock() {
  mkdir -p "$STACK" "$LOGS" "$RUN"
  exec 9>"$RUN/lock"
  flock -w 60 9 || die "another stack.sh command is still running on this checkout"
  stack_secrets generate
}

replica_number() { # argument, usage
  [[ "${1:-}" =~ ^[1-9][0-9]*$ ]] || die "usage: scripts/stack.sh $2"
}

# stop-replica N [--kill]: SIGTERM and wait for the drain, or SIGKILL as a
# crash would. nginx keeps the replica in its upstreams, so its share of the
# requests goes to the others until it is back. The pid file stays, so
# start-replica N knows what to start.
stop_replica() {
  local i=$1 how=${2:-} pid
  replica_number "$i" "stop-replica N [--kill]"
  pid=$(live_pid "$RUN/api-$i.pid" hubpulse-api) || { say "api-$i is not running"; return 0; }
  if [ "$how" = --kill ]; then
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone 10 "$pid"
    say "killed api-$i (SIGKILL, pid $pid)"
  else
    terminate 40 "$pid"
    say "stopped api-$i (pid $pid)"
  fi
}

# start-replica N: starts replica N the way `up` does, against what the
# stack runs (GitHub or the simulator), and waits for /health. nginx is
# reloaded only when its upstreams lack the replica (a reload mid-load is
# harmless, but not needed when the replica kept its place).
start_replica() {
  local i=$1 mode github_url=${HUBPULSE__GITHUB__BASE_URL:-}
  replica_number "$i" "start-replica N"
  mode=$(cat "$RUN/mode" 2>/dev/null) || die "the stack is not running: make up or make demo first"
  [ "$mode" = demo ] && github_url="http://127.0.0.1:$HUBPULSE_SIM_PORT"
  # start_replicas starts every replica up to REPLICAS that is not running,
  # so bound it to this one; the lower ones are running (or restarted too).
  # Its thread count stays the stack's (cores / REPLICAS), not that bound's:
  # a restarted api-1 of two had two threads where its peer had one.
  local threads=${HUBPULSE__SERVER__WORKER_THREADS:-$(replica_threads)}
  HUBPULSE__SERVER__WORKER_THREADS=$threads REPLICAS=$i start_replicas "$github_url"
  if ! grep -qF "server $(replica_upstream "$i") " "$NGINX_DIR/nginx.conf" 2>/dev/null; then
    start_nginx
  fi
}

# stop-redis: SHUTDOWN NOSAVE (Redis keeps nothing), then the pid gone.
stop_redis() {
  local pid
  pid=$(live_pid "$RUN/redis.pid" redis-server) || { say "redis is not running"; return 0; }
  redis_cli shutdown nosave >/dev/null 2>&1 || true
  terminate 10 "$pid"
  rm -f "$RUN/redis.pid"
  say "stopped redis"
}

# stop-postgres: a fast shutdown (sessions cut, no waiting for clients).
stop_postgres() {
  if ! pg_running; then say "postgres is not running"; return 0; fi
  as_pg "$(pg_bin pg_ctl)" -D "$(pg_data_path)" -m fast -w -t 30 stop >/dev/null \
    || die "postgres did not stop; see $(pg_data_path)/server.log"
  say "stopped postgres"
}

case "${1:-}" in
  up) up "${2:-}" ;;
  down) down ;;
  status) status ;;
  stop-replica) member_lock; stop_replica "${2:-}" "${3:-}" ;;
  start-replica) member_lock; start_replica "${2:-}" ;;
  stop-redis) member_lock; stop_redis ;;
  start-redis) member_lock; start_redis ;;
  stop-postgres) member_lock; stop_postgres ;;
  start-postgres) member_lock; start_postgres ;;
  *) die "usage: scripts/stack.sh up [--demo] | down | status | stop-replica N [--kill] | start-replica N | stop-redis | start-redis | stop-postgres | start-postgres" ;;
esac
