"""``gitopsgen init`` guides: it refuses outside a git repository, takes the git URL and branch from the
repository, asks for what is missing on a terminal or lists it all at once, and the first ``--commit`` carries
the scaffold the cluster references."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import git
import pytest
import yaml
from conftest import CLUSTER_1, INIT_ARGS, make_repo, run_cli

from gitopsgen.errors import InputError
from gitopsgen.generate.initsettings import complete, missing


def fleet_settings(root: Path) -> dict:
    return yaml.safe_load((root / "gitopsgen.yaml").read_text())


def test_refuses_outside_a_git_repository(tmp_path: Path) -> None:
    proc = run_cli(
        "init", "--registry", "r.example.com", "--secret-store", "s", "--git-url", "ssh://g/x.git", cwd=tmp_path
    )
    assert proc.returncode == 2 and "not inside a git repository" in proc.stderr
    assert list(tmp_path.iterdir()) == []
    # naming the directory is a choice: allowed
    assert run_cli(*INIT_ARGS, "--repo", str(tmp_path)).returncode == 0


def test_git_url_and_branch_come_from_the_repository(tmp_path: Path) -> None:
    repo = git.Repo.init(tmp_path, initial_branch="master")
    repo.create_remote("origin", "ssh://git@gitlab.example.com/platform/ours.git")
    proc = run_cli("init", "--registry", "r.example.com", "--secret-store", "vault", "--repo", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert fleet_settings(tmp_path)["git"] == {
        "url": "ssh://git@gitlab.example.com/platform/ours.git",
        "branch": "master",
        "fluxSource": "flux-system",
    }


def test_every_missing_setting_listed_at_once(tmp_path: Path) -> None:
    make_repo(tmp_path)
    proc = run_cli("init", "--repo", str(tmp_path))
    assert proc.returncode == 2
    line = proc.stderr.strip()
    assert len(line.splitlines()) == 1
    for option in ("--git-url", "--registry", "--secret-store"):
        assert option in line
    assert not (tmp_path / "gitopsgen.yaml").exists()


def test_sops_instead_of_a_secret_store(tmp_path: Path) -> None:
    make_repo(tmp_path)
    base = (
        "init",
        "--repo",
        str(tmp_path),
        "--git-url",
        "ssh://g/x.git",
        "--registry",
        "r.example.com",
        "--registry-credentials",
        "sops",
    )
    lacking = run_cli(*base)
    assert lacking.returncode == 2 and "--age-recipient" in lacking.stderr and "--secret-store" not in lacking.stderr
    recipient = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
    assert run_cli(*base, "--age-recipient", recipient).returncode == 0
    registry = fleet_settings(tmp_path)["registry"]
    assert registry["credentials"] == "sops" and registry["ageRecipients"] == [recipient]


def test_complete_asks_for_each_missing_setting() -> None:
    asked: list[str] = []

    def ask(option: str, what: str) -> str:
        asked.append(option)
        return {"--git-url": "ssh://g/x.git", "--registry": "r.example.com", "--secret-store": "vault"}[option]

    done = complete({"git_url": None, "registry_host": None, "secret_store": None}, ask)
    assert asked == ["--git-url", "--registry", "--secret-store"] and missing(done) == []
    with pytest.raises(InputError):
        complete({"git_url": None, "registry_host": None, "secret_store": None}, lambda o, w: "")


def test_prompts_on_a_terminal(tmp_path: Path) -> None:
    """A real pseudo-terminal: init asks, the answers land in gitopsgen.yaml."""
    make_repo(tmp_path)
    pid, fd = pty.fork()
    if pid == 0:  # the child: gitopsgen on the terminal
        os.execv(sys.executable, [sys.executable, "-m", "gitopsgen.cli", "init", "--repo", str(tmp_path)])
    answers = iter(["ssh://git@gitlab.example.com/p/f.git", "harbor.example.com", "vault-backend"])
    seen = b""
    while True:
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
        if seen.rstrip().endswith(b":"):
            os.write(fd, (next(answers) + "\n").encode())
            seen = b""
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    settings = fleet_settings(tmp_path)
    assert settings["registry"] == {"host": "harbor.example.com", "secretStore": "vault-backend"}
    assert settings["git"]["url"] == "ssh://git@gitlab.example.com/p/f.git"


def test_first_commit_carries_the_scaffold(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    run_cli(*INIT_ARGS, "--repo", str(tmp_path), check=True)
    proc = run_cli(*CLUSTER_1, "--repo", str(tmp_path), "--commit")
    assert proc.returncode == 0, proc.stderr
    committed = set(repo.git.ls_files().splitlines())
    assert {
        "gitopsgen.yaml",
        ".gitlab-ci.yml",
        "base/prefect-server/kustomization.yaml",
        "intent/clusters/cluster-1.yaml",
    } <= committed
    assert subprocess.run(["git", "status", "--porcelain"], cwd=tmp_path, capture_output=True, text=True).stdout == ""
