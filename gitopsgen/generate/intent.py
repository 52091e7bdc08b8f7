"""Fleet and cluster intent: the dataclasses, their defaults, and a cluster resolved against the fleet.
Their checks are :mod:`gitopsgen.generate.intentcheck`, their files :mod:`gitopsgen.generate.intentfiles`.

The fleet defaults live in ``gitopsgen.yaml`` at the repository root; each cluster's intent in
``intent/clusters/<name>.yaml``, where no Flux Kustomization builds it. Everything under
``base/``, ``overlays/<name>/`` and ``clusters/<name>/prefect/`` is generated from these.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError

FLEET_FILE = "gitopsgen.yaml"
INTENT_DIR = "intent/clusters"

DEFAULT_CHART_REPOSITORY = "https://prefecthq.github.io/prefect-helm"
DEFAULT_CHART_VERSION = "2026.8.18172642"
DEFAULT_PREFECT_VERSION = "3.8.3"
DEFAULT_PYTHON_VERSION = "3.11"
DEFAULT_PREFECT_IMAGE = "prefecthq/prefect"

_UID_NAMESPACE = uuid.UUID("6f0b4d5e-2f54-4c39-9b1e-6a1f3c1d8e42")


@dataclass(frozen=True)
class GitSettings:
    url: str = "ssh://git@gitlab.example.com/platform/fleet.git"
    branch: str = "main"
    flux_source: str = "flux-system"


CREDENTIALS_EXTERNAL_SECRETS = "external-secrets"
CREDENTIALS_SOPS = "sops"
CREDENTIAL_MODES = (CREDENTIALS_EXTERNAL_SECRETS, CREDENTIALS_SOPS)


@dataclass(frozen=True)
class RegistrySettings:
    host: str | None = None
    secret_store: str | None = None
    remote_key: str | None = None
    # how pull secrets reach the clusters: ExternalSecrets from a ClusterSecretStore (default), or
    # SOPS-encrypted Secrets in git that kustomize-controller decrypts with an age key
    credentials: str | None = None
    age_recipients: list[str] | None = None


@dataclass(frozen=True)
class PrefectSettings:
    version: str = DEFAULT_PREFECT_VERSION
    python: str = DEFAULT_PYTHON_VERSION
    image: str = DEFAULT_PREFECT_IMAGE


@dataclass(frozen=True)
class ChartSettings:
    repository: str = DEFAULT_CHART_REPOSITORY
    version: str = DEFAULT_CHART_VERSION


@dataclass(frozen=True)
class NotificationSettings:
    gitlab_project: str | None = None
    token_secret: str = "gitlab-token"
    token_remote_key: str = "gitops/gitlab-token"


PUSH_MERGE_REQUEST = "merge-request"
PUSH_DIRECT = "direct"
PUSH_MODES = (PUSH_MERGE_REQUEST, PUSH_DIRECT)
DEFAULT_PUSH_BRANCH = "image-updates/{cluster}"


@dataclass(frozen=True)
class AutomationSettings:
    author_name: str = "fluxcdbot"
    author_email: str = "fluxcdbot@users.noreply.gitlab.com"
    # how image updates reach the branch Flux follows: "merge-request" (default: a per-cluster branch
    # pushed with GitLab merge-request push options, reviewed and validated like any change) or
    # "direct" (commits on git.branch itself; a protected branch rejects them)
    push: str = PUSH_MERGE_REQUEST
    push_branch: str | None = None  # merge-request mode: branch name, "{cluster}" is replaced (default below)

    def branch_for(self, cluster: str) -> str:
        return (self.push_branch or DEFAULT_PUSH_BRANCH).replace("{cluster}", cluster)


@dataclass(frozen=True)
class Fleet:
    # the gitopsgen release that generated the tree: the fleet's CI installs exactly this one, and
    # 'generate --check' names a different one instead of showing a diff
    generator_version: str | None = None
    git: GitSettings = field(default_factory=GitSettings)
    registry: RegistrySettings = field(default_factory=RegistrySettings)
    prefect: PrefectSettings = field(default_factory=PrefectSettings)
    chart: ChartSettings = field(default_factory=ChartSettings)
    notifications: NotificationSettings = field(default_factory=NotificationSettings)
    image_automation: AutomationSettings = field(default_factory=AutomationSettings)

    def gitlab_project_url(self) -> str:
        """The https URL of the GitLab project, for the commit-status Provider."""
        if self.notifications.gitlab_project:
            return self.notifications.gitlab_project
        url = self.git.url
        if url.startswith("ssh://"):
            rest = url[len("ssh://") :].split("@", 1)[-1]
            host, _, path = rest.partition("/")
            host = host.split(":", 1)[0]
            url = f"https://{host}/{path}"
        elif "@" in url and ":" in url.split("@", 1)[1] and not url.startswith("http"):
            host, _, path = url.split("@", 1)[1].partition(":")
            url = f"https://{host}/{path}"
        return url.removesuffix(".git")


# ---------------------------------------------------------------- cluster


@dataclass(frozen=True)
class DatabaseIntent:
    secret: str
    key: str = "connection-string"


@dataclass(frozen=True)
class RedisIntent:
    host: str | None = None  # None: the chart's bundled Redis
    port: int = 6379
    secret: str | None = None  # keys: redis-password, docket-url
    image: str | None = None  # bundled Redis image REGISTRY/REPO:TAG (bitnami layout); default: fleet registry


@dataclass(frozen=True)
class IngressIntent:
    host: str
    class_name: str | None = None
    tls_secret: str | None = None


@dataclass(frozen=True)
class ServerIntent:
    mode: str = "single"
    replicas: int = 1
    storage_size: str = "5Gi"
    storage_class: str | None = None
    database: DatabaseIntent | None = None
    redis: RedisIntent | None = None
    ingress: IngressIntent | None = None
    auth_secret: str | None = None


@dataclass(frozen=True)
class WorkPoolIntent:
    name: str
    namespace: str = "prefect-flows"
    queues: list[str] = field(default_factory=list)
    replicas: int = 1
    flow_image: str | None = None
    flow_image_tag: str | None = None
    flow_image_policy: str | None = None
    finished_job_ttl: int = 3600
    cpu_request: str = "500m"
    memory_request: str = "512Mi"
    cpu_limit: str | None = None
    memory_limit: str = "2Gi"
    # further flow-run namespaces the pool's deployments may target (job_variables.namespace): the worker's
    # Role, the flow-run ServiceAccount, the pull and auth Secrets are provided there too
    namespaces: list[str] | None = None

    @property
    def all_namespaces(self) -> list[str]:
        """The default flow-run namespace first, then the others the pool's deployments may target."""
        return [self.namespace, *(ns for ns in self.namespaces or [] if ns != self.namespace)]

    values: dict[str, Any] | None = None  # prefect-worker chart values of this pool's release (over the cluster's)


