"""gitopsgen upgrade and remove-cluster: intent edits, regenerated files, pins, downgrades, all-or-nothing."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import run_cli

from gitopsgen.errors import InputError
from gitopsgen.generate import fleetops

OLD_PREFECT, OLD_CHART = "3.8.3", "2026.8.18172642"
NEW_PREFECT, NEW_CHART = "3.8.4", "2026.9.2143015"


def hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def under(files: dict[str, str], *prefixes: str) -> dict[str, str]:
    return {k: v for k, v in files.items() if k.startswith(prefixes)}


def gg(root: Path, *args: str) -> Any:
    return run_cli(*args, "--repo", str(root))


def load(root: Path, rel: str) -> list[Any]:
    return [d for d in yaml.safe_load_all((root / rel).read_text()) if d is not None]


def substitutions(root: Path, cluster: str) -> dict[str, dict[str, str]]:
    docs = load(root, f"clusters/{cluster}/prefect/prefect.yaml")
    return {d["metadata"]["name"]: d["spec"].get("postBuild", {}).get("substitute", {}) for d in docs}


def chart_versions(root: Path, cluster: str) -> set[str]:
    """Every chart version a cluster's overlays set on its HelmReleases."""
    out: set[str] = set()
    for p in sorted((root / "overlays" / cluster).rglob("helmrelease-patch.yaml")):
        for d in load(root, p.relative_to(root).as_posix()):
            out.add(d["spec"]["chart"]["spec"]["version"])
    return out


def assert_versions(root: Path, cluster: str, prefect: str, chart: str) -> None:
    subst = substitutions(root, cluster)
    assert subst["prefect-server"]["prefect_server_tag"] == f"{prefect}-python3.11"
    assert subst["prefect-workers"]["prefect_worker_tag"] == f"{prefect}-python3.11-kubernetes"
    assert chart_versions(root, cluster) == {chart}


def assert_clean(root: Path) -> None:
    proc = gg(root, "generate", "--check")
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture
def fleet3(fleet: Path) -> Path:
    """The two-cluster fleet plus cluster-3, a copy of cluster-1 pinned to older versions."""
    proc = gg(
        fleet,
        "add-cluster",
        "cluster-3",
        "--from",
        "cluster-1",
        "--prefect-version",
        "3.8.2",
        "--chart-version",
        "2026.7.1",
    )
    assert proc.returncode == 0, proc.stderr
    return fleet


# ---------------------------------------------------------------- versions


def test_versions_compare_as_numbers_with_prereleases_first() -> None:
    assert fleetops.compare_versions("3.10.0", "3.9.9") == 1
    assert fleetops.compare_versions("3.8.4-rc.1", "3.8.4") == -1
    assert fleetops.compare_versions("3.8.4-rc.2", "3.8.4-rc.10") == -1
    assert fleetops.compare_versions("2026.8.18172642", "2026.10.1") == -1
    assert fleetops.compare_versions("3.8.3+build.1", "3.8.3") == 0
    with pytest.raises(InputError):
        fleetops.version_key("latest")


def test_set_key_keeps_comments_and_layout() -> None:
    text = "# header\nname: c\n# pools\nworkerPools:\n  - name: a  # first\nchartVersion: 1.0.0\n"
    out = fleetops.set_key(text, ("prefectVersion",), "3.8.4", "x.yaml")
    assert out == text.replace("chartVersion:", "prefectVersion: 3.8.4\nchartVersion:")
    assert fleetops.set_key(out, ("prefectVersion",), None, "x.yaml") == text


# ---------------------------------------------------------------- upgrade


