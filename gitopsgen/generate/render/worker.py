"""The Prefect worker component: one HelmRelease of the prefect-worker chart per work pool.

Base (fleet-wide): a HelmRelease ``prefect-worker`` talking to the in-cluster server. Overlay (per
cluster): ``pools/<pool>/`` instantiates the base with ``nameSuffix: -<pool>`` and a patch with the
pool's work pool, queues, replicas, cluster UID, and its base job template (a JSON string); the
chart's Role and RoleBinding go into the pool's flow-run namespace, so the worker manages Jobs and
reads Pods only there; the further namespaces a pool's deployments may target (``namespaces``) get the
same Role and a binding here. The flow-run ServiceAccount of each flow-run namespace lives here too.
"""

from __future__ import annotations

from typing import Any

from ...yamlio import Block
from ..intent import Fleet, Resolved, WorkPoolIntent
from . import jobtemplate, queues
from .common import (
    COMPONENT_WORKER,
    FLOW_RUN_SERVICE_ACCOUNT,
    PREFECT_NAMESPACE,
    PULL_SECRET,
    VAR_WORKER_TAG,
    WORKER_RELEASE,
    Files,
    Obj,
    base_dir,
    flow_image_var,
    kustomization,
    meta,
    obj,
    overlay_dir,
    patch_for,
    subst,
)
from .server import HELM_API, helm_release, server_api_url

WORKER_RESOURCES = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}


def base(fleet: Fleet) -> Files:
    d = base_dir(COMPONENT_WORKER)
    values = {
        "worker": {
            "apiConfig": "selfHostedServer",
            "selfHostedServerApiConfig": {"apiUrl": server_api_url()},
            "image": {
                "repository": fleet.prefect.image,
                "prefectTag": subst(VAR_WORKER_TAG),
                "pullSecrets": [PULL_SECRET],
            },
            "config": {"type": "kubernetes", "installPolicy": "if-not-present"},
            "resources": WORKER_RESOURCES,
            # --with-healthcheck and an HTTP probe on :8080/health: a stuck worker is restarted
            "livenessProbe": {"enabled": True},
        },
    }
    return {
        f"{d}/kustomization.yaml": [kustomization(["helmrelease.yaml"])],
        f"{d}/helmrelease.yaml": [helm_release(WORKER_RELEASE, "prefect-worker", fleet.chart.version, values)],
    }


def release_name(pool: WorkPoolIntent) -> str:
    return f"{WORKER_RELEASE}-{pool.name}"


def base_job_template(r: Resolved, pool: WorkPoolIntent) -> dict[str, Any]:
    """The pool's base job template; its default image is a Flux substitution variable."""
    return jobtemplate.derive(
        jobtemplate.prefect_default(),
        image=subst(flow_image_var(pool.name)),
        namespace=pool.namespace,
        service_account=FLOW_RUN_SERVICE_ACCOUNT,
        pull_secrets=[PULL_SECRET],
        finished_job_ttl=pool.finished_job_ttl,
        cpu_request=pool.cpu_request,
        memory_request=pool.memory_request,
        cpu_limit=pool.cpu_limit,
        memory_limit=pool.memory_limit,
    )


def pool_values(r: Resolved, pool: WorkPoolIntent) -> dict[str, Any]:
    config: dict[str, Any] = {"workPool": pool.name}
    if pool.queues:
        config["workQueues"] = list(pool.queues)
    # the namespaces the worker's observer watches (pod events, crash detection): every one it runs Jobs in
    config["jobNamespace"] = ",".join(pool.all_namespaces)
    config["baseJobTemplate"] = {
        "name": f"{release_name(pool)}-base-job-template",
        "configuration": Block(jobtemplate.to_json(base_job_template(r, pool))),
    }
    worker: dict[str, Any] = {
        "clusterUid": r.cluster.cluster_uid,
        "replicaCount": pool.replicas,
        "config": config,
    }
    if r.cluster.server.auth_secret:
        worker["selfHostedServerApiConfig"] = {
            "basicAuth": {"enabled": True, "existingSecret": r.cluster.server.auth_secret}
        }
    if pool.queues:  # priorities in the order given: the first queue is the highest
        image = f"{r.fleet.prefect.image}:{subst(VAR_WORKER_TAG)}"
        worker["initContainer"] = {
            "extraContainers": [
                queues.init_container(
                    pool.name,
                    list(pool.queues),
                    image,
                    server_api_url(),
                    r.cluster.server.auth_secret,
                    WORKER_RESOURCES,
                )
            ]
        }
    return {
        "fullnameOverride": release_name(pool),
        "worker": worker,
        "role": {"namespace": pool.namespace},
    }


# the prefect-worker chart's Role rules (templates/role.yaml, no autoSecret): what the worker needs in a
# namespace it runs flow-run Jobs in
WORKER_ROLE_RULES = [
    {"apiGroups": [""], "resources": ["events", "pods", "pods/log", "pods/status"], "verbs": ["get", "watch", "list"]},
    {
        "apiGroups": ["batch"],
        "resources": ["jobs"],
        "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
    },
]


def extra_namespace_rbac(pool: WorkPoolIntent) -> list[Obj]:
    """The chart puts its Role and RoleBinding into the pool's default namespace only: the same Role, bound to
    the worker's ServiceAccount, in each further namespace the pool's deployments may target."""
    name = release_name(pool)
    out: list[Obj] = []
    for ns in pool.all_namespaces[1:]:
        out.append(obj("rbac.authorization.k8s.io/v1", "Role", name, ns, rules=WORKER_ROLE_RULES))
        out.append(
            obj(
                "rbac.authorization.k8s.io/v1",
                "RoleBinding",
                name,
                ns,
                roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                subjects=[{"kind": "ServiceAccount", "name": name, "namespace": PREFECT_NAMESPACE}],
            )
        )
    return out


def overlay(r: Resolved) -> Files:
    d = overlay_dir(r.name, COMPONENT_WORKER)
    files: Files = {}
    resources = ["flow-run-service-accounts.yaml"]
    for pool in r.cluster.worker_pools:
        pd = f"{d}/pools/{pool.name}"
        resources.append(f"pools/{pool.name}")
        patch = {
            "apiVersion": HELM_API,
            "kind": "HelmRelease",
            "metadata": meta(WORKER_RELEASE, PREFECT_NAMESPACE, labels=False),
            "spec": {"chart": {"spec": {"version": r.chart_version}}, "values": pool_values(r, pool)},
        }
        files[f"{pd}/kustomization.yaml"] = [
            kustomization(
                ["../../../../../base/prefect-worker"],
                [patch_for("helmrelease-patch.yaml", "HelmRelease", WORKER_RELEASE)],
                nameSuffix=f"-{pool.name}",
            )
        ]
        files[f"{pd}/helmrelease-patch.yaml"] = [patch]
    files[f"{d}/flow-run-service-accounts.yaml"] = [
        obj(
            "v1",
            "ServiceAccount",
            FLOW_RUN_SERVICE_ACCOUNT,
            ns,
            automountServiceAccountToken=False,
            imagePullSecrets=[{"name": PULL_SECRET}],
        )
        for ns in r.flow_namespaces
    ]
    rbac = [o for pool in r.cluster.worker_pools for o in extra_namespace_rbac(pool)]
    if rbac:
        files[f"{d}/worker-rbac.yaml"] = rbac
        resources.append("worker-rbac.yaml")
    files[f"{d}/kustomization.yaml"] = [kustomization(resources)]
    return files
