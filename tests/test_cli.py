"""The generator's command line: idempotence, merges, drift, bad input, --from, list."""

from __future__ import annotations

import json
from pathlib import Path

import git
import pytest
import yaml
from conftest import CLUSTER_2, INIT_ARGS, make_repo, run_cli, shared

from gitopsgen.generate.render import jobtemplate


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def test_default_job_template_is_prefects() -> None:
    real = json.loads(shared("prefect", "kubernetes-default-base-job-template.json").read_text())
    assert jobtemplate.prefect_default() == real


def test_same_command_twice_leaves_git_status_clean(fleet: Path) -> None:
    repo = git.Repo(fleet)
    run_cli(*CLUSTER_2, "--force", "--repo", str(fleet), check=True)
    run_cli("generate", "--repo", str(fleet), check=True)
    assert not repo.is_dirty(untracked_files=True), repo.git.status()
    proc = run_cli("generate", "--check", "--repo", str(fleet))
    assert proc.returncode == 0 and proc.stdout == ""


def test_output_is_byte_identical_across_repositories(tmp_path: Path, fleet: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    make_repo(other)
    for args in (
        INIT_ARGS,
        ("add-cluster", "cluster-1", "--server-mode", "single", "--worker-pool", "default"),
        CLUSTER_2,
    ):
        run_cli(*args, "--repo", str(other), check=True)
    assert snapshot(other) == snapshot(fleet)


def test_generate_check_reports_a_hand_edit(fleet: Path) -> None:
    target = fleet / "overlays/cluster-2/prefect-server/helmrelease-patch.yaml"
    target.write_text(target.read_text().replace("replicaCount: 3", "replicaCount: 5"))
    stray = fleet / "overlays/cluster-2/prefect-server/extra.yaml"
    stray.write_text("kind: ConfigMap\n")
    proc = run_cli("generate", "--check", "--repo", str(fleet))
    assert proc.returncode == 1
    assert "--- a/overlays/cluster-2/prefect-server/helmrelease-patch.yaml" in proc.stdout
    assert "-      replicaCount: 5" in proc.stdout and "+      replicaCount: 3" in proc.stdout
    assert "extra.yaml" not in proc.stdout  # not gitopsgen's: neither drift nor deleted
    run_cli("generate", "--repo", str(fleet), check=True)
    assert not git.Repo(fleet).is_dirty(untracked_files=False)
    assert stray.read_text() == "kind: ConfigMap\n"


def test_intent_edit_regenerates(fleet: Path) -> None:
    intent = fleet / "intent/clusters/cluster-1.yaml"
    pool = "  - name: default\n    namespace: prefect-flows\n    queues: []\n    replicas: "
    text = intent.read_text().replace(pool + "1", pool + "4")
    assert text != intent.read_text()
    intent.write_text(text)
    assert run_cli("generate", "--check", "--repo", str(fleet)).returncode == 1
    run_cli("generate", "--repo", str(fleet), check=True)
    patch = (fleet / "overlays/cluster-1/prefect-worker/pools/default/helmrelease-patch.yaml").read_text()
    assert "replicaCount: 4" in patch


def test_two_branches_adding_clusters_merge_without_conflict(fleet: Path) -> None:
    repo = git.Repo(fleet)
    remote = fleet.parent / "remote.git"
    git.Repo.init(remote, bare=True)
    origin = repo.create_remote("origin", str(remote))
    origin.push("main")
    for branch, name in (("add-cluster-3", "cluster-3"), ("add-cluster-4", "cluster-4")):
        repo.git.checkout("main")
        repo.git.checkout("-b", branch)
        run_cli(
            "add-cluster",
            name,
            "--from",
            "cluster-2",
            "--ingress-host",
            f"prefect.{name}.example.com",
            "--repo",
            str(fleet),
            check=True,
        )
        repo.git.add(A=True)
        repo.index.commit(f"Add {name}")
        origin.push(branch)
    repo.git.checkout("main")
    repo.git.merge("add-cluster-3", "--no-edit")
    repo.git.merge("add-cluster-4", "--no-edit")  # raises on conflict
    origin.push("main")
    assert run_cli("generate", "--check", "--repo", str(fleet)).returncode == 0
    listed = json.loads(run_cli("list", "--format", "json", "--repo", str(fleet), check=True).stdout)
    assert [c["name"] for c in listed["clusters"]] == ["cluster-1", "cluster-2", "cluster-3", "cluster-4"]
    c3 = listed["clusters"][2]
    assert c3["serverMode"] == "ha" and [p["name"] for p in c3["workPools"]] == ["etl", "ml"]


def test_list_table(fleet: Path) -> None:
    out = run_cli("list", "--repo", str(fleet), check=True).stdout.splitlines()
    assert out[0].split()[:4] == ["CLUSTER", "SERVER", "PREFECT", "CHART"]
    assert out[1].startswith("cluster-1") and "single x1" in out[1] and "default(1)" in out[1]
    assert out[2].startswith("cluster-2") and "ha x3" in out[2] and "etl(2), ml(1)" in out[2]


def test_from_needs_its_own_ingress_host(fleet: Path) -> None:
    proc = run_cli("add-cluster", "cluster-5", "--from", "cluster-2", "--repo", str(fleet))
    assert proc.returncode == 2 and "--ingress-host" in proc.stderr


BAD_INPUTS = [
    (("add-cluster", "Cluster_1"), "DNS-1123"),
    (("add-cluster", "../x"), "DNS-1123"),
    (("add-cluster", "a" * 41), "DNS-1123"),
    (("add-cluster", "cluster-2"), "exists"),
    (("add-cluster", "c9", "--server-mode", "ha"), "PostgreSQL"),
    (("add-cluster", "c9", "--server-mode", "ha", "--database-secret", "db"), "--redis-secret"),
    (("add-cluster", "c9", "--server-mode", "single", "--server-replicas", "2"), "replicas must be 1"),
    (("add-cluster", "c9", "--server-mode", "triple"), "Invalid value"),
    (("add-cluster", "c9", "--worker-pool", "Bad_Pool"), "worker pool name"),
    (("add-cluster", "c9", "--worker-pool", "a", "--worker-pool", "a"), "given twice"),
    (("add-cluster", "c9", "--worker-pool", "a:replicas=lots"), "not an integer"),
    (("add-cluster", "c9", "--worker-pool", "a:colour=red"), "KEY=VALUE"),
    (("add-cluster", "c9", "--worker-pool", "a:namespace=kube-system"), "must not be"),
    (("add-cluster", "c9", "--worker-pool", "a:namespaces=flows+kube-system"), "must not be 'kube-system'"),
    (("add-cluster", "c9", "--worker-pool", "a:namespaces=flows+Bad_Ns"), "DNS-1123"),
    (("add-cluster", "c9", "--registry", "https://harbor"), "registry"),
    (("add-cluster", "c9", "--flow-image", "Harbor/Flows:1"), "image repository"),
    (("add-cluster", "c9", "--flow-image", "h.example.com/f:1.0.0", "--image-policy", "newest"), "semver"),
    (("add-cluster", "c9", "--flow-image", "h.example.com/f", "--image-policy", "~1"), "needs a tag"),
    (("add-cluster", "c9", "--ingress-host", "not a host"), "host"),
    (("add-cluster", "c9", "--cluster-uid", "nope"), "UUID"),
    (("add-cluster", "c9", "--from", "missing"), "no cluster named"),
    (("add-cluster", "c9", "--worker-pool", "a:memory=lots"), "quantity"),
    (("add-cluster", "c9", "--worker-pool", "a:memory=8Gi,memory-limit=2Gi"), "memory request 8Gi is above its memory"),
    (("add-cluster", "c9", "--worker-pool", "a:cpu=2,cpu-limit=500m"), "CPU request 2 is above its CPU limit 500m"),
    (("init",), "already initialised"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUTS, ids=[" ".join(a)[:40] for a, _ in BAD_INPUTS])
def test_bad_input_one_line_exit_2_nothing_written(fleet: Path, args: tuple[str, ...], message: str) -> None:
    before = snapshot(fleet)
    proc = run_cli(*args, "--repo", str(fleet))
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    if message != "Invalid value":
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert snapshot(fleet) == before


def test_repository_without_scaffold(tmp_path: Path) -> None:
    make_repo(tmp_path)
    proc = run_cli("add-cluster", "c1", "--repo", str(tmp_path))
    assert proc.returncode == 2 and "gitopsgen init" in proc.stderr
    assert snapshot(tmp_path) == {}


def test_broken_intent_file_names_file_and_line(fleet: Path) -> None:
    intent = fleet / "intent/clusters/cluster-1.yaml"
    intent.write_text(intent.read_text() + "server: [unclosed\n")
    proc = run_cli("generate", "--repo", str(fleet))
    assert proc.returncode == 2
    assert "intent/clusters/cluster-1.yaml:" in proc.stderr and "Traceback" not in proc.stderr
    line = proc.stderr.split("cluster-1.yaml:")[1].split(":")[0]
    assert line.isdigit()


def test_never_writes_flux_system_and_keeps_foreign_files(fleet: Path) -> None:
    flux_system = fleet / "clusters/cluster-1/flux-system"
    flux_system.mkdir()
    (flux_system / "gotk-sync.yaml").write_text("# bootstrap\n")
    (fleet / "clusters/cluster-1/other-app.yaml").write_text("# someone else's\n")
    run_cli("generate", "--repo", str(fleet), check=True)
    assert (flux_system / "gotk-sync.yaml").read_text() == "# bootstrap\n"
    assert (fleet / "clusters/cluster-1/other-app.yaml").exists()


def test_every_namespaced_object_has_a_namespace(fleet: Path) -> None:
    import yaml

    checked = 0
    for top in ("base", "overlays", "clusters"):
        for path in (fleet / top).rglob("*.yaml"):
            for doc in yaml.safe_load_all(path.read_text()):
                if not doc or doc["kind"] == "Namespace" or doc["apiVersion"].startswith("kustomize.config.k8s.io"):
                    continue
                checked += 1
                assert doc["metadata"].get("namespace"), f"{path}: {doc['kind']} {doc['metadata']['name']}"
    assert checked > 30


def test_force_replaces_and_removes_what_the_new_intent_no_longer_has(fleet: Path) -> None:
    run_cli(
        "add-cluster",
        "cluster-2",
        "--force",
        "--server-mode",
        "single",
        "--worker-pool",
        "etl",
        "--repo",
        str(fleet),
        check=True,
    )
    assert not (fleet / "overlays/cluster-2/prefect-worker/pools/ml").exists()
    assert not (fleet / "overlays/cluster-2/image-automation").exists()
    assert not (fleet / "clusters/cluster-2/prefect/image-update-automation.yaml").exists()
    assert "sqlite" in (fleet / "overlays/cluster-2/prefect-server/helmrelease-patch.yaml").read_text()
    assert run_cli("generate", "--check", "--repo", str(fleet)).returncode == 0


def test_fleet_default_change_regenerates_base(fleet: Path) -> None:
    defaults = fleet / "gitopsgen.yaml"
    defaults.write_text(defaults.read_text().replace("version: 2026.8.18172642", "version: 2026.9.1"))
    proc = run_cli("generate", "--check", "--repo", str(fleet))
    assert proc.returncode == 1 and "+      version: 2026.9.1" in proc.stdout
    run_cli("generate", "--repo", str(fleet), check=True)
    assert "version: 2026.9.1" in (fleet / "base/prefect-server/helmrelease.yaml").read_text()
    assert "version: 2026.9.1" in (fleet / "overlays/cluster-1/prefect-server/helmrelease-patch.yaml").read_text()


def test_a_request_above_the_default_limit_raises_the_limit(fleet: Path) -> None:
    """README's `ml:cpu=2,memory=8Gi`: the default 2Gi memory limit follows the request (a Job with request > limit
    is rejected by the API server); a limit given explicitly is kept."""
    run_cli(
        "add-cluster",
        "c9",
        "--worker-pool",
        "ml:cpu=2,memory=8Gi",
        "--worker-pool",
        "small:memory=1Gi",
        "--repo",
        str(fleet),
        check=True,
    )
    pools = {p["name"]: p for p in yaml.safe_load((fleet / "intent/clusters/c9.yaml").read_text())["workerPools"]}
    assert (pools["ml"]["memoryRequest"], pools["ml"]["memoryLimit"]) == ("8Gi", "8Gi")
    assert (pools["small"]["memoryRequest"], pools["small"]["memoryLimit"]) == ("1Gi", "2Gi")
    patch = (fleet / "overlays/c9/prefect-worker/pools/ml/helmrelease-patch.yaml").read_text()
    config = yaml.safe_load(patch)["spec"]["values"]["worker"]["config"]
    template = json.loads(config["baseJobTemplate"]["configuration"])
    props = template["variables"]["properties"]
    assert (props["memory_request"]["default"], props["memory_limit"]["default"]) == ("8Gi", "8Gi")


def test_an_intent_file_with_a_request_above_its_limit_is_refused(fleet: Path) -> None:
    intent = fleet / "intent/clusters/cluster-2.yaml"
    intent.write_text(intent.read_text().replace("memoryLimit: 16Gi", "memoryLimit: 2Gi"))
    before = snapshot(fleet)
    proc = run_cli("generate", "--repo", str(fleet))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "gitopsgen: error: intent/clusters/cluster-2.yaml: pool ml: memory request 8Gi is above its memory limit 2Gi "
        "(the API server rejects every flow-run Job of the pool): raise the limit (memory-limit=8Gi or more) or lower "
        "the request"
    ]
    assert snapshot(fleet) == before


def test_without_a_secret_store_the_server_secrets_are_a_printed_checklist(tmp_path: Path) -> None:
    """SOPS mode without a ClusterSecretStore: nothing can deliver the server's Secrets, so add-cluster lists them
    (the auth Secret in every namespace that reads it) and writes no ExternalSecret and no plaintext."""
    import os
    import subprocess
    import sys

    make_repo(tmp_path)
    run_cli(
        "init",
        "--registry",
        "harbor.example.com",
        "--git-url",
        "ssh://git@gitlab.example.com/p/fleet.git",
        "--registry-credentials",
        "sops",
        "--age-recipient",
        "age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29",
        "--repo",
        str(tmp_path),
        check=True,
    )
    env = {**os.environ, "GITOPSGEN_REGISTRY_USERNAME": "robot", "GITOPSGEN_REGISTRY_PASSWORD": "s3cret-pw"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gitopsgen.cli",
            "add-cluster",
            "c9",
            "--registry-credentials",
            "sops",
            "--age-recipient",
            "age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29",
            "--server-mode",
            "ha",
            "--database-secret",
            "pg",
            "--redis",
            "bundled",
            "--redis-secret",
            "rd",
            "--auth-secret",
            "auth",
            "--ingress-host",
            "p.example.com",
            "--tls-secret",
            "tls",
            "--worker-pool",
            "etl:namespace=flows-a",
            "--worker-pool",
            "ml:namespace=flows-b",
            "--repo",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    lines = proc.stderr.splitlines()
    start = lines.index("c9 has no ClusterSecretStore: create these Secrets before the server starts:")
    checklist = lines[start + 1 :]
    assert [line.split(" (")[0] for line in checklist] == [
        "  - Secret pg",
        "  - Secret rd",
        "  - Secret auth",
        "  - Secret tls",
    ]
    assert "in namespaces prefect, flows-a, flows-b:" in checklist[2]
    assert "(redis-password, docket-url) in namespace prefect:" in checklist[1]
    assert "(tls.crt, tls.key; type kubernetes.io/tls)" in checklist[3]
    files = snapshot(tmp_path)
    assert not [f for f in files if f.endswith("server-secrets.yaml")]
    assert not [f for f, data in files.items() if b"s3cret-pw" in data]


def test_bundled_redis_image_can_be_named_in_the_intent(fleet: Path) -> None:
    intent = fleet / "intent/clusters/cluster-2.yaml"
    original = intent.read_text()
    assert "    secret: prefect-redis\n" in original
    intent.write_text(
        original.replace(
            "    secret: prefect-redis\n",
            "    secret: prefect-redis\n    image: harbor.example.com:5000/proxy/bitnamilegacy/redis:8.2.1\n",
        )
    )
    run_cli("generate", "--repo", str(fleet), check=True)
    patch = yaml.safe_load((fleet / "overlays/cluster-2/prefect-server/helmrelease-patch.yaml").read_text())
    assert patch["spec"]["values"]["redis"]["image"] == {
        "registry": "harbor.example.com:5000",
        "repository": "proxy/bitnamilegacy/redis",
        "tag": "8.2.1",
        "pullSecrets": ["registry-credentials"],
    }
    bad = "    secret: prefect-redis\n    image: redis:8\n"
    intent.write_text(original.replace("    secret: prefect-redis\n", bad))
    proc = run_cli("generate", "--repo", str(fleet))
    assert proc.returncode == 2 and "is not REGISTRY/REPOSITORY:TAG" in proc.stderr


FULL_TEMPLATE = """\
name: full
clusterUid: 0b6c1c52-1f0e-4c55-9d2f-6f1e1f3b2a10
server:
  mode: ha
  replicas: 4
  storageSize: 7Gi
  storageClass: fast-ssd
  database: {secret: full-db, key: url}
  redis: {host: redis.example.internal, port: 6380, secret: full-redis}
  ingress: {host: prefect.full.example.com, className: traefik, tlsSecret: full-tls}
  authSecret: full-auth
workerPools:
  - name: etl
    namespace: full-etl
    namespaces: [full-etl, full-etl-adhoc]
    queues: [high, default]
    replicas: 3
    flowImage: harbor.example.com/data/flows
    flowImageTag: 1.4.2
    flowImagePolicy: '>=1.4.0 <2.0.0'
    finishedJobTtl: 120
    cpuRequest: '1'
    memoryRequest: 1Gi
    cpuLimit: '2'
    memoryLimit: 4Gi
    values: {worker: {replicaCount: 5}}
registry:
  host: registry.example.com
  secretStore: other-store
  remoteKey: full/registry
  credentials: external-secrets
  ageRecipients: [age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p]
imageAutomation: {enabled: true, prefectPolicy: '~3.8.0', interval: 7m, push: direct}
values:
  prefect-server: {server: {podLabels: {team: data}}}
  prefect-worker: {worker: {podLabels: {team: data}}}
prefectVersion: 3.8.4
chartVersion: 2026.9.1
"""


def _leaves(value: object, path: str = "") -> dict[str, object]:
    """Every leaf setting of an intent dict, by dotted path (dataclass defaults included)."""
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for key, item in value.items():
            out.update(_leaves(item, f"{path}.{key}" if path else key))
        return out
    if isinstance(value, list) and value and isinstance(value[0], dict):
        out = {}
        for index, item in enumerate(value):
            out.update(_leaves(item, f"{path}[{index}]"))
        return out
    return {path: value}


def test_from_keeps_every_setting_not_overridden(fleet: Path) -> None:
    import dataclasses

    from gitopsgen.generate import intent as it
    from gitopsgen.generate import intentfiles

    (fleet / "intent/clusters/full.yaml").write_text(FULL_TEMPLATE)
    template = intentfiles.load_cluster(fleet, "full")
    # the template sets every field of the intent to something other than its default: a new field
    # must be added to FULL_TEMPLATE, so --from is tested over all settings
    defaults = {
        it.ClusterIntent: it.ClusterIntent(name="x", cluster_uid="0"),
        it.ServerIntent: it.ServerIntent(),
        it.WorkPoolIntent: it.WorkPoolIntent(name="x"),
        it.RegistrySettings: it.RegistrySettings(),
        it.ImageAutomationIntent: it.ImageAutomationIntent(),
        it.DatabaseIntent: it.DatabaseIntent(secret="x"),
        it.RedisIntent: it.RedisIntent(),
        it.IngressIntent: it.IngressIntent(host="x"),
    }

    # settings that exclude one another: the template sets the other one (an external Redis takes no image)
    exclusive = {"cluster.server.redis.image"}

    def non_default(obj: object, where: str) -> None:
        default = defaults[type(obj)]
        for f in dataclasses.fields(obj):  # type: ignore[arg-type]
            if f"{where}.{f.name}" in exclusive:
                continue
            value = getattr(obj, f.name)
            assert value != getattr(default, f.name), f"FULL_TEMPLATE leaves {where}.{f.name} at its default"
            items = value if isinstance(value, list) else [value]
            for item in items:
                if dataclasses.is_dataclass(item):
                    non_default(item, f"{where}.{f.name}")

    non_default(template, "cluster")
    proc = run_cli(
        "add-cluster", "copy", "--from", "full", "--ingress-host", "prefect.copy.example.com", "--repo", str(fleet)
    )
    assert proc.returncode == 0, proc.stderr
    copy = _leaves(intentfiles.cluster_to_dict(intentfiles.load_cluster(fleet, "copy")))
    original = _leaves(intentfiles.cluster_to_dict(template))
    overridden = {"name", "clusterUid", "server.ingress.host"}
    assert set(copy) == set(original)
    assert {k: v for k, v in copy.items() if k not in overridden} == {
        k: v for k, v in original.items() if k not in overridden
    }
    assert copy["server.ingress.host"] == "prefect.copy.example.com"
    assert copy["clusterUid"] == it.default_cluster_uid("copy")
    # an option given still wins over the template's setting
    proc = run_cli(
        "add-cluster",
        "copy2",
        "--from",
        "full",
        "--ingress-host",
        "prefect.copy2.example.com",
        "--tls-secret",
        "copy2-tls",
        "--repo",
        str(fleet),
    )
    assert proc.returncode == 0, proc.stderr
    ingress = intentfiles.load_cluster(fleet, "copy2").server.ingress
    assert ingress == it.IngressIntent(host="prefect.copy2.example.com", class_name="traefik", tls_secret="copy2-tls")
