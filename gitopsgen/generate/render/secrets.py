"""The Secrets the Prefect server and the flow runs read (database URL, Redis + docket URL, basic auth, TLS).

:func:`server_secrets` says which Secret each workload references, with its keys and the namespaces it
must exist in: the basic-auth Secret in ``prefect`` *and* in every flow-run namespace, because the
worker chart sets ``PREFECT_INTEGRATIONS_KUBERNETES_WORKER_API_AUTH_STRING_SECRET_NAME`` and
prefect-kubernetes then puts a ``secretKeyRef`` to it (key ``auth-string``) into every flow-run Job,
in the Job's namespace. With a ClusterSecretStore, :func:`external_secrets` delivers each of them
from the store (external-secrets.io/v1; remote key ``prefect/<cluster>/<what>``, one property per
Secret key), protected from Flux pruning; without one (SOPS mode), :func:`checklist` says what to
create by hand. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..intent import Resolved
from .common import ESO_API, PREFECT_NAMESPACE, PRUNE_DISABLED, Obj, obj

AUTH_STRING_KEY = "auth-string"  # the key both charts and prefect-kubernetes read


@dataclass(frozen=True)
class SecretNeed:
    """One Secret a workload references: its name, keys, namespaces, type and where the store keeps it."""

    what: str  # e.g. "PostgreSQL connection URL"
    name: str
    keys: tuple[str, ...]
    namespaces: tuple[str, ...]
    remote_key: str
    type: str = "Opaque"


def remote_key(r: Resolved, what: str) -> str:
    """The store's key for one of the cluster's server Secrets, e.g. ``prefect/cluster-2/database``."""
    return f"prefect/{r.name}/{what}"


def server_secrets(r: Resolved) -> list[SecretNeed]:
    """Every Secret the cluster's server and flow runs reference, in a stable order."""
    s = r.cluster.server
    needs: list[SecretNeed] = []
    if s.database is not None:
        needs.append(
            SecretNeed(
                "PostgreSQL connection URL (postgresql+asyncpg://USER:PASSWORD@HOST:5432/DB)",
                s.database.secret,
                (s.database.key,),
                (PREFECT_NAMESPACE,),
                remote_key(r, "database"),
            )
        )
    if s.redis is not None and s.redis.secret:
        needs.append(
            SecretNeed(
                "Redis password and Docket URL (redis://:PASSWORD@HOST:PORT/0)",
                s.redis.secret,
                ("redis-password", "docket-url"),
                (PREFECT_NAMESPACE,),
                remote_key(r, "redis"),
            )
        )
    if s.auth_secret:
        needs.append(
            SecretNeed(
                "basic auth (USER:PASSWORD), read by the server, the workers and every flow-run Job",
                s.auth_secret,
                (AUTH_STRING_KEY,),
                (PREFECT_NAMESPACE, *r.flow_namespaces),
                remote_key(r, "basic-auth"),
            )
        )
    if s.ingress is not None and s.ingress.tls_secret:
        needs.append(
            SecretNeed(
                f"TLS certificate and key of {s.ingress.host}",
                s.ingress.tls_secret,
                ("tls.crt", "tls.key"),
                (PREFECT_NAMESPACE,),
                remote_key(r, "tls"),
                "kubernetes.io/tls",
            )
        )
    return needs


def external_secret(need: SecretNeed, namespace: str, store: str) -> Obj:
    """The ExternalSecret of one Secret in one namespace; Flux never prunes it (nor, through its owner
    reference, the Secret), and a key deleted in the store does not delete the Secret."""
    target: Obj = {"name": need.name, "creationPolicy": "Owner", "deletionPolicy": "Retain"}
    if need.type != "Opaque":
        target["template"] = {"type": need.type, "engineVersion": "v2"}
    es = obj(
        ESO_API,
        "ExternalSecret",
        need.name,
        namespace,
        {
            "refreshInterval": "1h",
            "secretStoreRef": {"kind": "ClusterSecretStore", "name": store},
            "target": target,
            "data": [{"secretKey": key, "remoteRef": {"key": need.remote_key, "property": key}} for key in need.keys],
        },
    )
    es["metadata"]["annotations"] = dict(PRUNE_DISABLED)
    return es


def external_secrets(r: Resolved) -> list[Obj]:
    """One ExternalSecret per server Secret and namespace (empty without a ClusterSecretStore)."""
    if not r.secret_store:
        return []
    return [external_secret(n, ns, r.secret_store) for n in server_secrets(r) for ns in n.namespaces]


def store_keys(r: Resolved) -> list[str]:
    """What the ClusterSecretStore must hold for this cluster: ``KEY: property, property — what``."""
    return [f"{n.remote_key}: {', '.join(n.keys)} ({n.what})" for n in server_secrets(r)]


def checklist(r: Resolved) -> list[str]:
    """Without a ClusterSecretStore: the Secrets to create by hand (never written to git in clear)."""
    if r.secret_store:
        return []
    return [
        f"Secret {n.name} ({', '.join(n.keys)}{'; type ' + n.type if n.type != 'Opaque' else ''}) "
        f"in namespace{'s' if len(n.namespaces) > 1 else ''} {', '.join(n.namespaces)}: {n.what}"
        for n in server_secrets(r)
    ]
