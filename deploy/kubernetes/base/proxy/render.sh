#!/bin/sh
# Renders proxy/nginx.conf to stdout. POSIX sh and awk only: the local stack
# runs it and so does the nginx container of docker-compose.yml.
#
#   NGINX_LISTEN      address to listen on, e.g. 127.0.0.1:8080 or 8080 (required)
#   NGINX_PREFIX      runtime directory: pid file and temp paths (required)
#   NGINX_UPSTREAMS   replicas, space-separated host:port or unix:/path (required)
#   NGINX_ACCESS_LOG  default $NGINX_PREFIX/access.log (/dev/stdout in a container)
#   NGINX_ERROR_LOG   default $NGINX_PREFIX/error.log (/dev/stderr in a container)
#   NGINX_RESOLVER    DNS server; when set, replica names are re-resolved while
#                     running (nginx >= 1.27.3), so a scaled service is followed
#   NGINX_RATE_LIMIT  requests a second per client address, default 300r/s
#   NGINX_RATE_BURST  requests above the rate let through at once, default 600
#   NGINX_CONN_LIMIT  open connections per client address, default 256
#                     (beyond these nginx answers 429 JSON; the benchmark raises them)
#   template          first argument, default nginx.conf beside this script
set -eu

: "${NGINX_LISTEN:?NGINX_LISTEN is required}"
: "${NGINX_PREFIX:?NGINX_PREFIX is required}"
: "${NGINX_UPSTREAMS:?NGINX_UPSTREAMS is required}"
access_log=${NGINX_ACCESS_LOG:-$NGINX_PREFIX/access.log}
error_log=${NGINX_ERROR_LOG:-$NGINX_PREFIX/error.log}
resolver=${NGINX_RESOLVER:-}
rate_limit=${NGINX_RATE_LIMIT:-300r/s}
rate_burst=${NGINX_RATE_BURST:-600}
conn_limit=${NGINX_CONN_LIMIT:-256}
case "$rate_limit" in *[0-9]r/s | *[0-9]r/m) ;; *) echo "render.sh: NGINX_RATE_LIMIT '$rate_limit' is not like 300r/s" >&2; exit 1 ;; esac
case "$rate_burst$conn_limit" in *[!0-9]*) echo "render.sh: NGINX_RATE_BURST and NGINX_CONN_LIMIT are numbers" >&2; exit 1 ;; esac
template=${1:-$(dirname "$0")/nginx.conf}
[ -r "$template" ] || { echo "render.sh: cannot read template $template" >&2; exit 1; }

resolve=""
resolver_line=""
if [ -n "$resolver" ]; then
  resolve=" resolve"
  resolver_line="    resolver $resolver valid=5s ipv6=off;"
fi

servers=""
for upstream in $NGINX_UPSTREAMS; do
  case "$upstream" in
    unix:/*) ;;
    *:*) ;;
    *) echo "render.sh: upstream '$upstream' is not host:port or unix:/path" >&2; exit 1 ;;
  esac
  servers="$servers        server $upstream max_fails=0$resolve;
"
done

# Values go through ENVIRON, not -v, so awk does not interpret backslashes.
LISTEN=$NGINX_LISTEN PREFIX=$NGINX_PREFIX ACCESS_LOG=$access_log ERROR_LOG=$error_log \
RESOLVER_LINE=$resolver_line SERVERS=$servers \
RATE_LIMIT=$rate_limit RATE_BURST=$rate_burst CONN_LIMIT=$conn_limit awk '
  function put(name,   value, i) {
    value = ENVIRON[name]
    while ((i = index($0, "@" name "@")) > 0)
      $0 = substr($0, 1, i - 1) value substr($0, i + length(name) + 2)
  }
  /^@UPSTREAM_SERVERS@$/ { printf "%s", ENVIRON["SERVERS"]; next }
  /^@RESOLVER@$/ { if (ENVIRON["RESOLVER_LINE"] != "") print ENVIRON["RESOLVER_LINE"]; next }
  { put("LISTEN"); put("PREFIX"); put("ACCESS_LOG"); put("ERROR_LOG")
    put("RATE_LIMIT"); put("RATE_BURST"); put("CONN_LIMIT"); print }
' "$template"
