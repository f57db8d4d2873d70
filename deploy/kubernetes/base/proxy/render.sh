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
#   template          first argument, default nginx.conf beside this script
set -eu

: "${NGINX_LISTEN:?NGINX_LISTEN is required}"
: "${NGINX_PREFIX:?NGINX_PREFIX is required}"
: "${NGINX_UPSTREAMS:?NGINX_UPSTREAMS is required}"
access_log=${NGINX_ACCESS_LOG:-$NGINX_PREFIX/access.log}
error_log=${NGINX_ERROR_LOG:-$NGINX_PREFIX/error.log}
resolver=${NGINX_RESOLVER:-}
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
RESOLVER_LINE=$resolver_line SERVERS=$servers awk '
  function put(name,   value, i) {
    value = ENVIRON[name]
    while ((i = index($0, "@" name "@")) > 0)
      $0 = substr($0, 1, i - 1) value substr($0, i + length(name) + 2)
  }
  /^@UPSTREAM_SERVERS@$/ { printf "%s", ENVIRON["SERVERS"]; next }
  /^@RESOLVER@$/ { if (ENVIRON["RESOLVER_LINE"] != "") print ENVIRON["RESOLVER_LINE"]; next }
  { put("LISTEN"); put("PREFIX"); put("ACCESS_LOG"); put("ERROR_LOG"); print }
' "$template"
