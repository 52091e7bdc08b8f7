"""F003 depends-on-missing: a Kustomization or HelmRelease depends on an object the cluster does not have."""

from __future__ import annotations

from collections.abc import Iterator

from ..fields import mapping_at
from ..findings import Finding, Rule, Severity
from ..model import Context, Manifest
from . import finding_at

SCOPE = "cluster"  # see rules/__init__.py
RULE = Rule(
    "F003",
    "depends-on-missing",
    "flux",
    Severity.ERROR,
    "A dependsOn entry names a Kustomization or HelmRelease that does not exist in the cluster.",
    "Flux Kustomizations and HelmReleases wait for every object in spec.dependsOn to be ready before they "
    "reconcile. An entry naming an object of the same kind that the cluster does not have (a typo, a renamed "
    "or removed component, a namespace mismatch — it defaults to the referring object's namespace) blocks the "
    "dependent forever with 'dependency not found'.",
)

DEPENDENT_KINDS = {("kustomize.toolkit.fluxcd.io", "Kustomization"), ("helm.toolkit.fluxcd.io", "HelmRelease")}


def dependencies(m: Manifest) -> Iterator[tuple[int, str, str]]:
    """(index, namespace, name) of each dependsOn entry of a Flux Kustomization or HelmRelease."""
    if (m.api_group, m.kind) not in DEPENDENT_KINDS:
        return
    spec = mapping_at(m.data, "spec")
    for i, dep in enumerate(spec.get("dependsOn") or []):
        if isinstance(dep, dict) and dep.get("name"):
            yield i, str(dep.get("namespace") or m.namespace), str(dep["name"])


def check(ctx: Context) -> Iterator[Finding]:
    for cluster in ctx.clusters:
        present = {(m.api_group, m.kind, m.namespace, m.name) for m in cluster.manifests}
        for m in cluster.manifests:
            for i, namespace, name in dependencies(m):
                if (m.api_group, m.kind, namespace, name) not in present:
                    message = f"dependsOn {m.kind} {namespace}/{name} does not exist in cluster {cluster.name}"
                    yield finding_at(RULE, m, message, "spec", "dependsOn", i)
