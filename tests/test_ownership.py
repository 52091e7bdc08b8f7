"""What the user owns: files gitopsgen did not write are never deleted or overwritten, and each component
overlay includes a user-owned Kustomize Component (``custom/``) that generate never touches."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_cli

CUSTOM = "overlays/cluster-2/prefect-server/custom"
EXTRA = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: prefect}\n"


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def test_a_users_file_in_a_generated_directory_survives(fleet: Path) -> None:
    mine = fleet / "overlays/cluster-2/prefect-worker/pools/ml/notes.md"
    mine.write_text("mine\n")
    stale = fleet / "overlays/cluster-2/prefect-worker/pools/ml/kustomization.yaml"
    # --force with one pool: gitopsgen deletes the files it wrote for pool ml, not the user's
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
    assert mine.read_text() == "mine\n"
    assert not stale.exists()
    assert run_cli("generate", "--check", "--repo", str(fleet)).returncode == 0


def test_custom_component_is_seeded_included_and_never_touched(fleet: Path) -> None:
    for component in ("registry-credentials", "prefect-server", "prefect-worker", "image-automation"):
        assert (fleet / f"overlays/cluster-2/{component}/custom/kustomization.yaml").is_file()
        assert "components:\n  - custom\n" in (fleet / f"overlays/cluster-2/{component}/kustomization.yaml").read_text()
    (fleet / CUSTOM / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources: [extra.yaml]\n"
    )
    (fleet / CUSTOM / "extra.yaml").write_text(EXTRA)
    before = snapshot(fleet)
    assert run_cli("generate", "--check", "--repo", str(fleet)).returncode == 0
    run_cli("generate", "--repo", str(fleet), check=True)
    assert snapshot(fleet) == before
    # a deleted seed comes back (the generated kustomization names the directory)
    (fleet / "overlays/cluster-2/prefect-worker/custom/kustomization.yaml").unlink()
    assert run_cli("generate", "--check", "--repo", str(fleet)).returncode == 1
    run_cli("generate", "--repo", str(fleet), check=True)
    assert (fleet / "overlays/cluster-2/prefect-worker/custom/kustomization.yaml").is_file()


@pytest.mark.slow
def test_custom_component_reaches_the_build(fleet: Path) -> None:
    from fluxsim import kustomize_build

    (fleet / CUSTOM / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources: [extra.yaml]\n"
        "patches:\n  - patch: |-\n      - {op: add, path: /spec/values/server/podLabels, value: {team: data}}\n"
        "    target: {kind: HelmRelease, name: prefect-server}\n"
    )
    (fleet / CUSTOM / "extra.yaml").write_text(EXTRA)
    objects = kustomize_build(fleet / "overlays/cluster-2/prefect-server")
    assert any(o["kind"] == "ConfigMap" and o["metadata"]["name"] == "x" for o in objects)
    (release,) = [o for o in objects if o["kind"] == "HelmRelease"]
    assert release["spec"]["values"]["server"]["podLabels"] == {"team": "data"}


def test_a_foreign_file_where_generate_would_write_is_refused(fleet: Path) -> None:
    foreign = fleet / "overlays/cluster-2/prefect-worker/pools/gpu/kustomization.yaml"
    foreign.parent.mkdir(parents=True)
    foreign.write_text("# a user's\n")
    intent = fleet / "intent/clusters/cluster-2.yaml"
    gpu = "workerPools:\n  - name: gpu\n    namespace: prefect-gpu\n"
    intent.write_text(intent.read_text().replace("workerPools:\n", gpu))
    before = snapshot(fleet)
    proc = run_cli("generate", "--repo", str(fleet))
    assert proc.returncode == 2
    assert "overlays/cluster-2/prefect-worker/pools/gpu/kustomization.yaml was not written by gitopsgen" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert snapshot(fleet) == before


def test_remove_cluster_refuses_over_a_users_file_and_removes_untouched_seeds(fleet: Path) -> None:
    (fleet / CUSTOM / "extra.yaml").write_text("kind: ConfigMap\n")
    proc = run_cli("remove-cluster", "cluster-2", "--repo", str(fleet), "--yes")
    assert proc.returncode == 2 and f"{CUSTOM}/extra.yaml was not written by gitopsgen" in proc.stderr
    (fleet / CUSTOM / "extra.yaml").unlink()
    run_cli("remove-cluster", "cluster-2", "--repo", str(fleet), "--yes", check=True)
    assert not (fleet / "overlays/cluster-2").exists()


def test_a_tree_from_before_manifests_keeps_unmarked_files(fleet: Path) -> None:
    for manifest in (fleet / "overlays/cluster-2/.generated-files", fleet / "base/.generated-files"):
        manifest.unlink()
    mine = fleet / "overlays/cluster-2/prefect-server/mine.yaml"
    mine.write_text("kind: ConfigMap\n")
    old = fleet / "overlays/cluster-2/prefect-server/old.yaml"
    old.write_text("# Generated by gitopsgen from intent/clusters/cluster-2.yaml. Do not edit.\n")
    run_cli("generate", "--repo", str(fleet), check=True)
    assert mine.exists() and not old.exists()
    assert (fleet / "overlays/cluster-2/.generated-files").is_file()
    assert run_cli("generate", "--check", "--repo", str(fleet)).returncode == 0


def test_intent_values_are_merged_into_the_helmreleases(fleet: Path) -> None:
    intent = fleet / "intent/clusters/cluster-2.yaml"
    intent.write_text(
        intent.read_text().replace("  - name: ml\n", "  - name: ml\n    values: {worker: {replicaCount: 4}}\n")
        + "values:\n  prefect-server:\n    server: {podLabels: {team: data}}\n"
        "  prefect-worker:\n    worker: {podLabels: {team: data}, replicaCount: 1}\n"
    )
    run_cli("generate", "--repo", str(fleet), check=True)
    import yaml

    def values(rel: str) -> dict:
        return yaml.safe_load((fleet / rel).read_text().split("\n---\n")[-1])["spec"]["values"]

    server = values("overlays/cluster-2/prefect-server/helmrelease-patch.yaml")
    assert server["server"]["podLabels"] == {"team": "data"} and server["server"]["replicaCount"] == 3
    etl = values("overlays/cluster-2/prefect-worker/pools/etl/helmrelease-patch.yaml")
    ml = values("overlays/cluster-2/prefect-worker/pools/ml/helmrelease-patch.yaml")
    assert etl["worker"]["replicaCount"] == 1 and ml["worker"]["replicaCount"] == 4  # the pool's values win
    assert etl["worker"]["podLabels"] == ml["worker"]["podLabels"] == {"team": "data"}
    assert etl["worker"]["config"]["workPool"] == "etl"  # gitopsgen's keys the user did not set stay
    intent.write_text(intent.read_text() + "  prefect-ui: {}\n")
    proc = run_cli("generate", "--repo", str(fleet))
    assert proc.returncode == 2 and "unknown component 'prefect-ui'" in proc.stderr


def test_add_cluster_prints_next_steps_and_keeps_them_in_the_readme(
    fleet: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITOPSGEN_REGISTRY_USERNAME", "robot")
    monkeypatch.setenv("GITOPSGEN_REGISTRY_PASSWORD", "not-a-real-password")
    proc = run_cli(
        "add-cluster",
        "cluster-4",
        "--registry-credentials",
        "sops",
        "--age-recipient",
        "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p",
        "--image-automation",
        "--flow-image",
        "harbor.example.com/f:1.0.0",
        "--image-policy",
        "~1.0",
        "--repo",
        str(fleet),
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith("Next steps for cluster cluster-4:")
    assert "flux bootstrap gitlab" in out and "--owner=platform" in out and "--repository=fleet" in out
    assert "--path=clusters/cluster-4" in out
    assert "--components-extra=image-reflector-controller,image-automation-controller" in out
    assert "--read-write-key" in out
    assert "kubectl -n flux-system create secret generic sops-age --from-file=age.agekey=" in out
    kept = (fleet / "overlays/cluster-4/NEXT-STEPS.md").read_text()
    assert kept.startswith("# Next steps for cluster cluster-4") and out.split("\n", 1)[1] in kept
    cluster_1 = (fleet / "overlays/cluster-1/NEXT-STEPS.md").read_text()
    assert "--path=clusters/cluster-1" in cluster_1 and "prefect/cluster-1/registry" in cluster_1
    assert "--read-write-key" not in cluster_1  # no image automation on cluster-1
    assert "`prefect-db` (key `connection-string`" in (fleet / "overlays/cluster-2/NEXT-STEPS.md").read_text()
    readme = (fleet / "README.md").read_text()
    section = readme[readme.index("<!-- gitopsgen:next-steps") :]
    assert "--owner=platform --repository=fleet --branch=main --path=clusters/NAME" in section
    assert "overlays/NAME/NEXT-STEPS.md" in section and "sops-age" in section
    assert run_cli("generate", "--check", "--repo", str(fleet)).returncode == 0
    fleet_file = fleet / "gitopsgen.yaml"
    fleet_file.write_text(fleet_file.read_text().replace("branch: main", "branch: production"))
    run_cli("generate", "--repo", str(fleet), check=True)
    assert "--branch=production --path=clusters/NAME" in (fleet / "README.md").read_text()


def test_values_are_checked_against_the_chart_schema_when_the_chart_is_at_hand(fleet: Path) -> None:
    import shutil

    from conftest import shared

    # the chart repository as a local-directory mirror inside the fleet (the check never downloads)
    shutil.copytree(shared("helm-repo"), fleet / "mirror")
    (fleet / ".gitopsgen.yaml").write_text("helm-mirrors:\n  https://prefecthq.github.io/prefect-helm: mirror\n")
    intent = fleet / "intent/clusters/cluster-1.yaml"
    good = intent.read_text() + "values:\n  prefect-server:\n    server: {podLabels: {team: data}}\n"
    intent.write_text(good.replace("team: data", "team: data}, replicaCount: many, x: {y: 1"))
    before = snapshot(fleet)
    proc = run_cli("generate", "--repo", str(fleet))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("gitopsgen: error: intent/clusters/cluster-1.yaml: values break the chart's")
    assert "server.replicaCount: got string, want integer" in proc.stderr
    assert snapshot(fleet) == before
    intent.write_text(good)
    proc = run_cli("generate", "--repo", str(fleet))
    assert proc.returncode == 0 and "not checked" not in proc.stderr, proc.stderr


def test_values_without_the_chart_are_written_and_said_to_be_unchecked(
    fleet: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITOPSGEN_CACHE_DIR", str(tmp_path / "empty-cache"))  # no chart cached by other tests
    intent = fleet / "intent/clusters/cluster-1.yaml"
    intent.write_text(intent.read_text() + "values:\n  prefect-server:\n    server: {podLabels: {team: data}}\n")
    proc = run_cli("generate", "--repo", str(fleet))
    assert proc.returncode == 0, proc.stderr
    assert "values of cluster cluster-1 not checked against the chart's values.schema.json" in proc.stderr
    assert "(H002)" in proc.stderr
    assert "team: data" in (fleet / "overlays/cluster-1/prefect-server/helmrelease-patch.yaml").read_text()


def test_values_must_be_string_keyed_mappings_of_bounded_depth() -> None:
    from gitopsgen.errors import InputError
    from gitopsgen.generate.intentcheck import MAX_VALUES_DEPTH, check_values

    deep: dict[str, object] = {}
    node = deep
    for _ in range(MAX_VALUES_DEPTH + 2):
        node["a"] = {}
        node = node["a"]  # type: ignore[assignment]
    for bad, message in (([1], "must be a mapping"), ({"a": {1: 2}}, "key 1 is not a string"), (deep, "deeper")):
        with pytest.raises(InputError, match=message):
            check_values(bad, "values")
    check_values({"server": {"podLabels": {"team": "data"}, "extraArgs": [{"a": 1}]}}, "values")
