"""The generated tree as Flux would apply it: every kustomize dir builds with the real kustomize,
every object validates against Kubernetes and CRD schemas, every HelmRelease renders with the real
charts (served on 127.0.0.1, rendered by helm-python-sdk) into objects that validate too."""

from __future__ import annotations

import base64
import copy
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import shared
from fluxsim import build_flux_kustomization, crd_schemas, kustomize_build, render_release, validate_object

from gitopsgen.validate.schemas import SchemaStore

CLUSTER_2_UID = str(uuid.uuid5(uuid.UUID("6f0b4d5e-2f54-4c39-9b1e-6a1f3c1d8e42"), "cluster-2"))
AUTH_REF = {"secretKeyRef": {"name": "prefect-basic-auth", "key": "auth-string"}}
CHART_URL = "https://prefecthq.github.io/prefect-helm"


def kustomize_dirs(root: Path) -> list[Path]:
    """Directories kustomize builds (a Component, such as an overlay's custom/, is built by its overlay)."""
    return sorted(
        p.parent
        for p in root.glob("**/kustomization.yaml")
        if ".git" not in p.parts and "kind: Component\n" not in p.read_text()
    )


def load_all(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def test_every_kustomize_dir_builds(built_fleet: Path) -> None:
    dirs = kustomize_dirs(built_fleet)
    # base: 4; cluster-1: 3 overlays + 1 pool + wiring; cluster-2: 4 overlays + 2 pools + wiring
    assert len(dirs) == 16
    for d in dirs:
        assert kustomize_build(d), f"{d} built no objects"


@pytest.fixture(scope="module")
def crds() -> SchemaStore:
    return crd_schemas(shared("flux-crds"), shared("external-secrets-crds"))


@pytest.fixture(scope="module")
def applied(built_fleet: Path) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """cluster → Flux Kustomization name → the objects it applies (after postBuild substitution)."""
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for cluster in ("cluster-1", "cluster-2"):
        wiring = kustomize_build(built_fleet / "clusters" / cluster / "prefect")
        out[cluster] = {"(flux-system)": wiring}
        for ks in wiring:
            if ks["kind"] == "Kustomization":
                out[cluster][ks["metadata"]["name"]] = build_flux_kustomization(built_fleet, ks)
    return out


def render_all(objects: list[dict[str, Any]], helm_repo_url: str, cache_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """HelmRelease name → rendered objects, charts resolved through the objects' HelmRepositories."""
    repos = {
        f"{o['metadata']['namespace']}/{o['metadata']['name']}": o["spec"]["url"]
        for o in objects
        if o["kind"] == "HelmRepository"
    }
    return {
        o["metadata"]["name"]: render_release(o, repos, {CHART_URL: helm_repo_url}, cache_dir)
        for o in objects
        if o["kind"] == "HelmRelease"
    }


@pytest.fixture(scope="module")
def releases(applied, helm_repo_url, tmp_path_factory) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """cluster → HelmRelease name → rendered objects; each chart pulled once."""
    cache_dir = tmp_path_factory.mktemp("charts")
    return {
        cluster: render_all([o for objs in applied[cluster].values() for o in objs], helm_repo_url, cache_dir)
        for cluster in applied
    }


@pytest.mark.parametrize("cluster", ["cluster-1", "cluster-2"])
def test_applied_objects_validate(applied, crds, cluster: str) -> None:
    errors: list[str] = []
    for objs in applied[cluster].values():
        for o in objs:
            errors += validate_object(o, crds)
            if o["kind"] != "Namespace" and not o["kind"].startswith("Cluster"):
                assert o["metadata"].get("namespace"), f"{o['kind']} {o['metadata']['name']} has no namespace"
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("cluster", ["cluster-1", "cluster-2"])
def test_helm_releases_render_and_validate(releases, crds, cluster) -> None:
    releases = releases[cluster]
    expected = {"prefect-server"} | {
        f"prefect-worker-{p}" for p in (["default"] if cluster == "cluster-1" else ["etl", "ml"])
    }
    assert set(releases) == expected
    errors = [e for objs in releases.values() for o in objs for e in validate_object(o, crds)]
    assert not errors, "\n".join(errors)


def _find(objs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    matches = [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert matches, f"no {kind} {name or ''} among {[(o['kind'], o['metadata']['name']) for o in objs]}"
    return matches[0]


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def test_single_server_runs_sqlite_on_a_volume(releases) -> None:
    server = releases["cluster-1"]["prefect-server"]
    deployment = _find(server, "Deployment", "prefect-server")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    pvc = _find(server, "PersistentVolumeClaim")
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    assert any(v.get("persistentVolumeClaim", {}).get("claimName") == pvc["metadata"]["name"] for v in volumes)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "prefecthq/prefect:3.8.3-python3.11"
    assert _env(container)["PREFECT_SERVER_DATABASE_CONNECTION_URL"].startswith("sqlite+aiosqlite:///")
    assert deployment["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "registry-credentials"}]
    assert not [o for o in server if o["kind"] == "StatefulSet"], "no bundled PostgreSQL in single mode"


def test_ha_server_uses_postgres_redis_and_separate_background_services(releases) -> None:
    server = releases["cluster-2"]["prefect-server"]
    api = _find(server, "Deployment", "prefect-server")
    assert api["spec"]["replicas"] == 3
    background = _find(server, "Deployment", "prefect-server-background-services")
    env = _env(api["spec"]["template"]["spec"]["containers"][0])
    assert env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] == {
        "secretKeyRef": {"name": "prefect-db", "key": "connection-string"}
    }
    assert env["PREFECT_UI_API_URL"] == "https://prefect.cluster-2.example.com/api"
    assert env["PREFECT_SERVER_API_AUTH_STRING"] == AUTH_REF
    bg_env = _env(background["spec"]["template"]["spec"]["containers"][0])
    assert bg_env["PREFECT_SERVER_DOCKET_URL"] == {"secretKeyRef": {"name": "prefect-redis", "key": "docket-url"}}
    # bundled Redis is named after its Secret: the server reads the password from a Secret named like the
    # subchart, and the subchart creates none when auth.existingSecret is set
    assert _find(server, "StatefulSet")["metadata"]["name"] == "prefect-redis-master"
    password = {"secretKeyRef": {"name": "prefect-redis", "key": "redis-password"}}
    assert env["PREFECT_REDIS_MESSAGING_PASSWORD"] == bg_env["PREFECT_REDIS_MESSAGING_PASSWORD"] == password
    assert env["PREFECT_REDIS_MESSAGING_HOST"] == "prefect-redis-headless.prefect.svc.cluster.local"
    assert _find(server, "Service", "prefect-redis-headless")
    assert not [o for o in server if o["kind"] == "Secret" and "redis" in o["metadata"]["name"]]
    ingress = _find(server, "Ingress")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["rules"][0]["host"] == "prefect.cluster-2.example.com"
    assert ingress["spec"]["tls"] == [{"hosts": ["prefect.cluster-2.example.com"], "secretName": "prefect-tls"}]


def test_workers_talk_to_the_in_cluster_server_with_their_pool_template(releases) -> None:
    releases = releases["cluster-2"]
    service = _find(releases["prefect-server"], "Service", "prefect-server")
    port = service["spec"]["ports"][0]["port"]
    api_url = f"http://prefect-server.{service['metadata']['namespace']}.svc.cluster.local:{port}/api"
    default = json.loads(shared("prefect", "kubernetes-default-base-job-template.json").read_text())
    for pool, ns in (("etl", "prefect-etl"), ("ml", "prefect-ml")):
        objs = releases[f"prefect-worker-{pool}"]
        deployment = _find(objs, "Deployment", f"prefect-worker-{pool}")
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        env = _env(container)
        assert env["PREFECT_API_URL"] == api_url
        assert env["PREFECT_API_AUTH_STRING"] == AUTH_REF
        assert env["PREFECT_INTEGRATIONS_KUBERNETES_OBSERVER_NAMESPACES"] == ns
        assert container["image"] == "prefecthq/prefect:3.8.3-python3.11-kubernetes"
        args = container["args"]
        assert args[args.index("--pool") + 1] == pool
        if pool == "etl":
            assert [args[i + 1] for i, a in enumerate(args) if a == "--work-queue"] == ["default", "high"]
        cm = _find(objs, "ConfigMap", f"prefect-worker-{pool}-base-job-template")
        template = json.loads(cm["data"]["baseJobTemplate.json"])
        assert template["job_configuration"]["command"] == default["job_configuration"]["command"]
        variables = template["variables"]["properties"]
        assert set(variables) == set(default["variables"]["properties"])
        assert variables["image"]["default"] == "harbor.example.com/data/flows:1.4.2"
        assert variables["namespace"]["default"] == ns
        assert variables["service_account_name"]["default"] == "prefect-flow-runner"
        pod = template["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]
        assert pod["imagePullSecrets"] == [{"name": "registry-credentials"}]
        role = _find(objs, "Role")
        binding = _find(objs, "RoleBinding")
        assert role["metadata"]["namespace"] == ns and binding["metadata"]["namespace"] == ns
        assert binding["subjects"][0]["namespace"] == "prefect"
        assert {"jobs"} <= {r for rule in role["rules"] for r in rule["resources"]}
        assert not any("secrets" in rule["resources"] for rule in role["rules"])
        assert env["PREFECT_KUBERNETES_CLUSTER_UID"] == CLUSTER_2_UID
    ml = json.loads(_find(releases["prefect-worker-ml"], "ConfigMap")["data"]["baseJobTemplate.json"])
    assert ml["variables"]["properties"]["cpu_request"]["default"] == "2"
    assert ml["variables"]["properties"]["finished_job_ttl"]["default"] == 600


def test_pull_secret_reaches_every_pulling_namespace_without_plaintext(applied) -> None:
    objs = [o for objs in applied["cluster-2"].values() for o in objs]
    assert not [o for o in objs if o["kind"] == "Secret"], "no Secret in git"
    pull = {
        o["metadata"]["namespace"]
        for o in objs
        if o["kind"] == "ExternalSecret"
        and o["spec"]["target"].get("template", {}).get("type") == "kubernetes.io/dockerconfigjson"
    }
    assert pull == {"prefect", "prefect-etl", "prefect-ml", "flux-system"}
    # the ESO template yields a valid .dockerconfigjson for any password (values go through toJson)
    es = _find(objs, "ExternalSecret", "registry-credentials")
    template = es["spec"]["target"]["template"]["data"][".dockerconfigjson"]
    user, password = "robot$ci", 'p"a\\ss:word'
    filled = (
        template.replace("{{ .username | toJson }}", json.dumps(user))
        .replace("{{ .password | toJson }}", json.dumps(password))
        .replace(
            '{{ printf "%s:%s" .username .password | b64enc | toJson }}',
            json.dumps(base64.b64encode(f"{user}:{password}".encode()).decode()),
        )
    )
    auth = json.loads(filled)["auths"]["harbor.example.com"]
    assert (auth["username"], auth["password"]) == (user, password)
    assert base64.b64decode(auth["auth"]).decode() == f"{user}:{password}"
    assert {d["remoteRef"]["property"] for d in es["spec"]["data"]} == {"username", "password"}
    for o in objs:
        if o["kind"] == "ImageRepository":
            assert o["spec"]["secretRef"] == {"name": "registry-credentials"}


def test_flux_wiring_orders_components_and_automation_targets_own_dir(applied) -> None:
    wiring = {(o["kind"], o["metadata"]["name"]): o for o in applied["cluster-2"]["(flux-system)"]}
    ks_ = {name: o for (kind, name), o in wiring.items() if kind == "Kustomization"}
    assert [d["name"] for d in ks_["prefect-server"]["spec"]["dependsOn"]] == ["prefect-registry-credentials"]
    assert [d["name"] for d in ks_["prefect-workers"]["spec"]["dependsOn"]] == ["prefect-server"]
    assert set(ks_) == {"prefect-registry-credentials", "prefect-server", "prefect-workers", "prefect-image-automation"}
    for ks in ks_.values():
        assert ks["spec"]["prune"] is True and ks["spec"]["wait"] is True
        assert ks["spec"]["sourceRef"] == {"kind": "GitRepository", "name": "flux-system", "namespace": "flux-system"}
    automation = wiring[("ImageUpdateAutomation", "prefect")]
    assert automation["spec"]["update"] == {"path": "./clusters/cluster-2/prefect", "strategy": "Setters"}
    alert = next(o for o in wiring.values() if o["kind"] == "Alert")
    assert {s["name"] for s in alert["spec"]["eventSources"]} >= {"prefect-server", "prefect-workers"}
    provider = next(o for o in wiring.values() if o["kind"] == "Provider")
    assert provider["spec"]["type"] == "gitlab"
    assert provider["spec"]["address"] == "https://gitlab.example.com/platform/fleet"


def test_setter_markers_point_at_policies_that_exist(built_fleet: Path, applied) -> None:
    text = (built_fleet / "clusters/cluster-2/prefect/prefect.yaml").read_text()
    markers = {line.split('"$imagepolicy": "')[1].split('"')[0] for line in text.splitlines() if "$imagepolicy" in line}
    policies = {
        f"{o['metadata']['namespace']}:{o['metadata']['name']}"
        for o in applied["cluster-2"]["prefect-image-automation"]
        if o["kind"] == "ImagePolicy"
    }
    assert (
        {m.rsplit(":tag", 1)[0] for m in markers}
        == policies
        == {
            "flux-system:prefect-server",
            "flux-system:prefect-worker",
            "flux-system:flow-etl",
            "flux-system:flow-ml",
        }
    )
    assert "flux-system:prefect-server:tag" in markers
    assert "$imagepolicy" not in (built_fleet / "clusters/cluster-1/prefect/prefect.yaml").read_text()


def test_schema_check_can_fail(applied, crds) -> None:
    """The checks above are not vacuous: broken objects are caught, CEL rules included."""
    wiring = applied["cluster-2"]["(flux-system)"]
    ks = copy.deepcopy(next(o for o in wiring if o["kind"] == "Kustomization"))
    ks["spec"]["prun"] = True
    assert any("prun" in e for e in validate_object(ks, crds))
    hr = copy.deepcopy(next(o for objs in applied["cluster-2"].values() for o in objs if o["kind"] == "HelmRelease"))
    hr["spec"]["chartRef"] = {"kind": "OCIRepository", "name": "prefect"}
    assert any("K003" in e for e in validate_object(hr, crds))
    provider = copy.deepcopy(next(o for o in wiring if o["kind"] == "Provider"))
    provider["spec"].update(type="slack", commitStatusExpr="'x'")
    assert any("commitStatusExpr" in e for e in validate_object(provider, crds))
    sa = copy.deepcopy(next(o for o in applied["cluster-2"]["prefect-workers"] if o["kind"] == "ServiceAccount"))
    sa["imagePullSecret"] = []
    assert validate_object(sa, crds)


def test_this_repositorys_own_tree_builds() -> None:
    from conftest import ROOT

    dirs = [d for d in kustomize_dirs(ROOT) if not {".venv", "tests"} & set(d.relative_to(ROOT).parts)]
    assert {"cluster-1", "cluster-2"} <= {p.name for p in (ROOT / "clusters").iterdir()}
    assert len(dirs) == 16
    for d in dirs:
        assert kustomize_build(d)


def test_ha_with_external_redis(tmp_path: Path, crds, helm_repo_url) -> None:
    from conftest import INIT_ARGS, make_repo, run_cli

    make_repo(tmp_path)
    run_cli(*INIT_ARGS, "--repo", str(tmp_path), check=True)
    run_cli(
        "add-cluster",
        "c3",
        "--server-mode",
        "ha",
        "--database-secret",
        "pg",
        "--database-key",
        "url",
        "--redis",
        "redis.data.svc.cluster.local:6380",
        "--redis-secret",
        "redis-auth",
        "--repo",
        str(tmp_path),
        check=True,
    )
    wiring = kustomize_build(tmp_path / "clusters/c3/prefect")
    objs = [o for ks in wiring if ks["kind"] == "Kustomization" for o in build_flux_kustomization(tmp_path, ks)]
    server = render_all(objs, helm_repo_url, tmp_path / "charts")["prefect-server"]
    assert not [e for o in server for e in validate_object(o, crds)]
    assert not [o for o in server if o["kind"] == "StatefulSet"], "no bundled Redis or PostgreSQL"
    background = _find(server, "Deployment", "prefect-server-background-services")
    env = _env(background["spec"]["template"]["spec"]["containers"][0])
    assert env["PREFECT_REDIS_MESSAGING_HOST"] == "redis.data.svc.cluster.local"
    assert env["PREFECT_REDIS_MESSAGING_PORT"] == "6380"
    assert env["PREFECT_REDIS_MESSAGING_PASSWORD"] == {"secretKeyRef": {"name": "redis-auth", "key": "redis-password"}}
    assert env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] == {"secretKeyRef": {"name": "pg", "key": "url"}}
    assert _find(server, "Deployment", "prefect-server")["spec"]["replicas"] == 2


def _provided(objs: list[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    """(namespace, Secret name) → keys, for every Secret an ExternalSecret or a plain Secret provides."""
    out: dict[tuple[str, str], set[str]] = {}
    for o in objs:
        ns = o["metadata"].get("namespace", "")
        if o["kind"] == "ExternalSecret":
            keys = {d["secretKey"] for d in o["spec"].get("data", [])}
            keys |= set(o["spec"]["target"].get("template", {}).get("data", {}))
            out.setdefault((ns, o["spec"]["target"]["name"]), set()).update(keys)
        elif o["kind"] == "Secret":
            keys = set(o.get("data") or {}) | set(o.get("stringData") or {})
            out.setdefault((ns, o["metadata"]["name"]), set()).update(keys)
    return out


def _secret_refs(o: dict[str, Any]) -> list[tuple[str, str]]:
    """Every (Secret name, key) a workload's containers read through secretKeyRef."""
    spec = o["spec"]["template"]["spec"] if o["kind"] in ("Deployment", "StatefulSet", "Job") else {}
    refs = []
    for c in spec.get("containers", []) + spec.get("initContainers", []):
        for e in c.get("env", []):
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                refs.append((ref["name"], ref["key"]))
    return refs


@pytest.mark.slow
def test_every_secret_the_server_and_flow_runs_read_is_delivered_in_their_namespace(applied, releases) -> None:
    """cluster-2 (a ClusterSecretStore, basic auth, PostgreSQL, bundled Redis, TLS): each secretKeyRef of the
    rendered charts, and the auth Secret prefect-kubernetes puts into every flow-run Job (named by the worker's
    PREFECT_INTEGRATIONS_KUBERNETES_WORKER_API_AUTH_STRING_SECRET_NAME/_KEY), exists with that key in the
    namespace that reads it."""
    applied_objs = [o for objs in applied["cluster-2"].values() for o in objs]
    rendered = [o for objs in releases["cluster-2"].values() for o in objs]
    provided = _provided(applied_objs + rendered)
    missing = [
        (o["kind"], o["metadata"]["name"], ref)
        for o in rendered
        for ref in _secret_refs(o)
        if ref[1] not in provided.get((o["metadata"]["namespace"], ref[0]), set())
    ]
    assert not missing, missing
    for pool in ("etl", "ml"):
        objs = releases["cluster-2"][f"prefect-worker-{pool}"]
        env = _env(_find(objs, "Deployment", f"prefect-worker-{pool}")["spec"]["template"]["spec"]["containers"][0])
        name = env["PREFECT_INTEGRATIONS_KUBERNETES_WORKER_API_AUTH_STRING_SECRET_NAME"]
        key = env["PREFECT_INTEGRATIONS_KUBERNETES_WORKER_API_AUTH_STRING_SECRET_KEY"]
        template = json.loads(_find(objs, "ConfigMap")["data"]["baseJobTemplate.json"])
        job_namespace = template["variables"]["properties"]["namespace"]["default"]
        assert key in provided.get((job_namespace, name), set()), (pool, job_namespace, name, key)
    # the server Secrets come from the store under prefect/<cluster>/<what>, never pruned by Flux
    server_es = [
        o
        for o in applied_objs
        if o["kind"] == "ExternalSecret"
        and o["spec"]["target"]["name"] != ("registry-credentials")
        and o["metadata"]["name"] != "gitlab-token"
    ]
    assert {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in server_es} == {
        ("prefect", "prefect-db"),
        ("prefect", "prefect-redis"),
        ("prefect", "prefect-tls"),
        ("prefect", "prefect-basic-auth"),
        ("prefect-etl", "prefect-basic-auth"),
        ("prefect-ml", "prefect-basic-auth"),
    }
    for o in server_es:
        assert o["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/prune"] == "disabled"
        assert {d["remoteRef"]["key"] for d in o["spec"]["data"]} <= {
            f"prefect/cluster-2/{w}" for w in ("database", "redis", "basic-auth", "tls")
        }
    tls = next(o for o in server_es if o["metadata"]["name"] == "prefect-tls")
    assert tls["spec"]["target"]["template"]["type"] == "kubernetes.io/tls"
    assert {d["secretKey"] for d in tls["spec"]["data"]} == {"tls.crt", "tls.key"}


@pytest.mark.slow
def test_stateful_objects_survive_a_prune_as_flux_applies_them(built_fleet: Path, tmp_path: Path) -> None:
    """Rendered the way Flux applies them (the validator's build: real kustomize, Helm and the HelmRelease
    post-renderers): every Namespace and the SQLite claim carry prune: disabled, the claim also Helm's keep
    policy, and the bundled Redis StatefulSet retains its claims."""
    from gitopsgen.validate.config import Settings
    from gitopsgen.validate.schemastage import NOT_OBJECTS
    from gitopsgen.validate.workspace import Workspace

    settings = Settings(helm_mirrors=((CHART_URL, str(shared("helm-repo"))),), chart_cache=tmp_path / "charts")
    names = ["cluster-1", "cluster-2"]
    rendered = dict(zip(names, Workspace.open(built_fleet, settings).render(names), strict=True))
    objs = {
        name: [m.data for m in r.build.cluster.manifests if m.api_group not in NOT_OBJECTS]
        for name, r in rendered.items()
    }
    prune_disabled = {"kustomize.toolkit.fluxcd.io/prune": "disabled"}
    for name in names:
        namespaces = [o for o in objs[name] if o["kind"] == "Namespace"]
        assert len(namespaces) == (2 if name == "cluster-1" else 3)
        for ns in namespaces:
            assert ns["metadata"]["annotations"] == prune_disabled
    claim = _find(objs["cluster-1"], "PersistentVolumeClaim", "prefect-server-sqlite")
    assert claim["metadata"]["annotations"] == {**prune_disabled, "helm.sh/resource-policy": "keep"}
    redis = _find(objs["cluster-2"], "StatefulSet", "prefect-redis-master")
    assert redis["spec"]["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    template = redis["spec"]["volumeClaimTemplates"][0]
    assert template["metadata"]["name"] == "redis-data"
    assert template["metadata"]["annotations"] == prune_disabled


@pytest.mark.slow
def test_ha_migrates_before_the_first_install_creates_anything(built_fleet: Path, tmp_path: Path) -> None:
    """Rendered as Flux applies them (post-renderers included): the HA migration Job is a pre-install,pre-upgrade
    hook (the chart's post-install would wait for API replicas that never get ready on an empty database) run as a
    ServiceAccount Flux applies with the HelmRelease, not the release's own one; single mode has no such Job."""
    from gitopsgen.validate.config import Settings
    from gitopsgen.validate.workspace import Workspace

    settings = Settings(helm_mirrors=((CHART_URL, str(shared("helm-repo"))),), chart_cache=tmp_path / "charts")
    names = ["cluster-1", "cluster-2"]
    rendered = dict(zip(names, Workspace.open(built_fleet, settings).render(names), strict=True))
    manifests = {name: r.build.cluster.manifests for name, r in rendered.items()}
    assert not [m for m in manifests["cluster-1"] if m.kind == "Job"]
    jobs = [m for m in manifests["cluster-2"] if m.kind == "Job"]
    assert [(m.name, m.via) for m in jobs] == [("prefect-server-db-migrations", "HelmRelease prefect/prefect-server")]
    job = jobs[0].data
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "prefect-server-migrations" and pod["automountServiceAccountToken"] is False
    accounts = [m for m in manifests["cluster-2"] if m.kind == "ServiceAccount" and m.name == pod["serviceAccountName"]]
    assert [(m.namespace, m.via) for m in accounts] == [("prefect", "Kustomization flux-system/prefect-server")]
    assert accounts[0].data["automountServiceAccountToken"] is False
    release = next(m for m in manifests["cluster-2"] if m.kind == "HelmRelease" and m.name == "prefect-server")
    assert release.data["spec"]["postRenderStrategy"] == "combined"  # hooks reach the post-renderer


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


@pytest.mark.slow
def test_production_defaults_in_the_rendered_charts(applied, releases) -> None:
    """HA API: a PodDisruptionBudget and an anti-affinity term that select exactly the API pods the chart
    renders; workers with their liveness probe; analytics off in every server process; the bundled Redis from
    the fleet registry with its pull secret and explicit resources."""
    server = releases["cluster-2"]["prefect-server"]
    api = _find(server, "Deployment", "prefect-server")
    background = _find(server, "Deployment", "prefect-server-background-services")
    pdbs = [o for objs in applied["cluster-2"].values() for o in objs if o["kind"] == "PodDisruptionBudget"]
    assert len(pdbs) == 1 and pdbs[0]["metadata"]["namespace"] == api["metadata"]["namespace"]
    selector = pdbs[0]["spec"]["selector"]["matchLabels"]
    assert _matches(selector, api["spec"]["template"]["metadata"]["labels"])
    assert not _matches(selector, background["spec"]["template"]["metadata"]["labels"])
    term = api["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"
    ][0]["podAffinityTerm"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert _matches(term["labelSelector"]["matchLabels"], api["spec"]["template"]["metadata"]["labels"])
    assert not [o for objs in applied["cluster-1"].values() for o in objs if o["kind"] == "PodDisruptionBudget"]
    for cluster in ("cluster-1", "cluster-2"):
        for o in releases[cluster]["prefect-server"]:
            if o["kind"] == "Deployment":
                env = _env(o["spec"]["template"]["spec"]["containers"][0])
                assert env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false", o["metadata"]["name"]
        for name, objs in releases[cluster].items():
            if name.startswith("prefect-worker-"):
                container = _find(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
                assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": 8080}
                assert "--with-healthcheck" in container["args"]
    redis = _find(server, "StatefulSet", "prefect-redis-master")["spec"]["template"]["spec"]
    assert redis["containers"][0]["image"] == "harbor.example.com/bitnamilegacy/redis:8.2.1"
    assert redis["imagePullSecrets"] == [{"name": "registry-credentials"}]
    assert redis["containers"][0]["resources"] == {
        "requests": {"cpu": "250m", "memory": "512Mi"},
        "limits": {"memory": "2Gi"},
    }


def _allowed(
    objs: list[dict[str, Any]], sa: tuple[str, str], namespace: str, group: str, resource: str, verb: str
) -> bool:
    """Whether the rendered Roles and RoleBindings of ``namespace`` let ServiceAccount ``sa`` do ``verb``."""
    roles = {o["metadata"]["name"]: o for o in objs if o["kind"] == "Role" and o["metadata"]["namespace"] == namespace}
    for b in objs:
        if b["kind"] != "RoleBinding" or b["metadata"]["namespace"] != namespace:
            continue
        if not any(s["kind"] == "ServiceAccount" and (s.get("namespace"), s["name"]) == sa for s in b["subjects"]):
            continue
        role = roles.get(b["roleRef"]["name"]) if b["roleRef"]["kind"] == "Role" else None
        for rule in (role or {}).get("rules", []):
            if group in rule["apiGroups"] and resource in rule["resources"] and verb in rule["verbs"]:
                return True
    return False


WORKER_NEEDS = (
    [("batch", "jobs", v) for v in ("create", "get", "list", "watch", "delete")]
    + [("", "pods", v) for v in ("get", "list", "watch")]
    + [("", "pods/log", "get")]
)


@pytest.mark.slow
def test_a_pool_declares_the_namespaces_its_deployments_may_target(tmp_path: Path, crds, helm_repo_url) -> None:
    """`namespaces=flows-a+flows-b`: flows-a is the template's default; in both, the worker's RBAC (the chart's
    Role plus the generated one, evaluated from the rendered objects) allows what the kubernetes worker does,
    its observer watches both, and the flow-run ServiceAccount, pull Secret and auth Secret exist."""
    from conftest import INIT_ARGS, make_repo, run_cli

    make_repo(tmp_path)
    run_cli(*INIT_ARGS, "--repo", str(tmp_path), check=True)
    run_cli(
        "add-cluster",
        "c3",
        "--auth-secret",
        "auth",
        "--worker-pool",
        "etl:namespaces=flows-a+flows-b",
        "--worker-pool",
        "ml:namespace=flows-c",
        "--repo",
        str(tmp_path),
        check=True,
    )
    wiring = kustomize_build(tmp_path / "clusters/c3/prefect")
    applied = [o for ks in wiring if ks["kind"] == "Kustomization" for o in build_flux_kustomization(tmp_path, ks)]
    rendered = render_all(applied, helm_repo_url, tmp_path / "charts")
    everything = applied + [o for objs in rendered.values() for o in objs]
    assert not [e for o in everything for e in validate_object(o, crds)]
    etl = rendered["prefect-worker-etl"]
    env = _env(_find(etl, "Deployment")["spec"]["template"]["spec"]["containers"][0])
    assert env["PREFECT_INTEGRATIONS_KUBERNETES_OBSERVER_NAMESPACES"] == "flows-a,flows-b"
    template = json.loads(_find(etl, "ConfigMap")["data"]["baseJobTemplate.json"])
    assert template["variables"]["properties"]["namespace"]["default"] == "flows-a"
    provided = _provided(applied)
    for pool, namespaces, others in (("etl", ["flows-a", "flows-b"], ["flows-c"]), ("ml", ["flows-c"], ["flows-b"])):
        sa = ("prefect", f"prefect-worker-{pool}")
        for ns in namespaces:
            assert all(_allowed(everything, sa, ns, *need) for need in WORKER_NEEDS), (pool, ns)
            assert "auth-string" in provided[(ns, "auth")]
            assert ".dockerconfigjson" in provided[(ns, "registry-credentials")]
            assert _find(
                [o for o in applied if o["metadata"].get("namespace") == ns], "ServiceAccount", "prefect-flow-runner"
            )
        for ns in others:  # and nowhere else
            assert not _allowed(everything, sa, ns, "batch", "jobs", "create"), (pool, ns)


@pytest.mark.slow
def test_queue_priorities_follow_the_order_given(releases) -> None:
    """A pool with queues gets the priority init container after the chart's sync-base-job-template: the worker's
    image, API URL and auth string, the pool's queues in the order given, the chart's template volume."""
    objs = releases["cluster-2"]["prefect-worker-etl"]
    pod = _find(objs, "Deployment")["spec"]["template"]["spec"]
    worker = pod["containers"][0]
    assert [c["name"] for c in pod["initContainers"]] == ["sync-base-job-template", "work-queue-priorities"]
    init = pod["initContainers"][1]
    env = _env(init)
    assert init["image"] == worker["image"]
    assert env["PREFECT_API_URL"] == _env(worker)["PREFECT_API_URL"]
    assert env["PREFECT_API_AUTH_STRING"] == _env(worker)["PREFECT_API_AUTH_STRING"] == AUTH_REF
    assert env["GITOPSGEN_WORK_POOL"] == "etl"
    args = worker["args"]
    assert json.loads(env["GITOPSGEN_WORK_QUEUES"]) == [args[i + 1] for i, a in enumerate(args) if a == "--work-queue"]
    assert json.loads(env["GITOPSGEN_WORK_QUEUES"]) == ["default", "high"]
    volumes = {v["name"] for v in pod["volumes"]}
    assert {m["name"] for m in init["volumeMounts"]} <= volumes
    assert init["command"][:2] == ["python", "-c"]
    ml = _find(releases["cluster-2"]["prefect-worker-ml"], "Deployment")["spec"]["template"]["spec"]
    assert [c["name"] for c in ml["initContainers"]] == ["sync-base-job-template"], "no queues: no priorities"
