"""The Prefect server component: HelmRepository + HelmRelease of the prefect-server chart.

Base (fleet-wide): the chart source and the values every cluster shares. Overlay (per cluster): the
server mode (SQLite on a volume, or HA with PostgreSQL, Redis and separate background services),
ingress with the UI's external API URL, basic auth, chart version.
"""

from __future__ import annotations

from typing import Any

from ...yamlio import Block
from ..intent import Fleet, Resolved
from . import protect
from .common import (
    COMPONENT_SERVER,
    HELM_REPOSITORY,
    PREFECT_NAMESPACE,
    PRUNE_DISABLED,
    PULL_SECRET,
    SERVER_RELEASE,
    SERVER_SERVICE_PORT,
    VAR_SERVER_TAG,
    Files,
    Obj,
    base_dir,
    kustomization,
    meta,
    obj,
    overlay_dir,
    patch_for,
    subst,
)

HELM_API = "helm.toolkit.fluxcd.io/v2"
SOURCE_API = "source.toolkit.fluxcd.io/v1"
# the API pods' labels as the chart renders them (release name = the HelmRelease's name under Flux)
SERVER_POD_LABELS = {
    "app.kubernetes.io/name": "prefect-server",
    "app.kubernetes.io/instance": SERVER_RELEASE,
    "app.kubernetes.io/component": "server",
}
# the bundled Redis: the bitnami image the chart pins, pulled through the fleet registry (a mirror of
# docker.io/bitnamilegacy/redis) unless the intent names another; sized for Prefect's messaging streams
REDIS_IMAGE_PATH = "bitnamilegacy/redis"
REDIS_IMAGE_TAG = "8.2.1"
REDIS_RESOURCES = {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}}
# the chart's database migration Job (templates/pre-upgrade-hook.yaml: HA mode only, a
# post-install,pre-upgrade hook run as the release's own ServiceAccount) and the ServiceAccount the
# generator gives it instead, so that it can run before the release creates anything
MIGRATION_JOB = f"{SERVER_RELEASE}-db-migrations"
MIGRATION_SERVICE_ACCOUNT = f"{SERVER_RELEASE}-migrations"
MIGRATION_HOOKS = "pre-install,pre-upgrade"


def server_api_url() -> str:
    """The in-cluster API URL of the prefect-server Service, for workers."""
    return f"http://{SERVER_RELEASE}.{PREFECT_NAMESPACE}.svc.cluster.local:{SERVER_SERVICE_PORT}/api"


def helm_repository(fleet: Fleet) -> Obj:
    spec: dict[str, Any] = {"interval": "1h", "url": fleet.chart.repository}
    if fleet.chart.repository.startswith("oci://"):
        spec = {"type": "oci", **spec}
    return obj(SOURCE_API, "HelmRepository", HELM_REPOSITORY, PREFECT_NAMESPACE, spec)


def helm_release(name: str, chart: str, version: str, values: dict[str, Any]) -> Obj:
    """A HelmRelease of a chart from the fleet's HelmRepository, with remediation and drift detection."""
    return obj(
        HELM_API,
        "HelmRelease",
        name,
        PREFECT_NAMESPACE,
        {
            "interval": "30m",
            "timeout": "10m",
            "chart": {
                "spec": {
                    "chart": chart,
                    "version": version,
                    "sourceRef": {"kind": "HelmRepository", "name": HELM_REPOSITORY, "namespace": PREFECT_NAMESPACE},
                    "interval": "12h",
                }
            },
            "install": {"remediation": {"retries": 3}},
            "upgrade": {"cleanupOnFail": True, "remediation": {"retries": 3, "remediateLastFailure": True}},
            "driftDetection": {"mode": "enabled"},
            "values": values,
        },
    )


