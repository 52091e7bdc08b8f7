"""Data safety: what Flux and Helm must never delete, and what removing a cluster deletes or keeps (pure).

Namespaces, the server's volumes and the server's Secrets carry ``kustomize.toolkit.fluxcd.io/prune:
disabled``, so renaming or removing a Flux Kustomization (or the cluster) leaves them in place. Volumes
are rendered by Helm, not applied by kustomize-controller, so the SQLite claim also gets
``helm.sh/resource-policy: keep`` (through a HelmRelease post-renderer: the chart has no annotation
value for it) and the bundled Redis keeps its claims through the StatefulSet's retention policy.
:func:`removal` lists, for ``remove-cluster``, what Flux deletes and what stays.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...yamlio import Block
from ..intent import Resolved
from .common import PREFECT_NAMESPACE, PRUNE_DISABLED, SERVER_RELEASE, Obj
from .secrets import server_secrets

HELM_KEEP = {"helm.sh/resource-policy": "keep"}
SQLITE_CLAIM = f"{SERVER_RELEASE}-sqlite"  # the prefect-server chart's templates/pvc.yaml


def keep_volume_post_renderer(claim: str) -> Obj:
    """A HelmRelease ``postRenderers`` entry annotating the chart's claim ``claim`` so that neither Flux nor a
    Helm uninstall deletes it."""
    annotations = "".join(f"    {k}: {v}\n" for k, v in sorted({**HELM_KEEP, **PRUNE_DISABLED}.items()))
    patch = f"apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: {claim}\n  annotations:\n{annotations}"
    return {
        "kustomize": {
            "patches": [
                {"target": {"version": "v1", "kind": "PersistentVolumeClaim", "name": claim}, "patch": Block(patch)}
            ]
        }
    }


def redis_claim(redis_name: str) -> str:
    """The claim of the bundled Redis (bitnami StatefulSet ``<name>-master``, template ``redis-data``)."""
    return f"redis-data-{redis_name}-master-0"


@dataclass(frozen=True)
class Removal:
    """What Flux deletes once a cluster's ``clusters/<c>/prefect/`` is gone, and what it leaves."""

    deleted: list[str]
    kept: list[str]


def removal(r: Resolved) -> Removal:
    s = r.cluster.server
    releases = [SERVER_RELEASE, *(f"prefect-worker-{p.name}" for p in r.cluster.worker_pools)]
    deleted = [
        f"HelmReleases {', '.join(releases)} (uninstalled: server, workers"
        + (", bundled Redis" if s.redis is not None and not s.redis.host else "")
        + ")",
        f"everything else applied from clusters/{r.name}/prefect/ (Flux Kustomizations, pull secrets, flow-run "
        "service accounts, alerts)",
    ]
    kept = [f"namespaces {', '.join([PREFECT_NAMESPACE, *r.flow_namespaces])}"]
    if s.mode == "single":
        kept.append(f"the SQLite volume {PREFECT_NAMESPACE}/{SQLITE_CLAIM}")
    if s.redis is not None and not s.redis.host and s.redis.secret:
        kept.append(f"the Redis volume {PREFECT_NAMESPACE}/{redis_claim(s.redis.secret)}")
    names = sorted({n.name for n in server_secrets(r)})
    if names:
        kept.append(f"the server Secrets {', '.join(names)}")
    return Removal(deleted, kept)
