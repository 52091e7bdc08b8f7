"""P003 prefect-ha-requirements: a prefect-server release with more than one replica needs HA plumbing.

Reads the prefect-server release values over the chart's defaults: replicas from
``server.replicaCount`` (or ``server.autoscaling.maxReplicas`` when autoscaling is on), the database
(``sqlite.enabled``, ``externalDatabase.connectionString``), ``backgroundServices.runAsSeparateDeployment``
and the messaging (``backgroundServices.messaging.broker``/``cache``, ``redis.enabled``,
``backgroundServices.messaging.redis.host``); one finding per missing requirement.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..findings import Finding, Rule, Severity
from ..model import Context
from ._prefect import SERVER_CHART, KeyPath, Release, releases

SCOPE = "cluster"  # see rules/__init__.py
RULE = Rule(
    id="P003",
    name="prefect-ha-requirements",
    stage="semantics",
    severity=Severity.ERROR,
    summary="A prefect-server with more than one replica needs PostgreSQL, separate background services and Redis.",
    doc=(
        "Several Prefect API server pods share state only through the database and the message broker. "
        "A prefect-server release with server.replicaCount > 1 (or autoscaling up to more than one pod) "
        "therefore needs PostgreSQL (the bundled postgresql subchart or externalDatabase; with "
        "sqlite.enabled the chart silently runs a single replica, and a SQLite file cannot be shared), "
        "backgroundServices.runAsSeparateDeployment: true (else every replica runs its own scheduler and "
        "event services), and Redis messaging (backgroundServices.messaging broker and cache "
        "prefect_redis.messaging, with redis.enabled or backgroundServices.messaging.redis.host) instead "
        "of the in-memory broker each pod would keep to itself. Each missing requirement is one finding, "
        "at the value to change."
    ),
)

REPLICAS: KeyPath = ("server", "replicaCount")
AUTOSCALING: KeyPath = ("server", "autoscaling")
SQLITE: KeyPath = ("sqlite", "enabled")
CONNECTION: KeyPath = ("externalDatabase", "connectionString")
SEPARATE: KeyPath = ("backgroundServices", "runAsSeparateDeployment")
MESSAGING: KeyPath = ("backgroundServices", "messaging")
REDIS: KeyPath = ("redis", "enabled")
REDIS_HOST: KeyPath = (*MESSAGING, "redis", "host")
REDIS_BROKER = "prefect_redis"


def _int(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


def replicas(server: Release) -> tuple[int, KeyPath]:
    """The most server pods the release can run, and the key that says so."""
    if server.get(*AUTOSCALING, "enabled") is True:
        return _int(server.get(*AUTOSCALING, "maxReplicas")), (*AUTOSCALING, "maxReplicas")
    return _int(server.get(*REPLICAS)), REPLICAS


def release_findings(server: Release) -> Iterator[Finding]:
    count, key = replicas(server)
    if count <= 1:
        return
    ha = f"server.{key[-1]} is {count}"
    if server.get(*SQLITE) is True:
        yield server.finding(
            RULE,
            f"{ha} but sqlite.enabled is true: a SQLite file cannot be shared (the chart then runs one "
            "replica); use PostgreSQL (postgresql.enabled or externalDatabase)",
            SQLITE,
            key,
        )
    else:
        connection = server.get(*CONNECTION)
        if isinstance(connection, str) and connection.startswith("sqlite"):
            yield server.finding(
                RULE,
                f"{ha} but externalDatabase.connectionString is a SQLite database; use PostgreSQL",
                CONNECTION,
                key,
            )
    if server.get(*SEPARATE) is not True:
        yield server.finding(
            RULE,
            f"{ha} but backgroundServices.runAsSeparateDeployment is not true: every replica would run its "
            "own scheduler and services",
            SEPARATE,
            ("backgroundServices",),
            key,
        )
    in_memory = [
        part for part in ("broker", "cache") if not str(server.get(*MESSAGING, part) or "").startswith(REDIS_BROKER)
    ]
    if in_memory:
        part = in_memory[0]
        yield server.finding(
            RULE,
            f"{ha} but backgroundServices.messaging.{part} is {server.get(*MESSAGING, part)!r}: replicas "
            f"share events only through Redis ({REDIS_BROKER}.messaging)",
            (*MESSAGING, part),
            key,
        )
    elif server.get(*REDIS) is not True and not server.get(*REDIS_HOST):
        yield server.finding(
            RULE,
            f"{ha} but no Redis is configured for messaging: set redis.enabled: true or "
            "backgroundServices.messaging.redis.host",
            REDIS,
            REDIS_HOST,
            MESSAGING,
            ("redis",),
            key,
        )


def check(ctx: Context) -> Iterator[Finding]:
    for cluster in ctx.clusters:
        for server in releases(cluster, SERVER_CHART):
            if server.complete:
                yield from release_findings(server)
