"""``gitopsgen diff``: rendered per-cluster changes between a git revision and the working tree.

The end-to-end tests use a real git fleet repository, the real kustomize and the real Prefect charts
(../shared/helm-repo served on 127.0.0.1 through ``--helm-mirror``).
"""

from __future__ import annotations

import json
from pathlib import Path

import git
import pytest
import yaml
from conftest import CLUSTER_1, INIT_ARGS, make_repo, run_cli
from test_gitlab import TOKEN, gitlab  # noqa: F401  (the fake GitLab fixture)

from gitopsgen.diff.compare import index, object_changes
from gitopsgen.diff.formats import DiffReport, render_markdown
from gitopsgen.diff.objects import MASKED, MASKED_CHANGED, ObjectKey, mask, normalize, to_yaml

CHART_URL = "https://prefecthq.github.io/prefect-helm"


# ---------------------------------------------------------------- objects (pure)


def deployment(replicas: int = 1, chart: str = "prefect-server-1.0.0", checksum: str = "abc") -> dict:
    return {
        "kind": "Deployment",
        "apiVersion": "apps/v1",
        "metadata": {
            "name": "prefect-server",
            "namespace": "prefect",
            "labels": {"helm.sh/chart": chart, "app.kubernetes.io/name": "prefect-server"},
            "annotations": {"config.kubernetes.io/origin": "path: base/x.yaml"},
        },
        "spec": {
            "replicas": replicas,
            "template": {
                "metadata": {"annotations": {"checksum/config": checksum}, "labels": {"helm.sh/chart": chart}},
                "spec": {"containers": [{"name": "api", "image": "prefecthq/prefect:3.8.3-python3.12"}]},
            },
        },
    }


def test_normalize_strips_render_noise_and_orders_keys() -> None:
    n = normalize(deployment())
    assert list(n) == ["apiVersion", "kind", "metadata", "spec"]
    assert n["metadata"] == {
        "labels": {"app.kubernetes.io/name": "prefect-server"},
        "name": "prefect-server",
        "namespace": "prefect",
    }
    assert "metadata" not in n["spec"]["template"]  # only noise was there
    # a new chart release or a changed checksum alone is no change
    assert normalize(deployment(chart="prefect-server-2.0.0", checksum="def")) == n
    assert normalize(deployment(replicas=2)) != n


def test_json_strings_are_laid_out_one_key_per_line() -> None:
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "t"},
        "data": {"t.json": json.dumps({"job_configuration": {"image": "a:1", "ttl": 60}})},
    }
    text = to_yaml(normalize(cm))
    assert '"image": "a:1",' in text and '"ttl": 60' in text  # separate lines, so a change is one line
    cm2 = json.loads(json.dumps(cm))
    cm2["data"]["t.json"] = json.dumps({"job_configuration": {"image": "a:2", "ttl": 60}})
    [change] = object_changes("c", index([cm]), index([cm2]))
    assert [ln for ln in change.diff[3:] if ln[:1] in "+-"] == ['-        "image": "a:1",', '+        "image": "a:2",']


def test_secret_values_are_masked_and_changes_still_visible() -> None:
    def secret(**data: str) -> dict:
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "s", "namespace": "n"},
            "stringData": dict(data),
        }

    before, after = mask(secret(a="hunter2", b="same"), secret(a="correct-horse", b="same", c="new"))
    assert before["stringData"] == {"a": MASKED, "b": MASKED}
    assert after["stringData"] == {"a": MASKED_CHANGED, "b": MASKED, "c": MASKED_CHANGED}
    [change] = object_changes("c", index([secret(a="hunter2")]), index([secret(a="correct-horse")]))
    text = "\n".join(change.diff)
    assert "hunter2" not in text and "correct-horse" not in text and MASKED_CHANGED in text
    # a Secret whose values did not change shows no change at all
    assert object_changes("c", index([secret(a="x")]), index([secret(a="x")])) == []


def test_object_changes_added_removed_changed() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "gone", "namespace": "n"}}
    before = index([deployment(), cm])
    after = index([deployment(replicas=3), {**cm, "metadata": {"name": "new", "namespace": "n"}}])
    changes = {(c.key.name, c.change) for c in object_changes("c1", before, after)}
    assert changes == {("prefect-server", "changed"), ("gone", "removed"), ("new", "added")}
    changed = next(c for c in object_changes("c1", before, after) if c.change == "changed")
    assert changed.diff[0] == "--- a/c1/apps/Deployment/prefect/prefect-server"
    assert "-  replicas: 1" in changed.diff and "+  replicas: 3" in changed.diff
    assert ObjectKey.of(deployment()).title == "Deployment prefect/prefect-server"


def test_duplicate_identities_are_both_kept() -> None:
    keys = index([deployment(), deployment(replicas=2)])
    assert sorted(k.name for k in keys) == ["prefect-server", "prefect-server#2"]


