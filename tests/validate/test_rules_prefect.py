"""The Prefect rules P001-P004 on hand-built contexts: HelmReleases like the generated ones (and a few
hand-written server objects), as YAML text turned into manifests with PyYAML's line marks; plus the
repository's own committed tree, built by the test-side Flux stand-in, which must raise none of them.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitopsgen.validate.catalogue import RULES, checks
from gitopsgen.validate.findings import Finding
from gitopsgen.validate.model import Cluster, Context, JsonPath, Manifest
from gitopsgen.validate.rules import _prefect
from gitopsgen.validate.rules import p001_prefect_worker_api_url as p001
from gitopsgen.validate.rules import p002_prefect_auth_secret_mismatch as p002
from gitopsgen.validate.rules import p003_prefect_ha_requirements as p003
from gitopsgen.validate.rules import p004_prefect_ui_api_url as p004

ROOT = Path(__file__).resolve().parents[2]
FILE = "overlays/c1/prefect.yaml"

# ---------------------------------------------------------------- building contexts from YAML text


def _lines(node: yaml.Node, path: JsonPath, out: dict[JsonPath, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = (*path, str(key.value))
            out[sub] = key.start_mark.line + 1
            _lines(value, sub, out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            out[(*path, index)] = item.start_mark.line + 1
            _lines(item, (*path, index), out)


def manifests(text: str, file: str = FILE, cluster: str = "c1", via: str = "") -> list[Manifest]:
    """One manifest per YAML document of ``text``, each path mapped to the line of its key."""
    text = textwrap.dedent(text)
    out: list[Manifest] = []
    for node in yaml.compose_all(text):
        if node is None:
            continue
        lines: dict[JsonPath, int] = {}
        _lines(node, (), lines)
        data = yaml.safe_load(yaml.serialize(node))
        out.append(Manifest(data, cluster, file, node.start_mark.line + 1, lines, via))
    return out


def context(*clusters: list[Manifest]) -> Context:
    """A context of clusters c1, c2, … holding the given manifests."""
    built = []
    for index, objects in enumerate(clusters, start=1):
        name = f"c{index}"
        built.append(Cluster(name, f"clusters/{name}", [_moved(m, name) for m in objects]))
    return Context(root=ROOT, documents=[], texts={}, clusters=built)


def _moved(m: Manifest, cluster: str) -> Manifest:
    return Manifest(m.data, cluster, m.file, m.line, m.lines, m.via)


def line_of(text: str, needle: str) -> int:
    """1-based line of the only line of (dedented) ``text`` containing ``needle``."""
    found = [n for n, line in enumerate(textwrap.dedent(text).splitlines(), start=1) if needle in line]
    assert len(found) == 1, f"{needle!r} on lines {found}"
    return found[0]


def release(name: str, chart: str, values: str, namespace: str = "prefect", extra_spec: str = "") -> str:
    """A HelmRelease like the generated ones, with ``values`` (YAML, no indent) under spec.values."""
    body = textwrap.indent(textwrap.dedent(values).strip("\n"), "    ")
    spec = textwrap.indent(textwrap.dedent(extra_spec).strip("\n"), "  ") + "\n" if extra_spec else ""
    return (
        "---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n"
        f"  name: {name}\n  namespace: {namespace}\nspec:\n  interval: 30m\n"
        f"{spec}"
        "  chart:\n    spec:\n"
        f"      chart: {chart}\n      version: 2026.8.18172642\n"
        "      sourceRef:\n        kind: HelmRepository\n        name: prefect\n        namespace: prefect\n"
        f"  values:\n{body}\n"
    )


def server(values: str = "", **kw: Any) -> str:
    return release(kw.pop("name", "prefect-server"), "prefect-server", values or "server:\n  replicaCount: 1", **kw)


def worker(values: str, name: str = "prefect-worker-default", **kw: Any) -> str:
    return release(name, "prefect-worker", values, **kw)


SERVICE_URL = "http://prefect-server.prefect.svc.cluster.local:4200/api"
WORKER = f"""
fullnameOverride: prefect-worker-default
worker:
  clusterUid: f385279a-67be-5c82-bbee-dd337ce01e61
  config:
    workPool: default
  apiConfig: selfHostedServer
  selfHostedServerApiConfig:
    apiUrl: {SERVICE_URL}
