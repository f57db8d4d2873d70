#!/usr/bin/env bash
# Installs schemathesis (pinned) from PyPI into a virtualenv of its own under
# target/tools/ (scripts/install-pytool.sh), and prints the path of its
# `schemathesis` command. Running it again does nothing but print that path.
#
#   scripts/install-schemathesis.sh            # install if missing, print the CLI path
#   SCHEMATHESIS_VENV=/some/dir scripts/...    # another place for the venv
#
# The API's schemathesis test (services/api/tests/schemathesis.rs) runs this
# first, so `make test` installs it on a fresh machine.
set -euo pipefail

VERSION=4.32.5

exec "$(dirname "${BASH_SOURCE[0]}")/install-pytool.sh" schemathesis "$VERSION" schemathesis \
  ${SCHEMATHESIS_VENV:+"$SCHEMATHESIS_VENV"}