def test_markdown_bounds_object_size_and_note_size() -> None:
    from gitopsgen.diff.compare import ClusterDiff, ObjectChange

    big = ObjectChange(
        ObjectKey("", "ConfigMap", "n", "big"),
        "changed",
        ["--- a", "+++ b", "@@ -1 +1 @@", *(f"+line {i}" for i in range(1000))],
        1000,
        0,
    )
    tick = ObjectChange(ObjectKey("", "ConfigMap", "n", "ticks"), "added", ["--- /dev/null", "+++ b", "+a: ```x"], 1, 0)
    report = DiffReport("main", "0" * 40, "working tree", [ClusterDiff("c1", "changed", objects=[big, tick])])
    md = render_markdown(report, max_lines=50)
    assert "... 953 more line(s) not shown" in md
    assert "````diff" in md  # the fence outgrows the content's backticks
    tiny = render_markdown(report, max_lines=0, limit=3000)
    assert len(tiny) < 4000 and "not shown (note size limit)" in tiny and "`c1: changed ConfigMap n/big`" in tiny


# ---------------------------------------------------------------- end to end (real git, kustomize, charts)


def _diff(repo: Path, url: str, *args: str) -> tuple[int, str, str]:
    proc = run_cli("diff", "--repo", str(repo), "--helm-mirror", f"{CHART_URL}={url}", *args)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.slow
def test_overlay_value_change_shows_as_the_rendered_deployment_change(fleet: Path, helm_repo_url: str) -> None:
    patch = fleet / "overlays/cluster-2/prefect-worker/pools/etl/helmrelease-patch.yaml"
    text = patch.read_text()
    assert "replicaCount: 2" in text
    patch.write_text(text.replace("replicaCount: 2", "replicaCount: 4"))
    code, out, err = _diff(fleet, helm_repo_url, "--base", "HEAD", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    status = {c["name"]: c for c in data["clusters"]}
    assert status["cluster-1"]["status"] == "skipped"  # reads no changed file: not rendered
    c2 = status["cluster-2"]
    assert c2["status"] == "changed" and c2["changedInputs"] == [
        "overlays/cluster-2/prefect-worker/pools/etl/helmrelease-patch.yaml"
    ]
    by_kind = {(o["kind"], o["name"]): o for o in c2["objects"]}
    dep = by_kind[("Deployment", "prefect-worker-etl")]
    assert dep["change"] == "changed" and dep["namespace"] == "prefect"
    assert "-  replicas: 2" in dep["diff"] and "+  replicas: 4" in dep["diff"]
    assert ("HelmRelease", "prefect-worker-etl") in by_kind  # the input that changed is shown too
    assert all(o["change"] == "changed" for o in c2["objects"]) and len(c2["objects"]) == 2
    # the same as a plain unified diff and as Markdown
    code, out, _ = _diff(fleet, helm_repo_url, "--base", "HEAD", "--format", "diff", "--exit-code")
    assert code == 1  # --exit-code: something changed
    assert "--- a/cluster-2/apps/Deployment/prefect/prefect-worker-etl" in out
    code, md, _ = _diff(fleet, helm_repo_url, "--base", "HEAD")
    assert code == 0 and "<b>changed</b> `Deployment prefect/prefect-worker-etl` (+1 -1)" in md
    assert "| `cluster-1` | not rendered: no input changed |" in md


@pytest.mark.slow
def test_added_cluster_and_committed_base(fleet: Path, helm_repo_url: str) -> None:
    repo = git.Repo(fleet)
    run_cli("add-cluster", "cluster-3", "--from", "cluster-1", "--repo", str(fleet), check=True)
    (fleet / "README.md").write_text("changed\n")
    code, out, err = _diff(fleet, helm_repo_url, "--base", "main", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    c3 = next(c for c in data["clusters"] if c["name"] == "cluster-3")
    assert c3["status"] == "added" and c3["objects"]
    assert {o["change"] for o in c3["objects"]} == {"added"}
    kinds = {o["kind"] for o in c3["objects"]}
    assert {"Deployment", "HelmRelease", "Kustomization", "ExternalSecret"} <= kinds
    assert "README.md" in data["changedFilesOutsideClusters"]
    assert {c["name"]: c["status"] for c in data["clusters"]}["cluster-2"] == "skipped"
    # once committed, the working tree equals the base: nothing is rendered
    repo.git.add(A=True)
    repo.index.commit("cluster-3")
    code, out, _ = _diff(fleet, helm_repo_url, "--base", "HEAD", "--format", "json")
    assert code == 0 and json.loads(out)["changed"] is False
    assert {c["status"] for c in json.loads(out)["clusters"]} == {"skipped"}


@pytest.mark.slow
def test_secret_values_never_reach_the_diff(fleet: Path, helm_repo_url: str) -> None:
    kustomization = fleet / "clusters/cluster-1/prefect/kustomization.yaml"
    data = yaml.safe_load(kustomization.read_text())
    data["resources"].append("extra-secret.yaml")
    kustomization.write_text(yaml.safe_dump(data))
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "extra", "namespace": "prefect"},
        "stringData": {"token": "s3cr3t-before"},
    }
    (fleet / "clusters/cluster-1/prefect/extra-secret.yaml").write_text(yaml.safe_dump(secret))
    repo = git.Repo(fleet)
    repo.git.add(A=True)
    repo.index.commit("extra secret")
    secret["stringData"]["token"] = "s3cr3t-after"
    (fleet / "clusters/cluster-1/prefect/extra-secret.yaml").write_text(yaml.safe_dump(secret))
    for fmt in ("markdown", "diff", "json"):
        code, out, err = _diff(fleet, helm_repo_url, "--base", "HEAD", "--format", fmt)
        assert code == 0, err
        assert "s3cr3t" not in out and MASKED_CHANGED in out


