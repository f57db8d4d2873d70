#!/usr/bin/env bash
# make callgrind: instructions per cached request of one API replica, counted
# by valgrind's callgrind, so the figure holds whatever else the machine is
# doing (wall-clock benchmarks on a shared machine do not).
#
# Brings up a demo stack of its own (.stack-callgrind, ports 8380, 55732,
# 56679, 3301, 9400) with one replica and the simulator's `kubernetes` topic
# (2,600 repositories by default, as in the bench: the 500-item view), crawls it, then starts one more
# release replica under `valgrind --tool=callgrind` on a Unix socket, as nginx
# reaches the replicas, and sends it cached GET /api/popularity/kubernetes
# requests on one keep-alive connection, with the headers nginx sends
# (X-Request-Id, X-Forwarded-For; Accept-Encoding: gzip, br).
#
# Counting: after a warm-up (the view in the process cache), the counters are
# zeroed and dumped around a short window of CALLGRIND_BASE requests and then
# a long one of CALLGRIND_REQUESTS: instructions per request are the
# difference of the two totals over the difference of the request counts, so
# the fixed costs of a window (its connection, the dump) cancel out. A window
# with no requests at all shows what the idle replica costs meanwhile.
#
#   CALLGRIND_REQUESTS=2000  requests in the long window
#   CALLGRIND_BASE=200       requests in the short window
#   SKIP_BUILD=1             use the release binaries already built
#   CALLGRIND_KEEP=1         leave the stack running afterwards
# Writes target/callgrind/summary.txt and the dumps (callgrind_annotate them).
set -euo pipefail

export HUBPULSE_STACK_DIR=.stack-callgrind
export HUBPULSE_NGINX_PORT=8380 HUBPULSE_PG_PORT=55732 HUBPULSE_REDIS_PORT=56679
export HUBPULSE_API_BASE_PORT=3301 HUBPULSE_SIM_PORT=9400 REPLICAS=1
TOPIC=kubernetes
export HUBPULSE_DEMO_TOPICS=$TOPIC
LONG=${CALLGRIND_REQUESTS:-2000}
SHORT=${CALLGRIND_BASE:-200}

# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
require_number LONG
require_number SHORT
[ "$LONG" -gt "$SHORT" ] || die "CALLGRIND_REQUESTS ($LONG) must be larger than CALLGRIND_BASE ($SHORT)"

BIN="$ROOT/target/release"
OUT="$ROOT/target/callgrind"
# The measured replica: beside the stack's own, on the next port.
CG_PORT=$((HUBPULSE_API_BASE_PORT + 8))
CG_SOCKET="$RUN/api-cg.sock"
CG_PID=""

stack() { "$ROOT/scripts/stack.sh" "$@"; }

cleanup() {
  local rc=$?
  if [ -n "$CG_PID" ] && kill -0 "$CG_PID" 2>/dev/null; then terminate 60 "$CG_PID"; fi
  if [ "${CALLGRIND_KEEP:-0}" = 1 ]; then
    say "the callgrind stack is left running (CALLGRIND_KEEP=1)"
  else
    stack down >/dev/null 2>&1 || warn "the callgrind stack did not stop cleanly: HUBPULSE_STACK_DIR=$HUBPULSE_STACK_DIR scripts/stack.sh down"
  fi
  exit "$rc"
}

# curl's config for n requests on one connection, with nginx's headers.
requests_config() { # n
  local i
  printf '%s\n' 'silent' 'header = "Accept-Encoding: gzip, br"' 'header = "User-Agent:"' 'header = "Accept:"' \
    'header = "X-Request-Id: 5f0c2a4e9d3b41c7a8e6f1b2c3d4e5f6"' 'header = "X-Forwarded-For: 127.0.0.1"' \
    "unix-socket = \"$CG_SOCKET\"" 'write-out = "%{http_code} %{num_connects}\n"'
  for i in $(seq 1 "$1"); do
    printf 'url = "http://127.0.0.1/api/popularity/%s"\noutput = "/dev/null"\n' "$TOPIC"
  done
}

# Sends n requests; fails unless every one was a 200 on one connection.
send() { # n
  local answers
  answers=$(curl --config <(requests_config "$1")) || die "curl failed against the measured replica"
  local ok connects
  ok=$(grep -c '^200 ' <<<"$answers" || true)
  connects=$(awk '{ n += $2 } END { print n + 0 }' <<<"$answers")
  [ "$ok" = "$1" ] || die "$((${1} - ok)) of $1 requests were not 200: $(grep -v '^200 ' <<<"$answers" | sort | uniq -c | head -3)"
  [ "$connects" -le 1 ] || die "the $1 requests used $connects connections, not one"
}

