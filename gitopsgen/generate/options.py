"""Command-line options → intent (pure): the fleet ``init`` writes, a cluster ``add-cluster`` writes, a work pool
given as ``NAME[:key=value,...]``.

The options arrive as the dict click built (option name → value, ``None`` where not given); nothing here reads
files, prints or prompts. A cluster template (``--from``) keeps every setting the options do not give.
"""

from __future__ import annotations

import re
from dataclasses import asdict, replace
from typing import Any

from ..errors import InputError
from . import checks, intentcheck
from . import intent as it

# every option build_cluster reads, not given: a caller passes only what it sets
CLUSTER_OPTIONS: dict[str, Any] = {
    "server_mode": None,
    "server_replicas": None,
    "storage_size": None,
    "storage_class": None,
    "database_secret": None,
    "database_key": "connection-string",
    "redis": None,
    "redis_secret": None,
    "ingress_host": None,
    "ingress_class": None,
    "tls_secret": None,
    "auth_secret": None,
    "worker_pool": (),
    "flow_image": None,
    "image_policy": None,
    "prefect_policy": None,
    "image_automation": None,
    "registry_host": None,
    "secret_store": None,
    "registry_remote_key": None,
    "registry_credentials": None,
    "age_recipient": (),
    "cluster_uid": None,
    "prefect_version": None,
    "chart_version": None,
}

# every option fleet_from_options reads, not given
FLEET_OPTIONS: dict[str, Any] = {
    "git_url": None,
    "branch": None,
    "registry_host": None,
    "secret_store": None,
    "registry_credentials": None,
    "age_recipient": (),
    "prefect_version": None,
    "chart_version": None,
    "chart_repository": None,
    "gitlab_project": None,
}


def fleet_from_options(options: dict[str, Any], generator_version: str) -> it.Fleet:
    """The fleet defaults ``init`` writes: gitopsgen's defaults, then the options given (checked)."""
    opts = {**FLEET_OPTIONS, **options}
    fleet = it.Fleet(generator_version=generator_version)
    git_changes: dict[str, Any] = {}
    if opts["git_url"]:
        git_changes["url"] = opts["git_url"]
    if opts["branch"]:
        git_changes["branch"] = opts["branch"]
    fleet = replace(fleet, git=replace(fleet.git, **git_changes))
    fleet = replace(
        fleet,
        registry=it.RegistrySettings(
            host=opts["registry_host"],
            secret_store=opts["secret_store"] or None,
            credentials=opts["registry_credentials"],
            age_recipients=list(opts["age_recipient"]) or None,
        ),
    )
    if opts["prefect_version"]:
        fleet = replace(fleet, prefect=replace(fleet.prefect, version=opts["prefect_version"]))
    chart_changes = {k: opts[f"chart_{k}"] for k in ("version", "repository") if opts[f"chart_{k}"]}
    fleet = replace(fleet, chart=replace(fleet.chart, **chart_changes))
    if opts["gitlab_project"]:
        fleet = replace(fleet, notifications=replace(fleet.notifications, gitlab_project=opts["gitlab_project"]))
    intentcheck.check_fleet(fleet)
    return fleet


_POOL_KEYS = {
    "queues",
    "replicas",
    "namespace",
    "namespaces",
    "flow-image",
    "policy",
    "ttl",
    "cpu",
    "memory",
    "cpu-limit",
    "memory-limit",
}


def split_image(ref: str, what: str) -> tuple[str, str | None]:
    """REPO[:TAG] → (repo, tag); a ':' before the last '/' belongs to a registry port."""
    if "@" in ref:
        raise InputError(f"{what} {ref!r}: give REPO[:TAG], not a digest")
    head, sep, tail = ref.rpartition(":")
    if sep and "/" not in tail:
        return head, tail
    return ref, None


def lowest_version(semver_range: str) -> str | None:
    """The version a range starts from, e.g. '>=1.2.0 <2.0.0' → '1.2.0' (for the first flow image tag)."""
    m = re.match(r"^\s*(>=|\^|~|=)?\s*v?([0-9]+\.[0-9]+\.[0-9]+)(\s|$)", semver_range)
    return m.group(2) if m else None


