#!/usr/bin/env bash
# make bench: the speed proof. Brings up a stack of its own (directory
# .stack-bench, ports 8180/55532/56479/3101-310N/9200, never the development
# stack's) in demo mode with a simulator configured for it, then measures:
#   - ingest: cron's bootstrap crawl of a 20,000-repository simulator topic,
#     timed from its job's started_at to finished_at (views rebuilt inside)
#   - the static-file limit: a second nginx serving the identical bytes of
#     /api/popularity/kubernetes (brotli, as asked with gzip, br) from a file
#   - the proxy's ceiling: the stack's own rendered nginx configuration in
#     front of do-nothing backends (an nginx handing back those bytes, with
#     the replicas' headers, on the same kind of upstream sockets)
#   - closed-loop maximum through nginx and the replicas (two; REPLICAS=N
#     for N), with wrk (rounds
#     alternating static file, ceiling, HubPulse) and goose
#   - an open loop at 1,500 requests/s, the cached, ?limit= and refresh
#     scenarios, and the cold path (views dropped from Redis)
#   - organisation statistics (issue 15): 2,000 repositories x 500
#     contributors over ten years computed in full, then a re-sync where one
#     repository gained one contributor (rows written and time, both judged)
#   - the developer graph (issue 13): discovery from graph-seed over the
#     simulator's graph (GitHub calls against the minimum, again inside the
#     staleness window: none, after it: 304s only); then a synthetic graph
#     of 1,000,000 developers, 1,000,000 repositories and 10,000,000 follow
#     edges loaded with COPY (timed), and every list order and two filters
#     of /v1/developers and /v1/repositories, page 1 and page 10,000,
#     through nginx (p99, each replica's memory before and after)
#   - gist delivery: DELIVERY_FILES new gist files of two tracked users
#     posted to the simulator's Pipedrive stand-in, the rate while staying
#     under its burst limit, and the outbox latency (first seen to posted) p99
# prints one table, writes target/bench/report.md and report.json, and exits
# non-zero when a target is missed. The stack is stopped at the end.
#
#   BENCH_SECONDS=15   length of each closed-loop run (open loop and cold: 2x)
#   REPLICAS=2         API replicas behind nginx; a count other than 2 writes
#                      its report to target/bench/replicas-N/, beside the
#                      two-replica one rather than over it
#   BENCH_ORG_REPOS=2000  repositories of the organisation statistics benchmark
#   BENCH_GRAPH_DEVELOPERS=1000000 BENCH_GRAPH_REPOSITORIES=1000000
#   BENCH_GRAPH_EDGES=10000000  the synthetic graph of the graph lists benchmark
#   BENCH_ROUNDS=9     wrk rounds of static file, ceiling and HubPulse
#   BENCH_WRK_SECONDS=5  length of each of those wrk runs
#   SKIP_BUILD=1       use the release binaries already built
#   BENCH_KEEP=1       leave the bench stack running afterwards (make down with
#                      HUBPULSE_STACK_DIR=.stack-bench and the ports above stops it)
set -euo pipefail

# The bench's own stack: set before lib.sh reads .env, so .env's values and
# the caller's development ports never apply to it.
export HUBPULSE_STACK_DIR=.stack-bench
export HUBPULSE_NGINX_PORT=8180 HUBPULSE_PG_PORT=55532 HUBPULSE_REDIS_PORT=56479
# The speed proof drives nginx from one address far past the per-address
# limits a public stack keeps (proxy/render.sh): lifted for it.
export NGINX_RATE_LIMIT=${NGINX_RATE_LIMIT:-1000000r/s} NGINX_RATE_BURST=${NGINX_RATE_BURST:-1000000} \
  NGINX_CONN_LIMIT=${NGINX_CONN_LIMIT:-60000}
