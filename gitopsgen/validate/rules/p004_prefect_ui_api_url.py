"""P004 prefect-ui-api-url: behind an ingress, the Prefect UI must call the API through that ingress.

Reads the prefect-server release values over the chart's defaults: ``ingress.enabled``,
``ingress.host.hostname``, ``ingress.extraHosts``, ``ingress.tls``/``ingress.extraTls`` and
``server.uiConfig.prefectUiApiUrl`` (default ``http://localhost:4200/api``), ``server.apiBasePath``.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

from ..findings import Finding, Rule, Severity
from ..model import Context
from ._apiurl import is_unsubstituted
from ._prefect import SERVER_CHART, SERVER_DEFAULTS, KeyPath, Release, dig, has_key, releases, seq, tls_hosts

SCOPE = "cluster"  # see rules/__init__.py
RULE = Rule(
    id="P004",
    name="prefect-ui-api-url",
    stage="semantics",
    severity=Severity.ERROR,
    summary="With an ingress, server.uiConfig.prefectUiApiUrl must be http(s)://<ingress host>/api.",
    doc=(
        "The Prefect UI runs in the user's browser and calls the API at server.uiConfig.prefectUiApiUrl "
        "(PREFECT_UI_API_URL). The chart's default, http://localhost:4200/api, only works through "
        "kubectl port-forward: when the prefect-server release enables its ingress with a host, the URL "
        "must be http(s)://<ingress host><apiBasePath> (/api by default) for one of the ingress's hosts, "
        "and https when the ingress has TLS (ingress.tls, or an extraTls entry for that host), since a "
        "page served over https may not call an http API. Otherwise the UI loads and then shows no data."
    ),
)

UI_URL: KeyPath = ("server", "uiConfig", "prefectUiApiUrl")
HOSTNAME: KeyPath = ("ingress", "host", "hostname")


def ingress_hosts(server: Release) -> dict[str, bool]:
    """Host → whether the ingress terminates TLS for it, for an enabled ingress."""
    if server.get("ingress", "enabled") is not True:
        return {}
    extra = server.get("ingress", "extraHosts")
    names = [server.get(*HOSTNAME), *(dig(h, "name") for h in seq(extra))]
    tls = tls_hosts(server.get("ingress", "extraTls"))
    hostname = server.get(*HOSTNAME)
    if server.get("ingress", "tls") is True and isinstance(hostname, str):
        tls.add(hostname.lower())
    return {n.lower(): n.lower() in tls for n in names if isinstance(n, str) and n}


def problem(url: str, hosts: dict[str, bool], api_path: str) -> str:
    """Why ``url`` is not an API URL through the ingress ("" when it is)."""
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
    except ValueError:
        host, parts = "", None
    if parts is None or parts.scheme not in ("http", "https") or host not in hosts:
        return "does not point at the ingress host"
    if hosts[host] and parts.scheme != "https":
        return f"uses http, but the ingress terminates TLS for {host}"
    if not parts.path.rstrip("/").endswith(api_path):
        return f"does not end in the API path {api_path}"
    return ""


def release_findings(server: Release) -> Iterator[Finding]:
    hosts = ingress_hosts(server)
    if not hosts:
        return
    url = server.get(*UI_URL)
    if not isinstance(url, str) or is_unsubstituted(url):
        return
    why = problem(url, hosts, server.api_path)
    if not why:
        return
    first = next(iter(hosts))
    expected = f"{'https' if hosts[first] else 'http(s)'}://{first}{server.api_path}"
    default = not has_key(server.inline, *UI_URL) and url == dig(SERVER_DEFAULTS, *UI_URL)
    told = "server.uiConfig.prefectUiApiUrl" + (" (the chart's default)" if default else "")
    yield server.finding(
        RULE,
        f"the ingress is enabled but {told} {url!r} {why}: the UI in the browser cannot reach the API; use {expected}",
        UI_URL,
        HOSTNAME,
        ("ingress", "enabled"),
    )


def check(ctx: Context) -> Iterator[Finding]:
    for cluster in ctx.clusters:
        for server in releases(cluster, SERVER_CHART):
            if server.complete:
                yield from release_findings(server)
