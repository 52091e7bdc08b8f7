#!/usr/bin/env bash
# Refreshes the lock files from the ranges in pyproject.toml, with uv (itself pinned in the development lock):
#   requirements-dev.lock  the development/CI environment (gitopsgen's dependencies + the test and runtime extras),
#                          with hashes;
#                          scripts/setup.sh installs exactly this
#   requirements.lock      gitopsgen's own dependencies only, the same versions (constrained by the dev lock);
#                          what this project's GitLab fleet jobs install
# Run it when pyproject.toml changes, or `bash scripts/lock.sh --upgrade` to take new releases; commit the result
# after `bash scripts/test.sh` passes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
compile=(.venv/bin/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes --quiet
         --custom-compile-command "bash scripts/lock.sh")
"${compile[@]}" --extra test --extra runtime --output-file requirements-dev.lock "$@"
"${compile[@]}" --constraint requirements-dev.lock --output-file requirements.lock
echo "lock files refreshed; run bash scripts/test.sh, then commit them" >&2