def test_fleet_wide_upgrade_moves_unpinned_clusters_and_reports_pinned(fleet3: Path) -> None:
    fleet_file = fleet3 / "gitopsgen.yaml"
    fleet_file.write_text("# owned by team platform\n" + fleet_file.read_text())
    before = hashes(fleet3)
    proc = gg(fleet3, "upgrade", "--prefect", NEW_PREFECT, "--chart", NEW_CHART)
    assert proc.returncode == 0, proc.stderr
    assert f"Upgrade Prefect {OLD_PREFECT} → {NEW_PREFECT} on cluster-1, cluster-2 (fleet default)" in proc.stdout
    assert "cluster-3: pinned to Prefect 3.8.2, not upgraded" in proc.stderr
    assert "cluster-3: pinned to chart 2026.7.1, not upgraded" in proc.stderr
    settings = yaml.safe_load(fleet_file.read_text())
    assert (settings["prefect"]["version"], settings["chart"]["version"]) == (NEW_PREFECT, NEW_CHART)
    assert fleet_file.read_text().startswith("# owned by team platform\n")
    for cluster in ("cluster-1", "cluster-2"):
        assert_versions(fleet3, cluster, NEW_PREFECT, NEW_CHART)
    assert substitutions(fleet3, "cluster-2")["prefect-server"]["prefect_server_tag"] == f"{NEW_PREFECT}-python3.11"
    policies = load(fleet3, "overlays/cluster-2/image-automation/prefect-server-policy-patch.yaml")
    assert policies[0]["spec"]["policy"]["semver"]["range"] == f"~{NEW_PREFECT}"
    base = load(fleet3, "base/prefect-server/helmrelease.yaml")
    assert base[0]["spec"]["chart"]["spec"]["version"] == NEW_CHART
    after = hashes(fleet3)
    assert under(after, "overlays/cluster-3/", "clusters/cluster-3/", "intent/") == under(
        before, "overlays/cluster-3/", "clusters/cluster-3/", "intent/"
    )
    assert_versions(fleet3, "cluster-3", "3.8.2", "2026.7.1")
    assert_clean(fleet3)


def test_include_pinned_drops_the_pins(fleet3: Path) -> None:
    proc = gg(fleet3, "upgrade", "--prefect", NEW_PREFECT, "--include-pinned")
    assert proc.returncode == 0, proc.stderr
    assert "Upgrade Prefect 3.8.2 → 3.8.4 on cluster-3" in proc.stdout
    intent = yaml.safe_load((fleet3 / "intent/clusters/cluster-3.yaml").read_text())
    assert "prefectVersion" not in intent and intent["chartVersion"] == "2026.7.1"
    for cluster in ("cluster-1", "cluster-3"):
        assert substitutions(fleet3, cluster)["prefect-server"]["prefect_server_tag"] == f"{NEW_PREFECT}-python3.11"
    assert_versions(fleet3, "cluster-3", NEW_PREFECT, "2026.7.1")
    assert_clean(fleet3)


def test_per_cluster_upgrade_pins_only_that_cluster(fleet3: Path) -> None:
    before = hashes(fleet3)
    proc = gg(fleet3, "upgrade", "--prefect", NEW_PREFECT, "--chart", NEW_CHART, "--cluster", "cluster-2")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        f"Upgrade Prefect {OLD_PREFECT} → {NEW_PREFECT} on cluster-2",
        f"Upgrade chart {OLD_CHART} → {NEW_CHART} on cluster-2",
    ]
    intent = yaml.safe_load((fleet3 / "intent/clusters/cluster-2.yaml").read_text())
    assert (intent["prefectVersion"], intent["chartVersion"]) == (NEW_PREFECT, NEW_CHART)
    assert_versions(fleet3, "cluster-2", NEW_PREFECT, NEW_CHART)
    after = hashes(fleet3)
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert "intent/clusters/cluster-2.yaml" in changed and "clusters/cluster-2/prefect/prefect.yaml" in changed
    others = changed - {"intent/clusters/cluster-2.yaml"}
    assert all(k.startswith(("overlays/cluster-2/", "clusters/cluster-2/prefect/")) for k in others), others
    assert_clean(fleet3)


