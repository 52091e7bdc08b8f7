"""The registry is optional: a fleet without one pulls public images (``prefecthq/prefect``, the chart's Redis) and
names no pull secret anywhere; a cluster with a registry of its own in such a fleet gets its pull secrets from its
overlays; ``init`` + ``add-cluster`` in a fresh repository validate clean."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import make_repo, run_cli, shared

from gitopsgen.errors import InputError
from gitopsgen.generate import intent as it
from gitopsgen.generate.initsettings import notes
from gitopsgen.generate.intentcheck import check_cluster
from gitopsgen.generate.nextsteps import steps
from gitopsgen.generate.render import cluster_objects, fleet_objects
from gitopsgen.generate.render.common import PULL_SECRET

CHARTS = "https://prefecthq.github.io/prefect-helm"
GIT_URL = "ssh://git@gitlab.example.com/platform/fleet.git"


def ha_cluster(**registry: Any) -> it.ClusterIntent:
    """An HA cluster with the bundled Redis, basic auth, two flow-run namespaces and image automation on a public
    flow image."""
    return check_cluster(
        it.ClusterIntent(
            name="cluster-2",
            cluster_uid=it.default_cluster_uid("cluster-2"),
            server=it.ServerIntent(
                mode="ha",
                replicas=2,
                database=it.DatabaseIntent("prefect-db"),
                redis=it.RedisIntent(secret="prefect-redis"),
                auth_secret="prefect-basic-auth",
            ),
            worker_pools=[
                it.WorkPoolIntent(
                    name="etl",
                    namespace="prefect-etl",
                    namespaces=["prefect-etl", "prefect-batch"],
                    queues=["high", "default"],
                    flow_image="ghcr.io/acme/flows",
                    flow_image_tag="1.4.2",
                    flow_image_policy=">=1.4.0 <2.0.0",
                )
            ],
            registry=it.RegistrySettings(**registry),
            image_automation=it.ImageAutomationIntent(enabled=True),
        )
    )


def documents(files: dict[str, list[Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [(path, doc) for path, docs in files.items() for doc in docs if isinstance(doc, dict)]


def keys_anywhere(value: Any, key: str) -> list[Any]:
    """Every value under ``key`` at any depth (JSON strings such as the base job template parsed too)."""
    found: list[Any] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if k == key:
                found.append(v)
            found += keys_anywhere(v, key)
    elif isinstance(value, list):
        for v in value:
            found += keys_anywhere(v, key)
    elif isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            found += keys_anywhere(json.loads(value), key)
        except ValueError:
            pass
    return found


def pull_secret_mentions(files: dict[str, list[Any]]) -> list[str]:
    """path: what, for every pull secret named, every ImageRepository secretRef and registry ExternalSecret."""
    out = []
    for path, doc in documents(files):
        for key in ("pullSecrets", "imagePullSecrets"):
            if keys_anywhere(doc, key):
                out.append(f"{path}: {key}")
        if doc.get("kind") == "ImageRepository" and "secretRef" in doc.get("spec", {}):
            out.append(f"{path}: ImageRepository secretRef")
        if doc.get("kind") in ("ExternalSecret", "Secret") and doc["metadata"]["name"] == PULL_SECRET:
            out.append(f"{path}: {doc['kind']} {PULL_SECRET}")
    return out


def server_values(files: dict[str, list[Any]]) -> dict[str, Any]:
    return files["overlays/cluster-2/prefect-server/helmrelease-patch.yaml"][0]["spec"]["values"]


def test_without_a_registry_nothing_names_a_pull_secret() -> None:
    fleet = it.Fleet(registry=it.RegistrySettings(secret_store="vault-backend"))
    r = it.resolve(fleet, ha_cluster())
    assert r.registry_host is None and not r.sops
    assert pull_secret_mentions(fleet_objects(fleet)) == []
    files = cluster_objects(r)
    assert pull_secret_mentions(files) == []
    # the bundled Redis: the chart's own public image, no relocation to allow
    values = server_values(files)
    assert "image" not in values["redis"] and "global" not in values
    # image automation scans the public images anonymously
    everything = documents({**fleet_objects(fleet), **files})
    scans = [d["spec"]["image"] for _, d in everything if d["kind"] == "ImageRepository" and "image" in d["spec"]]
    assert sorted(scans) == ["docker.io/prefecthq/prefect", "ghcr.io/acme/flows"]
    # the store still delivers the server's Secrets and the GitLab token
    delivered = {
        (doc["metadata"]["name"], doc["metadata"]["namespace"])
        for _, doc in documents(files)
        if doc["kind"] == "ExternalSecret"
    }
    assert ("gitlab-token", "flux-system") in delivered
    assert {("prefect-basic-auth", ns) for ns in ("prefect", "prefect-etl", "prefect-batch")} <= delivered


def test_without_a_registry_or_a_store_the_user_is_told_what_to_create() -> None:
    fleet = it.Fleet()
    r = it.resolve(fleet, ha_cluster())
    files = cluster_objects(r)
    assert pull_secret_mentions(files) == []
    assert not [doc for _, doc in documents(files) if doc["kind"] == "ExternalSecret"]
    text = "\n".join(steps(r))
    assert "Create the GitLab token Secret `flux-system/gitlab-token`" in text
    assert "No registry: `ghcr.io/acme/flows`, `prefecthq/prefect` and the chart's Redis are pulled without" in text
    said = notes({"registry_host": None, "secret_store": None})
    assert len(said) == 2 and "public images" in said[0] and "gitlab-token" in said[1]


def test_a_cluster_with_its_own_registry_in_a_fleet_without_one() -> None:
    """The fleet bases name no pull secret, so the cluster's overlays add the registry's everywhere it pulls."""
    fleet = it.Fleet(registry=it.RegistrySettings(secret_store="vault-backend"))
    r = it.resolve(fleet, ha_cluster(host="harbor.example.com"))
    files = cluster_objects(r)
    values = server_values(files)
    assert values["global"]["prefect"]["image"]["pullSecrets"] == [PULL_SECRET]
    assert values["redis"]["image"] == {
        "registry": "harbor.example.com",
        "repository": "bitnamilegacy/redis",
        "tag": "8.2.1",
        "pullSecrets": [PULL_SECRET],
    }
    assert values["global"]["security"] == {"allowInsecureImages": True}
    pool = files["overlays/cluster-2/prefect-worker/pools/etl/helmrelease-patch.yaml"][0]["spec"]["values"]
    assert pool["worker"]["image"] == {"pullSecrets": [PULL_SECRET]}
    assert keys_anywhere(pool, "imagePullSecrets") == [[{"name": PULL_SECRET}]]  # the base job template
    repo_patch = files["overlays/cluster-2/image-automation/prefect-repository-patch.yaml"][0]
    assert repo_patch["spec"]["secretRef"] == {"name": PULL_SECRET}
    pulls = sorted(
        doc["metadata"]["namespace"]
        for _, doc in documents(files)
        if doc["kind"] == "ExternalSecret" and doc["metadata"]["name"] == PULL_SECRET
    )
    assert pulls == ["flux-system", "prefect", "prefect-batch", "prefect-etl"]


def test_a_fleet_registry_keeps_its_pull_secrets_in_the_bases() -> None:
    fleet = it.Fleet(registry=it.RegistrySettings(host="harbor.example.com", secret_store="vault-backend"))
    base = fleet_objects(fleet)
    assert sorted(pull_secret_mentions(base)) == [
        "base/image-automation/prefect-images.yaml: ImageRepository secretRef",
        "base/prefect-server/helmrelease.yaml: pullSecrets",
        "base/prefect-worker/helmrelease.yaml: pullSecrets",
    ]
    files = cluster_objects(it.resolve(fleet, ha_cluster()))
    assert "global" not in server_values(files) or "prefect" not in server_values(files)["global"]
    repo_patch = files["overlays/cluster-2/image-automation/prefect-repository-patch.yaml"][0]
    assert "secretRef" not in repo_patch["spec"]


def test_what_a_registry_needs_is_refused_without_it() -> None:
    with pytest.raises(InputError, match="SOPS registry credentials need a registry"):
        it.resolve(it.Fleet(registry=it.RegistrySettings(credentials="sops")), ha_cluster())
    with pytest.raises(InputError, match="needs a ClusterSecretStore"):
        it.resolve(it.Fleet(), ha_cluster(host="harbor.example.com"))


def validate(repo: Path, helm_repo_url: str, *args: str) -> dict[str, Any]:
    proc = run_cli("validate", str(repo), "--format", "json", "--helm-mirror", f"{CHARTS}={helm_repo_url}", *args)
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.slow
def test_init_without_a_registry_then_add_cluster_validates_clean(tmp_path: Path, helm_repo_url: str) -> None:
    """README's first steps with nothing but an origin remote: init asks for nothing, add-cluster needs nothing."""
    repo = make_repo(tmp_path)
    repo.create_remote("origin", GIT_URL)
    for args in (("init",), ("add-cluster", "cluster-2")):
        proc = run_cli(*args, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    assert yaml.safe_load((tmp_path / "gitopsgen.yaml").read_text())["registry"] == {}
    report = validate(tmp_path, helm_repo_url)
    summary = report["summary"]
    assert summary["errors"] == 0, [f for f in report["findings"] if f["severity"] == "error"]
    assert summary["stats"]["kustomizations"] >= 3 and summary["stats"]["helm_releases"] == 2, summary
    # with the Flux CRDs, the one thing left to the user: the GitLab token Secret (no store delivers it), a warning
    report = validate(tmp_path, helm_repo_url, "--crds", str(shared("flux-crds")))
    checked = [(f["rule"], f["object"]) for f in report["findings"] if f["severity"] != "info"]
    assert checked == [("S003", "Provider flux-system/gitlab-commit-status")], checked


@pytest.mark.slow
def test_ha_fleet_of_public_images_with_a_store_validates_clean(tmp_path: Path, helm_repo_url: str) -> None:
    """HA with the bundled Redis, basic auth in every flow-run namespace and image automation, no registry: the
    admission and runtime rules (P005 to P008) find nothing missing."""
    repo = make_repo(tmp_path)
    repo.create_remote("origin", GIT_URL)
    cluster = (
        "add-cluster",
        "cluster-2",
        "--server-mode",
        "ha",
        "--database-secret",
        "prefect-db",
        "--redis",
        "bundled",
        "--redis-secret",
        "prefect-redis",
        "--auth-secret",
        "prefect-basic-auth",
        "--worker-pool",
        "etl:queues=high+default,namespaces=prefect-etl+prefect-batch",
        "--flow-image",
        "ghcr.io/acme/flows:1.4.2",
        "--image-policy",
        ">=1.4.0 <2.0.0",
    )
    for args in (("init", "--secret-store", "vault-backend"), cluster):
        proc = run_cli(*args, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    crds = ("--crds", str(shared("flux-crds")), "--crds", str(shared("external-secrets-crds")))
    report = validate(tmp_path, helm_repo_url, *crds)
    assert report["summary"]["errors"] == 0 and report["summary"]["warnings"] == 0, report["findings"]
    assert report["summary"]["stats"]["kustomizations"] >= 4
    written = {
        str(path.relative_to(tmp_path)): list(yaml.safe_load_all(path.read_text()))
        for top in ("base", "overlays", "clusters")
        for path in (tmp_path / top).rglob("*.yaml")
    }
    assert pull_secret_mentions(written) == []