# Two replicas unless the caller asks for more (REPLICAS=4 make bench);
# set before lib.sh reads .env, so .env's count never applies here.
export HUBPULSE_API_BASE_PORT=3101 HUBPULSE_SIM_PORT=9200 REPLICAS=${REPLICAS:-2}
STATIC_PORT=8181
# The ceiling's nginx (the stack's configuration); its backends, when the
# replicas are reached over TCP, listen on the ports after it.
CEILING_PORT=8182
# Demo mode tracks only the ingest topic at start, so cron's bootstrap crawl
# of it runs alone; the read topics are tracked and crawled afterwards.
INGEST_TOPIC=bench-ingest
INGEST_SIZE=20000
export HUBPULSE_DEMO_TOPICS=$INGEST_TOPIC
READ_TOPICS=kubernetes,rust,serverless
COLD_COUNT=8
SECONDS_PER_RUN=${BENCH_SECONDS:-15}
# Many short rounds rather than a few long ones: this machine's speed drifts
# by a third within a minute (a VM whose host is shared), so a HubPulse run
# is judged against the ceiling run just before it, 5 s earlier rather than
# 15, and the median of nine such pairs is what the target judges.
ROUNDS=${BENCH_ROUNDS:-9}
WRK_SECONDS=${BENCH_WRK_SECONDS:-5}

# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
require_number ROUNDS
require_number WRK_SECONDS
[ "$ROUNDS" -ge 1 ] || die "BENCH_ROUNDS must be at least 1"

BIN="$ROOT/target/release"
OUT="$ROOT/target/bench"
[ "$REPLICAS" = 2 ] || OUT="$OUT/replicas-$REPLICAS"
RAW="$OUT/raw"
STATIC_DIR="$STACK/static-nginx"
CEILING_DIR="$STACK/ceiling"
BASE="http://127.0.0.1:$HUBPULSE_NGINX_PORT"
# Set again once fresh_stack_dir has made the bench stack's own secrets.
TOKEN=${HUBPULSE__ADMIN__TOKEN:-}
CORES=$(nproc)
COLD_TOPICS=$(for i in $(seq -w 1 "$COLD_COUNT"); do printf 'bench-cold-%s,' "$i"; done)
COLD_TOPICS=${COLD_TOPICS%,}
FIRST_TOPIC=${READ_TOPICS%%,*}

stack() { "$ROOT/scripts/stack.sh" "$@"; }

stop_static() {
  local pid
  if pid=$(live_pid "$STATIC_DIR/nginx.pid" nginx); then
    kill -QUIT "$pid" 2>/dev/null || true
    wait_gone 10 "$pid"
  fi
}

stop_ceiling() {
  local pid file
  for file in "$CEILING_DIR/front/nginx.pid" "$CEILING_DIR/backend/nginx.pid"; do
    if pid=$(live_pid "$file" nginx); then
      kill -QUIT "$pid" 2>/dev/null || true
      wait_gone 10 "$pid"
    fi
  done
}

cleanup() {
  local rc=$?
  stop_static
  stop_ceiling
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    say "the bench stack is left running (BENCH_KEEP=1)"
  else
    say "stopping the bench stack"
    stack down >/dev/null 2>&1 || warn "the bench stack did not stop cleanly: HUBPULSE_STACK_DIR=$HUBPULSE_STACK_DIR scripts/stack.sh down"
  fi
  exit "$rc"
}

# Machine facts, and how busy it already is: the numbers below mean little
# on a machine that something else keeps busy.
cpu_ticks() { awk '/^cpu /{ idle = $5 + $6; total = 0; for (i = 2; i <= NF; i++) total += $i; print total, idle }' /proc/stat; }
busy_share() { # seconds
  local t0 i0 t1 i1
  read -r t0 i0 < <(cpu_ticks)
  sleep "$1"
  read -r t1 i1 < <(cpu_ticks)
  awk -v dt=$((t1 - t0)) -v di=$((i1 - i0)) 'BEGIN { printf "%.2f", (dt > 0 ? (dt - di) / dt : 0) }'
}

write_machine() {
  local busy
  busy=$(busy_share 3)
  printf '{"date":"%s","nproc":%s,"memory_gib":%s,"cpu":"%s","loadavg":"%s","busy_before":%s,"kernel":"%s"}\n' \
    "$(date -u +%Y-%m-%dT%H:%MZ)" "$CORES" \
    "$(awk '/MemTotal/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)" \
    "$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo | tr -d '"')" \
    "$(cut -d' ' -f1-3 /proc/loadavg)" "$busy" "$(uname -r)" >"$RAW/machine.json"
  say "machine: $CORES cores, load average $(cut -d' ' -f1-3 /proc/loadavg), CPU busy $(awk -v b="$busy" 'BEGIN { printf "%.0f%%", b * 100 }') before the bench"
}