def parse_pool(spec: str, defaults: dict[str, Any]) -> it.WorkPoolIntent:
    """NAME[:key=value,...] with keys queues (a+b), replicas, namespace, namespaces (a+b: the namespaces the
    pool's deployments may target, the first the default), flow-image, policy, ttl, cpu, memory, cpu-limit,
    memory-limit."""
    name, _, rest = spec.partition(":")
    values: dict[str, Any] = {"name": name, **defaults}
    if rest:
        for item in re.split(r",(?=[a-z-]+=)", rest):
            key, sep, value = item.partition("=")
            if not sep or key not in _POOL_KEYS:
                raise InputError(
                    f"--worker-pool {spec!r}: {item!r} is not KEY=VALUE with KEY one of {', '.join(sorted(_POOL_KEYS))}"
                )
            if key == "queues":
                values["queues"] = [q for q in value.split("+") if q]
            elif key == "namespaces":
                values["namespaces"] = [n for n in value.split("+") if n]
            elif key in ("replicas", "ttl"):
                try:
                    number = int(value)
                except ValueError:
                    raise InputError(f"--worker-pool {spec!r}: {key} {value!r} is not an integer") from None
                values["replicas" if key == "replicas" else "finished_job_ttl"] = number
            elif key == "flow-image":
                values["flow_image_ref"] = value
            elif key == "policy":
                values["flow_image_policy"] = value
            else:
                values[
                    {
                        "namespace": "namespace",
                        "cpu": "cpu_request",
                        "memory": "memory_request",
                        "cpu-limit": "cpu_limit",
                        "memory-limit": "memory_limit",
                    }[key]
                ] = value
    if values.get("namespaces") is not None:  # namespaces=a+b: a is the default unless namespace= says otherwise
        given = values["namespaces"]
        values.setdefault("namespace", given[0] if given else it.WorkPoolIntent.namespace)
        values["namespaces"] = [n for n in given if n != values["namespace"]] or None
    memory, default_limit = values.get("memory_request"), it.WorkPoolIntent.memory_limit
    if (
        memory
        and "memory_limit" not in values
        and default_limit
        and checks.quantity_value(checks.quantity(memory, f"--worker-pool {spec!r}: memory"))
        > checks.quantity_value(default_limit)
    ):
        values["memory_limit"] = memory  # the default limit follows a larger request; a limit given is kept
    ref = values.pop("flow_image_ref", None)
    if ref:
        repo, tag = split_image(ref, "flow image")
        values["flow_image"] = repo
        values["flow_image_tag"] = tag or (
            lowest_version(values["flow_image_policy"]) if values.get("flow_image_policy") else None
        )
    return it.WorkPoolIntent(**values)


def server_from_options(base: it.ServerIntent, options: dict[str, Any]) -> it.ServerIntent:
    """``base`` (the defaults, or the template's server) with the server options given."""
    o = {**CLUSTER_OPTIONS, **options}
    s = base
    if o["server_mode"]:
        s = replace(s, mode=o["server_mode"])
        if o["server_mode"] == "single":
            s = replace(s, replicas=1, database=None, redis=None)
        elif s.replicas < 2 and not o["server_replicas"]:
            s = replace(s, replicas=2)
    if o["server_replicas"] is not None:
        s = replace(s, replicas=o["server_replicas"])
    if o["storage_size"]:
        s = replace(s, storage_size=o["storage_size"])
    if o["storage_class"]:
        s = replace(s, storage_class=o["storage_class"])
    if o["database_secret"]:
        s = replace(s, database=it.DatabaseIntent(secret=o["database_secret"], key=o["database_key"]))
    if o["redis"] or o["redis_secret"]:
        redis_now = s.redis or it.RedisIntent()
        host, port = redis_now.host, redis_now.port
        if o["redis"]:
            if o["redis"] == "bundled":
                host, port = None, 6379
            else:
                host, _, port_text = o["redis"].partition(":")
                if port_text:
                    if not port_text.isdigit():
                        raise InputError(f"--redis {o['redis']!r}: port {port_text!r} is not a number")
                    port = int(port_text)
        s = replace(s, redis=it.RedisIntent(host=host, port=port, secret=o["redis_secret"] or redis_now.secret))
    if s.mode == "ha" and s.redis is None:
        s = replace(s, redis=it.RedisIntent())
    if o["ingress_host"] or o["ingress_class"] or o["tls_secret"]:
        if s.ingress is None and not o["ingress_host"]:
            raise InputError("--ingress-class and --tls-secret need --ingress-host")
        ingress_now = s.ingress or it.IngressIntent(host=o["ingress_host"])
        s = replace(  # a setting not given keeps the template's (--from)
            s,
            ingress=replace(
                ingress_now,
                host=o["ingress_host"] or ingress_now.host,
                class_name=o["ingress_class"] or ingress_now.class_name,
                tls_secret=o["tls_secret"] or ingress_now.tls_secret,
            ),
        )
    if o["auth_secret"]:
        s = replace(s, auth_secret=o["auth_secret"])
    return s


