# Shared by the stack scripts: paths, settings from .env, small helpers.
# shellcheck shell=bash
# Its paths and settings are used by the scripts that source it (SC2034).
# shellcheck disable=SC2034
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# .env gives the stack's settings; whatever the caller already exported
# wins, so `REPLICAS=3 make up` needs no edit. Quotes around a value are
# dropped the way docker compose drops them, so one .env serves both. The
# binaries' own defaults live in their defaults.toml files, not here.
# ENV_FILE_KEYS: what came from .env rather than from the caller.
ENV_FILE_KEYS=()
load_env() {
  local line key value
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in ''|'#'*) continue ;; esac
    key=${line%%=*}
    value=${line#*=}
    [[ "$key" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || continue
    case "$value" in
      \"*\") value=${value:1:${#value}-2} ;;
      \'*\') value=${value:1:${#value}-2} ;;
    esac
    if [ -z "${!key+x}" ]; then
      export "$key=$value"
      ENV_FILE_KEYS+=("$key")
    fi
  done < "$ROOT/.env"
}
load_env

from_env_file() { # key: true when .env, not the caller, set it
  local key
  for key in "${ENV_FILE_KEYS[@]}"; do [ "$key" = "$1" ] && return 0; done
  return 1
}

# A binary given a config file (the variable named, e.g. HUBPULSE_CONFIG)
# reads it over its defaults, and HUBPULSE__* variables over the file. So
# that an explicit file is not silently overridden by .env, this prints
# `env` arguments (-u KEY, one a line) that drop the HUBPULSE__* values .env
# set; the caller's own exports still win, as documented.
env_file_unsets() { # config file variable name
  [ -n "${!1:-}" ] || return 0
  local key
  for key in "${ENV_FILE_KEYS[@]}"; do
    case "$key" in HUBPULSE__*) printf -- '-u\n%s\n' "$key" ;; esac
  done
}

# The one release build of the scripts (stack, fault suite, bench): always
# the whole workspace, since building single packages switches feature sets
# and rebuilds shared dependencies. SKIP_BUILD=1 uses what is built, when
# the binary the caller needs is there.
build_release() { # a binary the caller needs afterwards
  local need="$ROOT/target/release/$1"
  if [ "${SKIP_BUILD:-0}" = 1 ] && [ -x "$need" ]; then
    say "using the release binaries already built (SKIP_BUILD=1)"
  else
    say "building release binaries (cargo build --release --workspace; minutes the first time)"
    (cd "$ROOT" && cargo build --release --workspace --quiet) || die "the release build failed"
  fi
  [ -x "$need" ] || die "$need is missing; the release build did not produce it"
}

# A second stack (the fault suite, the benchmark) runs beside the first with
# its own directory and ports.
STACK=${HUBPULSE_STACK_DIR:-$ROOT/.stack}
case "$STACK" in /*) ;; *) STACK="$ROOT/$STACK" ;; esac
LOGS="$STACK/logs"
RUN="$STACK/run"

# A throwaway stack (the fault suite's, the bench's) starts from nothing:
# whatever an earlier run left is stopped and deleted, database included
# (its data may live outside, behind a link). Only ever a .stack-NAME
# directory of this checkout, and outside it only where pg_data_dir puts data.
fresh_stack_dir() { # the variable that names the directory, for the message
  case "$STACK" in
    "$ROOT"/.stack-?*) ;;
    *) die "$1 must name a .stack-NAME directory of the checkout (it is deleted before each run), not $STACK" ;;
  esac
  "$ROOT/scripts/stack.sh" down >/dev/null 2>&1 || warn "stopping what an earlier run left in $STACK failed; going on"
  if [ -L "$STACK/postgres" ]; then
    local outside
    outside=$(readlink -f "$STACK/postgres")
    case "$outside" in /var/tmp/hubpulse-*/postgres) rm -rf "$outside" ;; esac
  fi
  rm -rf "$STACK"
  mkdir -p "$STACK"
}

