#!/usr/bin/env bash
# Sets up .venv, then runs ruff and the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check gitopsgen tests
.venv/bin/python -m pytest -q "$@"
# this repository is its own first user: its committed tree must be what its intent generates
.venv/bin/gitopsgen generate --check --repo .
