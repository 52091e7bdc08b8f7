"""P008 stateful-volume-prune-unprotected: volumes (and the namespaces holding them) that Flux would prune.

Follows each PersistentVolumeClaim (and StatefulSet volumeClaimTemplates) back to what applies it: a Flux
Kustomization with ``prune: true`` deletes the PVC, or the HelmRelease whose uninstall deletes it, or the
Namespace holding it, when that object leaves the build (a renamed path, a removed cluster, a refactoring).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

from ..findings import Finding, Rule, Severity
from ..model import Cluster, Context, Manifest
from . import finding_at
from ._workloads import value_at

SCOPE = "cluster"  # see rules/__init__.py
RULE = Rule(
    id="P008",
    name="stateful-volume-prune-unprotected",
    stage="semantics",
    severity=Severity.WARNING,
    summary="A PersistentVolumeClaim, the HelmRelease rendering it or its Namespace can be pruned by Flux.",
    doc=(
        "kustomize-controller deletes every object a Kustomization with prune: true applied once it is no longer "
        "in the build: renaming a path, moving a file or removing a cluster deletes the PersistentVolumeClaim and "
        "with it the data (a Prefect server's SQLite database, Redis' volume). The same happens to a "
        "HelmRelease whose chart renders the PVC (helm-controller uninstalls the release), and to the Namespace "
        "holding a PVC (deleting a namespace deletes everything in it). Annotate such objects with "
        "kustomize.toolkit.fluxcd.io/prune: disabled (a PVC rendered by a chart may instead carry "
        "helm.sh/resource-policy: keep). Reported for PVCs and for StatefulSets with volumeClaimTemplates, at the "
        "object whose deletion would take the volume. Deleting a StatefulSet keeps the claims of its "
        "volumeClaimTemplates unless its persistentVolumeClaimRetentionPolicy.whenDeleted is Delete, so only "
        "the Namespace can take those (or the StatefulSet itself with Delete). A warning: deleting state can be "
        "intended."
    ),
)

PRUNE = "kustomize.toolkit.fluxcd.io/prune"


def _annotation(m: Manifest, key: str) -> str:
    value = value_at(m.data, ("metadata", "annotations", key))
    return str(value) if value is not None else ""


def _applier(cluster: Cluster, m: Manifest) -> tuple[str, Manifest | None, str]:
    """(kind of what applied ``m``, that object when found, its namespace/name) from ``m.via``."""
    kind, _, ref = m.via.partition(" ")
    ns, _, name = ref.partition("/")
    return kind, cluster.find(kind, ns, name) if kind else None, ref


def _prunes(cluster: Cluster, m: Manifest) -> str:
    """The Flux Kustomization that would prune ``m`` ("" when none would)."""
    if _annotation(m, PRUNE) == "disabled":
        return ""
    kind, applier, ref = _applier(cluster, m)
    if kind != "Kustomization":
        return ""
    if applier is None:  # the bootstrap Kustomization, implicit when its files are not committed, prunes
        return ref if ref == "flux-system/flux-system" else ""
    return ref if value_at(applier.data, ("spec", "prune")) is True else ""


def _deletes_volumes(m: Manifest) -> bool:
    """Deleting ``m`` deletes its volumes: a PVC, or a StatefulSet whose claims are deleted with it (Kubernetes
    keeps a StatefulSet's claims by default: persistentVolumeClaimRetentionPolicy.whenDeleted Retain)."""
    if m.kind == "PersistentVolumeClaim":
        return True
    return bool(value_at(m.data, ("spec", "persistentVolumeClaimRetentionPolicy", "whenDeleted")) == "Delete")


def _holders(cluster: Cluster) -> Iterator[Manifest]:
    for m in cluster.manifests:
        if m.kind == "PersistentVolumeClaim" and m.api_group == "":
            yield m
        elif m.kind == "StatefulSet" and m.api_group == "apps" and value_at(m.data, ("spec", "volumeClaimTemplates")):
            yield m


def _warn(reported: set[str], m: Manifest, message: str) -> Iterator[Finding]:
    """One finding per object (a HelmRelease rendering several volumes is reported once)."""
    if m.ref not in reported:
        reported.add(m.ref)
        yield finding_at(RULE, m, message, "metadata", "annotations", PRUNE)


def check(ctx: Context) -> Iterator[Finding]:
    for cluster in ctx.clusters:
        reported: set[str] = set()
        warn = functools.partial(_warn, reported)
        namespaces: dict[str, str] = {}
        for m in _holders(cluster):
            what = f"{m.kind} {m.namespace}/{m.name}"
            namespaces.setdefault(m.namespace, what)
            if not _deletes_volumes(m):
                continue  # only deleting its Namespace takes the volume
            if ks := _prunes(cluster, m):
                yield from warn(
                    m, f"{what} is pruned by Kustomization {ks} when it leaves the build: annotate it {PRUNE}: disabled"
                )
            kind, release, _ = _applier(cluster, m)
            if kind == "HelmRelease" and release is not None and _annotation(m, "helm.sh/resource-policy") != "keep":
                if ks := _prunes(cluster, release):
                    yield from warn(
                        release,
                        f"{release.ref} renders {what}; pruning it (Kustomization {ks}) "
                        f"uninstalls the release and deletes the volume: annotate the "
                        f"HelmRelease {PRUNE}: disabled",
                    )
        for ns, what in sorted(namespaces.items()):
            namespace = cluster.find("Namespace", "", ns)
            if namespace is not None and (ks := _prunes(cluster, namespace)):
                yield from warn(
                    namespace,
                    f"Namespace {ns} holds {what}; pruning it (Kustomization {ks}) deletes the "
                    f"volume: annotate it {PRUNE}: disabled",
                )