"""
HA_SERVER = """
server:
  replicaCount: 3
  uiConfig:
    prefectUiApiUrl: https://prefect.c1.example.com/api
  basicAuth:
    enabled: true
    existingSecret: prefect-basic-auth
sqlite:
  enabled: false
secret:
  create: false
externalDatabase:
  existingSecret: prefect-db
  connectionStringSecretKey: connection-string
backgroundServices:
  runAsSeparateDeployment: true
  messaging:
    redis:
      existingSecret: prefect-redis
    docket:
      existingSecret: prefect-redis
redis:
  enabled: true
ingress:
  enabled: true
  host:
    hostname: prefect.c1.example.com
    path: /
    pathType: Prefix
  className: nginx
  extraTls:
    - hosts:
        - prefect.c1.example.com
      secretName: prefect-tls
"""
AUTH_WORKER = WORKER + "    basicAuth:\n      enabled: true\n      existingSecret: prefect-basic-auth\n"


def run(rule_module: Any, *texts: str, clusters: list[list[str]] | None = None) -> list[Finding]:
    """Findings of one rule on one cluster made of ``texts`` (or on several clusters)."""
    groups = clusters if clusters is not None else [list(texts)]
    ctx = context(*[[m for t in group for m in manifests(t)] for group in groups])
    found = sorted(rule_module.check(ctx))
    assert all(f.rule == rule_module.RULE.id for f in found)
    return found


# ---------------------------------------------------------------- catalogue


def test_rules_are_registered_with_docs() -> None:
    ids = {rule.id: rule for rule, _ in checks()}
    expected = {
        "P001": "prefect-worker-api-url",
        "P002": "prefect-auth-secret-mismatch",
        "P003": "prefect-ha-requirements",
        "P004": "prefect-ui-api-url",
    }
    for rule_id, name in expected.items():
        rule = ids[rule_id]
        assert rule is RULES[rule_id]
        assert rule.name == name and rule.stage == "semantics" and rule.severity.value == "error"
        assert rule.summary and "\n" not in rule.summary and len(rule.doc) > 200


# ---------------------------------------------------------------- shared model


def test_values_follow_helm_and_flux_precedence() -> None:
    values = "server:\n  replicaCount: 2\n  basicAuth: null"
    objects = manifests(server(values, extra_spec="valuesFrom:\n  - kind: ConfigMap\n    name: v"))
    objects += manifests("""
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: v, namespace: prefect}
        data:
          values.yaml: |
            server: {replicaCount: 5, apiBasePath: /prefect/api/}
        """)
    (r,) = _prefect.releases(context(objects).clusters[0], "prefect-server")
    assert r.complete and r.get("server", "replicaCount") == 2  # spec.values over valuesFrom
    assert r.api_path == "/prefect/api" and r.get("service", "port") == 4200  # valuesFrom, chart default
    assert r.get("server", "basicAuth") is None  # null deletes the chart's default
    assert r.fullname == "prefect-server"


@pytest.mark.parametrize(
    ("release_name", "values", "fullname"),
    [
        ("prefect", "fullnameOverride: ''", "prefect-prefect-server"),
        ("my-prefect-server", "fullnameOverride: ''", "my-prefect-server"),
        ("prefect", "fullnameOverride: ''\nnameOverride: api", "prefect-api"),
        ("prefect", "fullnameOverride: central", "central"),
    ],
)
def test_fullname_follows_the_common_chart(release_name: str, values: str, fullname: str) -> None:
    (r,) = _prefect.releases(context(manifests(server(values, name=release_name))).clusters[0], "prefect-server")
    assert r.fullname == fullname


@pytest.mark.parametrize(
    ("extra_spec", "name", "namespace"),
    [
        ("", "prefect-server", "prefect"),
        ("targetNamespace: prod", "prod-prefect-server", "prod"),
        ("releaseName: central\ntargetNamespace: prod", "central", "prod"),
        (f"targetNamespace: {'t' * 50}", "t" * 40 + "-824242736e00", "t" * 50),  # shortened past 53
    ],
)
def test_release_name_and_namespace_are_helm_controllers(extra_spec: str, name: str, namespace: str) -> None:
    (r,) = _prefect.releases(context(manifests(server(extra_spec=extra_spec))).clusters[0], "prefect-server")
    assert (r.name, r.namespace) == (name, namespace)


def test_chart_ref_to_an_oci_repository_is_recognised() -> None:
    text = """
    apiVersion: source.toolkit.fluxcd.io/v1
    kind: OCIRepository
    metadata: {name: prefect-server, namespace: prefect}
    spec: {url: oci://ghcr.io/prefecthq/charts/prefect-server, ref: {tag: 2026.8.18172642}}
    ---
    apiVersion: helm.toolkit.fluxcd.io/v2
    kind: HelmRelease
    metadata: {name: server, namespace: prefect}
    spec:
      chartRef: {kind: OCIRepository, name: prefect-server}
      values: {server: {replicaCount: 2}}
    """
    cluster = context(manifests(text)).clusters[0]
    assert [r.manifest.name for r in _prefect.releases(cluster, "prefect-server")] == ["server"]
    assert _prefect.releases(cluster, "prefect-worker") == []


# ---------------------------------------------------------------- P001


def test_p001_generated_worker_reaches_the_server() -> None:
    assert run(p001, server(), worker(WORKER)) == []


@pytest.mark.parametrize(
    "url",
    [
        "http://prefect-server.prefect.svc:4200/api",
        "http://prefect-server.prefect:4200/api",
        "http://prefect-server:4200/api/",
        "http://prefect-server.prefect.svc.cluster.local.:4200/api",
    ],
)
def test_p001_accepts_every_spelling_of_the_service(url: str) -> None:
    assert run(p001, server(), worker(WORKER.replace(SERVICE_URL, url))) == []


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://prefect-server.prefect.svc.cluster.local:8080/api", "uses port 8080"),
        ("http://prefect-server.prefect.svc.cluster.local/api", "uses port 80"),
        ("http://prefect-server.prefect.svc.cluster.local:4200", "has path '/'"),
        ("http://prefect-server.prefect.svc.cluster.local:4200/graphql", "has path '/graphql'"),
        ("http://localhost:4200/api", "localhost"),
        ("http://prefect-srv.prefect.svc.cluster.local:4200/api", "does not reach"),
        ("http://prefect-server.other.svc.cluster.local:4200/api", "does not reach"),
        ("https://prefect.elsewhere.example.com/api", "does not reach"),
        ("prefect-server:4200", "not an http(s) URL"),
    ],
)
def test_p001_reports_a_url_that_misses_the_server(url: str, says: str) -> None:
    text = worker(WORKER.replace(SERVICE_URL, url))
    (f,) = run(p001, server(), text)
    assert says in f.message and url in f.message
    assert (f.file, f.line, f.object, f.cluster) == (
        FILE,
        line_of(text, "apiUrl:"),
        "HelmRelease prefect/prefect-worker-default",
        "c1",
    )


def test_p001_short_name_resolves_in_the_workers_namespace() -> None:
    url = "http://prefect-server:4200/api"
    moved = worker(WORKER.replace(SERVICE_URL, url), extra_spec="targetNamespace: prefect-etl")
    (f,) = run(p001, server(), moved)
    assert "does not reach" in f.message and SERVICE_URL in f.message  # suggests the real URL
    assert run(p001, server(), worker(WORKER.replace(SERVICE_URL, url))) == []


def test_p001_follows_the_servers_service_values() -> None:
    values = (
        "fullnameOverride: ''\nservice:\n  port: 80\n  extraPorts:\n    - {name: alt, port: 8080, targetPort: 4200}"
    )
    srv = server(values, name="prefect", namespace="ops")
    for url, ok in [
        ("http://prefect-prefect-server.ops/api", True),
        ("http://prefect-prefect-server.ops:8080/api", True),
        (SERVICE_URL, False),
    ]:
        assert (run(p001, srv, worker(WORKER.replace(SERVICE_URL, url))) == []) is ok, url


def test_p001_missing_api_url_points_at_api_config() -> None:
    text = worker("worker:\n  apiConfig: selfHostedServer\n  config:\n    workPool: default")
    (f,) = run(p001, server(), text)
    assert "apiUrl is not set" in f.message and SERVICE_URL in f.message
    assert f.line == line_of(text, "apiConfig:")


def test_p001_cloud_workers_and_unsubstituted_urls_are_not_checked() -> None:
    cloud = worker("worker:\n  apiConfig: cloud\n  cloudApiConfig: {accountId: a, workspaceId: w}")
    default = worker("worker:\n  config:\n    workPool: default")  # the chart's default apiConfig is cloud
    variable = worker(WORKER.replace(SERVICE_URL, "${prefect_api_url}"))
    assert run(p001, server(), cloud, default, variable) == []


def test_p001_ingress_host_with_tls_needs_https() -> None:
    https = worker(WORKER.replace(SERVICE_URL, "https://prefect.c1.example.com/api"))
    assert run(p001, server(HA_SERVER), https) == []
    http = worker(WORKER.replace(SERVICE_URL, "http://prefect.c1.example.com/api"))
    (f,) = run(p001, server(HA_SERVER), http)
    assert "use https" in f.message
    no_tls = HA_SERVER.split("  extraTls:")[0]
    assert run(p001, server(no_tls), http) == []


HAND_WRITTEN_SERVER = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: orchestration}
spec:
  selector: {matchLabels: {app: prefect-api}}
  template:
    metadata: {labels: {app: prefect-api, tier: web}}
    spec:
      containers:
        - name: server
          image: prefecthq/prefect:3.8.3-python3.11
          command: [prefect, server, start, --host, 0.0.0.0]
---
apiVersion: v1
kind: Service
metadata: {name: prefect, namespace: orchestration}
spec:
  selector: {app: prefect-api}
  ports: [{port: 80, targetPort: 4200}]
---
apiVersion: v1
kind: Service
metadata: {name: other, namespace: orchestration}
spec:
  selector: {app: something-else}
  ports: [{port: 4200}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: prefect, namespace: orchestration}
spec:
  tls: [{hosts: [prefect.internal.example.com], secretName: tls}]
  rules:
    - host: prefect.internal.example.com
      http:
        paths: [{path: /, pathType: Prefix, backend: {service: {name: prefect, port: {number: 80}}}}]
"""


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("http://prefect.orchestration.svc.cluster.local/api", True),
        ("http://prefect.orchestration:80/api", True),
        ("https://prefect.internal.example.com/api", True),
        ("http://prefect.internal.example.com/api", False),
        ("http://other.orchestration:4200/api", False),
        ("http://prefect.orchestration:4200/api", False),
    ],
)
def test_p001_hand_written_server_service_and_ingress(url: str, ok: bool) -> None:
    found = run(p001, HAND_WRITTEN_SERVER, worker(WORKER.replace(SERVICE_URL, url)))
    assert (found == []) is ok, found


