"""Habits users bring from flux, kubeconform and friends: shell completion, ``build``, ``doctor``, ``--dry-run`` on
the writing commands, and ``validate``'s ``--repo``, ``--fail-on`` and ``--quiet``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import CLUSTER_1, INIT_ARGS, make_repo, run_cli, shared

CHARTS = "https://prefecthq.github.io/prefect-helm"


def tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


@pytest.fixture
def small_fleet(tmp_path: Path) -> Path:
    path = tmp_path / "fleet"
    path.mkdir()
    repo = make_repo(path)
    for args in (INIT_ARGS, CLUSTER_1):
        run_cli(*args, "--repo", str(path), check=True)
    repo.git.add(A=True)
    repo.index.commit("fleet")
    return path


# ---------------------------------------------------------------- completion


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_script_names_the_protocol(shell: str) -> None:
    proc = run_cli("completion", shell, check=True)
    assert "_GITOPSGEN_COMPLETE" in proc.stdout and "gitopsgen" in proc.stdout


def test_bash_completion_completes_commands_and_options() -> None:
    """The script's own protocol, as bash calls it: a partial command word, then a partial option."""
    if shutil.which("bash") is None:
        pytest.skip("needs bash")

    def complete(words: str, cword: int) -> list[str]:
        env = {**os.environ, "_GITOPSGEN_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
        proc = subprocess.run(
            [sys.executable, "-m", "gitopsgen.cli"], env=env, capture_output=True, text=True, timeout=60
        )
        return [line.split(",", 1)[1] for line in proc.stdout.splitlines() if "," in line]

    assert "add-cluster" in complete("gitopsgen add-", 1)
    assert complete("gitopsgen validate --fail-", 2) == ["--fail-on"]
    assert set(complete("gitopsgen validate --fail-on ", 3)) == {"error", "warning"}


def test_completion_refuses_an_unknown_shell() -> None:
    proc = run_cli("completion", "tcsh")
    assert proc.returncode == 2 and "tcsh" in proc.stderr


# ---------------------------------------------------------------- --dry-run


def test_dry_run_on_every_writing_command_writes_nothing(small_fleet: Path, tmp_path: Path) -> None:
    before = tree(small_fleet)
    add = run_cli(
        "add-cluster",
        "cluster-9",
        "--server-mode",
        "single",
        "--worker-pool",
        "default",
        "--repo",
        str(small_fleet),
        "--dry-run",
    )
    assert add.returncode == 0, add.stderr
    assert "+++ b/intent/clusters/cluster-9.yaml" in add.stdout
    assert "would write intent/clusters/cluster-9.yaml" in add.stderr
    intent = small_fleet / "intent/clusters/cluster-1.yaml"
    intent.write_text(intent.read_text().replace("replicas: 1\n    finishedJobTtl", "replicas: 4\n    finishedJobTtl"))
    before = tree(small_fleet)
    gen = run_cli("generate", "--repo", str(small_fleet), "--dry-run")
    assert gen.returncode == 0 and "+      replicaCount: 4" in gen.stdout, gen.stderr
    assert tree(small_fleet) == before
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    make_repo(fresh)
    init = run_cli(*INIT_ARGS, "--repo", str(fresh), "--dry-run")
    assert init.returncode == 0 and "+++ b/gitopsgen.yaml" in init.stdout
    assert tree(fresh) == {}


def test_dry_run_refuses_publishing(small_fleet: Path) -> None:
    proc = run_cli(
        "add-cluster",
        "cluster-9",
        "--server-mode",
        "single",
        "--worker-pool",
        "default",
        "--repo",
        str(small_fleet),
        "--dry-run",
        "--commit",
    )
    assert proc.returncode == 2 and "--dry-run writes nothing" in proc.stderr
    assert not (small_fleet / "intent/clusters/cluster-9.yaml").exists()


# ---------------------------------------------------------------- build, doctor, validate's conventions


@pytest.mark.slow
def test_build_prints_what_one_kustomization_applies(small_fleet: Path, helm_repo_url: str) -> None:
    proc = run_cli(
        "build",
        "cluster-1",
        "--repo",
        str(small_fleet),
        "--kustomization",
        "prefect-workers",
        "--helm-mirror",
        f"{CHARTS}={helm_repo_url}",
    )
    assert proc.returncode == 0, proc.stderr
    objects = [d for d in yaml.safe_load_all(proc.stdout) if d]
    kinds = {d["kind"] for d in objects}
    # the HelmRelease the Kustomization applies, and what its chart renders (the worker Deployment)
    assert {"HelmRelease", "Deployment"} <= kinds and "Kustomization" not in kinds
    assert "# Source: base/prefect-worker/helmrelease.yaml" in proc.stdout
    unknown = run_cli(
        "build",
        "cluster-1",
        "--repo",
        str(small_fleet),
        "--kustomization",
        "nope",
        "--helm-mirror",
        f"{CHARTS}={helm_repo_url}",
    )
    assert unknown.returncode == 2 and "prefect-workers" in unknown.stderr


@pytest.mark.slow
def test_doctor_reports_each_check(small_fleet: Path, helm_repo_url: str, tmp_path: Path) -> None:
    ok = run_cli(
        "doctor",
        "--repo",
        str(small_fleet),
        "--helm-mirror",
        f"{CHARTS}={helm_repo_url}",
        "--crds",
        str(shared("flux-crds")),
        "--crds",
        str(shared("external-secrets-crds")),
    )
    lines = dict(line.split(":", 1) for line in ok.stdout.splitlines())
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert {k.split()[1] for k in lines} == {"kustomize", "schemas", "charts", "git"}
    assert lines["ok    kustomize"] and lines["ok    charts"] and lines["ok    schemas"]
    missing = tmp_path / "empty-mirror"
    missing.mkdir()
    (missing / "index.yaml").write_text("apiVersion: v1\nentries: {}\n")
    bad = run_cli(
        "doctor",
        "--repo",
        str(small_fleet),
        "--helm-mirror",
        f"{CHARTS}={missing}",
        "--chart-cache",
        str(tmp_path / "charts"),
    )
    assert bad.returncode == 1 and "fail  charts:" in bad.stdout and "--helm-mirror" in bad.stdout


@pytest.mark.slow
def test_validate_repo_fail_on_and_quiet(
    small_fleet: Path, helm_repo_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITOPSGEN_CACHE_DIR", str(tmp_path / "empty-cache"))  # no CRD cached by another test
    base = ("validate", "--repo", str(small_fleet), "--helm-mirror", f"{CHARTS}={helm_repo_url}")
    # without the CRDs, Flux kinds have no schema: warnings (and infos), no error
    plain = run_cli(*base, "--format", "json")
    report = json.loads(plain.stdout)
    severities = {f["severity"] for f in report["findings"]}
    assert plain.returncode == 0 and "warning" in severities and "error" not in severities, plain.stderr
    assert run_cli(*base, "--fail-on", "warning").returncode == 1
    quiet = run_cli(*base, "--quiet")
    assert quiet.returncode == 0 and quiet.stdout.strip().splitlines() == [quiet.stdout.strip().splitlines()[-1]]
    assert "0 errors" in quiet.stdout and "warnings" in quiet.stdout
    clash = run_cli("validate", str(small_fleet.parent), "--repo", str(small_fleet))
    assert clash.returncode == 2 and "different repositories" in clash.stderr


# ---------------------------------------------------------------- pre-commit


@pytest.mark.slow
def test_pre_commit_hooks_run_on_a_fleet(small_fleet: Path, tmp_path: Path, helm_repo_url: str) -> None:
    """This project's .pre-commit-hooks.yaml, installed by the real pre-commit (``try-repo``: the working tree)."""
    pytest.importorskip("pre_commit", reason="needs pre-commit: pip install -e '.[test]'")
    from conftest import ROOT

    (small_fleet / ".gitopsgen.yaml").write_text(f"helm-mirrors:\n  {CHARTS}: {helm_repo_url}\n")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}

    def hooks(*hook_id: str) -> subprocess.CompletedProcess[str]:
        # the checkout's hooks as a fleet's .pre-commit-config.yaml would name them (one environment per commit)
        return subprocess.run(
            [sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), *hook_id, "--all-files", "--verbose"],
            cwd=small_fleet,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )

    clean = hooks()  # every hook of .pre-commit-hooks.yaml
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "generated files match the intent" in clean.stdout and "0 errors" in clean.stdout
    patch = small_fleet / "overlays/cluster-1/prefect-server/helmrelease-patch.yaml"
    patch.write_text(patch.read_text() + "# a hand edit\n")
    edited = hooks("gitopsgen-generate-check")
    assert edited.returncode == 1 and "overlays/cluster-1/prefect-server/helmrelease-patch.yaml" in edited.stdout


def test_diff_format_follows_the_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    from gitopsgen.cli.diff import default_diff_format

    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert default_diff_format(None) == "diff"
    assert default_diff_format("out.md") == "markdown"
    monkeypatch.setenv("CI", "true")
    assert default_diff_format(None) == "markdown"
    monkeypatch.delenv("CI")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    assert default_diff_format(None) == "markdown"


@pytest.mark.slow
def test_validate_shows_its_stages_on_a_terminal_only(small_fleet: Path, helm_repo_url: str) -> None:
    """A real pseudo-terminal: the stage line is written in place and cleared; a pipe (CI) gets none of it."""
    import pty

    args = ["validate", "--repo", str(small_fleet), "--helm-mirror", f"{CHARTS}={helm_repo_url}", "--quiet"]
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(sys.executable, [sys.executable, "-m", "gitopsgen.cli", *args])
    seen = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.waitpid(pid, 0)
    text = seen.decode("utf-8", "replace")
    assert "gitopsgen: building clusters (kustomize, Flux, Helm)…" in text and "\r\x1b[K" in text
    piped = run_cli(*args)
    assert "gitopsgen: building" not in piped.stderr + piped.stdout