@dataclass(frozen=True)
class ImageAutomationIntent:
    enabled: bool = False
    prefect_policy: str | None = None  # default: patch releases of the pinned Prefect version
    interval: str = "10m"
    push: str | None = None  # merge-request or direct; None: the fleet's imageAutomation.push


@dataclass(frozen=True)
class ClusterIntent:
    name: str
    cluster_uid: str
    server: ServerIntent = field(default_factory=ServerIntent)
    worker_pools: list[WorkPoolIntent] = field(default_factory=list)
    registry: RegistrySettings = field(default_factory=RegistrySettings)
    image_automation: ImageAutomationIntent = field(default_factory=ImageAutomationIntent)
    prefect_version: str | None = None
    chart_version: str | None = None
    # chart values per component (prefect-server, prefect-worker), merged over what gitopsgen renders
    values: dict[str, Any] | None = None


VALUES_COMPONENTS = ("prefect-server", "prefect-worker")


def default_cluster_uid(name: str) -> str:
    """A stable cluster UID for ``worker.clusterUid`` (Helm ``lookup`` is empty under Flux)."""
    return str(uuid.uuid5(_UID_NAMESPACE, name))


@dataclass(frozen=True)
class Resolved:
    """A cluster's intent with the fleet defaults applied: what the renderers read."""

    fleet: Fleet
    cluster: ClusterIntent
    registry_host: str
    secret_store: str | None  # None: SOPS credentials and no store (the GitLab token Secret is the user's)
    remote_key: str
    prefect_version: str
    chart_version: str
    credentials: str = CREDENTIALS_EXTERNAL_SECRETS
    age_recipients: tuple[str, ...] = ()

    @property
    def sops(self) -> bool:
        return self.credentials == CREDENTIALS_SOPS

    @property
    def name(self) -> str:
        return self.cluster.name

    @property
    def server_tag(self) -> str:
        return f"{self.prefect_version}-python{self.fleet.prefect.python}"

    @property
    def worker_tag(self) -> str:
        return f"{self.prefect_version}-python{self.fleet.prefect.python}-kubernetes"

    def flow_image(self, pool: WorkPoolIntent) -> str:
        """The full default flow-run image reference of a pool."""
        if pool.flow_image:
            return f"{pool.flow_image}:{pool.flow_image_tag}"
        return f"{self.fleet.prefect.image}:{self.server_tag}"

    @property
    def image_push(self) -> str:
        """How image automation pushes: merge-request (a branch of its own) or direct."""
        return self.cluster.image_automation.push or self.fleet.image_automation.push

    @property
    def flow_namespaces(self) -> list[str]:
        return sorted({ns for p in self.cluster.worker_pools for ns in p.all_namespaces})