def test_p001_rendered_service_of_the_release_counts() -> None:
    rendered = """
    apiVersion: v1
    kind: Service
    metadata: {name: prefect-api, namespace: prefect}
    spec:
      selector: {app.kubernetes.io/name: prefect-server, app.kubernetes.io/component: server}
      ports: [{port: 4200}]
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: prefect-server, namespace: prefect}
    spec:
      template:
        metadata: {labels: {app.kubernetes.io/name: prefect-server, app.kubernetes.io/component: server}}
        spec: {containers: [{name: prefect-server, image: prefecthq/prefect, args: [custom]}]}
    """
    objects = [
        *manifests(server()),
        *manifests(rendered, via="HelmRelease prefect/prefect-server"),
        *manifests(worker(WORKER.replace(SERVICE_URL, "http://prefect-api.prefect:4200/api"))),
    ]
    assert sorted(p001.check(context(objects))) == []


def test_p001_server_of_another_cluster_does_not_count() -> None:
    found = run(p001, clusters=[[server()], [worker(WORKER)]])
    assert [(f.cluster, "runs no Prefect server" in f.message) for f in found] == [("c2", True)]
    external = worker(WORKER.replace(SERVICE_URL, "https://prefect.c1.example.com/api"))
    assert run(p001, clusters=[[server(HA_SERVER)], [external]]) == []  # a central server: trusted


