#!/usr/bin/env bash
# The built-in demo: a new fleet repository in a temporary directory, two clusters, a check, a listing.
set -euo pipefail
cd "$(dirname "$0")/.."
project=$PWD
bash scripts/setup.sh
gg=$PWD/.venv/bin/gitopsgen
demo=$(mktemp -d "${TMPDIR:-/tmp}/gitopsgen-demo.XXXXXX")
cd "$demo"
git init --quiet --initial-branch=main
set -x
"$gg" init --registry harbor.example.com --secret-store vault-backend \
  --git-url ssh://git@gitlab.example.com/platform/fleet.git
"$gg" add-cluster demo-single --server-mode single --worker-pool default
"$gg" add-cluster demo-ha --server-mode ha --server-replicas 3 \
  --database-secret prefect-db --redis bundled --redis-secret prefect-redis \
  --ingress-host prefect.demo.example.com --ingress-class nginx --tls-secret prefect-tls \
  --auth-secret prefect-basic-auth \
  --worker-pool 'etl:queues=high+default,replicas=2,namespace=prefect-etl' \
  --worker-pool 'ml:namespace=prefect-ml,cpu=2,memory=8Gi' \
  --flow-image harbor.example.com/data/flows:1.4.2 --image-policy '>=1.4.0 <2.0.0'
"$gg" generate --check
"$gg" list
set +x
shared=${GITOPSGEN_SHARED:-$project/../shared}
if [ -d "$shared/flux-crds" ]; then
  # the validator: every Flux Kustomization built, every HelmRelease rendered, every object checked
  "$gg" validate . --crds "$shared/flux-crds" --crds "$shared/external-secrets-crds" \
    --helm-mirror "https://prefecthq.github.io/prefect-helm=$shared/helm-repo" || true
else
  "$gg" validate . || echo "(validate needs the Prefect chart repository; offline here)"
fi
set -x
"$project/.venv/bin/kubectl" kustomize overlays/demo-ha/prefect-worker | head -n 40
set +x
echo "demo fleet repository: $demo"
