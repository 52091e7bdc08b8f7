"""P002 prefect-auth-secret-mismatch: a Prefect server's basic auth and its workers' must agree.

Reads the values of the prefect-server release (``server.basicAuth``) and of each self-hosted
prefect-worker release (``worker.selfHostedServerApiConfig.basicAuth``) of a cluster, pairing a worker
with the server its apiUrl reaches (or the cluster's only server), and checks that the worker's
auth Secret is provided in the worker's namespace when that differs from the server's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..admission import Provided
from ..findings import Finding, Rule, Severity
from ..model import Cluster, Context
from ._apiurl import APIURL, is_unsubstituted, resolve_api_url, self_hosted_workers
from ._prefect import KeyPath, Release, Servers, servers

SCOPE = "cluster"  # see rules/__init__.py
RULE = Rule(
    id="P002",
    name="prefect-auth-secret-mismatch",
    stage="semantics",
    severity=Severity.ERROR,
    summary="A Prefect server's basic auth and its workers' basic auth must use the same credentials.",
    doc=(
        "When the prefect-server chart enables server.basicAuth, every self-hosted worker calling it "
        "must send the same credentials through worker.selfHostedServerApiConfig.basicAuth, and a worker "
        "must not enable basic auth against a server that has none. Both charts read the credentials "
        "from the key auth-string of the Secret named by existingSecret (else the inline authString): "
        "the two releases must name the same Secret (or give the same inline string), and when the "
        "worker runs in another namespace than the server, a Secret (or ExternalSecret, SealedSecret) "
        "of that name must be provided in the worker's namespace too. A worker is paired with the "
        "server its apiUrl reaches, else with the cluster's only server. A Secret on one side and an "
        "inline string on the other cannot be compared and is not reported. Otherwise the worker's "
        "every API call fails with 401 and its work pool never runs a flow."
    ),
)

SERVER_AUTH: KeyPath = ("server", "basicAuth")
WORKER_AUTH: KeyPath = ("worker", "selfHostedServerApiConfig", "basicAuth")


@dataclass(frozen=True)
class Auth:
    """A chart's basic-auth settings: off, from a Secret, or an inline string."""

    enabled: bool
    secret: str
    string: str

    @classmethod
    def of(cls, release: Release, keys: KeyPath) -> Auth:
        secret = release.get(*keys, "existingSecret")
        string = release.get(*keys, "authString")
        return cls(
            enabled=release.get(*keys, "enabled") is True,
            secret=secret if isinstance(secret, str) else "",
            string=string if isinstance(string, str) else "",
        )


def secret_provided(cluster: Cluster, namespace: str, name: str) -> bool:
    """Whether the cluster's build creates a Secret ``namespace/name`` (directly or through an operator)."""
    return Provided.of(m.data for m in cluster.manifests).has_secret(namespace, name)


def server_of(worker: Release, found: Servers) -> Release | None:
    """The server release a worker talks to: the one its apiUrl reaches, else the cluster's only one."""
    url = worker.get(*APIURL)
    if isinstance(url, str) and url and not is_unsubstituted(url):
        target = resolve_api_url(url, worker.namespace, found)
        if target.release is not None:
            return target.release
    return found.releases[0] if len(found.releases) == 1 else None


def pair_findings(cluster: Cluster, server: Release, worker: Release) -> Iterator[Finding]:
    s, w = Auth.of(server, SERVER_AUTH), Auth.of(worker, WORKER_AUTH)
    server_name = f"HelmRelease {server.manifest.namespace}/{server.manifest.name}"
    if s.enabled and not w.enabled:
        how = f"Secret {server.namespace}/{s.secret}" if s.secret else "an inline authString"
        yield worker.finding(
            RULE,
            f"the server ({server_name}) requires basic auth ({how}) but this worker does not send it: "
            "set worker.selfHostedServerApiConfig.basicAuth.enabled: true and existingSecret",
            (*WORKER_AUTH, "enabled"),
            (*WORKER_AUTH, "existingSecret"),
            APIURL,
            ("worker", "apiConfig"),
        )
    elif w.enabled and not s.enabled:
        yield worker.finding(
            RULE,
            f"this worker sends basic auth but the server ({server_name}) has server.basicAuth disabled",
            (*WORKER_AUTH, "enabled"),
        )
    elif s.enabled and w.enabled:
        if s.secret and w.secret and s.secret != w.secret:
            yield worker.finding(
                RULE,
                f"this worker reads its auth string from Secret {worker.namespace}/{w.secret}, but the server "
                f"({server_name}) reads it from Secret {server.namespace}/{s.secret}",
                (*WORKER_AUTH, "existingSecret"),
                (*WORKER_AUTH, "enabled"),
            )
        elif not s.secret and not w.secret and s.string != w.string:
            yield worker.finding(
                RULE,
                f"this worker's basicAuth.authString differs from the server's ({server_name})",
                (*WORKER_AUTH, "authString"),
                (*WORKER_AUTH, "enabled"),
            )
        elif (
            s.secret
            and s.secret == w.secret
            and worker.namespace != server.namespace
            and not secret_provided(cluster, worker.namespace, w.secret)
        ):
            yield worker.finding(
                RULE,
                f"this worker runs in namespace {worker.namespace}, not the server's {server.namespace}, and "
                f"reads Secret {w.secret} there: no Secret or ExternalSecret {worker.namespace}/{w.secret} "
                "is applied",
                (*WORKER_AUTH, "existingSecret"),
            )


def check(ctx: Context) -> Iterator[Finding]:
    for cluster in ctx.clusters:
        found = servers(cluster)
        if not found.releases:
            continue
        for worker in self_hosted_workers(cluster):
            server = server_of(worker, found)
            if server is None or not (server.complete and worker.complete):
                continue
            yield from pair_findings(cluster, server, worker)
