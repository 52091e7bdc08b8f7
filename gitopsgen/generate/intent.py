"""Fleet and cluster intent: the dataclasses, their defaults and checks, and their YAML form.

The fleet defaults live in ``gitopsgen.yaml`` at the repository root; each cluster's intent in
``intent/clusters/<name>.yaml``, where no Flux Kustomization builds it. Everything under
``base/``, ``overlays/<name>/`` and ``clusters/<name>/prefect/`` is generated from these.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from ..errors import InputError
from ..yamlio import no_yaml_aliases
from . import checks, generatorversion

FLEET_FILE = "gitopsgen.yaml"
INTENT_DIR = "intent/clusters"

DEFAULT_CHART_REPOSITORY = "https://prefecthq.github.io/prefect-helm"
DEFAULT_CHART_VERSION = "2026.8.18172642"
DEFAULT_PREFECT_VERSION = "3.8.3"
DEFAULT_PYTHON_VERSION = "3.11"
DEFAULT_PREFECT_IMAGE = "prefecthq/prefect"

_UID_NAMESPACE = uuid.UUID("6f0b4d5e-2f54-4c39-9b1e-6a1f3c1d8e42")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def _to_yaml_dict(obj: Any) -> Any:
    """Dataclass → plain dict with camelCase keys, dropping None values."""
    if hasattr(obj, "__dataclass_fields__"):
        out: dict[str, Any] = {}
        for f in fields(obj):
            value = getattr(obj, f.name)
            if value is None:
                continue
            out[_camel(f.name)] = _to_yaml_dict(value)
        return out
    if isinstance(obj, list):
        return [_to_yaml_dict(v) for v in obj]
    return obj


def _from_yaml_dict(cls: type, data: Any, where: str) -> Any:
    """Plain dict with camelCase keys → dataclass ``cls``; unknown keys are errors."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(f"{where} must be a mapping")
    by_key = {_camel(f.name): f for f in fields(cls)}
    unknown = sorted(set(map(str, data)) - set(by_key))
    if unknown:
        raise InputError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(by_key))})")
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        f = by_key[key]
        nested = _NESTED.get((cls.__name__, f.name))
        if nested is not None and value is not None:
            if f.name == "worker_pools":
                if not isinstance(value, list):
                    raise InputError(f"{where}.{key} must be a list")
                value = [_from_yaml_dict(nested, v, f"{where}.{key}[{i}]") for i, v in enumerate(value)]
            else:
                value = _from_yaml_dict(nested, value, f"{where}.{key}")
        kwargs[f.name] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required key is missing
        raise InputError(f"{where}: {exc}") from None


# ---------------------------------------------------------------- fleet


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


MAX_VALUES_DEPTH = 32


def check_values(values: object, where: str, depth: int = 0) -> None:
    """Chart values: a mapping with string keys all the way down (lists and scalars as leaves), not too deep."""
    if not isinstance(values, dict):
        raise InputError(f"{where} must be a mapping of chart values")
    if depth > MAX_VALUES_DEPTH:
        raise InputError(f"{where}: chart values nest deeper than {MAX_VALUES_DEPTH} mappings")
    for key, value in values.items():
        if not isinstance(key, str):
            raise InputError(f"{where}: key {key!r} is not a string")
        if isinstance(value, dict):
            check_values(value, f"{where}.{key}", depth + 1)


_NESTED: dict[tuple[str, str], type] = {
    ("Fleet", "git"): GitSettings,
    ("Fleet", "registry"): RegistrySettings,
    ("Fleet", "prefect"): PrefectSettings,
    ("Fleet", "chart"): ChartSettings,
    ("Fleet", "notifications"): NotificationSettings,
    ("Fleet", "image_automation"): AutomationSettings,
    ("ClusterIntent", "server"): ServerIntent,
    ("ClusterIntent", "worker_pools"): WorkPoolIntent,
    ("ClusterIntent", "registry"): RegistrySettings,
    ("ClusterIntent", "image_automation"): ImageAutomationIntent,
    ("ServerIntent", "database"): DatabaseIntent,
    ("ServerIntent", "redis"): RedisIntent,
    ("ServerIntent", "ingress"): IngressIntent,
}


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


