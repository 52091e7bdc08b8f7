"""Names, paths and small object builders shared by the renderers (pure, no I/O)."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]
# path relative to the repository root → the documents of that file
Files = dict[str, list[Any]]

PREFECT_NAMESPACE = "prefect"
FLUX_NAMESPACE = "flux-system"
HELM_REPOSITORY = "prefect"
SERVER_RELEASE = "prefect-server"
WORKER_RELEASE = "prefect-worker"
PULL_SECRET = "registry-credentials"
FLOW_RUN_SERVICE_ACCOUNT = "prefect-flow-runner"
SERVER_SERVICE_PORT = 4200

COMPONENT_CREDENTIALS = "registry-credentials"
COMPONENT_SERVER = "prefect-server"
COMPONENT_WORKER = "prefect-worker"
COMPONENT_IMAGES = "image-automation"

# Flux Kustomization names (flux-system namespace), one per component
FLUX_KS = {
    COMPONENT_CREDENTIALS: "prefect-registry-credentials",
    COMPONENT_SERVER: "prefect-server",
    COMPONENT_WORKER: "prefect-workers",
    COMPONENT_IMAGES: "prefect-image-automation",
}

# postBuild.substitute variable names: the scalars Flux image automation can bump
VAR_SERVER_TAG = "prefect_server_tag"
VAR_WORKER_TAG = "prefect_worker_tag"

KUSTOMIZE_API = "kustomize.config.k8s.io/v1beta1"
ESO_API = "external-secrets.io/v1"
# on stateful objects (namespaces, volumes, server Secrets): Flux never garbage-collects them
PRUNE_DISABLED = {"kustomize.toolkit.fluxcd.io/prune": "disabled"}
LABELS = {"app.kubernetes.io/part-of": "prefect", "app.kubernetes.io/managed-by": "gitopsgen"}


def base_dir(component: str) -> str:
    return f"base/{component}"


def overlay_dir(cluster: str, component: str) -> str:
    return f"overlays/{cluster}/{component}"


def cluster_dir(cluster: str) -> str:
    """Where the cluster's Flux wiring lives (inside clusters/<name>/, beside flux-system/)."""
    return f"clusters/{cluster}/prefect"


def flow_image_var(pool: str) -> str:
    return "flow_image_" + pool.replace("-", "_")


def subst(var: str) -> str:
    """A Flux postBuild substitution reference."""
    return "${" + var + "}"


def meta(name: str, namespace: str | None = None, labels: bool = True) -> Obj:
    m: Obj = {"name": name}
    if namespace is not None:
        m["namespace"] = namespace
    if labels:
        m["labels"] = dict(LABELS)
    return m


def obj(api_version: str, kind: str, name: str, namespace: str | None, spec: Any = None, **extra: Any) -> Obj:
    o: Obj = {"apiVersion": api_version, "kind": kind, "metadata": meta(name, namespace)}
    o.update(extra)
    if spec is not None:
        o["spec"] = spec
    return o


def namespace(name: str) -> Obj:
    """A Namespace Flux never prunes: deleting it would delete the volumes and Secrets inside."""
    ns = obj("v1", "Namespace", name, None)
    ns["metadata"]["annotations"] = dict(PRUNE_DISABLED)
    return ns


def kustomization(resources: list[str], patches: list[Obj] | None = None, **extra: Any) -> Obj:
    k: Obj = {"apiVersion": KUSTOMIZE_API, "kind": "Kustomization"}
    k.update(extra)
    k["resources"] = resources
    if patches:
        k["patches"] = patches
    return k


def patch_for(path: str, kind: str, name: str) -> Obj:
    return {"path": path, "target": {"kind": kind, "name": name}}
