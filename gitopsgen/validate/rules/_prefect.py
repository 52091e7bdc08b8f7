"""The Prefect model the P rules share (a helper module, not a rule).

Owns finding the prefect-server and prefect-worker HelmReleases of a cluster (by chart name, or by the
OCIRepository/HelmChart a ``chartRef`` names), their values as Helm sees them (the charts' defaults,
then Flux ``valuesFrom``, then ``spec.values``), where a cluster's Prefect servers can be reached (their
Services: computed from the release values, rendered by the release, or any Service selecting
``prefect server start`` pods; and the hosts of Ingresses in front of them), and where a worker's API
URL lands among them. The Helm release name is :func:`gitopsgen.validate.helmstage.release_name`, the
one the Helm stage renders the release under.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from ...mergemaps import coalesce
from ..findings import Finding, Rule
from ..helmstage import release_name
from ..model import Cluster, Manifest
from . import finding_at
from ._workloads import as_list, value_at

SERVER_CHART = "prefect-server"
WORKER_CHART = "prefect-worker"
HELM_GROUP = "helm.toolkit.fluxcd.io"
VALUES: tuple[str, ...] = ("spec", "values")
DEFAULT_API_PATH = "/api"

# The defaults (values.yaml of chart 2026.8.18172642) of every key the P rules read.
SERVER_DEFAULTS: dict[str, Any] = {
    "fullnameOverride": "prefect-server",
    "nameOverride": "",
    "namespaceOverride": "",
    "server": {
        "basicAuth": {"enabled": False, "authString": "admin:pass", "existingSecret": ""},
        "apiBasePath": "/api",
        "uiConfig": {"prefectUiApiUrl": "http://localhost:4200/api"},
        "replicaCount": 1,
        "autoscaling": {"enabled": False, "minReplicas": 1, "maxReplicas": 100},
    },
    "backgroundServices": {
        "runAsSeparateDeployment": False,
        "messaging": {
            "broker": "prefect_redis.messaging",
            "cache": "prefect_redis.messaging",
            "redis": {"host": "", "port": 6379},
        },
    },
    "service": {"port": 4200, "extraPorts": []},
    "ingress": {
        "enabled": False,
        "host": {"hostname": "prefect.local", "path": "/"},
        "tls": False,
        "extraHosts": [],
        "extraTls": [],
    },
    "externalDatabase": {"connectionString": "", "connectionStringSecretKey": ""},
    "sqlite": {"enabled": False},
    "postgresql": {"enabled": True},
    "redis": {"enabled": False},
}
WORKER_DEFAULTS: dict[str, Any] = {
    "fullnameOverride": "prefect-worker",
    "nameOverride": "",
    "namespaceOverride": "",
    "worker": {
        "apiConfig": "cloud",
        "selfHostedServerApiConfig": {
            "apiUrl": "",
            "basicAuth": {"enabled": False, "authString": "admin:pass", "existingSecret": ""},
        },
    },
}
DEFAULTS: dict[str, dict[str, Any]] = {SERVER_CHART: SERVER_DEFAULTS, WORKER_CHART: WORKER_DEFAULTS}

KeyPath = tuple[str | int, ...]


# ---------------------------------------------------------------- values


def dig(data: Any, *keys: str | int) -> Any:
    """``data[k0][k1]…``, or None where a step is missing."""
    return value_at(data, keys)


def has_key(data: Any, *keys: str | int) -> bool:
    """Whether ``data`` spells out ``keys`` (with a non-null value)."""
    return dig(data, *keys) is not None


seq = as_list  # ``value`` when it is a list, else an empty one


def mapping(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a map, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def tls_hosts(tls: Any) -> set[str]:
    """The hosts of an Ingress-style ``tls`` list (``[{hosts: [...], secretName}]``), lower-cased."""
    return {str(h).lower() for t in seq(tls) for h in seq(dig(t, "hosts"))}


def _set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = [p for p in re.split(r"(?<!\\)\.", dotted) if p]
    for part in parts[:-1]:
        child = data.get(part)
        if not isinstance(child, dict):
            child = data[part] = {}
        data = child
    if parts:
        data[parts[-1].replace("\\.", ".")] = value


def _source_text(cluster: Cluster, namespace: str, ref: Mapping[str, Any]) -> str | None:
    """The text a ``valuesFrom`` entry names, when the cluster's build holds it in the clear."""
    kind, name = str(ref.get("kind", "")), str(ref.get("name", ""))
    key = str(ref.get("valuesKey") or "values.yaml")
    source = cluster.find(kind, namespace, name) if kind in ("ConfigMap", "Secret") else None
    if source is None or "sops" in source.data:
        return None
    if kind == "ConfigMap":
        text = dig(source.data, "data", key)
        return text if isinstance(text, str) else None
    text = dig(source.data, "stringData", key)
    if isinstance(text, str):
        return text
    encoded = dig(source.data, "data", key)
    if isinstance(encoded, str):
        try:
            return base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
    return None


