"""Resolving a Prefect API URL the way a pod in the cluster would: which Service (and server) a URL reaches,
whether its path is the API's, and the workers that run in the cluster."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..model import Cluster
from ._prefect import WORKER_CHART, KeyPath, Release, ServerHost, Servers, ServerService, releases

# ---------------------------------------------------------------- resolving an API URL

LOCALHOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}


@dataclass(frozen=True)
class Target:
    """What an API URL reaches in a cluster: a server Service or ingress host, or the problem."""

    problem: str = ""
    service: ServerService | None = None
    host: ServerHost | None = None

    @property
    def release(self) -> Release | None:
        if self.service is not None:
            return self.service.release
        return self.host.release if self.host is not None else None


def service_names(host: str, namespace: str) -> tuple[str, str] | None:
    """(service, namespace) a cluster-internal host name means from a pod in ``namespace``."""
    parts = host.split(".")
    if len(parts) == 5 and host.endswith(".svc.cluster.local"):
        return parts[0], parts[1]
    if len(parts) == 3 and parts[2] == "svc":
        return parts[0], parts[1]
    if len(parts) == 2:
        return parts[0], parts[1]
    if len(parts) == 1:
        return parts[0], namespace
    return None


def _is_internal(host: str) -> bool:
    return host in LOCALHOSTS or "." not in host or host.endswith((".svc", ".svc.cluster.local"))


def _path_problem(path: str, expected: str) -> str:
    if path.rstrip("/").endswith(expected):
        return ""
    return f"has path {path or '/'!r}; the server's API is served under {expected!r}"


def resolve_api_url(url: str, namespace: str, found: Servers) -> Target:
    """Where ``url``, called from a pod in ``namespace``, lands among the cluster's servers."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        return Target(problem=f"is not a valid URL ({exc})")
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if scheme not in ("http", "https") or not host:
        return Target(problem="is not an http(s) URL")
    port = port or (443 if scheme == "https" else 80)
    if host in LOCALHOSTS:
        return Target(problem="points at localhost, the worker's own pod, not the Prefect server")
    if not found:
        if _is_internal(host):
            return Target(problem="names a cluster-internal host, but this cluster runs no Prefect server")
        return Target()
    ingress = found.host(host)
    if ingress is not None:
        if ingress.tls and scheme != "https":
            return Target(problem=f"uses http, but the ingress for {host} terminates TLS: use https", host=ingress)
        return Target(problem=_path_problem(parts.path, ingress.api_path), host=ingress)
    names = service_names(host, namespace)
    service = found.service(*names) if names else None
    if service is None:
        known = ", ".join(sorted(s.url for s in found.services)) or "none"
        hosts = ", ".join(sorted(h.host for h in found.hosts))
        where = f"; known server URLs: {known}" + (f"; ingress hosts: {hosts}" if hosts else "")
        return Target(problem=f"does not reach a prefect-server Service or ingress host of this cluster{where}")
    if service.ports and port not in service.ports:
        ports = ", ".join(str(p) for p in sorted(service.ports))
        return Target(
            problem=f"uses port {port}, but Service {service.namespace}/{service.name} listens on {ports}",
            service=service,
        )
    return Target(problem=_path_problem(parts.path, service.api_path), service=service)


def self_hosted_workers(cluster: Cluster) -> Iterator[Release]:
    """The cluster's prefect-worker releases configured for a self-hosted server."""
    for w in releases(cluster, WORKER_CHART):
        if w.get("worker", "apiConfig") == "selfHostedServer":
            yield w


def is_unsubstituted(value: str) -> bool:
    """A value still holding a Flux variable or a Helm template: checked by other rules, not here."""
    return "${" in value or "{{" in value


APIURL: KeyPath = ("worker", "selfHostedServerApiConfig", "apiUrl")
