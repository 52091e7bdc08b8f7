"""The write commands as merge requests: --branch, --commit, --push, --merge-request, end to end.

A real fleet repository and a local bare remote that advertises push options and records, from a
pre-receive hook, every ``GIT_PUSH_OPTION_*`` and ref update it receives.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import git
import pytest
from conftest import run_cli
from test_git import add_bare_remote, received


def snapshot(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def committed_paths(repo: git.Repo, rev: str) -> set[str]:
    return set(repo.commit(rev).stats.files)


def test_add_cluster_as_a_merge_request(tmp_path: Path, fleet: Path) -> None:
    bare = add_bare_remote(tmp_path, fleet)
    main = git.Repo(fleet).head.commit.hexsha
    proc = run_cli(
        "add-cluster",
        "cluster-3",
        "--from",
        "cluster-1",
        "--repo",
        str(fleet),
        "--branch",
        "add-cluster-3",
        "--push",
        "--merge-request",
        "--target",
        "main",
        "--label",
        "fleet",
        "--label",
        "new cluster",
    )
    assert proc.returncode == 0, proc.stderr
    repo = git.Repo(fleet)
    assert repo.active_branch.name == "add-cluster-3"
    assert not repo.is_dirty(untracked_files=True)  # everything written is committed
    head = repo.head.commit
    assert [p.hexsha for p in head.parents] == [main]  # one commit on top of main
    assert head.message.splitlines()[0] == "Add cluster cluster-3"
    assert "cluster-3" in head.message
    files = committed_paths(repo, "HEAD")
    assert "intent/clusters/cluster-3.yaml" in files
    assert all(
        f.startswith(("intent/clusters/cluster-3.yaml", "overlays/cluster-3/", "clusters/cluster-3/prefect/"))
        for f in files
    )
    # the branch, its commit and GitLab's merge-request options arrived at the remote
    with git.Repo(bare) as remote:
        assert remote.heads["add-cluster-3"].commit.hexsha == head.hexsha
    count, options, refs = received(bare)
    assert refs == [f"{'0' * 40} {head.hexsha} refs/heads/add-cluster-3"]
    assert count == len(options) == 6
    assert options[:3] == [
        "merge_request.create",
        "merge_request.target=main",
        "merge_request.title=Add cluster cluster-3",
    ]
    description = options[3].removeprefix("merge_request.description=")
    assert options[3].startswith("merge_request.description=") and "cluster-3" in description
    assert "prefect-server" in description and "\\n" in description  # one line, GitLab expands \n
    assert options[4:] == ["merge_request.label=fleet", "merge_request.label=new cluster"]
    assert "pushed add-cluster-3 to origin" in proc.stderr
    assert "hello from the pre-receive hook" in proc.stderr  # the server's messages (GitLab's MR link) are shown


def test_upgrade_and_remove_cluster_commit_on_their_branches(fleet: Path) -> None:
    repo = git.Repo(fleet)
    proc = run_cli("upgrade", "--prefect", "3.9.0", "--repo", str(fleet), "--branch", "upgrade-prefect", "--commit")
    assert proc.returncode == 0, proc.stderr
    assert repo.active_branch.name == "upgrade-prefect" and not repo.is_dirty(untracked_files=True)
    subject = repo.head.commit.message.splitlines()[0]
    assert "3.9.0" in subject
    files = committed_paths(repo, "HEAD")
    assert "gitopsgen.yaml" in files and "clusters/cluster-1/prefect/prefect.yaml" in files
    proc = run_cli(
        "remove-cluster", "cluster-1", "--yes", "--repo", str(fleet), "--branch", "remove-cluster-1", "--commit"
    )
    assert proc.returncode == 0, proc.stderr
    files = committed_paths(repo, "HEAD")
    assert "intent/clusters/cluster-1.yaml" in files and not (fleet / "intent/clusters/cluster-1.yaml").exists()
    assert all("cluster-1" in f for f in files)
    assert repo.head.commit.parents[0].message.splitlines()[0] == subject  # stacked on the upgrade
    assert run_cli("generate", "--check", "--repo", str(fleet)).returncode == 0


def test_generate_commits_on_the_current_branch_and_nothing_when_clean(fleet: Path) -> None:
    repo = git.Repo(fleet)
    before = repo.head.commit.hexsha
    proc = run_cli("generate", "--repo", str(fleet), "--commit")
    assert proc.returncode == 0 and "nothing to change" in proc.stderr
    assert repo.head.commit.hexsha == before
    intent = fleet / "intent/clusters/cluster-1.yaml"
    pool = "  - name: default\n    namespace: prefect-flows\n    queues: []\n    replicas: "
    assert pool + "1" in intent.read_text()
    intent.write_text(intent.read_text().replace(pool + "1", pool + "4"))
    proc = run_cli("generate", "--repo", str(fleet), "--commit")
    assert proc.returncode == 0, proc.stderr
    assert repo.active_branch.name == "main" and repo.head.commit.parents[0].hexsha == before
    # the intent edit travels with what it generated
    assert committed_paths(repo, "HEAD") == {
        "intent/clusters/cluster-1.yaml",
        "overlays/cluster-1/prefect-worker/pools/default/helmrelease-patch.yaml",
    }
    assert not repo.is_dirty(untracked_files=True)
    assert repo.head.commit.message.startswith("Regenerate from intent")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--branch", "taken"), "already exists"),
        (("--branch", "bad..name"), "bad..name"),
        (("--merge-request",), "--merge-request needs --push"),
        (("--title", "x"), "need --merge-request"),
        (("--push", "--remote", "nowhere"), "nowhere"),
    ],
)
def test_refused_before_anything_is_written(fleet: Path, args: tuple[str, ...], message: str) -> None:
    repo = git.Repo(fleet)
    repo.create_head("taken")
    before = snapshot(fleet)
    proc = run_cli("add-cluster", "cluster-3", "--from", "cluster-1", "--repo", str(fleet), *args)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1  # one line
    assert snapshot(fleet) == before
    assert repo.active_branch.name == "main"


def test_staged_unrelated_change_is_refused(fleet: Path) -> None:
    repo = git.Repo(fleet)
    (fleet / "notes.txt").write_text("mine\n")
    repo.index.add(["notes.txt"])
    before = snapshot(fleet)
    proc = run_cli("add-cluster", "cluster-3", "--from", "cluster-1", "--repo", str(fleet), "--branch", "b", "--commit")
    assert proc.returncode == 2 and "notes.txt" in proc.stderr
    assert snapshot(fleet) == before and repo.active_branch.name == "main" and "b" not in repo.heads


def test_generate_check_refuses_publish_options(fleet: Path) -> None:
    proc = run_cli("generate", "--check", "--commit", "--repo", str(fleet))
    assert proc.returncode == 2 and "--check" in proc.stderr


def test_merge_request_from_the_target_branch_itself_is_refused(tmp_path: Path, fleet: Path) -> None:
    add_bare_remote(tmp_path, fleet)
    before = snapshot(fleet)
    proc = run_cli("add-cluster", "cluster-3", "--from", "cluster-1", "--repo", str(fleet), "--push", "--merge-request")
    assert proc.returncode == 2 and "would push main itself" in proc.stderr
    assert snapshot(fleet) == before


def test_a_failed_push_is_retried_by_running_the_command_again(tmp_path: Path, fleet: Path) -> None:
    bare = add_bare_remote(tmp_path, fleet, hook="#!/bin/sh\necho 'remote is read-only today' >&2\nexit 1\n")
    args = ("upgrade", "--prefect", "3.9.0", "--repo", str(fleet), "--branch", "upgrade-prefect", "--push")
    proc = run_cli(*args)
    assert proc.returncode == 2 and "git push to origin failed" in proc.stderr
    repo = git.Repo(fleet)
    assert repo.active_branch.name == "upgrade-prefect" and not repo.is_dirty(untracked_files=True)  # committed
    (bare / "hooks" / "pre-receive").write_text("#!/bin/sh\nexit 0\n")
    proc = run_cli(*args)
    assert proc.returncode == 0 and "nothing to change" in proc.stderr and "pushed upgrade-prefect" in proc.stderr
    with git.Repo(bare) as remote:
        assert remote.heads["upgrade-prefect"].commit.hexsha == repo.head.commit.hexsha