@pytest.mark.slow
def test_build_errors_are_reported_per_side(fleet: Path, helm_repo_url: str) -> None:
    broken = fleet / "overlays/cluster-1/prefect-server/kustomization.yaml"
    broken.write_text(broken.read_text() + "\nresources:\n  - does-not-exist.yaml\n")
    code, out, err = _diff(fleet, helm_repo_url, "--base", "HEAD", "--format", "json")
    assert code == 0, err
    c1 = next(c for c in json.loads(out)["clusters"] if c["name"] == "cluster-1")
    assert c1["errors"].get("head") and "does-not-exist.yaml" in c1["errors"]["head"][0]
    assert "base" not in c1["errors"]


def test_bad_base_and_cluster_are_input_errors(fleet: Path) -> None:
    proc = run_cli("diff", "--repo", str(fleet), "--base", "no-such-ref")
    assert proc.returncode == 2 and "no-such-ref" in proc.stderr and proc.stderr.count("\n") == 1
    proc = run_cli("diff", "--repo", str(fleet), "--base", "HEAD", "--cluster", "nope", "--offline")
    assert proc.returncode == 2 and "nope" in proc.stderr


def test_worktree_is_removed_after_a_diff(fleet: Path) -> None:
    run_cli("diff", "--repo", str(fleet), "--base", "HEAD", "--cluster", "nope", "--offline")
    assert git.Repo(fleet).git.worktree("list").count("\n") == 0  # only the main worktree


@pytest.mark.slow
def test_gitlab_note_is_posted_once_and_updated(
    fleet: Path,
    helm_repo_url: str,
    gitlab: tuple,  # noqa: F811 (fixture)
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake, base = gitlab
    patch = fleet / "overlays/cluster-2/prefect-worker/pools/etl/helmrelease-patch.yaml"
    patch.write_text(patch.read_text().replace("replicaCount: 2", "replicaCount: 4"))
    code, _, err = _diff(fleet, helm_repo_url, "--base", "HEAD", "--gitlab-note")
    assert code == 0 and "gitlab note: not posted: not a merge request pipeline" in err  # no MR: not an error
    for var, value in {
        "CI_API_V4_URL": f"{base}/api/v4",
        "CI_PROJECT_ID": "platform/fleet",
        "CI_MERGE_REQUEST_IID": "7",
        "GITOPSGEN_GITLAB_TOKEN": TOKEN,
    }.items():
        monkeypatch.setenv(var, value)
    code, out, err = _diff(fleet, helm_repo_url, "--base", "HEAD", "--gitlab-note", "--format", "json")
    assert code == 0 and "gitlab note: created" in err, err
    patch.write_text(patch.read_text().replace("replicaCount: 4", "replicaCount: 5"))
    code, _, err = _diff(fleet, helm_repo_url, "--base", "HEAD", "--gitlab-note", "--output", str(fleet / "d.md"))
    assert code == 0 and "gitlab note: updated" in err, err
    [note] = fake.notes  # one note, updated in place, in Markdown whatever --format was
    assert "+  replicas: 5" in note["body"] and "`Deployment prefect/prefect-worker-etl`" in note["body"]
    assert json.loads(out)["changed"] is True


def test_fleet_in_a_subdirectory_of_the_git_repository(tmp_path: Path) -> None:
    top = tmp_path / "platform"
    fleet = top / "fleet"
    fleet.mkdir(parents=True)
    repo = make_repo(top)
    for args in (INIT_ARGS, CLUSTER_1):
        run_cli(*args, "--repo", str(fleet), check=True)
    repo.git.add(A=True)
    repo.index.commit("fleet in a subdirectory")
    (top / "unrelated.txt").write_text("outside the fleet\n")
    proc = run_cli("diff", "--repo", str(fleet), "--base", "HEAD", "--format", "json", "--offline")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [(c["name"], c["status"]) for c in data["clusters"]] == [("cluster-1", "skipped")]
    assert data["changedFilesOutsideClusters"] == []  # paths are the fleet's; the file above it is not one