# ---------------------------------------------------------------- checks


def check_registry_credentials(registry: RegistrySettings, where: str) -> None:
    """The credentials mode and its age recipients (``age1…``, X25519) are valid."""
    if registry.credentials is not None and registry.credentials not in CREDENTIAL_MODES:
        raise InputError(
            f"{where}: registry credentials {registry.credentials!r}: choose one of {', '.join(CREDENTIAL_MODES)}"
        )
    recipients = registry.age_recipients
    if recipients is not None:
        if not isinstance(recipients, list) or not all(isinstance(r, str) for r in recipients):
            raise InputError(f"{where}: registry.ageRecipients must be a list of age1… recipients")
        from .agekeys import check_recipient

        for recipient in recipients:
            check_recipient(recipient)


def check_fleet(fleet: Fleet) -> Fleet:
    generatorversion.check(fleet.generator_version, FLEET_FILE)
    checks.version(fleet.prefect.version, "Prefect version")
    checks.version(fleet.chart.version, "chart version")
    checks.image_repository(fleet.prefect.image, "Prefect image")
    if not fleet.chart.repository.startswith(("https://", "http://", "oci://")):
        raise InputError(f"chart repository {fleet.chart.repository!r} is not an http(s):// or oci:// URL")
    if not fleet.git.url or any(c.isspace() for c in fleet.git.url):
        raise InputError(f"git URL {fleet.git.url!r} is not a URL")
    checks.dns_subdomain(fleet.git.flux_source, "Flux source name")
    if fleet.registry.host:
        checks.registry_host(fleet.registry.host)
    if fleet.registry.secret_store:
        checks.dns_subdomain(fleet.registry.secret_store, "secret store")
    check_registry_credentials(fleet.registry, FLEET_FILE)
    checks.dns_subdomain(fleet.notifications.token_secret, "token secret")
    check_push(fleet.image_automation.push, f"{FLEET_FILE}: imageAutomation.push")
    if fleet.image_automation.push_branch is not None:
        from ..publish.changes import check_branch_name

        branch = fleet.image_automation.branch_for("cluster")
        check_branch_name(branch, f"{FLEET_FILE}: imageAutomation.pushBranch")
        if "{cluster}" not in fleet.image_automation.push_branch:
            raise InputError(
                f"{FLEET_FILE}: imageAutomation.pushBranch {fleet.image_automation.push_branch!r} needs '{{cluster}}': "
                "each cluster's image updates go to a branch of their own"
            )
    return fleet


def check_push(value: object, what: str) -> None:
    if value not in PUSH_MODES:
        raise InputError(f"{what} {value!r}: choose one of {', '.join(PUSH_MODES)}")


