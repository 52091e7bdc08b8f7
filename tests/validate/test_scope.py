"""``validate --shard K/N`` and ``--changed-since REF``: which clusters a run validates, and that the shards'
reports add up to the whole run's (each finding once, repository-wide findings in shard 1 only)."""

from __future__ import annotations

import json
from pathlib import Path

import git
import pytest
from conftest import run_cli, shared

CHARTS = "https://prefecthq.github.io/prefect-helm"

pytestmark = pytest.mark.slow


def validate(fleet: Path, helm_repo_url: str, *args: str) -> dict:
    proc = run_cli(
        "validate",
        str(fleet),
        "--format",
        "json",
        "--crds",
        str(shared("flux-crds")),
        "--crds",
        str(shared("external-secrets-crds")),
        "--helm-mirror",
        f"{CHARTS}={helm_repo_url}",
        *args,
    )
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)


def per_cluster(report: dict) -> set[tuple[str, str, int, str, str]]:
    """Findings with merged cluster lists split again, so that separate runs compare with one run."""
    return {
        (f["rule"], f["file"], f["line"], f["message"], cluster)
        for f in report["findings"]
        for cluster in (f["cluster"].split(",") if f["cluster"] else [""])
    }


@pytest.fixture
def fleet_with_repo_finding(fleet: Path) -> Path:
    """The two-cluster fleet plus a broken YAML file that no cluster reads (a repository-wide Y001)."""
    (fleet / "docs").mkdir()
    (fleet / "docs/broken.yaml").write_text("key: [unclosed\n")
    repo = git.Repo(fleet)
    repo.git.add(A=True)
    repo.index.commit("docs")
    return fleet


def test_shards_add_up_to_the_whole_run(fleet_with_repo_finding: Path, helm_repo_url: str) -> None:
    fleet = fleet_with_repo_finding
    whole = validate(fleet, helm_repo_url)
    first = validate(fleet, helm_repo_url, "--shard", "1/2")
    second = validate(fleet, helm_repo_url, "--shard", "2/2")
    assert first["summary"]["clusters"] == ["cluster-1"] and second["summary"]["clusters"] == ["cluster-2"]
    assert first["summary"]["stats"]["clusters_selected_of"] == 2
    assert per_cluster(first) | per_cluster(second) == per_cluster(whole)
    assert not per_cluster(first) & per_cluster(second)  # nothing reported twice
    y001 = ("Y001", "docs/broken.yaml")
    assert any(f[:2] == y001 for f in per_cluster(first)) and not any(f[:2] == y001 for f in per_cluster(second))
    assert all(cluster == "cluster-2" for *_, cluster in per_cluster(second))


def test_changed_since_validates_only_what_a_change_reaches(fleet_with_repo_finding: Path, helm_repo_url: str) -> None:
    fleet = fleet_with_repo_finding
    nothing = validate(fleet, helm_repo_url, "--changed-since", "HEAD")
    assert nothing["summary"]["clusters"] == [] and nothing["findings"] == []
    patch = fleet / "overlays/cluster-2/prefect-worker/pools/etl/helmrelease-patch.yaml"
    patch.write_text(patch.read_text().replace("replicaCount: 2", "replicaCount: 3"))
    report = validate(fleet, helm_repo_url, "--changed-since", "HEAD")
    assert report["summary"]["clusters"] == ["cluster-2"]
    # docs/broken.yaml did not change: not reported; the hand edit of a generated file (G001) is, though the
    # repository-wide work is skipped
    repo_level = {f[:2] for f in per_cluster(report) if not f[4]}
    assert repo_level == {("G001", "overlays/cluster-2/prefect-worker/pools/etl/helmrelease-patch.yaml")}
    assert all(cluster == "cluster-2" for *_, cluster in per_cluster(report) if cluster)
    (fleet / "docs/also-broken.yaml").write_text("a: b: c\n")  # a change outside every cluster
    report = validate(fleet, helm_repo_url, "--changed-since", "HEAD")
    repo_level = {f[:2] for f in per_cluster(report) if not f[4]}
    assert ("Y001", "docs/also-broken.yaml") in repo_level and ("Y001", "docs/broken.yaml") not in repo_level


@pytest.mark.parametrize("shard", ["0/2", "3/2", "1", "a/b", "1/0"])
def test_bad_shard_is_an_input_error(fleet: Path, shard: str) -> None:
    proc = run_cli("validate", str(fleet), "--shard", shard, "--offline")
    assert proc.returncode == 2 and "--shard" in proc.stderr and proc.stderr.count("\n") == 1


def test_changed_since_an_unknown_revision_is_an_input_error(fleet: Path) -> None:
    proc = run_cli("validate", str(fleet), "--changed-since", "no-such-ref", "--offline")
    assert proc.returncode == 2 and "no-such-ref" in proc.stderr


def test_changed_since_reports_an_intent_the_fleet_change_breaks(fleet: Path, helm_repo_url: str) -> None:
    """The fleet intent changed: every cluster's intent is resolved again, and one that no longer resolves
    is reported on gitopsgen.yaml, though no cluster's own files changed."""
    intent = fleet / "gitopsgen.yaml"
    text = intent.read_text()
    assert "harbor.example.com" in text
    intent.write_text(text.replace("harbor.example.com", "'Not A Host!'", 1))  # (no registry at all is valid)
    report = validate(fleet, helm_repo_url, "--changed-since", "HEAD")
    g001 = [f for f in report["findings"] if f["rule"] == "G001"]
    assert g001 and all(f["file"] == "gitopsgen.yaml" for f in g001), g001
    assert any("does not load" in f["message"] for f in g001), g001