write_sim_config() {
  local i
  {
    echo '# The bench simulator: the read topics, the cold topics and one large topic.'
    echo '[sim]'
    echo 'seed = 42'
    echo 'topics = ['
    echo '  { name = "kubernetes", size = 2600 },'
    echo '  { name = "rust", size = 800 },'
    echo '  { name = "serverless", size = 300 },'
    echo "  { name = \"$INGEST_TOPIC\", size = $INGEST_SIZE },"
    for i in $(seq -w 1 "$COLD_COUNT"); do echo "  { name = \"bench-cold-$i\", size = 600 },"; done
    echo ']'
    echo '[sim.limits]'
    echo 'search_authenticated = 1000000'
    echo 'search_anonymous = 1000000'
    echo 'search_window_secs = 60'
    echo 'core_authenticated = 1000000'
    echo 'core_anonymous = 1000000'
    echo 'core_window_secs = 3600'
  } >"$STACK/sim.toml"
  export HUBPULSE_SIM_CONFIG="$STACK/sim.toml"
}

# Peak resident memory (VmHWM) of each replica so far, as JSON.
replica_rss() {
  local i pid hwm sep=""
  printf '{'
  for i in $(seq 1 "$REPLICAS"); do
    pid=$(live_pid "$RUN/api-$i.pid" hubpulse-api) || continue
    hwm=$(awk '/VmHWM/ { print $2 }' "/proc/$pid/status")
    printf '%s"api-%s":%s' "$sep" "$i" "${hwm:-0}"
    sep=,
  done
  printf '}'
}

# Runs a load generator, timing its CPU, then records what the report needs
# beside the generator's own numbers. A failed run is recorded, not fatal:
# the report judges it.
# Jobs queued or running, read from the replicas' /metrics (the depth comes
# from Postgres at each scrape, so any replica gives the whole queue).
jobs_in_flight() {
  curl -fsS --max-time 5 "$BASE/metrics" 2>/dev/null \
    | awk '/^hubpulse_job_queue_depth\{/ && /status="(queued|running)"/ { n += $NF } END { print n + 0 }'
}

# Waits (up to a minute) until no job is queued or running: a crawl queued
# by the previous run (the refresh scenario calls /update_cache) must not
# land in the next run's measurement.
settle() {
  local waited=0 n
  while n=$(jobs_in_flight) && [ "$n" -gt 0 ] && [ "$waited" -lt 60 ]; do
    sleep 1
    waited=$((waited + 1))
  done
  [ "$waited" -eq 0 ] || say "waited ${waited} s for the jobs the previous run left queued or running"
}

measure() { # name label generator target ratio_to connections -- command...
  local name=$1 label=$2 generator=$3 target=$4 ratio_to=$5 connections=$6
  shift 7
  local rc=0 real user sys t0 i0 t1 i1
  [ "$target" = hubpulse ] && settle
  say "$label ($generator)"
  read -r t0 i0 < <(cpu_ticks)
  local TIMEFORMAT='%R %U %S'
  { time "$@" >"$RAW/$name.log" 2>&1; } 2>"$RAW/$name.time" || rc=$?
  read -r t1 i1 < <(cpu_ticks)
  read -r real user sys <"$RAW/$name.time"
  [ "$rc" = 0 ] || warn "$name exited with $rc (see $RAW/$name.log)"
  grep -E '^[a-z]+: [0-9]+ requests|^  (pass|FAIL|error)' "$RAW/$name.log" | sed 's/^/    /' || true
  printf '{"label":"%s","generator":"%s","target":"%s","ratio_to":%s,"ceiling":%s,"connections":%s,"cpu_seconds":%s,"wall_seconds":%s,"cores":%s,"machine_busy":%s,"rss_kb":%s}\n' \
    "$label" "$generator" "$target" "$([ -n "$ratio_to" ] && printf '"%s"' "$ratio_to" || echo null)" \
    "$([ -n "${CEILING_RUN:-}" ] && printf '"%s"' "$CEILING_RUN" || echo null)" \
    "$connections" "$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')" "$real" "$CORES" \
    "$(awk -v dt=$((t1 - t0)) -v di=$((i1 - i0)) 'BEGIN { printf "%.2f", (dt > 0 ? (dt - di) / dt : 0) }' </dev/null)" \
    "$(replica_rss)" >"$RAW/$name.meta.json"
}

