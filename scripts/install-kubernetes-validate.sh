#!/usr/bin/env bash
# Installs kubernetes-validate (pinned; it ships the Kubernetes API's JSON
# schemas, so validating needs no network) from PyPI into a virtualenv of its
# own under target/tools/ (scripts/install-pytool.sh), and prints the path of
# its `kubernetes-validate` command; the venv's python beside it runs
# scripts/check-kubernetes.py. Running it again does nothing but print that path.
#
#   scripts/install-kubernetes-validate.sh                  # install if missing, print the CLI path
#   KUBERNETES_VALIDATE_VENV=/some/dir scripts/...          # another place for the venv
#
# The manifests' test (services/api/tests/kubernetes.rs) runs this first, so
# `make test` installs it on a fresh machine.
set -euo pipefail

VERSION=1.37.0

exec "$(dirname "${BASH_SOURCE[0]}")/install-pytool.sh" kubernetes-validate "$VERSION" kubernetes-validate \
  ${KUBERNETES_VALIDATE_VENV:+"$KUBERNETES_VALIDATE_VENV"}