def test_p001_values_from_supplies_the_url_or_silences_absence() -> None:
    from_cm = worker(
        "worker:\n  apiConfig: selfHostedServer", extra_spec="valuesFrom:\n  - kind: ConfigMap\n    name: worker-values"
    )
    config_map = """
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: worker-values, namespace: prefect}
    data:
      values.yaml: |
        worker: {selfHostedServerApiConfig: {apiUrl: "http://prefect-server.prefect:4201/api"}}
    """
    (f,) = run(p001, server(), from_cm, config_map)
    assert "uses port 4201" in f.message and f.line == line_of(from_cm, "  values:")
    assert run(p001, server(), from_cm) == []  # the values live elsewhere (a missing source is H004's)


# ---------------------------------------------------------------- P002


def test_p002_same_secret_same_namespace_is_fine() -> None:
    assert run(p002, server(HA_SERVER), worker(AUTH_WORKER)) == []
    assert run(p002, server(), worker(WORKER)) == []


def test_p002_server_auth_but_worker_without() -> None:
    text = worker(WORKER)
    (f,) = run(p002, server(HA_SERVER), text)
    assert "requires basic auth (Secret prefect/prefect-basic-auth)" in f.message
    assert f.line == line_of(text, "apiUrl:")
    disabled = worker(AUTH_WORKER.replace("enabled: true", "enabled: false"))
    (f,) = run(p002, server(HA_SERVER), disabled)
    assert f.line == line_of(disabled, "enabled: false")


