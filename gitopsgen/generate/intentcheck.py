"""The checks of fleet and cluster intent: what ``gitopsgen.yaml`` and ``intent/clusters/<name>.yaml`` may say,
each refused with one line naming the key."""

from __future__ import annotations

import uuid

from ..errors import InputError
from . import checks, generatorversion
from .intent import CREDENTIAL_MODES, FLEET_FILE, PUSH_MODES, VALUES_COMPONENTS, ClusterIntent, Fleet, RegistrySettings

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