def values_from(hr: Manifest, cluster: Cluster) -> tuple[dict[str, Any], bool]:
    """The values a HelmRelease's ``valuesFrom`` contribute, and whether every one was found."""
    out: dict[str, Any] = {}
    complete = True
    refs = dig(hr.data, "spec", "valuesFrom")
    for ref in refs if isinstance(refs, list) else []:
        if not isinstance(ref, Mapping):
            continue
        text = _source_text(cluster, hr.namespace, ref)
        if text is None:
            complete = complete and bool(ref.get("optional"))
            continue
        try:
            # values are plain data: anchors are refused rather than risk an alias bomb in the merges below
            if any(isinstance(token, yaml.AnchorToken) for token in yaml.scan(text)):
                raise yaml.YAMLError("anchors in values")
            parsed = yaml.safe_load(text)
        except yaml.YAMLError:
            complete = False
            continue
        target = ref.get("targetPath")
        if target:
            _set_path(out, str(target), parsed if isinstance(parsed, (str, int, float, bool)) else text)
        elif isinstance(parsed, Mapping):
            out = coalesce(out, parsed)
    return out, complete


# ---------------------------------------------------------------- releases


def chart_name(hr: Manifest, cluster: Cluster) -> str:
    """The chart a HelmRelease installs: ``spec.chart.spec.chart``, or the OCIRepository/HelmChart of ``chartRef``."""
    chart = dig(hr.data, "spec", "chart", "spec", "chart")
    if not chart:
        ref = dig(hr.data, "spec", "chartRef")
        if not isinstance(ref, Mapping):
            return ""
        source = cluster.find(str(ref.get("kind", "")), str(ref.get("namespace") or hr.namespace), str(ref.get("name")))
        if source is None:
            return ""
        chart = dig(source.data, "spec", "url") if source.kind == "OCIRepository" else dig(source.data, "spec", "chart")
    return str(chart or "").rstrip("/").rsplit("/", 1)[-1]


def chart_fullname(values: Mapping[str, Any], chart: str, release: str) -> str:
    """``common.names.fullname`` of the Bitnami common chart the Prefect charts use."""
    override = values.get("fullnameOverride")
    if override:
        return str(override)[:63].rstrip("-")
    name = str(values.get("nameOverride") or chart)
    release = re.sub(r"(-?[^a-z\d\-])+-?", "-", release.lower())
    full = release if name in release else f"{release}-{name}"
    return full[:63].rstrip("-")


@dataclass(eq=False)
class Release:
    """A HelmRelease of the prefect-server or prefect-worker chart, with its values as Helm sees them."""

    manifest: Manifest
    chart: str
    name: str  # the Helm release name
    namespace: str  # where the chart's objects go
    values: dict[str, Any]  # chart defaults < valuesFrom < spec.values
    inline: dict[str, Any]  # spec.values only: the keys findings can point at
    complete: bool  # False when a valuesFrom source is not in the build (absent, encrypted)

    def get(self, *keys: str | int) -> Any:
        return dig(self.values, *keys)

    def where(self, *candidates: KeyPath) -> KeyPath:
        """``spec.values.<first candidate written in spec.values>`` (``spec.values`` when none is)."""
        for keys in candidates:
            if has_key(self.inline, *keys):
                return (*VALUES, *keys)
        return VALUES

    def finding(self, rule: Rule, message: str, *candidates: KeyPath) -> Finding:
        return finding_at(rule, self.manifest, message, *self.where(*candidates))

    @property
    def fullname(self) -> str:
        return chart_fullname(self.values, self.chart, self.name)

    @property
    def api_path(self) -> str:
        return api_path(self.get("server", "apiBasePath"))


def api_path(base: Any) -> str:
    """The server's API path from ``server.apiBasePath`` (or the env var): ``/api`` unless set."""
    text = str(base or "").strip()
    return "/" + text.strip("/") if text.strip("/") else DEFAULT_API_PATH


def release_of(hr: Manifest, cluster: Cluster, chart: str) -> Release:
    extra, complete = values_from(hr, cluster)
    inline = dig(hr.data, "spec", "values")
    inline = inline if isinstance(inline, dict) else {}
    values = coalesce(coalesce(DEFAULTS.get(chart, {}), extra), inline)
    target = dig(hr.data, "spec", "targetNamespace")
    namespace = str(values.get("namespaceOverride") or target or hr.namespace)
    return Release(hr, chart, release_name(hr), namespace, values, inline, complete)


def releases(cluster: Cluster, chart: str) -> list[Release]:
    """Every HelmRelease of ``chart`` that the cluster applies."""
    return [
        release_of(hr, cluster, chart)
        for hr in cluster.of_kind("HelmRelease", HELM_GROUP)
        if chart_name(hr, cluster) == chart
    ]


# ---------------------------------------------------------------- where the servers are

WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Pod")
SERVER_START = re.compile(r"\bprefect\s+server\s+start\b")


@dataclass(eq=False)
class ServerService:
    name: str
    namespace: str
    ports: set[int]
    release: Release | None
    api_path: str = DEFAULT_API_PATH

    @property
    def url(self) -> str:
        port = min(self.ports) if self.ports else 4200
        return f"http://{self.name}.{self.namespace}.svc.cluster.local:{port}{self.api_path}"