def test_p002_different_secret_names() -> None:
    text = worker(AUTH_WORKER.replace("existingSecret: prefect-basic-auth", "existingSecret: worker-auth"))
    (f,) = run(p002, server(HA_SERVER), text)
    assert "Secret prefect/worker-auth" in f.message and "Secret prefect/prefect-basic-auth" in f.message
    assert f.line == line_of(text, "existingSecret: worker-auth")


def test_p002_worker_auth_but_server_without() -> None:
    text = worker(AUTH_WORKER)
    (f,) = run(p002, server(), text)
    assert "server.basicAuth disabled" in f.message and f.line == line_of(text, "enabled: true")


def test_p002_inline_auth_strings_are_compared_without_printing_them() -> None:
    srv = server("server:\n  basicAuth:\n    enabled: true\n    authString: admin:s3cret")
    same = worker(WORKER + "    basicAuth:\n      enabled: true\n      authString: admin:s3cret\n")
    other = worker(WORKER + "    basicAuth:\n      enabled: true\n      authString: admin:other\n")
    assert run(p002, srv, same) == []
    (f,) = run(p002, srv, other)
    assert "authString differs" in f.message and "s3cret" not in f.message and "other" not in f.message
    assert run(p002, srv, worker(AUTH_WORKER)) == []  # a Secret against a string: cannot be compared


def test_p002_worker_in_another_namespace_needs_the_secret_there() -> None:
    moved = worker(AUTH_WORKER, extra_spec="targetNamespace: prefect-etl")
    (f,) = run(p002, server(HA_SERVER), moved)
    assert "prefect-etl/prefect-basic-auth" in f.message and f.line == line_of(moved, "existingSecret:")
    provided = """
    apiVersion: external-secrets.io/v1
    kind: ExternalSecret
    metadata: {name: basic-auth, namespace: prefect-etl}
    spec:
      secretStoreRef: {kind: ClusterSecretStore, name: vault-backend}
      target: {name: prefect-basic-auth}
      data: [{secretKey: auth-string, remoteRef: {key: prefect/auth}}]
    """
    assert run(p002, server(HA_SERVER), moved, provided) == []
    elsewhere = provided.replace("namespace: prefect-etl", "namespace: prefect")
    assert len(run(p002, server(HA_SERVER), moved, elsewhere)) == 1


def test_p002_pairs_each_worker_with_the_server_it_calls() -> None:
    open_server = server("fullnameOverride: open", name="open")
    to_open = worker(WORKER.replace("prefect-server.prefect", "open.prefect"), name="w-open")
    to_ha = worker(AUTH_WORKER, name="w-ha")
    assert run(p002, server(HA_SERVER), open_server, to_open, to_ha) == []
    (f,) = run(
        p002, server(HA_SERVER), open_server, worker(AUTH_WORKER.replace("prefect-server.prefect", "open.prefect"))
    )
    assert "HelmRelease prefect/open" in f.message


def test_p002_no_server_in_the_cluster_no_finding() -> None:
    assert run(p002, worker(AUTH_WORKER)) == []


# ---------------------------------------------------------------- P003

SINGLE_SERVER = """
server:
  replicaCount: 1
  updateStrategy:
    type: Recreate
sqlite:
  enabled: true
  persistence:
    enabled: true
    size: 5Gi
backgroundServices:
  runAsSeparateDeployment: false
"""