def check_cluster(c: ClusterIntent) -> ClusterIntent:
    checks.dns_label(c.name, "cluster name", max_len=40)
    try:
        uuid.UUID(str(c.cluster_uid))
    except ValueError:
        raise InputError(f"cluster UID {c.cluster_uid!r} is not a UUID") from None
    s = c.server
    if s.mode not in ("single", "ha"):
        raise InputError(f"server mode {s.mode!r} is not one of: single, ha")
    checks.positive_int(s.replicas, "server replicas", 1, 50)
    if s.mode == "single":
        if s.replicas != 1:
            raise InputError("server mode single runs SQLite on one volume: replicas must be 1 (use --server-mode ha)")
        if s.database or s.redis:
            raise InputError("server mode single uses SQLite: PostgreSQL and Redis settings need --server-mode ha")
        checks.quantity(s.storage_size, "storage size")
        if s.storage_class:
            checks.dns_subdomain(s.storage_class, "storage class")
    else:
        if s.replicas < 2:
            raise InputError("server mode ha needs at least 2 API replicas (--server-replicas)")
        if s.database is None:
            raise InputError(
                "server mode ha needs PostgreSQL: --database-secret NAME (an existing Secret with the connection URL)"
            )
        checks.dns_subdomain(s.database.secret, "database secret")
        checks.dns_subdomain(s.database.key.replace("_", "-").replace(".", "-").lower(), "database secret key")
        if s.redis is None or not s.redis.secret:
            raise InputError(
                "server mode ha needs --redis-secret NAME: an existing Secret with keys redis-password and "
                "docket-url (Prefect's Docket falls back to memory://, which works with one server only)"
            )
        if s.redis.host:
            checks.dns_subdomain(s.redis.host, "Redis host")
            if s.redis.image:
                raise InputError("redis.image is the bundled Redis's image: an external Redis (host) takes none")
        if s.redis.image:
            name, sep, tag = s.redis.image.rpartition(":")
            if not sep or "/" in tag or "/" not in name:
                raise InputError(f"redis image {s.redis.image!r} is not REGISTRY/REPOSITORY:TAG")
            checks.registry_host(name.split("/", 1)[0])
            checks.image_repository(name, "redis image")
            checks.image_tag(tag, "redis image tag")
        checks.positive_int(s.redis.port, "Redis port", 1, 65535)
        checks.dns_subdomain(s.redis.secret, "Redis secret")
    if s.ingress is not None:
        checks.dns_subdomain(s.ingress.host, "ingress host")
        if s.ingress.class_name:
            checks.dns_subdomain(s.ingress.class_name, "ingress class")
        if s.ingress.tls_secret:
            checks.dns_subdomain(s.ingress.tls_secret, "TLS secret")
    if s.auth_secret:
        checks.dns_subdomain(s.auth_secret, "auth secret")
    if not c.worker_pools:
        raise InputError(f"cluster {c.name}: at least one worker pool is needed (--worker-pool NAME)")
    seen: set[str] = set()
    for p in c.worker_pools:
        checks.dns_label(p.name, "worker pool name", max_len=30)
        if p.name in seen:
            raise InputError(f"worker pool {p.name!r} is given twice")
        seen.add(p.name)
        if p.namespaces is not None and (
            not isinstance(p.namespaces, list) or len(set(map(str, p.namespaces))) != len(p.namespaces)
        ):
            raise InputError(f"namespaces of pool {p.name} must be a list of distinct namespaces")
        for ns in [p.namespace, *(p.namespaces or [])]:
            checks.dns_label(ns, f"flow-run namespace of pool {p.name}")
            if ns in ("prefect", "flux-system", "kube-system", "kube-public", "default"):
                raise InputError(f"flow-run namespace of pool {p.name} must not be {ns!r}")
        if not isinstance(p.queues, list):
            raise InputError(f"queues of pool {p.name} must be a list")
        for q in p.queues:
            if not isinstance(q, str) or not q or any(ch.isspace() or ch == "," for ch in q):
                raise InputError(f"work queue {q!r} of pool {p.name} is not a queue name")
        checks.positive_int(p.replicas, f"replicas of pool {p.name}", 1, 100)
        checks.positive_int(p.finished_job_ttl, f"finished-job TTL of pool {p.name}", 0, 31_536_000)
        for what, value in (
            ("CPU request", p.cpu_request),
            ("memory request", p.memory_request),
            ("CPU limit", p.cpu_limit),
            ("memory limit", p.memory_limit),
        ):
            if value is not None:
                checks.quantity(value, f"{what} of pool {p.name}")
        for what, request, limit, key in (
            ("CPU", p.cpu_request, p.cpu_limit, "cpu-limit"),
            ("memory", p.memory_request, p.memory_limit, "memory-limit"),
        ):
            if request and limit and checks.quantity_value(request) > checks.quantity_value(limit):
                raise InputError(
                    f"pool {p.name}: {what} request {request} is above its {what} limit {limit} (the API server "
                    f"rejects every flow-run Job of the pool): raise the limit ({key}={request} or more) or lower "
                    "the request"
                )
        if p.flow_image:
            checks.image_repository(p.flow_image, f"flow image of pool {p.name}")
            if not p.flow_image_tag:
                raise InputError(f"flow image of pool {p.name} needs a tag (--flow-image REPO:TAG)")
            checks.image_tag(p.flow_image_tag, f"flow image tag of pool {p.name}")
            if p.flow_image_policy:
                checks.semver_range(p.flow_image_policy)
        elif p.flow_image_policy:
            raise InputError(f"pool {p.name}: an image policy needs a flow image (--flow-image REPO)")
    if c.registry.host:
        checks.registry_host(c.registry.host)
    if c.registry.secret_store:
        checks.dns_subdomain(c.registry.secret_store, "secret store")
    if c.registry.remote_key is not None and (not c.registry.remote_key or "\n" in c.registry.remote_key):
        raise InputError(f"registry remote key {c.registry.remote_key!r} is not a key")
    check_registry_credentials(c.registry, f"cluster {c.name}")
    if c.image_automation.enabled:
        checks.duration(c.image_automation.interval, "image scan interval")
        if c.image_automation.prefect_policy:
            checks.semver_range(c.image_automation.prefect_policy)
    if c.image_automation.push is not None:
        check_push(c.image_automation.push, "imageAutomation.push")
    if c.values is not None:
        check_values(c.values, "values")
        unknown = sorted(set(c.values) - set(VALUES_COMPONENTS))
        if unknown:
            raise InputError(f"values: unknown component {unknown[0]!r} (known: {', '.join(VALUES_COMPONENTS)})")
        for component, values in c.values.items():
            check_values(values, f"values.{component}")
    for p in c.worker_pools:
        if p.values is not None:
            check_values(p.values, f"values of pool {p.name}")
    if c.prefect_version:
        checks.version(c.prefect_version, "Prefect version")
    if c.chart_version:
        checks.version(c.chart_version, "chart version")
    return c