def test_per_cluster_pin_is_dropped_when_it_equals_the_fleet_default(fleet3: Path) -> None:
    proc = gg(fleet3, "upgrade", "--prefect", OLD_PREFECT, "--cluster", "cluster-3")
    assert proc.returncode == 0, proc.stderr
    assert "Upgrade Prefect 3.8.2 → 3.8.3 on cluster-3" in proc.stdout
    assert "pin dropped" in proc.stderr
    intent = yaml.safe_load((fleet3 / "intent/clusters/cluster-3.yaml").read_text())
    assert "prefectVersion" not in intent and intent["chartVersion"] == "2026.7.1"
    assert_versions(fleet3, "cluster-3", OLD_PREFECT, "2026.7.1")
    assert_clean(fleet3)


def test_downgrade_is_refused_unless_allowed(fleet3: Path) -> None:
    before = hashes(fleet3)
    for args in (("--prefect", "3.8.1"), ("--chart", "2026.7.2"), ("--prefect", "3.8.1", "--cluster", "cluster-3")):
        proc = gg(fleet3, "upgrade", *args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "refusing to downgrade" in proc.stderr and "--allow-downgrade" in proc.stderr
        assert hashes(fleet3) == before
    proc = gg(fleet3, "upgrade", "--prefect", "3.8.1", "--allow-downgrade")
    assert proc.returncode == 0, proc.stderr
    assert f"Downgrade Prefect {OLD_PREFECT} → 3.8.1 on cluster-1, cluster-2 (fleet default)" in proc.stdout
    assert_versions(fleet3, "cluster-1", "3.8.1", OLD_CHART)
    assert_clean(fleet3)


def test_no_op_upgrade_changes_nothing(fleet3: Path) -> None:
    before = hashes(fleet3)
    for args in (("--prefect", OLD_PREFECT, "--chart", OLD_CHART), ("--prefect", "3.8.2", "--cluster", "cluster-3")):
        proc = gg(fleet3, "upgrade", *args)
        assert proc.returncode == 0, proc.stderr
        assert "nothing to change" in proc.stderr and proc.stdout == ""
        assert hashes(fleet3) == before


def test_dry_run_prints_the_diff_and_writes_nothing(fleet3: Path) -> None:
    before = hashes(fleet3)
    proc = gg(fleet3, "upgrade", "--prefect", NEW_PREFECT, "--chart", NEW_CHART, "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert hashes(fleet3) == before
    assert "--- a/clusters/cluster-1/prefect/prefect.yaml" in proc.stdout
    assert f'+      prefect_server_tag: "{NEW_PREFECT}-python3.11"' in proc.stdout
    assert f"+      version: {NEW_CHART}" in proc.stdout
    assert "would write gitopsgen.yaml" in proc.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("--prefect", NEW_PREFECT, "--cluster", "cluster-9"),
        ("--prefect", NEW_PREFECT, "--cluster", "../cluster-1"),
        ("--prefect", "3.8"),
        ("--chart", "latest"),
        (),
        ("--prefect", NEW_PREFECT, "--cluster", "cluster-1", "--include-pinned"),
    ],
)
def test_bad_upgrade_input_exits_2_and_writes_nothing(fleet3: Path, args: tuple[str, ...]) -> None:
    before = hashes(fleet3)
    proc = gg(fleet3, "upgrade", *args)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("gitopsgen: error: ") and len(proc.stderr.strip().splitlines()) == 1
    assert hashes(fleet3) == before


# ---------------------------------------------------------------- remove-cluster

OWNED = ("intent/clusters/cluster-1.yaml", "overlays/cluster-1/", "clusters/cluster-1/prefect/")


