# Shared by the stack scripts: paths, settings from .env, small helpers.
# shellcheck shell=bash
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STACK="$ROOT/.stack"
LOGS="$STACK/logs"
RUN="$STACK/run"

# .env gives defaults; whatever the caller already exported wins.
load_env() {
  local line key value
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in ''|'#'*) continue ;; esac
    key=${line%%=*}
    value=${line#*=}
    if [ -z "${!key+x}" ]; then
      export "$key=$value"
    fi
  done < "$ROOT/.env"
}
load_env

say() { printf '\033[1m==>\033[0m %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" = 0 ]; }

pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$dir" ] || die "PostgreSQL is not installed: run scripts/install-deps.sh"
  printf '%s/%s' "$dir" "$1"
}

# PostgreSQL refuses to run as root: run its tools as the postgres user then.
as_pg() {
  if is_root; then runuser -u postgres -- "$@"; else "$@"; fi
}

pid_alive() {
  local pid
  pid=$(cat "$1" 2>/dev/null) && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

port_in_use() { ss -ltnH "sport = :$1" 2>/dev/null | grep -q .; }

# Fails with a clear message when something other than our own process holds the port.
require_free_port() {
  local port=$1 variable=$2
  if port_in_use "$port"; then
    die "port $port ($variable) is already in use by another program; free it or set $variable in the environment"
  fi
}

wait_for() { # description, seconds, command...
  local what=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || die "$what did not come up within ${seconds}s"
    sleep 0.2
  done
}

http_ok() { curl -fsS -o /dev/null --max-time 2 "$1"; }

# Stops the process in a pid file: TERM, then KILL after a deadline.
stop_pidfile() {
  local file=$1 name=$2 seconds=${3:-20}
  local pid
  if pid=$(cat "$file" 2>/dev/null) && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + seconds))
    while kill -0 "$pid" 2>/dev/null; do
      if [ "$SECONDS" -ge "$deadline" ]; then
        kill -KILL "$pid" 2>/dev/null || true
        break
      fi
      sleep 0.1
    done
    say "stopped $name"
  fi
  rm -f "$file"
}

# Where PostgreSQL keeps its data: under .stack, unless the postgres user
# cannot reach the checkout (a clone under /root), then under /var/tmp with a
# link from .stack.
pg_data_dir() {
  local dir="$STACK/postgres"
  if is_root && ! runuser -u postgres -- test -x "$ROOT" 2>/dev/null; then
    local outside
    outside="/var/tmp/hubpulse-$(printf '%s' "$ROOT" | sha256sum | cut -c1-10)/postgres"
    mkdir -p "$(dirname "$outside")"
    chmod 755 "$(dirname "$outside")"
    if [ ! -L "$dir" ]; then rm -rf "$dir"; ln -s "$outside" "$dir"; fi
    dir=$outside
  fi
  printf '%s' "$dir"
}
