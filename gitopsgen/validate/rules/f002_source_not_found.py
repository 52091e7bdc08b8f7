"""F002 source-not-found: a Flux object's sourceRef / chartRef names a source the cluster does not have."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..fields import mapping_at
from ..findings import Finding, Rule, Severity
from ..model import Cluster, Context, Manifest
from . import finding_at

SCOPE = "cluster"  # see rules/__init__.py
RULE = Rule(
    "F002",
    "source-not-found",
    "flux",
    Severity.ERROR,
    "A Kustomization's sourceRef, a HelmRelease's chart source or an ImagePolicy's ImageRepository does not "
    "exist in the cluster.",
    "A Flux Kustomization's spec.sourceRef, a HelmRelease's spec.chart.spec.sourceRef or spec.chartRef, and an "
    "ImageUpdateAutomation's spec.sourceRef must name a source object (GitRepository, OCIRepository, "
    "HelmRepository, Bucket, HelmChart) that the cluster's Flux applies, and an ImagePolicy's "
    "spec.imageRepositoryRef an ImageRepository; otherwise the object stays not ready "
    "with 'source not found'. The namespace defaults to the referring object's. The flux-system GitRepository "
    "that 'flux bootstrap' creates is assumed to exist even where bootstrap's files are not committed, and so "
    "is the sync source a FluxInstance makes; an ExternalArtifact exists when an ArtifactGenerator the cluster "
    "applies generates it (Flux >= 2.7 source-watcher).",
)

SOURCE_KINDS = {
    "GitRepository",
    "OCIRepository",
    "HelmRepository",
    "Bucket",
    "HelmChart",
    "ExternalArtifact",
    "ImageRepository",
}


def refs(m: Manifest) -> Iterator[tuple[dict[str, Any], tuple[str | int, ...]]]:
    spec = mapping_at(m.data, "spec")
    group = m.api_group
    if (group, m.kind) in {
        ("kustomize.toolkit.fluxcd.io", "Kustomization"),
        ("image.toolkit.fluxcd.io", "ImageUpdateAutomation"),
    }:
        if isinstance(spec.get("sourceRef"), dict):
            yield spec["sourceRef"], ("spec", "sourceRef")
    elif (group, m.kind) == ("image.toolkit.fluxcd.io", "ImagePolicy"):
        ref = spec.get("imageRepositoryRef")
        if isinstance(ref, dict):
            yield {**ref, "kind": "ImageRepository"}, ("spec", "imageRepositoryRef", "name")
    elif (group, m.kind) == ("helm.toolkit.fluxcd.io", "HelmRelease"):
        if isinstance(spec.get("chartRef"), dict):
            yield spec["chartRef"], ("spec", "chartRef")
        chart = spec.get("chart")
        if isinstance(chart, dict) and isinstance(chart.get("spec"), dict):
            ref = chart["spec"].get("sourceRef")
            if isinstance(ref, dict):
                yield ref, ("spec", "chart", "spec", "sourceRef")


def exists(cluster: Cluster, kind: str, namespace: str, name: str) -> bool:
    if (kind, namespace, name) == ("GitRepository", "flux-system", "flux-system") or (
        (kind, namespace, name) in cluster.sources
    ):
        return True
    return any(m.kind == kind and m.name == name and m.namespace == namespace for m in cluster.manifests)


def check(ctx: Context) -> Iterator[Finding]:
    for cluster in ctx.clusters:
        for m in cluster.manifests:
            for ref, path in refs(m):
                kind = str(ref.get("kind") or "GitRepository")
                namespace = str(ref.get("namespace") or m.namespace)
                name = str(ref.get("name", ""))
                if kind in SOURCE_KINDS and not exists(cluster, kind, namespace, name):
                    yield finding_at(
                        RULE, m, f"{kind} {namespace}/{name} is not applied in cluster {cluster.name}", *path
                    )