# Zeroes the counters, runs the window, dumps; prints the dump's total.
window() { # name n
  local name=$1 n=$2 before dump
  callgrind_control -z "$CG_PID" >/dev/null
  before=$(ls "$OUT"/callgrind.out.* 2>/dev/null | wc -l)
  if [ "$n" -gt 0 ]; then send "$n"; else sleep "${IDLE_SECONDS:-5}"; fi
  callgrind_control -d "$name" "$CG_PID" >/dev/null
  # The dump is written by the replica; wait until it is there and complete.
  local waited=0
  until [ "$(ls "$OUT"/callgrind.out.* 2>/dev/null | wc -l)" -gt "$before" ]; do
    sleep 0.2
    waited=$((waited + 1))
    [ "$waited" -lt 300 ] || die "no callgrind dump for $name"
  done
  dump=$(ls -t "$OUT"/callgrind.out.* | head -n 1)
  until grep -q '^totals:' "$dump"; do sleep 0.2; done
  mv "$dump" "$OUT/$name.callgrind"
  awk '/^totals:/ { print $2 }' "$OUT/$name.callgrind"
}

main() {
  "$ROOT/scripts/install-deps.sh"
  command -v valgrind >/dev/null || die "valgrind is missing; scripts/install-deps.sh installs it"
  build_release hubpulse-bench
  rm -rf "$OUT"
  mkdir -p "$OUT"
  fresh_stack_dir HUBPULSE_STACK_DIR
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  say "bringing up the callgrind stack ($HUBPULSE_STACK_DIR)"
  SKIP_BUILD=1 stack up --demo >"$OUT/stack-up.log" 2>&1 \
    || { tail -n 30 "$OUT/stack-up.log" >&2; die "the callgrind stack did not come up (see $OUT/stack-up.log)"; }
  "$BIN/hubpulse-bench" prepare --base "http://127.0.0.1:$HUBPULSE_NGINX_PORT" \
    --token "$HUBPULSE__ADMIN__TOKEN" --topics "$TOPIC" || die "$TOPIC could not be crawled"
  local pid
  if pid=$(live_pid "$RUN/cron.pid" hubpulse-cron); then terminate 10 "$pid"; fi

  # As the stack starts a replica (stack.sh start_replicas), but with no job
  # workers and a process cache that outlives the measurement, so nothing
  # but the requests runs in the windows.
  say "starting a replica under callgrind (socket $CG_SOCKET)"
  (cd "$ROOT" && exec setsid env \
    HUBPULSE__SERVER__HOST=127.0.0.1 HUBPULSE__SERVER__PORT="$CG_PORT" \
    HUBPULSE__SERVER__UNIX_SOCKET="$CG_SOCKET" HUBPULSE__SERVER__WORKER_THREADS=1 \
    HUBPULSE__SERVER__REPLICA=api-cg HUBPULSE__LOG__FORMAT=json \
    HUBPULSE__DATABASE__URL="postgres://hubpulse:$HUBPULSE_DB_PASSWORD@127.0.0.1:$HUBPULSE_PG_PORT/hubpulse" \
    HUBPULSE__REDIS__URL="redis://:$HUBPULSE_REDIS_PASSWORD@127.0.0.1:$HUBPULSE_REDIS_PORT" \
    HUBPULSE__GITHUB__BASE_URL="http://127.0.0.1:$HUBPULSE_SIM_PORT" \
    HUBPULSE__TOPICS__TRACKED="$TOPIC" HUBPULSE__WORKERS__COUNT=0 \
    HUBPULSE__VIEWS__PROCESS_TTL_MS=3600000 \
    valgrind --tool=callgrind --compress-strings=no --compress-pos=no \
    --callgrind-out-file="$OUT/callgrind.out.%p" \
    "$BIN/hubpulse-api" >"$OUT/replica.log" 2>&1 </dev/null 9>&-) &
  CG_PID=$!
  wait_for "the replica under callgrind" 180 "$CG_PID" "$OUT/replica.log" test -S "$CG_SOCKET"
  wait_for "the replica under callgrind" 180 "$CG_PID" "$OUT/replica.log" \
    http_ok "http://127.0.0.1:$CG_PORT/health"

  say "warming up: 50 requests"
  send 50
  local idle short long
  idle=$(window idle 0)
  short=$(window short "$SHORT")
  long=$(window long "$LONG")
  local per_request
  per_request=$(( (long - short) / (LONG - SHORT) ))
  {
    echo "cached GET /api/popularity/$TOPIC (Accept-Encoding: gzip, br), one keep-alive connection, Unix socket"
    printf 'binary: %s (%s)\n' "$BIN/hubpulse-api" "$(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- services || echo '+changes')"
    printf 'idle window (%ss, no requests): %s instructions\n' "${IDLE_SECONDS:-5}" "$idle"
    printf 'window of %s requests: %s instructions\n' "$SHORT" "$short"
    printf 'window of %s requests: %s instructions\n' "$LONG" "$long"
    printf 'instructions per cached request: %s\n' "$per_request"
  } | tee "$OUT/summary.txt"
  say "the heaviest functions of the long window (self cost): callgrind_annotate $OUT/long.callgrind"
  callgrind_annotate "$OUT/long.callgrind" 2>/dev/null | sed -n '/^Ir/,$p' | head -n 30 | tee "$OUT/top.txt" || true
}

main "$@"
