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
    make_repo(tmp_path)  # no origin remote: no git URL
    proc = run_cli("init", "--registry", "r.example.com", "--repo", str(tmp_path))
    assert proc.returncode == 2
    line = proc.stderr.strip()
    assert len(line.splitlines()) == 1
    for option in ("--git-url", "--secret-store", "--registry-credentials sops"):
        assert option in line
    assert not (tmp_path / "gitopsgen.yaml").exists()


def test_the_registry_is_optional(tmp_path: Path) -> None:
    """No --registry, no --secret-store: a fleet of public images; init says once what is left to the user."""
    repo = make_repo(tmp_path)
    repo.create_remote("origin", "ssh://git@gitlab.example.com/platform/fleet.git")
    proc = run_cli("init", "--repo", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert fleet_settings(tmp_path)["registry"] == {}
    notes = [line for line in proc.stderr.splitlines() if not line.startswith("wrote ")]
    assert len(notes) == 2 and notes[0].startswith("no --registry: the clusters pull public images")
    assert notes[1].startswith("no --secret-store: create the GitLab token Secret flux-system/gitlab-token")
    # SOPS pull secrets without a registry make no sense: refused, naming what is missing
    other = tmp_path / "other"
    make_repo(other)
    refused = run_cli("init", "--repo", str(other), "--git-url", "ssh://g/x.git", "--registry-credentials", "sops")
    assert refused.returncode == 2 and "--registry" in refused.stderr


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
    asked: list[tuple[str, bool]] = []

    def ask(answers: dict[str, str]):  # type: ignore[no-untyped-def]
        def answer(option: str, what: str, optional: bool) -> str:
            asked.append((option, optional))
            return answers[option]

        return answer

    nothing = {"git_url": None, "registry_host": None, "secret_store": None}
    # a registry named on the terminal: then its store is required
    answers = {"--git-url": "ssh://g/x.git", "--registry": "r.example.com", "--secret-store": "vault"}
    done = complete(dict(nothing), ask(answers))
    assert asked == [("--git-url", False), ("--registry", True), ("--secret-store", False)] and missing(done) == []
    assert done["registry_host"] == "r.example.com" and done["secret_store"] == "vault"
    # no registry: the store is optional too, and empty answers leave both out
    asked.clear()
    done = complete(dict(nothing), ask({"--git-url": "ssh://g/x.git", "--registry": "", "--secret-store": ""}))
    assert asked == [("--git-url", False), ("--registry", True), ("--secret-store", True)]
    assert done["registry_host"] is None and done["secret_store"] is None and missing(done) == []
    with pytest.raises(InputError):
        complete(dict(nothing), lambda o, w, optional: "")


def init_on_a_terminal(root: Path, answers: list[str]) -> list[str]:
    """``gitopsgen init`` on a real pseudo-terminal, each prompt answered in turn; the prompts, once it exited 0."""
    make_repo(root)
    pid, fd = pty.fork()
    if pid == 0:  # the child: gitopsgen on the terminal
        os.execv(sys.executable, [sys.executable, "-m", "gitopsgen.cli", "init", "--repo", str(root)])
    pending = iter(answers)
    prompts: list[str] = []
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
            prompts.append(seen.decode().strip().splitlines()[-1])  # after the echo of the last answer
            os.write(fd, (next(pending) + "\n").encode())
            seen = b""
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return prompts


def test_prompts_on_a_terminal(tmp_path: Path) -> None:
    """A real pseudo-terminal: init asks, the answers land in gitopsgen.yaml."""
    init_on_a_terminal(tmp_path, ["ssh://git@gitlab.example.com/p/f.git", "harbor.example.com", "vault-backend"])
    settings = fleet_settings(tmp_path)
    assert settings["registry"] == {"host": "harbor.example.com", "secretStore": "vault-backend"}
    assert settings["git"]["url"] == "ssh://git@gitlab.example.com/p/f.git"


def test_empty_answers_on_a_terminal_leave_the_registry_out(tmp_path: Path) -> None:
    prompts = init_on_a_terminal(tmp_path, ["ssh://git@gitlab.example.com/p/f.git", "", ""])
    assert [p.split(" ", 1)[0] for p in prompts] == ["--git-url", "--registry", "--secret-store"]
    assert "empty: public images only" in prompts[1] and "empty: you create them" in prompts[2]
    assert fleet_settings(tmp_path)["registry"] == {}


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