def base(fleet: Fleet) -> Files:
    d = base_dir(COMPONENT_SERVER)
    values: dict[str, Any] = {
        "global": {
            "prefect": {
                "image": {
                    "repository": fleet.prefect.image,
                    "prefectTag": subst(VAR_SERVER_TAG),
                    "pullSecrets": [PULL_SECRET],
                }
            }
        },
        "server": {
            # the server never calls the Kubernetes API
            "automountServiceAccountToken": False,
            "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
        },
        "serviceAccount": {"automountServiceAccountToken": False},
        "postgresql": {"enabled": False},
    }
    # no usage telemetry from self-hosted servers (API and background services)
    values["global"]["prefect"]["env"] = [{"name": "PREFECT_SERVER_ANALYTICS_ENABLED", "value": "false"}]
    return {
        f"{d}/kustomization.yaml": [kustomization(["helmrepository.yaml", "helmrelease.yaml"])],
        f"{d}/helmrepository.yaml": [helm_repository(fleet)],
        f"{d}/helmrelease.yaml": [helm_release(SERVER_RELEASE, "prefect-server", fleet.chart.version, values)],
    }


def server_values(r: Resolved) -> dict[str, Any]:
    s = r.cluster.server
    server: dict[str, Any] = {"replicaCount": s.replicas}
    values: dict[str, Any] = {"server": server}
    if s.ingress is not None:
        server["uiConfig"] = {"prefectUiApiUrl": f"https://{s.ingress.host}/api"}
    if s.auth_secret:
        server["basicAuth"] = {"enabled": True, "existingSecret": s.auth_secret}
    if s.mode == "single":
        # one pod on a ReadWriteOnce volume: never two at once
        server["updateStrategy"] = {"type": "Recreate"}
        persistence: dict[str, Any] = {"enabled": True, "size": s.storage_size}
        if s.storage_class:
            persistence["storageClassName"] = s.storage_class
        values["sqlite"] = {"enabled": True, "persistence": persistence}
        values["backgroundServices"] = {"runAsSeparateDeployment": False}
    else:
        assert s.database is not None
        # spread the API replicas over nodes (preferred: a small cluster still schedules them all)
        server["affinity"] = {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 100,
                        "podAffinityTerm": {
                            "labelSelector": {"matchLabels": dict(SERVER_POD_LABELS)},
                            "topologyKey": "kubernetes.io/hostname",
                        },
                    }
                ]
            }
        }
        values["sqlite"] = {"enabled": False}
        values["secret"] = {"create": False}
        values["externalDatabase"] = {
            "existingSecret": s.database.secret,
            "connectionStringSecretKey": s.database.key,
        }
        redis = s.redis
        assert redis is not None and redis.secret  # checked by intentcheck.check_cluster
        messaging_redis: dict[str, Any] = {"host": redis.host, "port": redis.port} if redis.host else {}
        messaging_redis["existingSecret"] = redis.secret
        values["backgroundServices"] = {
            "runAsSeparateDeployment": True,
            "messaging": {"redis": messaging_redis, "docket": {"existingSecret": redis.secret}},
        }
        values["redis"] = (
            {"enabled": False}
            if redis.host
            else {
                # The server chart reads the bundled Redis password from a Secret named like the Redis
                # subchart (and ignores messaging.redis.existingSecret), and the subchart creates no
                # Secret when auth.existingSecret is set: naming the subchart after the Secret makes
                # both sides meet. Redis is then reachable at <secret>-headless.
                "enabled": True,
                "fullnameOverride": redis.secret,
                "auth": {"existingSecret": redis.secret, "existingSecretPasswordKey": "redis-password"},
                "image": redis_image(r),
                "master": {
                    "resourcesPreset": "none",
                    "resources": REDIS_RESOURCES,
                    # the claim outlives the StatefulSet (and Flux never prunes it)
                    "persistence": {"annotations": dict(PRUNE_DISABLED)},
                    "persistentVolumeClaimRetentionPolicy": {
                        "enabled": True,
                        "whenDeleted": "Retain",
                        "whenScaled": "Retain",
                    },
                },
            }
        )
        if not redis.host:
            # the chart refuses an image relocated from docker.io/bitnami unless told it is intended
            values["global"] = {"security": {"allowInsecureImages": True}}
    if s.ingress is not None:
        ingress: dict[str, Any] = {
            "enabled": True,
            "host": {"hostname": s.ingress.host, "path": "/", "pathType": "Prefix"},
        }
        if s.ingress.class_name:
            ingress["className"] = s.ingress.class_name
        if s.ingress.tls_secret:
            ingress["extraTls"] = [{"hosts": [s.ingress.host], "secretName": s.ingress.tls_secret}]
        values["ingress"] = ingress
    return values


