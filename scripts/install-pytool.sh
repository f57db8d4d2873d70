#!/usr/bin/env bash
# Installs one Python tool (pinned) from PyPI into a virtualenv of its own
# under target/tools/, and prints the path of its command. Running it again
# does nothing but print that path. Python's venv module comes from Debian's
# python3-venv when the machine's python3 lacks it.
#
#   scripts/install-pytool.sh PACKAGE VERSION COMMAND [VENV]
#
# The tools' own scripts (install-schemathesis.sh, install-kubernetes-validate.sh)
# hold the pins; the tests that use a tool run its script first, so `make test`
# installs it on a fresh machine.
set -euo pipefail

die() { printf 'install-pytool: %s\n' "$*" >&2; exit 1; }

[ $# -ge 3 ] || die "usage: install-pytool.sh PACKAGE VERSION COMMAND [VENV]"
package=$1 version=$2 command=$3

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The version is in the path: a new pin gets a new venv, never a half-upgraded one.
venv=${4:-$root/target/tools/$package-$version}
cli=$venv/bin/$command

installed() {
  [ -x "$cli" ] && [ -f "$venv/.complete" ]
}

if installed; then
  echo "$cli"
  exit 0
fi

mkdir -p "$(dirname "$venv")"
# Two test processes (or a test and a person) may install at once: one does,
# the other waits and finds it done.
exec 9>"$venv.lock"
flock 9
if installed; then
  echo "$cli"
  exit 0
fi

python=$(command -v python3 || true)
[ -n "$python" ] || die "python3 not found; install it (apt-get install python3)"

if ! "$python" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  command -v apt-get >/dev/null 2>&1 || die "$python has no venv module and apt-get is not available"
  if [ "$(id -u)" = 0 ]; then
    as_root() { "$@"; }
  elif command -v sudo >/dev/null 2>&1; then
    as_root() { sudo "$@"; }
  else
    die "$python has no venv module; run as root or: apt-get install python3-venv"
  fi
  echo "==> installing python3-venv" >&2
  log=$(mktemp)
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$log" 2>&1 \
    || ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      python3-venv >>"$log" 2>&1; then
    tail -n 30 "$log" >&2
    rm -f "$log"
    die "apt-get could not install python3-venv (output above)"
  fi
  rm -f "$log"
  # Debian's package serves Debian's python3, which may not be the first on PATH.
  "$python" -c 'import venv, ensurepip' >/dev/null 2>&1 || python=/usr/bin/python3
fi

echo "==> installing $package $version into $venv" >&2
rm -rf "$venv"
"$python" -m venv "$venv" || die "could not create a venv with $python"
log=$(mktemp)
if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
  "$package==$version" >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  rm -f "$log"
  die "pip could not install $package==$version (output above)"
fi
rm -f "$log"
"$cli" --version >/dev/null || die "$package installed but $command does not run"
touch "$venv/.complete"
echo "$cli"