say() { printf '\033[1m==>\033[0m %s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" = 0 ]; }

require_number() { # variable name
  [[ "${!1}" =~ ^[0-9]+$ ]] || die "$1 must be a number, not '${!1}'"
}
for _variable in REPLICAS HUBPULSE_PG_PORT HUBPULSE_REDIS_PORT HUBPULSE_API_BASE_PORT \
  HUBPULSE_NGINX_PORT HUBPULSE_SIM_PORT; do
  require_number "$_variable"
done
unset _variable
[ "$REPLICAS" -ge 1 ] || die "REPLICAS must be at least 1"

pg_bin() {
  local dir
  dir=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
  [ -n "$dir" ] || die "PostgreSQL is not installed: run scripts/install-deps.sh"
  printf '%s/%s' "$dir" "$1"
}

# PostgreSQL refuses to run as root: run its tools as the postgres user then.
# From /, since the postgres user may not be allowed into the caller's cwd.
as_pg() {
  if is_root; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

# Prints the pid recorded in a pid file when that process is alive and is
# the program we expect: after a reboot a stale file may name a pid that now
# belongs to something else, which must never be signalled.
live_pid() { # pid file, program name as it appears in the command line
  local file=$1 program=$2 pid
  pid=$(cat "$file" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$program" || return 1
  printf '%s' "$pid"
}

port_in_use() { ss -ltnH "sport = :$1" 2>/dev/null | grep -q .; }

# Fails with a clear message when the port is taken. Only called once we
# know none of our own processes holds it.
require_free_port() {
  local port=$1 variable=$2
  if port_in_use "$port"; then
    die "port $port ($variable) is already in use by another program; stop it, or choose another port: $variable=<port> make up"
  fi
}

# Polls a check until it passes. With a pid and a log file, gives up at once
# when that process has died and shows the end of its log, instead of
# waiting out the deadline for something that will never answer.
wait_for() { # description, seconds, pid or "", log or "", command...
  local what=$1 seconds=$2 pid=$3 log=$4; shift 4
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      [ -n "$log" ] && [ -f "$log" ] && tail -n 20 "$log" >&2
      die "$what exited during start-up; see $log"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      [ -n "$log" ] && [ -f "$log" ] && tail -n 20 "$log" >&2
      die "$what did not come up within ${seconds}s${log:+; see $log}"
    fi
    sleep 0.2
  done
}

http_ok() { curl -fs -o /dev/null --max-time 2 "$1"; }

# Waits for processes to exit; KILL after the deadline.
wait_gone() { # seconds, pids...
  local seconds=$1; shift
  local deadline=$((SECONDS + seconds)) pid alive
  while :; do
    alive=()
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
    [ ${#alive[@]} -gt 0 ] || return 0
    if [ "$SECONDS" -ge "$deadline" ]; then
      warn "still running after ${seconds}s, killing: ${alive[*]}"
      kill -KILL "${alive[@]}" 2>/dev/null || true
      return 0
    fi
    sleep 0.1
  done
}

# TERM, then KILL after a deadline; several pids at once, so replicas drain
# in parallel rather than one after the other.
terminate() { # seconds, pids...
  local seconds=$1; shift
  [ $# -gt 0 ] || return 0
  kill -TERM "$@" 2>/dev/null || true
  wait_gone "$seconds" "$@"
}

# Where PostgreSQL keeps its data: under .stack, unless the postgres user
# cannot reach the checkout (a clone under /root), then under /var/tmp with a
# link from .stack, so it still lives "under .stack" for everyone else.
pg_data_dir() {
  local dir="$STACK/postgres"
  if is_root && ! runuser -u postgres -- test -x "$STACK" 2>/dev/null; then
    # Keyed by the stack directory, so a second stack of the same checkout
    # (.stack-faults, .stack-bench) never shares the first one's data; the
    # default stack keeps the key it always had.
    local outside key=$STACK
    [ "$STACK" = "$ROOT/.stack" ] && key=$ROOT
    outside="/var/tmp/hubpulse-$(printf '%s' "$key" | sha256sum | cut -c1-12)/postgres"
    mkdir -p "$(dirname "$outside")"
    chmod 755 "$(dirname "$outside")"
    if [ ! -L "$dir" ]; then
      # A real directory here is data the postgres user cannot reach; never
      # delete it silently.
      if [ -e "$dir" ] && [ -n "$(ls -A "$dir" 2>/dev/null)" ]; then
        die "$dir holds data the postgres user cannot reach; move it away or make the checkout traversable"
      fi
      rm -rf "$dir"
      ln -s "$outside" "$dir"
    fi
    dir=$outside
  fi
  printf '%s' "$dir"
}