def test_p003_generated_servers_are_fine() -> None:
    assert run(p003, server(HA_SERVER), server(SINGLE_SERVER, name="single", namespace="other")) == []


def test_p003_one_finding_per_missing_requirement_at_its_value() -> None:
    text = server(SINGLE_SERVER.replace("replicaCount: 1", "replicaCount: 3") + "redis:\n  enabled: false\n")
    found = run(p003, text)
    assert [f.line for f in found] == [
        line_of(text, "sqlite:") + 1,
        line_of(text, "runAsSeparateDeployment:"),
        line_of(text, "redis:") + 1,
    ]
    assert all("server.replicaCount is 3" in f.message for f in found)
    assert "SQLite" in found[0].message and "runAsSeparateDeployment" in found[1].message
    assert "redis.enabled" in found[2].message


def test_p003_chart_defaults_fall_back_to_the_replica_line() -> None:
    text = server("server:\n  replicaCount: 2")
    found = run(p003, text)  # bundled PostgreSQL is the default; background services and Redis are not
    assert len(found) == 2 and {f.line for f in found} == {line_of(text, "replicaCount:")}


def test_p003_external_redis_and_in_memory_broker() -> None:
    external = HA_SERVER.replace("redis:\n  enabled: true", "redis:\n  enabled: false").replace(
        "    redis:\n      existingSecret", "    redis:\n      host: redis.data.svc\n      existingSecret"
    )
    assert run(p003, server(external)) == []
    memory = HA_SERVER.replace(
        "  messaging:\n", "  messaging:\n    broker: prefect.server.utilities.messaging.memory\n"
    )
    text = server(memory)
    (f,) = run(p003, text)
    assert "messaging.broker" in f.message and f.line == line_of(text, "broker:")


def test_p003_sqlite_connection_string() -> None:
    text = server(
        HA_SERVER.replace("connectionStringSecretKey: connection-string", "connectionString: sqlite+aiosqlite:///x")
    )
    (f,) = run(p003, text)
    assert "SQLite" in f.message and f.line == line_of(text, "connectionString:")


def test_p003_autoscaling_counts_as_replicas() -> None:
    scaled = server("server:\n  autoscaling:\n    enabled: true\n    maxReplicas: 4\nsqlite:\n  enabled: true")
    assert {f.message.split(" but ")[0] for f in run(p003, scaled)} == {"server.maxReplicas is 4"}
    assert run(p003, server("server:\n  autoscaling:\n    enabled: true\n    maxReplicas: 1")) == []


# ---------------------------------------------------------------- P004


def test_p004_generated_ingress_is_fine() -> None:
    assert run(p004, server(HA_SERVER), server(SINGLE_SERVER, name="single", namespace="other")) == []


def test_p004_default_ui_url_behind_an_ingress() -> None:
    text = server(HA_SERVER.replace("  uiConfig:\n    prefectUiApiUrl: https://prefect.c1.example.com/api\n", ""))
    (f,) = run(p004, text)
    assert "(the chart's default) 'http://localhost:4200/api'" in f.message
    assert "use https://prefect.c1.example.com/api" in f.message
    assert f.line == line_of(text, "hostname:")


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://localhost:4200/api", "does not point at the ingress host"),
        ("https://prefect.c2.example.com/api", "does not point at the ingress host"),
        ("http://prefect.c1.example.com/api", "uses http"),
        ("https://prefect.c1.example.com/", "does not end in the API path /api"),
    ],
)
def test_p004_wrong_ui_url(url: str, says: str) -> None:
    text = server(HA_SERVER.replace("prefectUiApiUrl: https://prefect.c1.example.com/api", f"prefectUiApiUrl: {url}"))
    (f,) = run(p004, text)
    assert says in f.message and f.line == line_of(text, "prefectUiApiUrl:")


def test_p004_tls_and_extra_hosts() -> None:
    no_tls = HA_SERVER.split("  extraTls:")[0].replace("https://prefect.c1", "http://prefect.c1")
    assert run(p004, server(no_tls)) == []
    assert len(run(p004, server(no_tls + "  tls: true\n"))) == 1
    extra = no_tls.replace("http://prefect.c1.example.com", "http://prefect.alias.example.com")
    assert len(run(p004, server(extra))) == 1
    assert run(p004, server(extra + "  extraHosts:\n    - name: prefect.alias.example.com\n")) == []


