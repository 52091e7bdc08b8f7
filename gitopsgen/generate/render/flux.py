"""Flux wiring of one cluster, in clusters/<name>/prefect/: Kustomizations, image automation, alerts.

The Flux Kustomizations apply the overlays in order (credentials → server → workers; image
automation after the credentials), from the bootstrap GitRepository. Image tags reach the
manifests through ``postBuild.substitute``; the values carry the setter markers image automation
updates. A GitLab commit-status Provider and an Alert report every reconciliation.
"""

from __future__ import annotations

from typing import Any

from ...yamlio import Marked, setter_marker
from ..intent import Resolved
from . import images
from .common import (
    COMPONENT_CREDENTIALS,
    COMPONENT_IMAGES,
    COMPONENT_SERVER,
    COMPONENT_WORKER,
    FLUX_KS,
    FLUX_NAMESPACE,
    VAR_SERVER_TAG,
    VAR_WORKER_TAG,
    Files,
    Obj,
    cluster_dir,
    flow_image_var,
    kustomization,
    obj,
    overlay_dir,
)

KUSTOMIZE_API = "kustomize.toolkit.fluxcd.io/v1"
NOTIFICATION_API = "notification.toolkit.fluxcd.io/v1beta3"
PROVIDER_NAME = "gitlab-commit-status"
SOPS_AGE_SECRET = "sops-age"  # flux-system Secret with the age private key (key: age.agekey), created by hand
ALERT_NAME = "prefect"


def flux_kustomization(
    r: Resolved,
    component: str,
    depends_on: list[str],
    substitute: dict[str, Any] | None = None,
) -> Obj:
    spec: dict[str, Any] = {
        "interval": "10m",
        "retryInterval": "2m",
        "timeout": "10m",
    }
    if depends_on:
        spec["dependsOn"] = [{"name": FLUX_KS[d]} for d in depends_on]
    spec["sourceRef"] = {"kind": "GitRepository", "name": r.fleet.git.flux_source, "namespace": FLUX_NAMESPACE}
    spec["path"] = f"./{overlay_dir(r.name, component)}"
    spec["prune"] = True
    spec["wait"] = True
    if substitute:
        spec["postBuild"] = {"substitute": substitute}
    return obj(KUSTOMIZE_API, "Kustomization", FLUX_KS[component], FLUX_NAMESPACE, spec)


def _tag(value: str, policy: str, automated: bool) -> str:
    return Marked(value, setter_marker(FLUX_NAMESPACE, policy, "tag")) if automated else value


def substitutions(r: Resolved) -> tuple[dict[str, Any], dict[str, Any]]:
    """postBuild.substitute of the server and of the workers Kustomization."""
    automated = r.cluster.image_automation.enabled
    server = {VAR_SERVER_TAG: _tag(r.server_tag, images.SERVER_POLICY, automated)}
    workers: dict[str, Any] = {VAR_WORKER_TAG: _tag(r.worker_tag, images.WORKER_POLICY, automated)}
    automated_pools = {p.name for p in images.automated_pools(r)} if automated else set()
    for pool in r.cluster.worker_pools:
        image = r.flow_image(pool)
        if pool.name in automated_pools:
            image = Marked(image, setter_marker(FLUX_NAMESPACE, images.flow_policy_name(pool)))
        workers[flow_image_var(pool.name)] = image
    return server, workers


def notifications(r: Resolved) -> list[Obj]:
    provider = obj(
        NOTIFICATION_API,
        "Provider",
        PROVIDER_NAME,
        FLUX_NAMESPACE,
        {
            "type": "gitlab",
            "address": r.fleet.gitlab_project_url(),
            "secretRef": {"name": r.fleet.notifications.token_secret},
        },
    )
    sources = [{"kind": "Kustomization", "name": FLUX_KS[c], "namespace": FLUX_NAMESPACE} for c in components(r)]
    alert = obj(
        NOTIFICATION_API,
        "Alert",
        ALERT_NAME,
        FLUX_NAMESPACE,
        {
            "providerRef": {"name": PROVIDER_NAME},
            "eventSeverity": "info",
            "eventSources": sources,
            "eventMetadata": {"cluster": r.name},
        },
    )
    return [provider, alert]


def components(r: Resolved) -> list[str]:
    out = [COMPONENT_CREDENTIALS, COMPONENT_SERVER, COMPONENT_WORKER]
    if r.cluster.image_automation.enabled:
        out.append(COMPONENT_IMAGES)
    return out


def render(r: Resolved) -> Files:
    d = cluster_dir(r.name)
    server_vars, worker_vars = substitutions(r)
    credentials = flux_kustomization(r, COMPONENT_CREDENTIALS, [])
    if r.sops:  # kustomize-controller decrypts the pull secrets with the age key in this Secret
        credentials["spec"]["decryption"] = {"provider": "sops", "secretRef": {"name": SOPS_AGE_SECRET}}
    sync = [
        credentials,
        flux_kustomization(r, COMPONENT_SERVER, [COMPONENT_CREDENTIALS], server_vars),
        flux_kustomization(r, COMPONENT_WORKER, [COMPONENT_SERVER], worker_vars),
    ]
    files: Files = {}
    resources = ["prefect.yaml"]
    if r.cluster.image_automation.enabled:
        sync.append(flux_kustomization(r, COMPONENT_IMAGES, [COMPONENT_CREDENTIALS]))
        files[f"{d}/image-update-automation.yaml"] = [images.update_automation(r)]
        resources.append("image-update-automation.yaml")
    files[f"{d}/prefect.yaml"] = sync
    files[f"{d}/notifications.yaml"] = notifications(r)
    resources.append("notifications.yaml")
    files[f"{d}/kustomization.yaml"] = [kustomization(resources)]
    return files