def resolve(fleet: Fleet, cluster: ClusterIntent) -> Resolved:
    host = cluster.registry.host or fleet.registry.host
    store = cluster.registry.secret_store or fleet.registry.secret_store
    if not host:
        raise InputError(
            f"cluster {cluster.name}: no registry; pass --registry HOST or set registry.host in {FLEET_FILE}"
        )
    credentials = cluster.registry.credentials or fleet.registry.credentials or CREDENTIALS_EXTERNAL_SECRETS
    recipients = cluster.registry.age_recipients or fleet.registry.age_recipients or []
    if credentials == CREDENTIALS_SOPS and not recipients:
        raise InputError(
            f"cluster {cluster.name}: SOPS registry credentials need an age recipient: pass --age-recipient age1… "
            f"or set registry.ageRecipients"
        )
    if not store and credentials != CREDENTIALS_SOPS:
        raise InputError(
            f"cluster {cluster.name}: no ClusterSecretStore for the registry credentials; pass --secret-store "
            f"NAME or set registry.secretStore in {FLEET_FILE} (or use --registry-credentials sops)"
        )
    remote_key = cluster.registry.remote_key or fleet.registry.remote_key or f"prefect/{cluster.name}/registry"
    return Resolved(
        fleet=fleet,
        cluster=cluster,
        registry_host=host,
        secret_store=store,
        remote_key=remote_key,
        prefect_version=cluster.prefect_version or fleet.prefect.version,
        chart_version=cluster.chart_version or fleet.chart.version,
        credentials=credentials,
        age_recipients=tuple(sorted(set(recipients))),
    )


__all__ = [
    "FLEET_FILE",
    "INTENT_DIR",
    "AutomationSettings",
    "ChartSettings",
    "ClusterIntent",
    "DatabaseIntent",
    "Fleet",
    "GitSettings",
    "ImageAutomationIntent",
    "IngressIntent",
    "NotificationSettings",
    "PrefectSettings",
    "RedisIntent",
    "RegistrySettings",
    "Resolved",
    "ServerIntent",
    "WorkPoolIntent",
    "default_cluster_uid",
    "resolve",
]
