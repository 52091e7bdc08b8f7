#!/usr/bin/env bash
# The runtime harness's system parts (tests/runtime, pytest -m runtime): PostgreSQL and Redis from Debian's
# packages (the tests start their own servers on 127.0.0.1; the packaged services are not used). The Python parts
# (the 'runtime' extra: Prefect at the charts' appVersion, prefect-kubernetes, prefect-redis) are in
# requirements-dev.lock, which scripts/setup.sh installs. Called by .ci/run; with GITOPSGEN_REQUIRE_RUNTIME=1 the
# runtime tests then fail instead of skipping when a part is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
command -v redis-server >/dev/null || need+=(redis-server)
if ((${#need[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