def redis_image(r: Resolved) -> dict[str, Any]:
    """The bundled Redis image in the bitnami chart's keys: the intent's ``redis.image`` or the chart's
    pinned image under the fleet registry, with the registry's pull secret."""
    assert r.cluster.server.redis is not None
    ref = r.cluster.server.redis.image or f"{r.registry_host}/{REDIS_IMAGE_PATH}:{REDIS_IMAGE_TAG}"
    name, _, tag = ref.rpartition(":")
    registry, _, repository = name.partition("/")
    return {"registry": registry, "repository": repository, "tag": tag, "pullSecrets": [PULL_SECRET]}


def pod_disruption_budget() -> Obj:
    """At most one API replica down at a time for voluntary disruptions (drains, upgrades)."""
    return obj(
        "policy/v1",
        "PodDisruptionBudget",
        SERVER_RELEASE,
        PREFECT_NAMESPACE,
        {"maxUnavailable": 1, "selector": {"matchLabels": dict(SERVER_POD_LABELS)}},
    )


def migration_service_account() -> Obj:
    """The migration Job's ServiceAccount, applied with the HelmRelease (before Helm installs anything).
    The Job never calls the Kubernetes API: no token."""
    return obj("v1", "ServiceAccount", MIGRATION_SERVICE_ACCOUNT, PREFECT_NAMESPACE, automountServiceAccountToken=False)


def migrate_before_install_post_renderer() -> Obj:
    """A HelmRelease ``postRenderers`` entry making the chart's migration Job a ``pre-install,pre-upgrade``
    hook run as :data:`MIGRATION_SERVICE_ACCOUNT`.

    The chart makes it a ``post-install`` hook, and Helm runs post-install hooks only once the release's
    workloads are ready (helm-controller waits by default) — but the HA API replicas run with
    ``PREFECT_SERVER_DATABASE_MIGRATE_ON_START=false`` and never get ready on an empty database, so a
    first install would never finish. Before the install, the Job needs nothing the release creates but
    its ServiceAccount (the database Secret and the pull Secret come from the registry-credentials
    Kustomization this one depends on), hence a ServiceAccount of its own. Hooks only reach
    post-renderers with ``postRenderStrategy: combined`` (Helm 4's default, set explicitly)."""
    patch = (
        f"apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {MIGRATION_JOB}\n  annotations:\n"
        f"    helm.sh/hook: {MIGRATION_HOOKS}\nspec:\n  template:\n    spec:\n"
        f"      serviceAccountName: {MIGRATION_SERVICE_ACCOUNT}\n"
    )
    return {
        "kustomize": {
            "patches": [
                {
                    "target": {"group": "batch", "version": "v1", "kind": "Job", "name": MIGRATION_JOB},
                    "patch": Block(patch),
                }
            ]
        }
    }


def overlay(r: Resolved) -> Files:
    d = overlay_dir(r.name, COMPONENT_SERVER)
    spec: dict[str, Any] = {"chart": {"spec": {"version": r.chart_version}}, "values": server_values(r)}
    if r.cluster.server.mode == "single":  # the SQLite volume survives a prune and a Helm uninstall
        spec["postRenderers"] = [protect.keep_volume_post_renderer(protect.SQLITE_CLAIM)]
    else:  # the migration Job runs before the API replicas, which need a migrated database to get ready
        spec["postRenderStrategy"] = "combined"
        spec["postRenderers"] = [migrate_before_install_post_renderer()]
    patch = {
        "apiVersion": HELM_API,
        "kind": "HelmRelease",
        "metadata": meta(SERVER_RELEASE, PREFECT_NAMESPACE, labels=False),
        "spec": spec,
    }
    resources = ["../../../base/prefect-server"]
    files: Files = {f"{d}/helmrelease-patch.yaml": [patch]}
    if r.cluster.server.mode == "ha":
        files[f"{d}/pod-disruption-budget.yaml"] = [pod_disruption_budget()]
        files[f"{d}/migration-service-account.yaml"] = [migration_service_account()]
        resources += ["pod-disruption-budget.yaml", "migration-service-account.yaml"]
    files[f"{d}/kustomization.yaml"] = [
        kustomization(resources, [patch_for("helmrelease-patch.yaml", "HelmRelease", SERVER_RELEASE)])
    ]
    return files
