"""gitopsgen.publish.git on real repositories: branch, commit, push with GitLab merge-request options to a bare
remote."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import git
import pytest
from conftest import make_repo

from gitopsgen.errors import InputError
from gitopsgen.publish.changes import MAX_PUSH_OPTION_BYTES, check_branch_name, describe_changes, merge_request_options
from gitopsgen.publish.git import (
    abandon_branch,
    changed_paths,
    check_clean_index,
    commit_paths,
    push,
    start_branch,
    worktree_at,
)

HOOK = """#!/bin/sh
# records the push options and the ref updates this remote receives
{
  echo "count=$GIT_PUSH_OPTION_COUNT"
  i=0
  while [ "$i" -lt "${GIT_PUSH_OPTION_COUNT:-0}" ]; do
    eval "value=\\$GIT_PUSH_OPTION_$i"
    printf 'option=%s\\n' "$value"
    i=$((i + 1))
  done
  while read -r old new ref; do
    printf 'ref=%s %s %s\\n' "$old" "$new" "$ref"
  done
} > received.txt
echo "hello from the pre-receive hook" >&2
"""


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def status(repo: git.Repo) -> str:
    return repo.git.status("--porcelain=v1", "--untracked-files=all")


@pytest.fixture
def repo_path(tmp_path: Path) -> Path:
    """A fleet-shaped repository on ``main`` with one commit."""
    path = tmp_path / "fleet"
    path.mkdir()
    repo = make_repo(path)
    write(path, "gitopsgen.yaml", "registry: harbor.example.com\n")
    write(path, "base/prefect-server/helmrelease.yaml", "kind: HelmRelease\n")
    write(path, "overlays/cluster-1/prefect-server/kustomization.yaml", "resources: []\n")
    write(path, "clusters/cluster-1/prefect/prefect.yaml", "kind: Kustomization\n")
    write(path, ".gitignore", "*.log\n")
    repo.git.add(A=True)
    repo.git.commit("-m", "initial")
    repo.close()
    return path


def add_bare_remote(tmp_path: Path, repo_path: Path, *, push_options: bool = True, hook: str = HOOK) -> Path:
    bare = tmp_path / "remote.git"
    remote = git.Repo.init(bare, bare=True, initial_branch="main")
    with remote.config_writer() as cw:
        cw.set_value("receive", "advertisePushOptions", "true" if push_options else "false")
    hook_path = bare / "hooks" / "pre-receive"
    hook_path.write_text(hook)
    hook_path.chmod(hook_path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    remote.close()
    with git.Repo(repo_path) as repo:
        repo.create_remote("origin", str(bare))
    return bare


def received(bare: Path) -> tuple[int, list[str], list[str]]:
    lines = (bare / "received.txt").read_text().splitlines()
    count = int(lines[0].removeprefix("count=") or 0)
    options = [ln.removeprefix("option=") for ln in lines if ln.startswith("option=")]
    refs = [ln.removeprefix("ref=") for ln in lines if ln.startswith("ref=")]
    return count, options, refs


# -------------------------------------------------------------------------------- the whole path


def test_branch_commit_push_with_merge_request_options(tmp_path: Path, repo_path: Path) -> None:
    bare = add_bare_remote(tmp_path, repo_path)
    branch = "gitopsgen/add-cluster-2"
    state = start_branch(repo_path, branch)
    assert state.created and state.previous_branch == "main"

    written = {
        "intent/clusters/cluster-2.yaml": "name: cluster-2\n",
        "overlays/cluster-2/prefect-server/kustomization.yaml": "resources: []\n",
        "overlays/cluster-2/prefect-worker/pools/etl/kustomization.yaml": "nameSuffix: -etl\n",
        "clusters/cluster-2/prefect/prefect.yaml": "kind: Kustomization\n",
        "base/prefect-server/helmrelease.yaml": "kind: HelmRelease\nspec: {}\n",
    }
    deleted = ["overlays/cluster-1/prefect-server/kustomization.yaml"]
    for rel, text in written.items():
        write(repo_path, rel, text)
    (repo_path / deleted[0]).unlink()
    write(repo_path, "notes.txt", "not part of the change\n")  # unrelated and untracked

    summary = describe_changes(written, deleted=deleted)
    message = "gitopsgen: add cluster cluster-2\n\n" + summary.commit_body()
    sha = commit_paths(repo_path, [*written, *deleted], message)
    assert sha

    options = merge_request_options(
        "main", "Add cluster-2 to the fleet", summary.mr_description(), ["gitops", "needs review"]
    )
    result = push(repo_path, branch, "origin", options)

    with git.Repo(bare) as remote:
        assert remote.heads[branch].commit.hexsha == sha
        commit = remote.commit(sha)
        assert commit.message == message
        touched = {p for d in commit.parents[0].diff(commit) for p in (d.a_path, d.b_path)}  # a rename: both
        assert touched == {*written, *deleted}
    count, got, refs = received(bare)
    assert count == len(options) == 6
    assert got == options
    assert got[:3] == [
        "merge_request.create",
        "merge_request.target=main",
        "merge_request.title=Add cluster-2 to the fleet",
    ]
    assert got[-2:] == ["merge_request.label=gitops", "merge_request.label=needs review"]
    description = got[3].removeprefix("merge_request.description=")
    assert "\n" not in description and description.replace("\\n", "\n") == summary.mr_description()
    assert refs == [f"{'0' * 40} {sha} refs/heads/{branch}"]

    assert result.commit == sha and result.branch == branch
    assert "hello from the pre-receive hook" in result.remote_messages
    with git.Repo(repo_path) as repo:
        assert repo.active_branch.name == branch
        assert repo.heads[branch].tracking_branch().name == f"origin/{branch}"
        assert "?? notes.txt" in status(repo)  # the unrelated file stayed out of the commit


# -------------------------------------------------------------------------------- start_branch


def test_start_branch_keeps_the_working_tree_and_index(repo_path: Path) -> None:
    write(repo_path, "gitopsgen.yaml", "registry: changed.example.com\n")  # modified, unstaged
    write(repo_path, "scratch.txt", "untracked\n")
    write(repo_path, "base/prefect-server/helmrelease.yaml", "kind: HelmRelease\n# staged\n")
    with git.Repo(repo_path) as repo:
        repo.git.add("base/prefect-server/helmrelease.yaml")
        before = status(repo)
        start_commit = repo.head.commit.hexsha
    state = start_branch(repo_path, "feature/x")
    with git.Repo(repo_path) as repo:
        assert repo.active_branch.name == "feature/x"
        assert repo.head.commit.hexsha == start_commit
        assert status(repo) == before
    assert (repo_path / "gitopsgen.yaml").read_text() == "registry: changed.example.com\n"

    abandon_branch(repo_path, state)
    with git.Repo(repo_path) as repo:
        assert repo.active_branch.name == "main"
        assert "feature/x" not in repo.heads
        assert status(repo) == before


def test_start_branch_refuses_another_existing_branch(repo_path: Path) -> None:
    with git.Repo(repo_path) as repo:
        repo.create_head("someone-else")
    with pytest.raises(InputError, match="'someone-else' already exists and is not the current branch"):
        start_branch(repo_path, "someone-else")
    with git.Repo(repo_path) as repo:
        assert repo.active_branch.name == "main"


def test_start_branch_continues_on_the_current_branch(repo_path: Path) -> None:
    first = start_branch(repo_path, "work")
    again = start_branch(repo_path, "work")
    assert first.created and not again.created
    abandon_branch(repo_path, again)  # nothing to undo for a branch it did not create
    with git.Repo(repo_path) as repo:
        assert repo.active_branch.name == "work"


def test_start_branch_from_a_detached_head(repo_path: Path) -> None:
    with git.Repo(repo_path) as repo:
        sha = repo.head.commit.hexsha
        repo.head.set_reference(repo.head.commit)
        assert repo.head.is_detached
    state = start_branch(repo_path, "from-ci")
    assert state.previous_branch is None and state.previous_commit == sha
    abandon_branch(repo_path, state)
    with git.Repo(repo_path) as repo:
        assert repo.head.is_detached and repo.head.commit.hexsha == sha
        assert "from-ci" not in repo.heads


def test_start_branch_refuses_a_repository_without_commits(tmp_path: Path) -> None:
    make_repo(tmp_path).close()
    with pytest.raises(InputError, match="no commits yet"):
        start_branch(tmp_path, "first")


def test_start_branch_refuses_a_directory_outside_git(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not inside a git repository"):
        start_branch(tmp_path, "x")


BAD_NAMES = [
    "",
    "-delete",
    "HEAD",
    "@",
    "@{-1}",
    "a..b",
    "a/.hidden",
    "x.lock",
    "a b",
    "a//b",
    "/a",
    "a/",
    "a.",
    "a\tb",
    "a~1",
    "a^",
    "a:b",
    "a?",
    "a*",
    "a[b",
    "a\\b",
    "a\nb",
    "a\x7fb",
]
GOOD_NAMES = ["main", "feature/add-cluster-2", "gitopsgen/upgrade-3.4.1", "release_1", "é", "a.b/c-d"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_branch_names_are_refused(repo_path: Path, name: str) -> None:
    with pytest.raises(InputError, match="invalid branch name"):
        start_branch(repo_path, name)
    with git.Repo(repo_path) as repo:
        assert [h.name for h in repo.heads] == ["main"]


def test_branch_name_rules_agree_with_git(repo_path: Path) -> None:
    for name in BAD_NAMES + GOOD_NAMES:
        if name in ("@", "HEAD"):  # git's --branch allows '@'; we refuse what reads as the current commit
            continue
        proc = subprocess.run(
            ["git", "check-ref-format", "--branch", name], cwd=repo_path, capture_output=True, text=True
        )
        try:
            check_branch_name(name)
            ours = True
        except InputError:
            ours = False
        assert ours == (proc.returncode == 0), name


# -------------------------------------------------------------------------------- commit_paths


def test_commit_only_the_given_paths_including_deletions(repo_path: Path) -> None:
    write(repo_path, "overlays/cluster-1/prefect-server/kustomization.yaml", "resources: [a.yaml]\n")
    (repo_path / "clusters/cluster-1/prefect/prefect.yaml").unlink()
    write(repo_path, "base/prefect-server/helmrelease.yaml", "kind: HelmRelease\n# unrelated edit\n")
    write(repo_path, "unrelated.txt", "stays untracked\n")
    sha = commit_paths(
        repo_path,
        [
            "overlays/cluster-1/prefect-server/kustomization.yaml",
            "clusters/cluster-1/prefect/prefect.yaml",
            "never/existed.yaml",  # neither on disk nor tracked: ignored
        ],
        "update cluster-1\n\nbody line\n",
    )
    with git.Repo(repo_path) as repo:
        commit = repo.commit(sha)
        assert commit.message == "update cluster-1\n\nbody line\n"
        diffs = commit.parents[0].diff(commit)
        assert {(d.a_path, d.deleted_file) for d in diffs} == {
            ("overlays/cluster-1/prefect-server/kustomization.yaml", False),
            ("clusters/cluster-1/prefect/prefect.yaml", True),
        }
        assert status(repo).splitlines() == [" M base/prefect-server/helmrelease.yaml", "?? unrelated.txt"]


def test_commit_adds_new_files_and_returns_none_when_nothing_changed(repo_path: Path) -> None:
    assert commit_paths(repo_path, ["gitopsgen.yaml"], "no change") is None
    write(repo_path, "intent/clusters/cluster-9.yaml", "name: cluster-9\n")
    sha = commit_paths(repo_path, ["intent/clusters/cluster-9.yaml"], "add cluster-9")
    with git.Repo(repo_path) as repo:
        assert repo.head.commit.hexsha == sha
        assert "intent/clusters/cluster-9.yaml" in {p for p, _ in repo.index.entries}
        assert status(repo) == ""


def test_pre_staged_unrelated_changes_are_refused(repo_path: Path) -> None:
    write(repo_path, "README.md", "someone's work\n")
    with git.Repo(repo_path) as repo:
        repo.git.add("README.md")
        head = repo.head.commit.hexsha
    with pytest.raises(InputError, match=r"already holds staged changes \(README.md\)"):
        check_clean_index(repo_path, allowed=["gitopsgen.yaml"])
    check_clean_index(repo_path, allowed=["README.md"])  # staged paths the command itself writes are fine
    write(repo_path, "gitopsgen.yaml", "registry: x\n")
    with pytest.raises(InputError, match="staged changes"):
        commit_paths(repo_path, ["gitopsgen.yaml"], "should not happen")
    with git.Repo(repo_path) as repo:
        assert repo.head.commit.hexsha == head


def test_commit_without_a_git_identity_names_git_config(
    tmp_path: Path, repo_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with git.Repo(repo_path) as repo, repo.config_writer() as cw:
        cw.remove_section("user")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for var in ("EMAIL", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(var, raising=False)
    write(repo_path, "gitopsgen.yaml", "registry: y\n")
    with pytest.raises(InputError, match=r"git config user\.email"):
        commit_paths(repo_path, ["gitopsgen.yaml"], "msg")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "CI")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "CI")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "ci@example.com")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "ci@example.com")
    sha = commit_paths(repo_path, ["gitopsgen.yaml"], "msg")
    with git.Repo(repo_path) as repo:
        assert repo.commit(sha).author.email == "ci@example.com"


def test_commit_runs_the_repository_hooks(repo_path: Path) -> None:
    hook = repo_path / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho 'yamllint says no' >&2\nexit 1\n")
    hook.chmod(0o755)
    write(repo_path, "gitopsgen.yaml", "registry: z\n")
    with pytest.raises(InputError, match="git commit failed: yamllint says no"):
        commit_paths(repo_path, ["gitopsgen.yaml"], "msg")


def test_fleet_in_a_subdirectory_of_the_work_tree(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    write(tmp_path, "platform/fleet/gitopsgen.yaml", "a: 1\n")
    write(tmp_path, "other/app.txt", "x\n")
    repo.git.add(A=True)
    repo.git.commit("-m", "monorepo")
    root = tmp_path / "platform" / "fleet"
    write(root, "intent/clusters/c1.yaml", "name: c1\n")
    write(tmp_path, "other/app.txt", "y\n")
    assert changed_paths(root, "HEAD") == {"intent/clusters/c1.yaml"}
    sha = commit_paths(root, ["intent/clusters/c1.yaml"], "add c1")
    assert {d.b_path for d in repo.commit(sha).parents[0].diff(sha)} == {"platform/fleet/intent/clusters/c1.yaml"}
    with worktree_at(root, "HEAD~1") as old:
        assert (old / "gitopsgen.yaml").read_text() == "a: 1\n"
        assert not (old / "intent").exists()
    repo.close()


# -------------------------------------------------------------------------------- push failures


def test_push_to_an_unknown_remote(repo_path: Path) -> None:
    with pytest.raises(InputError, match="no git remote named 'upstream'"):
        push(repo_path, "main", "upstream", ["merge_request.create"])


def test_push_to_a_remote_without_push_options(tmp_path: Path, repo_path: Path) -> None:
    bare = add_bare_remote(tmp_path, repo_path, push_options=False)
    with pytest.raises(InputError, match="the receiving end does not support push options") as info:
        push(repo_path, "main", "origin", merge_request_options("main", "t", None, []))
    assert "\n" not in str(info.value)
    with git.Repo(bare) as remote:
        assert not remote.heads


def test_push_rejected_by_the_remote(tmp_path: Path, repo_path: Path) -> None:
    add_bare_remote(tmp_path, repo_path, hook="#!/bin/sh\necho 'GL-HOOK-ERR: protected' >&2\nexit 1\n")
    with pytest.raises(InputError, match=r"pre-receive hook declined.*GL-HOOK-ERR: protected") as info:
        push(repo_path, "main", "origin", ["merge_request.create"])
    assert "\n" not in str(info.value)


def test_push_non_fast_forward_is_rejected(tmp_path: Path, repo_path: Path) -> None:
    bare = add_bare_remote(tmp_path, repo_path)
    push(repo_path, "main", "origin", [])
    with git.Repo(repo_path) as repo:
        repo.git.commit("--amend", "-m", "rewritten")
    with pytest.raises(InputError, match="rejected"):
        push(repo_path, "main", "origin", [])
    with git.Repo(bare) as remote, git.Repo(repo_path) as repo:
        assert remote.heads.main.commit.hexsha != repo.head.commit.hexsha


def test_push_refuses_bad_options_before_running_git(repo_path: Path) -> None:
    with pytest.raises(InputError, match="newline"):
        push(repo_path, "main", "origin", ["merge_request.title=a\nb"])


# -------------------------------------------------------------------------------- merge_request_options


def test_merge_request_options_validation() -> None:
    assert merge_request_options(None, None, None, []) == ["merge_request.create"]
    assert merge_request_options(None, None, "a\r\nb\nc", ["x", " x "], create=False) == [
        "merge_request.description=a\\nb\\nc",
        "merge_request.label=x",
    ]
    with pytest.raises(InputError, match="one line"):
        merge_request_options(None, "two\nlines", None, [])
    with pytest.raises(InputError, match="empty"):
        merge_request_options(None, "t", None, ["ok", "  "])
    with pytest.raises(InputError, match="comma"):
        merge_request_options(None, "t", None, ["a,b"])
    with pytest.raises(InputError, match="invalid merge request target"):
        merge_request_options("main..x", None, None, [])
    with pytest.raises(InputError, match="more than 255"):
        merge_request_options(None, "t" * 256, None, [])
    with pytest.raises(InputError, match="longer than"):
        merge_request_options(None, None, "d" * MAX_PUSH_OPTION_BYTES, [])


# -------------------------------------------------------------------------------- changed_paths / worktree_at


def test_changed_paths_against_a_ref(repo_path: Path) -> None:
    with git.Repo(repo_path) as repo:
        base = repo.head.commit.hexsha
        write(repo_path, "gitopsgen.yaml", "registry: modified\n")
        (repo_path / "clusters/cluster-1/prefect/prefect.yaml").unlink()
        repo.git.mv("base/prefect-server/helmrelease.yaml", "base/prefect-server/release.yaml")
        write(repo_path, "intent/clusters/cluster-3.yaml", "name: cluster-3\n")  # untracked
        write(repo_path, "debug.log", "ignored\n")
    assert changed_paths(repo_path, base) == {
        "gitopsgen.yaml",
        "clusters/cluster-1/prefect/prefect.yaml",
        "base/prefect-server/helmrelease.yaml",
        "base/prefect-server/release.yaml",
        "intent/clusters/cluster-3.yaml",
    }
    assert changed_paths(repo_path, "main") == changed_paths(repo_path, base)
    with pytest.raises(InputError, match="unknown git ref 'no-such-branch'"):
        changed_paths(repo_path, "no-such-branch")
    with pytest.raises(InputError, match="invalid git ref"):
        changed_paths(repo_path, "--output=/tmp/x")


def test_worktree_at_a_ref_is_removed_afterwards(repo_path: Path) -> None:
    with git.Repo(repo_path) as repo:
        old = repo.head.commit.hexsha
    write(repo_path, "gitopsgen.yaml", "registry: new\n")
    commit_paths(repo_path, ["gitopsgen.yaml"], "new registry")
    with worktree_at(repo_path, old) as tree:
        assert (tree / "gitopsgen.yaml").read_text() == "registry: harbor.example.com\n"
        assert (tree / "overlays/cluster-1/prefect-server/kustomization.yaml").exists()
        kept = tree
    assert not kept.exists() and not kept.parent.exists()

    with pytest.raises(RuntimeError, match="boom"), worktree_at(repo_path, "HEAD") as tree:
        kept = tree
        assert (tree / "gitopsgen.yaml").read_text() == "registry: new\n"
        raise RuntimeError("boom")
    assert not kept.parent.exists()
    with git.Repo(repo_path) as repo:
        assert repo.git.worktree("list", "--porcelain").count("worktree ") == 1
        admin = Path(repo.git_dir) / "worktrees"  # pruned: no administrative files left behind
        assert not admin.exists() or not os.listdir(admin)
    with pytest.raises(InputError, match="unknown git ref"):
        with worktree_at(repo_path, "v9.9.9"):
            pass


# -------------------------------------------------------------------------------- describe_changes


ADD_CLUSTER_PLAN = [
    "intent/clusters/cluster-2.yaml",
    "overlays/cluster-2/registry-credentials/external-secrets.yaml",
    "overlays/cluster-2/registry-credentials/kustomization.yaml",
    "overlays/cluster-2/prefect-server/kustomization.yaml",
    "overlays/cluster-2/prefect-server/helmrelease-patch.yaml",
    "overlays/cluster-2/prefect-worker/kustomization.yaml",
    "overlays/cluster-2/prefect-worker/pools/etl/helmrelease-patch.yaml",
    "overlays/cluster-2/image-automation/kustomization.yaml",
    "clusters/cluster-2/prefect/prefect.yaml",
    "clusters/cluster-2/prefect/image-update-automation.yaml",
]


def test_describe_an_added_cluster() -> None:
    summary = describe_changes(ADD_CLUSTER_PLAN)
    assert summary.clusters == {
        "cluster-2": ("intent", "image-automation", "prefect-server", "prefect-worker", "registry-credentials", "flux")
    }
    assert summary.fleet == () and summary.other == ()
    body = summary.commit_body()
    assert body.splitlines()[0] == (
        "Clusters: cluster-2 (intent, image-automation, prefect-server, prefect-worker, registry-credentials, flux)"
    )
    assert "Files (10):" in body and "  clusters/cluster-2/prefect/prefect.yaml" in body
    description = summary.mr_description()
    assert (
        "| `cluster-2` | intent, image-automation, prefect-server, prefect-worker, registry-credentials, flux | 10 |"
        in (description)
    )
    assert summary.summary_line().endswith("; 10 files")


def test_describe_a_fleet_wide_upgrade_with_removal() -> None:
    paths = [
        "gitopsgen.yaml",
        "base/prefect-server/helmrelease.yaml",
        "base/prefect-worker/helmrelease.yaml",
        *[f"clusters/cluster-{i}/prefect/prefect.yaml" for i in range(1, 61)],
        ".gitlab-ci.yml",
    ]
    summary = describe_changes(paths, deleted=["overlays/cluster-3/prefect-worker/pools/ml/kustomization.yaml"])
    assert summary.fleet == ("gitopsgen.yaml", "base/prefect-server", "base/prefect-worker")
    assert summary.other == (".gitlab-ci.yml",)
    assert summary.clusters["cluster-3"] == ("prefect-worker", "flux")
    assert list(summary.clusters)[:3] == ["cluster-1", "cluster-10", "cluster-11"]
    body = summary.commit_body()
    assert "Fleet: gitopsgen.yaml, base/prefect-server, base/prefect-worker" in body
    assert "Files (65):" in body and "  … and 15 more" in body
    assert len([ln for ln in body.splitlines() if ln.startswith("  ") and "more" not in ln]) == 50
    description = summary.mr_description()
    assert "| fleet | gitopsgen.yaml, base/prefect-server, base/prefect-worker | 3 |" in description
    assert "65 files written or deleted, 1 of them deleted." in description
    short = summary.mr_description(max_chars=500)
    assert len(short) <= 500 and short.endswith("(description truncated)")
    assert merge_request_options(None, None, description, [])[1].count("\\n") == description.count("\n")
