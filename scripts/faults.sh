#!/usr/bin/env bash
# make faults: the fault suite (faults/, binary hubpulse-faults) against a
# demo stack of its own, beside any other stack of this checkout: its own
# directory and ports, a fresh database, stopped again at the end.
#
#   scripts/faults.sh [CASE...]    every case by default; hubpulse-faults --list names them
#
#   FAULTS_BREAK=nginx-retry       render nginx without proxy_next_upstream, to see the
#                                  replica cases fail as they must
#   FAULTS_KEEP=1                  leave the stack running afterwards (.stack-faults)
#   FAULTS_NGINX_PORT, FAULTS_PG_PORT, FAULTS_REDIS_PORT, FAULTS_API_BASE_PORT,
#   FAULTS_SIM_PORT, FAULTS_STACK_DIR   other ports or directory than the defaults below
#   SKIP_BUILD=1                   use the release binaries already built
set -euo pipefail

# Set before lib.sh reads .env, and never taken from the caller's HUBPULSE_*
# variables: those describe the caller's own stack, which must be left alone.
export HUBPULSE_STACK_DIR=${FAULTS_STACK_DIR:-.stack-faults}
export HUBPULSE_NGINX_PORT=${FAULTS_NGINX_PORT:-8280}
export HUBPULSE_PG_PORT=${FAULTS_PG_PORT:-55632}
export HUBPULSE_REDIS_PORT=${FAULTS_REDIS_PORT:-56579}
export HUBPULSE_API_BASE_PORT=${FAULTS_API_BASE_PORT:-3201}
export HUBPULSE_SIM_PORT=${FAULTS_SIM_PORT:-9300}
export REPLICAS=2
# The demo tracks (and crawls at start) the suite's read topic only; the
# cases track their own. The simulator's quota is out of the crawls' way:
# the GitHub case injects its rate limits on purpose. Leases are short
# enough that a killed worker's job is taken up within seconds rather than
# half a minute (the mechanism is the same at any length). Discovery rounds
# come close together, so the graph cases' discoveries take seconds.
export HUBPULSE_DEMO_TOPICS=faults-load
export HUBPULSE_SIM_SEARCH_QUOTA=100000
export HUBPULSE__WORKERS__LEASE_SECS=8
export HUBPULSE__GRAPH__DISCOVER_INTERVAL_MS=250

# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
break_what=${FAULTS_BREAK:-}
case "$break_what" in
  '' | nginx-retry) ;;
  *) die "FAULTS_BREAK knows one property to break: nginx-retry" ;;
esac

stack() { "$ROOT/scripts/stack.sh" "$@"; }

fresh_stack_dir FAULTS_STACK_DIR

if [ "${FAULTS_KEEP:-0}" != 1 ]; then
  trap 'say "stopping the fault stack"; stack down >/dev/null 2>&1 || warn "the fault stack did not stop cleanly; scripts/stack.sh down with HUBPULSE_STACK_DIR=$HUBPULSE_STACK_DIR"' EXIT
fi

build_release hubpulse-faults
FAULTS="$ROOT/target/release/hubpulse-faults"

# The simulator serves the suite's topics, as the suite itself describes them.
"$FAULTS" sim-config >"$STACK/sim.toml"
export HUBPULSE_SIM_CONFIG="$STACK/sim.toml"

SKIP_BUILD=1 stack up --demo

if [ "$break_what" = nginx-retry ]; then
  conf="$STACK/nginx/nginx.conf"
  sed -i 's/^\( *\)proxy_next_upstream error timeout http_502 http_503;/\1proxy_next_upstream off;/' "$conf"
  grep -q '^ *proxy_next_upstream off;' "$conf" || die "could not turn nginx's retry off in $conf"
  "$(command -v nginx || echo /usr/sbin/nginx)" -p "$STACK/nginx" -c "$conf" -e "$STACK/nginx/error.log" -s reload \
    || die "nginx did not reload"
  sleep 1
  warn "nginx's retry is OFF on purpose (FAULTS_BREAK=nginx-retry): the replica cases must fail"
fi

say "fault suite (output also in $LOGS/faults.log)"
status=0
(cd "$ROOT" && timeout --foreground 900 "$FAULTS" "$@") 2>&1 | tee "$LOGS/faults.log" || status=$?
exit "$status"