# wrk from Debian: closed loop, the same request as goose's max scenario.
wrk_run() { # name label target ratio_to url [ceiling run]
  local name=$1 label=$2 target=$3 ratio_to=$4 url=$5
  CEILING_RUN=${6:-} WRK_JSON="$RAW/$name.wrk.json" WRK_ACCEPT_ENCODING="gzip, br" \
    measure "$name" "$label" wrk "$target" "$ratio_to" 64 -- \
    wrk -t 2 -c 64 -d "${WRK_SECONDS}s" --timeout 10s -s "$ROOT/loadtest/wrk/report.lua" "$url"
}

goose_run() { # name label target ratio_to users scenario [options...]
  local name=$1 label=$2 target=$3 ratio_to=$4 users=$5
  shift 5
  measure "$name" "$label" goose "$target" "$ratio_to" "$users" -- \
    "$BIN/hubpulse-loadtest" "$@" --topics "$READ_TOPICS" -u "$users" \
    --no-print-metrics --summary "$RAW/$name.goose.json"
}

# nginx serving the bytes HubPulse answers for /api/popularity/{topic} to
# `Accept-Encoding: gzip, br`, from a file, at the same path, with the same
# worker count and access log as the proxy: what no proxied answer can beat.
start_static() {
  local body="$STATIC_DIR/root/api/popularity/$FIRST_TOPIC" headers="$STATIC_DIR/headers"
  stop_static
  mkdir -p "$(dirname "$body")"
  curl -fsS -H 'Accept-Encoding: gzip, br' -D "$headers" -o "$body" "$BASE/api/popularity/$FIRST_TOPIC" \
    || die "could not read /api/popularity/$FIRST_TOPIC from the bench stack"
  grep -qi '^content-encoding: br' "$headers" || die "/api/popularity/$FIRST_TOPIC did not answer brotli to 'gzip, br'"
  cat >"$STATIC_DIR/nginx.conf" <<EOF
worker_processes auto;
pid $STATIC_DIR/nginx.pid;
error_log $STATIC_DIR/error.log warn;
events { worker_connections 4096; }
http {
    client_body_temp_path $STATIC_DIR/client_body;
    proxy_temp_path $STATIC_DIR/proxy;
    fastcgi_temp_path $STATIC_DIR/fastcgi;
    uwsgi_temp_path $STATIC_DIR/uwsgi;
    scgi_temp_path $STATIC_DIR/scgi;
    log_format hubpulse_json escape=json
        '{"time":"\$time_iso8601","request_id":"\$request_id","remote":"\$remote_addr",'
        '"method":"\$request_method","uri":"\$uri","status":\$status,"bytes":\$body_bytes_sent,'
        '"request_time":\$request_time}';
    access_log $STATIC_DIR/access.log hubpulse_json buffer=64k flush=1s;
    keepalive_timeout 65s;
    keepalive_requests 10000;
    sendfile on;
    tcp_nopush on;
    open_file_cache max=16 inactive=60s;
    server {
        listen 127.0.0.1:$STATIC_PORT backlog=4096;
        root $STATIC_DIR/root;
        location /api/popularity/ {
            default_type application/json;
            add_header Content-Encoding br;
            add_header Vary accept-encoding;
            add_header Cache-Control "public, max-age=5";
        }
    }
}
EOF
  require_free_port "$STATIC_PORT" "the bench's static nginx"
  nginx -p "$STATIC_DIR" -c "$STATIC_DIR/nginx.conf" -e "$STATIC_DIR/error.log" 9>&- \
    || die "the static nginx did not start; see $STATIC_DIR/error.log"
  wait_for "the static nginx" 10 "" "$STATIC_DIR/error.log" live_pid "$STATIC_DIR/nginx.pid" nginx
  curl -fsS -H 'Accept-Encoding: gzip, br' -o "$STATIC_DIR/check" "http://127.0.0.1:$STATIC_PORT/api/popularity/$FIRST_TOPIC"
  cmp -s "$body" "$STATIC_DIR/check" || die "the static nginx does not serve the same bytes"
  say "static limit: nginx on 127.0.0.1:$STATIC_PORT serving the $(stat -c %s "$body") bytes of /api/popularity/$FIRST_TOPIC (br)"
}