def test_p004_no_ingress_no_finding() -> None:
    assert run(p004, server("ingress:\n  enabled: false\n  host:\n    hostname: prefect.example.com")) == []


# ---------------------------------------------------------------- robustness and fixtures


def test_rules_survive_odd_shapes() -> None:
    odd = server(
        "server: 3\ningress: {enabled: true, host: [x], extraTls: 5, extraHosts: {a: b}}\n"
        "service: {port: {x: 1}, extraPorts: 7}\nbackgroundServices: {messaging: text}"
    )
    bad_url = worker(
        "worker: {apiConfig: selfHostedServer, selfHostedServerApiConfig: {apiUrl: 'http://[::1', basicAuth: 7}}"
    )
    shapes = """
    apiVersion: networking.k8s.io/v1
    kind: Ingress
    metadata: {name: i, namespace: prefect}
    spec: {tls: 3, rules: [{host: 5}, 7, {host: h, http: {paths: 1}}]}
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: s, namespace: prefect}
    spec: {selector: [a], ports: 3}
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: d, namespace: prefect}
    spec: {template: {metadata: {labels: [x]}, spec: {containers: [{command: prefect server start, env: 3}, 5]}}}
    """
    ctx = context([*manifests(odd), *manifests(bad_url), *manifests(shapes)])
    for module in (p001, p002, p003, p004):
        assert all(isinstance(f, Finding) for f in module.check(ctx))
    (f,) = p001.check(ctx)
    assert "not a valid URL" in f.message


FIXTURES = Path(__file__).resolve().parent / "fixtures"


def fixture_context(repo: Path) -> Context:
    """Cluster c1 of a fixture repository: its YAML files as written (the rules read no rendered object)."""
    objects: list[Manifest] = []
    for f in sorted((repo / "clusters" / "c1").rglob("*.yaml")):
        objects += manifests(f.read_text(), file=f.relative_to(repo).as_posix())
    return context(objects)


@pytest.mark.parametrize("module", [p001, p002, p003, p004], ids=lambda m: m.RULE.id)
def test_fixtures_match_their_expectations(module: Any) -> None:
    rule_dir = FIXTURES / module.RULE.id
    assert list(module.check(fixture_context(rule_dir / "pass"))) == []
    expected = yaml.safe_load((rule_dir / "fail" / "expect.yaml").read_text())
    found = [{"rule": f.rule, "file": f.file, "line": f.line} for f in module.check(fixture_context(rule_dir / "fail"))]
    assert sorted(found, key=str) == sorted(expected, key=str)


# ---------------------------------------------------------------- the committed tree


@pytest.mark.slow
def test_committed_tree_raises_no_prefect_findings(helm_repo_url: str, tmp_path: Path) -> None:
    from fluxsim import build_flux_kustomization, kustomize_build, render_release

    clusters = sorted(p.name for p in (ROOT / "clusters").iterdir() if p.is_dir())
    assert {"cluster-1", "cluster-2"} <= set(clusters)
    built: list[Cluster] = []
    for name in clusters:
        applied: list[dict[str, Any]] = []
        for ks in kustomize_build(ROOT / "clusters" / name / "prefect"):
            if ks["kind"] == "Kustomization":
                applied += build_flux_kustomization(ROOT, ks)
        repos = {
            f"{o['metadata']['namespace']}/{o['metadata']['name']}": o["spec"]["url"]
            for o in applied
            if o["kind"] == "HelmRepository"
        }
        objects = [Manifest(o, name, "x", 1) for o in applied]
        for hr in [o for o in applied if o["kind"] == "HelmRelease"]:
            via = f"HelmRelease {hr['metadata']['namespace']}/{hr['metadata']['name']}"
            rendered = render_release(hr, repos, dict.fromkeys(repos.values(), helm_repo_url), tmp_path)
            objects += [Manifest(o, name, "x", 1, via=via) for o in rendered]
        built.append(Cluster(name, f"clusters/{name}", objects))
    ctx = Context(root=ROOT, documents=[], texts={}, clusters=built)
    kinds = {(c.name, m.kind) for c in built for m in c.manifests if m.via}
    assert ("cluster-2", "Ingress") in kinds and ("cluster-1", "Service") in kinds  # rendered for real
    for module in (p001, p002, p003, p004):
        assert list(module.check(ctx)) == [], module.RULE.id
