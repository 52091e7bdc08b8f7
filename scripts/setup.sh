#!/usr/bin/env bash
# Creates .venv (if needed) and installs gitopsgen with its test dependencies into it.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
command -v kubectl >/dev/null || command -v kustomize >/dev/null || {
  echo "setup: kubectl (or kustomize) is needed on PATH for the kustomize builds" >&2; exit 1; }
