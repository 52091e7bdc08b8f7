#!/usr/bin/env bash
# Sets up .venv, then runs ruff, mypy --strict (config in pyproject.toml) and the whole test suite. Extra arguments
# go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check gitopsgen tests
.venv/bin/ruff format --check gitopsgen tests
.venv/bin/mypy
.venv/bin/python -m pytest -q --durations=15 "$@"
# this repository is its own first user: its committed tree must be what its intent generates ...
.venv/bin/gitopsgen generate --check --repo .
# ... and must validate clean: Flux/ESO CRDs and the Prefect charts come from ../shared (air-gapped CI);
# the CRDs and charts land in the cache, so a later plain 'gitopsgen validate .' finds them there
shared=${GITOPSGEN_SHARED:-../shared}
if [ -d "$shared/flux-crds" ]; then
  .venv/bin/gitopsgen validate . \
    --crds "$shared/flux-crds" --crds "$shared/external-secrets-crds" \
    --helm-mirror "https://prefecthq.github.io/prefect-helm=$shared/helm-repo"
else
  echo "scripts/test.sh: $shared is absent: not validating this repository's own tree" >&2
fi
