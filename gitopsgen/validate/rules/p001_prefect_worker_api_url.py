"""P001 prefect-worker-api-url: a self-hosted Prefect worker's apiUrl reaches a Prefect server of its cluster.

A prefect-worker release with ``worker.apiConfig: selfHostedServer`` must reach a Prefect server of its
own cluster through ``worker.selfHostedServerApiConfig.apiUrl``. The Prefect model (releases, their
values, the cluster's servers, resolving an API URL) is shared with P002-P004 in :mod:`._prefect`.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..findings import Finding, Rule, Severity
from ..model import Context
from ._apiurl import APIURL, is_unsubstituted, resolve_api_url, self_hosted_workers
from ._prefect import servers

SCOPE = "cluster"  # see rules/__init__.py
RULE = Rule(
    id="P001",
    name="prefect-worker-api-url",
    stage="semantics",
    severity=Severity.ERROR,
    summary="A self-hosted Prefect worker's apiUrl must reach a prefect-server Service or ingress of its cluster.",
    doc=(
        "A prefect-worker release with worker.apiConfig: selfHostedServer talks to the API at "
        "worker.selfHostedServerApiConfig.apiUrl. That URL must reach the Prefect server of the same "
        "cluster: either http(s)://<service>[.<namespace>[.svc[.cluster.local]]][:<port>]<apiBasePath>, "
        "naming a Service rendered by a prefect-server release (or any Service selecting pods that run "
        "'prefect server start') on one of its ports, with the path ending in the server's apiBasePath "
        "(/api by default); or a URL whose host is an ingress host of that server (https when the "
        "ingress terminates TLS). A missing apiUrl, localhost (the worker's own pod), another "
        "cluster's server, a wrong port or a path without /api leave the worker unable to poll its "
        "work pool. Workers using Prefect Cloud (apiConfig: cloud) are not checked; in a cluster "
        "without any Prefect server only cluster-internal hosts are reported, external URLs are "
        "trusted."
    ),
)


def check(ctx: Context) -> Iterator[Finding]:
    for cluster in ctx.clusters:
        found = servers(cluster)
        for w in self_hosted_workers(cluster):
            url = w.get(*APIURL)
            if url is None or url == "":
                if w.complete:
                    yield w.finding(
                        RULE,
                        "worker.apiConfig is selfHostedServer but worker.selfHostedServerApiConfig.apiUrl is not set"
                        + (f"; the server is at {found.services[0].url}" if found.services else ""),
                        APIURL,
                        ("worker", "selfHostedServerApiConfig"),
                        ("worker", "apiConfig"),
                    )
                continue
            if not isinstance(url, str) or is_unsubstituted(url):
                continue
            target = resolve_api_url(url, w.namespace, found)
            if target.problem:
                yield w.finding(RULE, f"worker.selfHostedServerApiConfig.apiUrl {url!r} {target.problem}", APIURL)