@dataclass(eq=False)
class ServerHost:
    host: str
    tls: bool
    release: Release | None
    api_path: str = DEFAULT_API_PATH


@dataclass(eq=False)
class Servers:
    """Everything in one cluster a worker may call its Prefect server."""

    releases: list[Release] = field(default_factory=list)
    services: list[ServerService] = field(default_factory=list)
    hosts: list[ServerHost] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.releases or self.services)

    def service(self, name: str, namespace: str) -> ServerService | None:
        return next((s for s in self.services if s.name == name and s.namespace == namespace), None)

    def host(self, host: str) -> ServerHost | None:
        return next((h for h in self.hosts if h.host == host), None)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _pod_template(m: Manifest) -> Mapping[str, Any]:
    template = m.data if m.kind == "Pod" else dig(m.data, "spec", "template")
    return template if isinstance(template, Mapping) else {}


def _runs_server(m: Manifest, server_refs: set[str]) -> bool:
    template = _pod_template(m)
    labels = mapping(dig(template, "metadata", "labels"))
    if m.via in server_refs and labels.get("app.kubernetes.io/component") == "server":
        return True
    containers = dig(template, "spec", "containers")
    for c in containers if isinstance(containers, list) else []:
        words: list[str] = []
        for key in ("command", "args"):
            value = dig(c, key)
            words += [str(w) for w in value] if isinstance(value, list) else []
        if SERVER_START.search(" ".join(words)):
            return True
    return False


def _pod_api_path(m: Manifest) -> str:
    containers = dig(_pod_template(m), "spec", "containers")
    for c in containers if isinstance(containers, list) else []:
        for env in seq(dig(c, "env")):
            if isinstance(env, Mapping) and env.get("name") == "PREFECT_SERVER_API_BASE_PATH" and env.get("value"):
                return api_path(env.get("value"))
    return DEFAULT_API_PATH


def servers(cluster: Cluster) -> Servers:
    """The cluster's Prefect servers: releases, Services and ingress hosts."""
    out = Servers(releases=releases(cluster, SERVER_CHART))
    by_ref = {r.manifest.ref: r for r in out.releases}

    def add_service(name: str, namespace: str, ports: set[int], release: Release | None, path: str) -> None:
        known = out.service(name, namespace)
        if known is None:
            out.services.append(ServerService(name, namespace, ports, release, path))
        else:
            known.ports |= ports
            known.release = known.release or release

    for r in out.releases:
        ports = {_int(r.get("service", "port"))}
        extra = r.get("service", "extraPorts")
        ports |= {_int(dig(p, "port")) for p in seq(extra)}
        add_service(r.fullname, r.namespace, {p for p in ports if p is not None}, r, r.api_path)

    pods = [m for m in cluster.manifests if m.kind in WORKLOADS and _runs_server(m, set(by_ref))]
    for svc in cluster.of_kind("Service", ""):
        selector = dig(svc.data, "spec", "selector")
        if not isinstance(selector, Mapping) or not selector:
            continue
        for pod in pods:
            labels = mapping(dig(_pod_template(pod), "metadata", "labels"))
            if pod.namespace == svc.namespace and all(labels.get(k) == v for k, v in selector.items()):
                port_list = dig(svc.data, "spec", "ports")
                ports = {_int(dig(p, "port")) for p in (port_list if isinstance(port_list, list) else [])}
                release = by_ref.get(svc.via) or by_ref.get(pod.via)
                path = release.api_path if release else _pod_api_path(pod)
                add_service(svc.name, svc.namespace, {p for p in ports if p is not None}, release, path)
                break

    def add_host(host: Any, tls: bool, release: Release | None, path: str) -> None:
        if not isinstance(host, str) or not host:
            return
        known = out.host(host.lower())
        if known is None:
            out.hosts.append(ServerHost(host.lower(), tls, release, path))
        else:
            known.tls = known.tls or tls

    for r in out.releases:
        if not r.get("ingress", "enabled"):
            continue
        secured = tls_hosts(r.get("ingress", "extraTls"))
        hostname = r.get("ingress", "host", "hostname")
        if r.get("ingress", "tls") and isinstance(hostname, str):
            secured.add(hostname.lower())
        extra_hosts = r.get("ingress", "extraHosts")
        for host in [hostname, *(dig(h, "name") for h in seq(extra_hosts))]:
            add_host(host, isinstance(host, str) and host.lower() in secured, r, r.api_path)

    for ing in cluster.of_kind("Ingress", "networking.k8s.io"):
        secured = tls_hosts(dig(ing.data, "spec", "tls"))
        for rule in seq(dig(ing.data, "spec", "rules")):
            paths = seq(dig(rule, "http", "paths"))
            backends = {dig(p, "backend", "service", "name") for p in paths if isinstance(p, Mapping)}
            target = next((s for s in out.services if s.namespace == ing.namespace and s.name in backends), None)
            host = dig(rule, "host")
            if target is not None and isinstance(host, str):
                add_host(host, host.lower() in secured, target.release, target.api_path)
    return out