# ---------------------------------------------------------------- files


def _load_yaml(path: Path, root: Path) -> Any:
    rel = path.relative_to(root).as_posix()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", file=rel) from None
    no_yaml_aliases(text, rel)
    try:
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"invalid YAML: {problem}", file=rel, line=(mark.line + 1) if mark else None) from None


def load_fleet(root: Path) -> Fleet:
    path = root / FLEET_FILE
    if not path.is_file():
        raise InputError(f"{root} has no {FLEET_FILE}: not a gitopsgen repository (run 'gitopsgen init' first)")
    data = _load_yaml(path, root)
    fleet = _from_yaml_dict(Fleet, data, FLEET_FILE)
    try:
        return check_fleet(fleet)
    except InputError as exc:
        raise InputError(str(exc), file=FLEET_FILE) from None


def intent_path(root: Path, name: str) -> Path:
    return root / INTENT_DIR / f"{name}.yaml"


def load_cluster(root: Path, name: str) -> ClusterIntent:
    path = intent_path(root, name)
    rel = path.relative_to(root).as_posix()
    if not path.is_file():
        raise InputError(f"no cluster named {name!r} ({rel} does not exist)")
    cluster = _from_yaml_dict(ClusterIntent, _load_yaml(path, root), rel)
    try:
        check_cluster(cluster)
    except InputError as exc:
        raise InputError(str(exc), file=rel) from None
    if cluster.name != name:
        raise InputError(f"name {cluster.name!r} does not match the file name", file=rel)
    return cluster


def cluster_names(root: Path) -> list[str]:
    directory = root / INTENT_DIR
    if not directory.is_dir():
        return []
    return sorted(p.stem for p in directory.glob("*.yaml") if p.is_file())


def fleet_to_dict(fleet: Fleet) -> dict[str, Any]:
    return _to_yaml_dict(fleet)


def cluster_to_dict(cluster: ClusterIntent) -> dict[str, Any]:
    return _to_yaml_dict(cluster)


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
    "check_cluster",
    "check_fleet",
    "cluster_names",
    "cluster_to_dict",
    "default_cluster_uid",
    "fleet_to_dict",
    "intent_path",
    "load_cluster",
    "load_fleet",
    "resolve",
]
