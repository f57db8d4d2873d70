#!/usr/bin/env bash
# Installs what the stack and the tests need, only what is missing; running it
# again does nothing. Debian packages: postgresql, redis-server, nginx, wrk, valgrind
# (plus the small tools the scripts use, and python3 with venv for schemathesis); cargo-nextest through cargo.
# Packages are installed without starting or enabling their system services:
# the stack and the tests run private instances on ports of their own.
set -euo pipefail

die() { printf 'install-deps: %s\n' "$*" >&2; exit 1; }

missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
# make callgrind: instructions per cached request (scripts/callgrind.sh).
command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)
command -v curl >/dev/null 2>&1 || missing+=(curl ca-certificates)
command -v jq >/dev/null 2>&1 || missing+=(jq)
# The API's allocator, jemalloc (tikv-jemalloc-sys), is compiled from C with
# its own configure script and make.
command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
command -v make >/dev/null 2>&1 || missing+=(make)
# schemathesis and kubernetes-validate (scripts/install-pytool.sh) run in venvs of Debian's python3.
if ! command -v python3 >/dev/null 2>&1; then
  missing+=(python3 python3-venv)
elif ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  missing+=(python3-venv)
fi
command -v ss >/dev/null 2>&1 || missing+=(iproute2)
# The page's end-to-end test (services/api/tests/web_page.rs) drives Debian's
# headless Chromium through its WebDriver.
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
command -v flock >/dev/null 2>&1 || command -v runuser >/dev/null 2>&1 || missing+=(util-linux)

if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null 2>&1 \
    || die "missing ${missing[*]} and apt-get is not available; install them with your package manager"
  if [ "$(id -u)" = 0 ]; then
    as_root() { "$@"; }
  elif command -v sudo >/dev/null 2>&1; then
    as_root() { sudo "$@"; }
  else
    die "missing ${missing[*]}; run this script as root or install them: apt-get install ${missing[*]}"
  fi
  echo "==> installing ${missing[*]}"
  # policy-rc.d answering 101 tells invoke-rc.d and deb-systemd-invoke not to
  # start or restart anything during this install; ours is removed afterwards,
  # one that was already there (as in containers) is left alone.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    as_root sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d'
    trap 'as_root rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  log=$(mktemp)
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$log" 2>&1 \
    || ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >>"$log" 2>&1; then
    tail -n 30 "$log" >&2
    rm -f "$log"
    die "apt-get could not install ${missing[*]} (output above)"
  fi
  rm -f "$log"
  # Installing also enables the services at boot; undo that for the ones
  # installed just now (a service the machine already had is its own
  # business). They were never started, thanks to policy-rc.d.
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    for package in "${missing[@]}"; do
      case "$package" in
        postgresql | redis-server | nginx) as_root systemctl disable --quiet "$package" 2>/dev/null || true ;;
      esac
    done
  fi
fi

if ! cargo nextest --version >/dev/null 2>&1; then
  echo "==> installing cargo-nextest (cargo install, about two minutes)"
  cargo install cargo-nextest --locked --quiet || die "cargo install cargo-nextest failed"
fi