# The developer graph (issue 13): discovery over the simulator's graph,
# then the synthetic graph loaded beside it (ids above 1,000,000,000) and
# its lists read through nginx. A checkpoint after the load, so its writes
# do not land in the measurements that follow.
bench_graph() {
  local db="postgres://hubpulse:$HUBPULSE_DB_PASSWORD@127.0.0.1:$HUBPULSE_PG_PORT/hubpulse"
  local developers=${BENCH_GRAPH_DEVELOPERS:-1000000} repositories=${BENCH_GRAPH_REPOSITORIES:-1000000}
  local edges=${BENCH_GRAPH_EDGES:-10000000} replicas=() i pid
  say "developer discovery from graph-seed over the simulator's graph: calls, again in the window, after it"
  "$BIN/hubpulse-bench" discovery --base "$BASE" --token "$TOKEN" --sim "http://127.0.0.1:$HUBPULSE_SIM_PORT" \
    --database-url "$db" --out "$RAW/discovery.json" || die "the discovery benchmark failed"
  say "graph lists: loading $developers developers, $repositories repositories, $edges follow edges with COPY"
  "$BIN/hubpulse-bench" graphgen --database-url "$db" --developers "$developers" \
    --repositories "$repositories" --edges "$edges" --out "$RAW/graphgen.json" || die "the graph load failed"
  as_pg "$(pg_bin psql)" -h "$(pg_data_dir)" -p "$HUBPULSE_PG_PORT" -U postgres -d postgres -qtAX \
    -c CHECKPOINT >/dev/null || warn "the checkpoint after the graph load failed"
  for i in $(seq 1 "$REPLICAS"); do
    if pid=$(live_pid "$RUN/api-$i.pid" hubpulse-api); then replicas+=(--replica "api-$i=$pid"); fi
  done
  say "graph lists: every order and two filters, page 1 and page 10,000, through nginx"
  "$BIN/hubpulse-bench" graphlists --base "$BASE" --database-url "$db" "${replicas[@]}" \
    --out "$RAW/graphlists.json" || die "the graph lists benchmark failed"
}

DELIVERY_FILES=${DELIVERY_FILES:-600}

