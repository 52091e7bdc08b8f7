"""Test-side handles on what Flux does to a cluster's tree, as plain lists of objects.

The generator's tests look inside single objects (a Deployment's env, a HelmRelease's values), so
they want the objects themselves rather than findings. These helpers give them, built by the
validator's own parts — the real kustomize (``gitopsgen.validate.kustomize``), Flux's strict
postBuild substitution, the schema store (Kubernetes schemas, CRDs and their CEL rules) and the chart
fetcher and in-process Helm renderer — with any problem raised as an AssertionError.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gitopsgen.validate.charts import ChartFetcher, ChartRequest
from gitopsgen.validate.helmrender import render_chart
from gitopsgen.validate.helmstage import release_name
from gitopsgen.validate.kustomize import Transforms, build
from gitopsgen.validate.model import Manifest
from gitopsgen.validate.schemas import SchemaStore
from gitopsgen.validate.substitute import substitute_object

K8S_VERSION = "1.33"


def kustomize_build(path: Path, transforms: Transforms | None = None) -> list[dict[str, Any]]:
    built = build(path, [path], transforms or Transforms())
    if built.error:
        raise AssertionError(f"kustomize build {path} failed: {built.error}")
    return [obj for obj, _ in built.objects]


def build_flux_kustomization(root: Path, ks: dict[str, Any]) -> list[dict[str, Any]]:
    """The objects a Flux Kustomization applies: kustomize build, then strict substitution."""
    spec = ks["spec"]
    docs = kustomize_build(root / spec["path"], Transforms(namespace=spec.get("targetNamespace", "")))
    variables = {k: str(v) for k, v in spec.get("postBuild", {}).get("substitute", {}).items()}
    out = []
    for doc in docs:
        new, outcome = substitute_object(doc, variables)
        if outcome.undefined or outcome.invalid:
            raise AssertionError(f"postBuild fails: undefined {outcome.undefined}, invalid {outcome.invalid}")
        out.append(new)
    return out


def crd_schemas(*directories: Path) -> SchemaStore:
    store = SchemaStore(K8S_VERSION)
    for directory in directories:
        store.add_crds_from(directory)
    return store


def validate_object(obj: dict[str, Any], store: SchemaStore) -> list[str]:
    """Every schema problem of one object, as ``Kind ns/name: RULE path: message`` lines."""
    name = Manifest(obj, "", "", 0).ref
    return [f"{name}: {i.rule} {'/'.join(map(str, i.path))}: {i.message}" for i in store.check(obj)]


def render_release(
    hr: dict[str, Any], repositories: dict[str, str], mirror: dict[str, str], cache_dir: Path
) -> list[dict[str, Any]]:
    """Render a HelmRelease like helm-controller: chart from its HelmRepository, values, release name."""
    spec = hr["spec"]["chart"]["spec"]
    ref = spec["sourceRef"]
    url = repositories[f"{ref.get('namespace', hr['metadata']['namespace'])}/{ref['name']}"]
    archive = ChartFetcher(cache_dir, mirror).fetch(ChartRequest(url=url, chart=spec["chart"], version=spec["version"]))
    name = release_name(Manifest(hr, "", "", 0))
    namespace = hr["spec"].get("targetNamespace", hr["metadata"]["namespace"])
    rendered = render_chart(archive, hr["spec"].get("values", {}), name, namespace, kube_version=K8S_VERSION)
    return [obj for _, obj in rendered.objects]