def test_remove_cluster_deletes_exactly_the_owned_files(fleet3: Path) -> None:
    bootstrap = fleet3 / "clusters/cluster-1/flux-system/gotk-sync.yaml"
    bootstrap.parent.mkdir()
    bootstrap.write_text("apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n")
    before = hashes(fleet3)
    owned = under(before, *OWNED)
    assert len(owned) > 10
    proc = gg(fleet3, "remove-cluster", "cluster-1", "--yes")  # cluster-3 was made --from cluster-1: a copy
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "Remove cluster cluster-1\n"
    after = hashes(fleet3)
    assert after == {k: v for k, v in before.items() if k not in owned}
    assert not (fleet3 / "overlays/cluster-1").exists() and not (fleet3 / "clusters/cluster-1/prefect").exists()
    assert "clusters/cluster-1/flux-system/ (Flux bootstrap) is kept" in proc.stderr
    assert "prune" in proc.stderr and "flux uninstall" in proc.stderr
    assert_clean(fleet3)
    assert "cluster-1" not in gg(fleet3, "list").stdout


def test_remove_cluster_dry_run_lists_the_files_and_writes_nothing(fleet3: Path) -> None:
    before = hashes(fleet3)
    proc = gg(fleet3, "remove-cluster", "cluster-2", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    listed = {line.removeprefix("would delete ") for line in proc.stdout.splitlines()}
    assert listed == set(under(before, "intent/clusters/cluster-2.yaml", "overlays/cluster-2/", "clusters/cluster-2/"))
    assert hashes(fleet3) == before


def test_remove_cluster_without_yes_names_what_goes_and_what_stays_and_writes_nothing(fleet3: Path) -> None:
    """cluster-2 (ha, bundled Redis, two pools): the files, the HelmReleases Flux uninstalls, and what survives
    the prune (namespaces, the Redis volume, the server Secrets); exit 2, nothing written, until --yes."""
    before = hashes(fleet3)
    proc = gg(fleet3, "remove-cluster", "cluster-2")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    overlays, wiring = under(before, "overlays/cluster-2/"), under(before, "clusters/cluster-2/prefect/")
    assert lines[0] == (
        f"remove-cluster cluster-2 deletes {len(overlays) + len(wiring) + 1} file(s): clusters/cluster-2/prefect/ "
        f"({len(wiring)} files), intent/clusters/cluster-2.yaml, overlays/cluster-2/ ({len(overlays)} files)"
    )
    assert (
        "HelmReleases prefect-server, prefect-worker-etl, prefect-worker-ml (uninstalled: server, workers, "
        "bundled Redis)" in lines[1]
    )
    assert lines[2] == (
        "  kept on cluster-2 (prune: disabled, helm.sh/resource-policy: keep): namespaces prefect, prefect-etl, "
        "prefect-ml; the Redis volume prefect/redis-data-prefect-redis-master-0; the server Secrets "
        "prefect-basic-auth, prefect-db, prefect-redis, prefect-tls; delete them by hand once backed up"
    )
    assert lines[-1] == "gitopsgen: error: removing cluster cluster-2 deletes what is listed above: pass --yes to do it"
    assert hashes(fleet3) == before
    single = gg(fleet3, "remove-cluster", "cluster-1")
    assert single.returncode == 2 and "the SQLite volume prefect/prefect-server-sqlite" in single.stderr
    assert hashes(fleet3) == before


@pytest.mark.parametrize("name", ["cluster-9", "../base", "Cluster-1"])
def test_remove_unknown_cluster_exits_2_and_writes_nothing(fleet3: Path, name: str) -> None:
    before = hashes(fleet3)
    proc = gg(fleet3, "remove-cluster", name, "--yes")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("gitopsgen: error: ")
    assert hashes(fleet3) == before


def test_upgrade_then_remove_leaves_generate_clean(fleet3: Path) -> None:
    run_cli("upgrade", "--prefect", NEW_PREFECT, "--include-pinned", "--repo", str(fleet3), check=True)
    run_cli("upgrade", "--chart", NEW_CHART, "--cluster", "cluster-3", "--repo", str(fleet3), check=True)
    run_cli("remove-cluster", "cluster-2", "--yes", "--repo", str(fleet3), check=True)
    assert_clean(fleet3)
    assert_versions(fleet3, "cluster-3", NEW_PREFECT, NEW_CHART)
    assert_versions(fleet3, "cluster-1", NEW_PREFECT, OLD_CHART)