def build_cluster(name: str, template: it.ClusterIntent | None, options: dict[str, Any]) -> it.ClusterIntent:
    """The new cluster's intent: ``template`` (from --from) or defaults, then the options (checked)."""
    o = {**CLUSTER_OPTIONS, **options}
    if template is not None:
        if template.server.ingress is not None and not o["ingress_host"]:
            raise InputError(
                f"cluster {template.name} has ingress host {template.server.ingress.host}: give {name} its own "
                "with --ingress-host"
            )
        cluster = replace(template, name=name, cluster_uid=o["cluster_uid"] or it.default_cluster_uid(name))
    else:
        cluster = it.ClusterIntent(name=name, cluster_uid=o["cluster_uid"] or it.default_cluster_uid(name))
    cluster = replace(cluster, server=server_from_options(cluster.server, o))
    pool_defaults: dict[str, Any] = {}
    if o["flow_image"]:
        pool_defaults["flow_image_ref"] = o["flow_image"]
    if o["image_policy"]:
        pool_defaults["flow_image_policy"] = o["image_policy"]
    if o["worker_pool"]:
        pools = [parse_pool(spec, pool_defaults) for spec in o["worker_pool"]]
    elif template is not None:
        pools = list(template.worker_pools)
        if pool_defaults:
            pools = [parse_pool(p.name, {**pool_dict(p), **pool_defaults}) for p in pools]
    else:
        pools = [parse_pool("default", pool_defaults)]
    cluster = replace(cluster, worker_pools=pools)
    registry = cluster.registry
    if o["registry_host"]:
        registry = replace(registry, host=o["registry_host"])
    if o["secret_store"]:
        registry = replace(registry, secret_store=o["secret_store"])
    if o["registry_remote_key"]:
        registry = replace(registry, remote_key=o["registry_remote_key"])
    if o.get("registry_credentials"):
        registry = replace(registry, credentials=o["registry_credentials"])
    if o.get("age_recipient"):
        registry = replace(registry, age_recipients=sorted(set(o["age_recipient"])))
    cluster = replace(cluster, registry=registry)
    automation = cluster.image_automation
    if o["image_automation"] is not None:
        automation = replace(automation, enabled=o["image_automation"])
    elif o["image_policy"] or o["prefect_policy"]:
        automation = replace(automation, enabled=True)
    if o["prefect_policy"]:
        automation = replace(automation, prefect_policy=o["prefect_policy"])
    cluster = replace(cluster, image_automation=automation)
    if o["prefect_version"]:
        cluster = replace(cluster, prefect_version=o["prefect_version"])
    if o["chart_version"]:
        cluster = replace(cluster, chart_version=o["chart_version"])
    return intentcheck.check_cluster(cluster)


def pool_dict(p: it.WorkPoolIntent) -> dict[str, Any]:
    """A pool's settings as :func:`parse_pool` defaults (the image as one REPO:TAG reference)."""
    d = {k: v for k, v in asdict(p).items() if k != "name"}
    if d.get("flow_image"):
        d["flow_image_ref"] = f"{d.pop('flow_image')}:{d.pop('flow_image_tag')}"
    return d