# Gist delivery against the Pipedrive stand-in: files per second from the
# first track to the last activity held, the stand-in's busiest 2-second
# window against its burst limit, and the p99 of the replicas' summed
# gist_outbox_latency_seconds histograms (a bucket's upper bound).
bench_delivery() {
  local sim="http://127.0.0.1:$HUBPULSE_SIM_PORT" auth="Authorization: Bearer $TOKEN"
  local users=(hubpulse-walker hubpulse-nobody) user per_user gists start held0 held elapsed deadline
  per_user=$((DELIVERY_FILES / ${#users[@]}))
  gists=$((per_user / 3))
  say "gist delivery: $DELIVERY_FILES files of ${#users[@]} users to the Pipedrive stand-in"
  held0=$(curl -fsS "$sim/_sim/pipedrive" | jq -r .activities)
  for user in "${users[@]}"; do
    curl -fsS -X POST -H 'Content-Type: application/json' -d "{\"count\":$gists,\"files_per_gist\":3}" \
      "$sim/_sim/accounts/$user/gists" >/dev/null || die "the simulator did not add gists to $user"
  done
  start=$(date +%s.%N)
  for user in "${users[@]}"; do
    curl -fsS -X POST -H "$auth" -H 'Content-Type: application/json' -d "{\"login\":\"$user\"}" \
      "$BASE/v1/tracked-users" >/dev/null || die "tracking $user failed"
    curl -fsS -X POST -H "$auth" "$BASE/v1/tracked-users/$user/scan" >/dev/null || die "scanning $user failed"
  done
  deadline=$((SECONDS + 600))
  while :; do
    held=$(curl -fsS "$sim/_sim/pipedrive" | jq -r .activities) || held=$held0
    [ $((held - held0)) -ge $((gists * 3 * ${#users[@]})) ] && break
    [ "$SECONDS" -lt "$deadline" ] || die "gist delivery: $((held - held0)) activities after 600 s"
    sleep 0.2
  done
  elapsed=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }')
  local buckets="" i
  for i in $(seq 1 "$REPLICAS"); do
    buckets+=$(curl -fsS "http://127.0.0.1:$((HUBPULSE_API_BASE_PORT + i - 1))/metrics" \
      | grep '^hubpulse_gist_outbox_latency_seconds_bucket') || true
    buckets+=$'\n'
  done
  local p99
  p99=$(awk -F'le="' '/_bucket/ { split($2, a, "\""); le = a[1]; n = $0; sub(/.* /, "", n); sum[le] += n; if (le != "+Inf") les[le] = 1 }
    END { total = sum["+Inf"]; m = 0; for (l in les) keys[++m] = l + 0;
          for (x = 1; x <= m; x++) for (y = x + 1; y <= m; y++) if (keys[y] < keys[x]) { t = keys[x]; keys[x] = keys[y]; keys[y] = t }
          for (x = 1; x <= m; x++) { for (l in sum) if (l != "+Inf" && l + 0 == keys[x]) c = sum[l]; if (total > 0 && c >= 0.99 * total) { print keys[x]; exit } }
          print "inf" }' <<<"$buckets")
  local pd
  pd=$(curl -fsS "$sim/_sim/pipedrive")
  jq -n --argjson files "$((gists * 3 * ${#users[@]}))" --argjson secs "$elapsed" --arg p99 "$p99" --argjson pd "$pd" \
    '{files: $files, seconds: $secs, rate: ($files / $secs), outbox_latency_p99_le: $p99,
      burst_limit: $pd.burst_limit, max_in_window: $pd.counts.max_in_window, burst_429: $pd.counts.burst_429}' \
    >"$RAW/10-delivery.json"
  jq -r '"    \(.files) files in \(.seconds) s: \(.rate | floor) files/s; busiest 2 s window \(.max_in_window) of \(.burst_limit), \(.burst_429) burst 429s; outbox latency p99 <= \(.outbox_latency_p99_le) s"' \
    "$RAW/10-delivery.json"
}

# The proxy's ceiling: nginx with the stack's own configuration (rendered by
# proxy/render.sh as the stack renders it, only its address, directory and
# upstreams differ) in front of backends that do nothing but answer the
# bytes start_static saved, with the replicas' headers, on the same kind of
# upstream sockets as the replicas (Unix or TCP, one per replica). No proxied
# answer from HubPulse can beat it; the replicas' own cost is the gap.
start_ceiling() {
  local body="$STATIC_DIR/root/api/popularity/$FIRST_TOPIC" backend="$CEILING_DIR/backend" front="$CEILING_DIR/front"
  local upstream listens="" upstreams="" i=0 etag
  stop_ceiling
  mkdir -p "$backend" "$front"
  etag=$(awk 'tolower($1) == "etag:" { print $2 }' "$STATIC_DIR/headers" | tr -d '\r')
  [ -n "$etag" ] || die "/api/popularity/$FIRST_TOPIC answered no ETag"
  for upstream in $(awk '$1 == "server" && $2 ~ /^unix:|:[0-9]+$/ { print $2 }' "$STACK/nginx/nginx.conf"); do
    i=$((i + 1))
    case "$upstream" in
      unix:*)
        rm -f "$RUN/cb-$i.sock"
        listens+="        listen unix:$RUN/cb-$i.sock;"$'\n'
        upstreams+="unix:$RUN/cb-$i.sock "
        ;;
      *)
        require_free_port $((CEILING_PORT + i)) "the ceiling's backend $i"
        listens+="        listen 127.0.0.1:$((CEILING_PORT + i)) backlog=4096;"$'\n'
        upstreams+="127.0.0.1:$((CEILING_PORT + i)) "
        ;;
    esac
  done
  [ "$i" -gt 0 ] || die "no upstream servers in $STACK/nginx/nginx.conf"
  cat >"$backend/nginx.conf" <<EOF
worker_processes auto;
pid $backend/nginx.pid;
error_log $backend/error.log warn;
events { worker_connections 4096; }
http {
    client_body_temp_path $backend/client_body;
    proxy_temp_path $backend/proxy;
    fastcgi_temp_path $backend/fastcgi;
    uwsgi_temp_path $backend/uwsgi;
    scgi_temp_path $backend/scgi;
    # A replica logs nothing per request either.
    access_log off;
    server_tokens off;
    keepalive_timeout 65s;
    keepalive_requests 10000;
    sendfile on;
    tcp_nopush on;
    open_file_cache max=16 inactive=60s;
    etag off;
    if_modified_since off;
    max_ranges 0;
    server {
$listens        root $STATIC_DIR/root;
        location /api/popularity/ {
            default_type application/json;
            add_header Content-Encoding br;
            add_header Vary accept-encoding;
            add_header Cache-Control "public, max-age=5";
            add_header ETag '$etag';
            add_header X-Hubpulse-Replica ceiling;
            add_header X-Request-Id \$http_x_request_id;
        }
    }
}
EOF
  nginx -p "$backend" -c "$backend/nginx.conf" -e "$backend/error.log" 9>&- \
    || die "the ceiling's backend did not start; see $backend/error.log"
  wait_for "the ceiling's backend" 10 "" "$backend/error.log" live_pid "$backend/nginx.pid" nginx
  NGINX_LISTEN="127.0.0.1:$CEILING_PORT" NGINX_PREFIX="$front" NGINX_UPSTREAMS="$upstreams" \
    sh "$ROOT/proxy/render.sh" "$ROOT/proxy/nginx.conf" >"$front/nginx.conf"
  # The same configuration as the stack's nginx but for what was asked to differ.
  local servers='/^ *server [^ ]* max_fails=0;$/d'
  diff -q <(sed -e "$servers" -e "s|$front|PREFIX|g" -e "s|127.0.0.1:$CEILING_PORT|LISTEN|" "$front/nginx.conf") \
    <(sed -e "$servers" -e "s|$STACK/nginx|PREFIX|g" -e "s|127.0.0.1:$HUBPULSE_NGINX_PORT|LISTEN|" "$STACK/nginx/nginx.conf") >/dev/null \
    || die "the ceiling's nginx configuration differs from the stack's ($front/nginx.conf, $STACK/nginx/nginx.conf)"
  require_free_port "$CEILING_PORT" "the bench's ceiling nginx"
  nginx -p "$front" -c "$front/nginx.conf" -e "$front/error.log" 9>&- \
    || die "the ceiling's nginx did not start; see $front/error.log"
  wait_for "the ceiling's nginx" 10 "" "$front/error.log" live_pid "$front/nginx.pid" nginx
  curl -fsS -H 'Accept-Encoding: gzip, br' -D "$CEILING_DIR/headers" -o "$CEILING_DIR/check" \
    "http://127.0.0.1:$CEILING_PORT/api/popularity/$FIRST_TOPIC"
  cmp -s "$body" "$CEILING_DIR/check" || die "the ceiling does not serve the same bytes"
  say "ceiling: the stack's nginx on 127.0.0.1:$CEILING_PORT in front of $i do-nothing backends (${upstreams% })"
}

main() {
  "$ROOT/scripts/install-deps.sh"
  command -v wrk >/dev/null || die "wrk is missing; scripts/install-deps.sh installs it"
  build_release hubpulse-loadtest
  rm -rf "$RAW"
  mkdir -p "$RAW"

  # A fresh bench stack: a database from nothing, so the ingest is a first crawl.
  fresh_stack_dir HUBPULSE_STACK_DIR
  TOKEN=$HUBPULSE__ADMIN__TOKEN
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  write_machine
  write_sim_config
  say "bringing up the bench stack in demo mode ($HUBPULSE_STACK_DIR; cron's bootstrap crawls $INGEST_TOPIC)"
  SKIP_BUILD=1 stack up --demo >"$RAW/stack-up.log" 2>&1 \
    || { tail -n 30 "$RAW/stack-up.log" >&2; die "the bench stack did not come up (see $RAW/stack-up.log)"; }
  grep -E "^  job " "$RAW/stack-up.log" || true
  # cron's hourly refresh must not land in a measurement: it has done its
  # bootstrap; the refresh scenario calls /update_cache itself.
  local pid
  if pid=$(live_pid "$RUN/cron.pid" hubpulse-cron); then terminate 10 "$pid"; fi

  say "ingest: the bootstrap crawl of $INGEST_TOPIC ($INGEST_SIZE repositories), from its job's timestamps"
  "$BIN/hubpulse-bench" ingest --base "$BASE" --token "$TOKEN" --topic "$INGEST_TOPIC" \
    --sim "http://127.0.0.1:$HUBPULSE_SIM_PORT" --out "$RAW/ingest.json" \
    || die "the ingest measurement failed"

  say "crawling the read topics ($READ_TOPICS) and $COLD_COUNT cold topics"
  "$BIN/hubpulse-bench" prepare --base "$BASE" --token "$TOKEN" --topics "$READ_TOPICS,$COLD_TOPICS" \
    || die "the read topics could not be crawled"

  say "organisation statistics: ${BENCH_ORG_REPOS:-2000} repositories x 500 contributors over 10 years, then a re-sync with one new contributor"
  "$BIN/hubpulse-bench" orgstats --repositories "${BENCH_ORG_REPOS:-2000}" --out "$RAW/orgstats.json" \
    --database-url "postgres://hubpulse:$HUBPULSE_DB_PASSWORD@127.0.0.1:$HUBPULSE_PG_PORT/hubpulse" \
    || die "the organisation statistics benchmark failed"

  bench_graph

  start_static
  start_ceiling
  local static="http://127.0.0.1:$STATIC_PORT" ceiling="http://127.0.0.1:$CEILING_PORT"
  local url="/api/popularity/$FIRST_TOPIC" long=$((SECONDS_PER_RUN * 2)) round
  # Rounds alternating the three, so that whatever else the machine does
  # meanwhile lands on all of them alike.
  for round in $(seq 1 "$ROUNDS"); do
    wrk_run "01-r${round}a-static-wrk" "static limit: nginx, file (round $round)" static "" "$static$url"
    wrk_run "01-r${round}b-ceiling-wrk" "ceiling: nginx, do-nothing backends (round $round)" ceiling \
      "01-r${round}a-static-wrk" "$ceiling$url"
    wrk_run "01-r${round}c-max-wrk" "closed loop, cached $url (round $round)" hubpulse \
      "01-r${round}a-static-wrk" "$BASE$url" "01-r${round}b-ceiling-wrk"
  done
  goose_run 02-static-goose "static limit: nginx, file" static "" 64 max -H "$static" -t "${SECONDS_PER_RUN}s"
  stop_static
  stop_ceiling
  goose_run 04-max-goose "closed loop, cached $url" hubpulse 02-static-goose 64 max -H "$BASE" -t "${SECONDS_PER_RUN}s"
  goose_run 05-open "open loop, 1,500 req/s (cached mix)" hubpulse "" 128 open -H "$BASE" -t "${long}s" --rate 1500
  goose_run 06-cached "cached mix (3 views, 3 encodings, 20% If-None-Match)" hubpulse "" 32 cached -H "$BASE" -t "${SECONDS_PER_RUN}s"
  goose_run 07-limit "?limit=N reads" hubpulse "" 32 limit -H "$BASE" -t "${SECONDS_PER_RUN}s"
  goose_run 08-refresh "cached mix, /update_cache every 3 s" hubpulse "" 33 refresh -H "$BASE" -t "${SECONDS_PER_RUN}s" \
    --admin-token "$TOKEN"
  goose_run 09-cold "cold: Redis miss, from Postgres" hubpulse "" "$COLD_COUNT" cold -H "$BASE" -t "${long}s" \
    --cold-topics "$COLD_TOPICS" --redis-url "redis://:$HUBPULSE_REDIS_PASSWORD@127.0.0.1:$HUBPULSE_REDIS_PORT" \
    ${HUBPULSE__VIEWS__PROCESS_TTL_MS:+--process-ttl-ms "$HUBPULSE__VIEWS__PROCESS_TTL_MS"}

  bench_delivery

  local rc=0
  "$BIN/hubpulse-bench" report --dir "$RAW" --md "$OUT/report.md" --json "$OUT/report.json" || rc=$?
  # The delivery figure beside the report's table (its own file, its own target).
  jq -r '"\n## Gist delivery to the Pipedrive stand-in\n\n\(.files) gist files in \(.seconds) s: **\(.rate | floor) files/s**, busiest 2-second window \(.max_in_window) of the burst limit \(.burst_limit) (\(.burst_429) burst 429s); outbox latency (first seen to posted) **p99 <= \(.outbox_latency_p99_le) s**."' \
    "$RAW/10-delivery.json" >>"$OUT/report.md"
  if [ "$(jq -r '.burst_429' "$RAW/10-delivery.json")" != 0 ]; then
    warn "gist delivery went over the stand-in's burst limit"
    rc=1
  fi
  echo "report: $OUT/report.md, $OUT/report.json (raw runs and logs: $RAW)"
  [ "$rc" = 0 ] || die "a target was missed (exit $rc)"
}

main "$@"
