"""Git for the write commands and ``diff``: branch, one commit, push with GitLab merge-request options, worktrees.

Everything goes through GitPython (``git.Repo``; its ``repo.git.<command>`` wrapper where GitPython has no
higher-level API that behaves like git itself). Paths handed in and out are relative to ``root``, the
fleet repository, which may be a sub-directory of the git work tree. Every failure is an ``InputError``
with one line, git's own message where git gave one. What a change touches, the merge-request push options and the
branch-name rules are :mod:`gitopsgen.publish.changes` (pure).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import git
from git.exc import BadName, GitCommandError, InvalidGitRepositoryError, NoSuchPathError
from git.remote import PushInfo
from git.util import RemoteProgress

from ..errors import InputError
from .changes import (
    check_branch_name,
    check_push_option,
    norm_path,
)

__all__ = [
    "BranchState",
    "PushResult",
    "abandon_branch",
    "changed_paths",
    "check_clean_index",
    "check_identity",
    "check_remote",
    "commit_of",
    "commit_paths",
    "current_branch",
    "default_branch",
    "push",
    "start_branch",
    "worktree_at",
]


# --------------------------------------------------------------------------------------------------
# Opening the repository


# git's configuration can name programs it runs (core.fsmonitor, hooks): reading a repository whose content
# is untrusted (diff, --changed-since in a merge-request pipeline) runs none of them
_UNTRUSTED_OPTIONS = ["core.fsmonitor=false", "core.hooksPath=/dev/null"]
# what git and its hooks never need of ours: blanked in their environment
_SECRET_VARIABLES = ("GITOPSGEN_REGISTRY_PASSWORD", "GITOPSGEN_GITLAB_TOKEN", "GITOPSGEN_CACHE_SECRET")


def _no_filters(repo: git.Repo) -> list[str]:
    """``-c`` values that turn every configured filter driver (``filter.<name>.*``, which a checkout or a
    diff of the work tree runs for the paths .gitattributes names) into plain copies."""
    options: list[str] = []
    for section in repo.config_reader().sections():
        m = re.fullmatch(r'filter "(.+)"', section)
        if m:
            name = m[1]
            options += [f"filter.{name}.smudge=cat", f"filter.{name}.clean=cat", f"filter.{name}.process="]
            options.append(f"filter.{name}.required=false")
    return options


@contextlib.contextmanager
def _open(root: Path, untrusted: bool = False) -> Iterator[tuple[git.Repo, str]]:
    """The repository holding ``root`` and root's path inside its work tree (``""`` or ``"sub/dir/"``);
    ``untrusted``: every git command runs with ``-c core.fsmonitor=false -c core.hooksPath=/dev/null`` and
    every configured filter driver made a plain copy."""
    try:
        repo = git.Repo(root, search_parent_directories=True)
    except (InvalidGitRepositoryError, NoSuchPathError):
        raise InputError(f"not inside a git repository: {root}") from None
    try:
        if repo.bare or repo.working_tree_dir is None:
            raise InputError(f"{root} is a bare git repository")
        top = Path(repo.working_tree_dir).resolve()
        try:
            rel = Path(root).resolve().relative_to(top).as_posix()
        except ValueError:
            raise InputError(f"{root} is not inside the work tree of its git repository ({top})") from None
        repo.git.update_environment(GIT_LITERAL_PATHSPECS="1", LC_ALL="C", GIT_TERMINAL_PROMPT="0")
        repo.git.update_environment(**{name: "" for name in _SECRET_VARIABLES if name in os.environ})
        if untrusted:
            repo.git.set_persistent_git_options(c=[*_UNTRUSTED_OPTIONS, *_no_filters(repo)])
        yield repo, "" if rel == "." else rel + "/"
    finally:
        repo.close()


def _git_message(err: GitCommandError) -> str:
    """git's own words from a failed command, on one line."""
    lines: list[str] = []
    for stream, label in ((err.stderr, "stderr:"), (err.stdout, "stdout:")):
        # GitPython renders a stream as "\n  stderr: '<text>'"
        text = (stream if isinstance(stream, str) else str(stream or "")).strip()
        text = text.removeprefix(label).strip().removeprefix("'").removesuffix("'")
        lines += [ln.strip() for ln in text.splitlines()]
        if lines:
            break
    lines = [ln for ln in lines if ln and not ln.startswith(("hint:", "To "))]
    if len(lines) > 1:
        lines = [ln for ln in lines if "remote end hung up unexpectedly" not in ln]
    important = [ln for ln in lines if ln.startswith(("fatal:", "error:", "remote: error", "!"))]
    chosen = important or lines or [f"git {err.command[1] if len(err.command) > 1 else ''} exited {err.status}"]
    return "; ".join(dict.fromkeys(chosen))


def _head_commit(repo: git.Repo, root: Path) -> git.Commit:
    if not repo.head.is_valid():
        raise InputError(f"the git repository at {root} has no commits yet: commit once before using --branch")
    return repo.head.commit


# --------------------------------------------------------------------------------------------------
# Branch


@dataclass(frozen=True)
class BranchState:
    """Where HEAD was before ``start_branch`` and whether it created ``branch`` (for ``abandon_branch``)."""

    branch: str
    created: bool
    previous_branch: str | None  # None: HEAD was detached
    previous_commit: str


def start_branch(root: Path, branch: str) -> BranchState:
    """Create ``branch`` at HEAD and make it current, leaving the index and working tree as they are.

    Call it before anything is written. The current branch is continued on; another existing branch is
    refused (never silently reuse someone's branch). A detached HEAD is fine (GitLab CI checks out one):
    the branch starts at that commit. A repository without commits is refused.
    """
    check_branch_name(branch)
    with _open(root) as (repo, _prefix):
        start = _head_commit(repo, root)
        current = None if repo.head.is_detached else repo.active_branch.name
        if current == branch:
            return BranchState(branch, created=False, previous_branch=current, previous_commit=start.hexsha)
        if branch in repo.heads:
            raise InputError(
                f"branch {branch!r} already exists and is not the current branch ({current or 'detached HEAD'}): "
                "check it out first or choose another name"
            )
        try:
            head = repo.create_head(branch, start)
        except (GitCommandError, OSError) as err:
            raise InputError(f"cannot create branch {branch!r}: {err}") from None
        repo.head.set_reference(head, logmsg=f"gitopsgen: moving from {current or start.hexsha} to {branch}")
        return BranchState(branch, created=True, previous_branch=current, previous_commit=start.hexsha)


def current_branch(root: Path) -> str | None:
    """The checked-out branch, or None when HEAD is detached."""
    with _open(root) as (repo, _prefix):
        return None if repo.head.is_detached else repo.active_branch.name


def default_branch(root: Path, remote: str = "origin") -> str | None:
    """The branch ``remote``'s HEAD points at (``refs/remotes/<remote>/HEAD``), when the clone knows it."""
    with _open(root) as (repo, _prefix):
        try:
            ref = repo.git.symbolic_ref("--quiet", f"refs/remotes/{remote}/HEAD")
        except GitCommandError:
            return None
        return ref.removeprefix(f"refs/remotes/{remote}/") or None


def abandon_branch(root: Path, state: BranchState) -> None:
    """Undo ``start_branch`` when the caller failed before committing; the working tree is not touched.

    HEAD goes back to the previous branch (or commit); the created branch is deleted only while it still
    points at the commit it started from (nothing committed on it).
    """
    if not state.created:
        return
    with _open(root) as (repo, _prefix):
        if state.previous_branch is not None:
            repo.head.set_reference(repo.heads[state.previous_branch])
        else:
            repo.head.set_reference(repo.commit(state.previous_commit))
        if state.branch in repo.heads and repo.heads[state.branch].commit.hexsha == state.previous_commit:
            repo.delete_head(state.branch, force=True)


# --------------------------------------------------------------------------------------------------
# Commit


def _staged_paths(repo: git.Repo) -> set[str]:
    """Work-tree-relative paths whose index entry differs from HEAD (all index entries before a first commit)."""
    if not repo.head.is_valid():
        return {str(path) for path, _stage in repo.index.entries}
    paths: set[str] = set()
    for diff in repo.index.diff("HEAD"):
        paths.update(p for p in (diff.a_path, diff.b_path) if p)
    return paths


def check_clean_index(root: Path, allowed: Iterable[str] = ()) -> None:
    """Refuse when the index holds staged changes other than ``allowed`` (paths relative to ``root``).

    ``commit_paths`` commits the whole index, so anything else staged would ride along; the CLI calls
    this before writing anything.
    """
    with _open(root) as (repo, prefix):
        allowed_top = {prefix + norm_path(p) for p in allowed}
        extra = sorted(_staged_paths(repo) - allowed_top)
    if extra:
        shown = ", ".join(extra[:3]) + (f" and {len(extra) - 3} more" if len(extra) > 3 else "")
        raise InputError(
            f"the git index already holds staged changes ({shown}): commit or unstage them (git restore --staged) first"
        )


def check_identity(root: Path) -> None:
    """Refuse when git has no explicit author/committer identity (config or GIT_* / EMAIL environment).

    git would otherwise invent one from the login and host name, which is never what a merge request wants.
    """
    with _open(root) as (repo, _prefix):
        reader = repo.config_reader()
        email = reader.get_value("user", "email", default="") or ""
        name = reader.get_value("user", "name", default="") or ""
        env = os.environ
        has_email = bool(str(email).strip()) or bool(
            env.get("EMAIL") or (env.get("GIT_AUTHOR_EMAIL") and env.get("GIT_COMMITTER_EMAIL"))
        )
        has_name = bool(str(name).strip()) or bool(env.get("GIT_AUTHOR_NAME") and env.get("GIT_COMMITTER_NAME"))
        if not (has_email and has_name):
            raise InputError(
                "git has no identity to commit with: run git config user.email 'you@example.com' "
                "and git config user.name 'Your Name'"
            )
        try:
            repo.git.var("GIT_AUTHOR_IDENT")
            repo.git.var("GIT_COMMITTER_IDENT")
        except GitCommandError as err:
            raise InputError(f"git cannot commit with the configured identity: {_git_message(err)}") from None


def commit_paths(root: Path, paths: Iterable[str], message: str) -> str | None:
    """Stage exactly ``paths`` (relative to ``root``) and commit them; return the commit's sha, or None.

    Paths that exist are added, tracked paths that no longer exist are removed from the index, the rest
    are ignored. Other staged changes are refused (``check_clean_index``). None: nothing changed.

    The commit is made by ``git commit`` itself (through ``repo.git``), not GitPython's
    ``index.commit``: the repository's hooks (``core.hooksPath`` included), ``commit.gpgSign`` and the
    configured identity apply exactly as when the user commits, and a hook that refuses stops the commit
    with its own message.
    """
    wanted = sorted({norm_path(p) for p in paths})
    if not message.strip():
        raise InputError("the commit message is empty")
    check_clean_index(root, allowed=wanted)
    check_identity(root)
    with _open(root) as (repo, prefix):
        tracked = {path for path, _stage in repo.index.entries}
        top = Path(repo.working_tree_dir or root)
        stage = [prefix + p for p in wanted if os.path.lexists(top / (prefix + p)) or (prefix + p) in tracked]
        try:
            if stage:
                for start in range(0, len(stage), 500):
                    repo.git.add("--all", "--", *stage[start : start + 500])
            if not _staged_paths(repo):
                return None
            repo.git.commit("--quiet", "--file=-", istream=_message_stream(message))
        except GitCommandError as err:
            raise InputError(f"git commit failed: {_git_message(err)}") from None
        return repo.head.commit.hexsha


def _message_stream(message: str) -> IO[bytes]:
    """The commit message as git's standard input (``--file=-``): any length, any characters."""
    stream = tempfile.TemporaryFile()
    stream.write(message.encode())
    stream.seek(0)
    return stream


# --------------------------------------------------------------------------------------------------
# Push


@dataclass(frozen=True)
class PushResult:
    remote: str
    branch: str
    commit: str
    summary: str  # git's summary of the ref update, e.g. "[new branch]"
    remote_messages: tuple[str, ...]  # the server's "remote:" lines (GitLab prints the MR link there)


def check_remote(root: Path, remote: str) -> None:
    """Refuse an unknown remote (before anything is written)."""
    with _open(root) as (repo, _prefix):
        if remote not in [r.name for r in repo.remotes]:
            raise InputError(f"no git remote named {remote!r} (git remote -v lists them)")


def push(root: Path, branch: str, remote: str = "origin", options: Iterable[str] = ()) -> PushResult:
    """Push ``branch`` to the same name on ``remote``, set it as upstream, with push ``options``."""
    check_branch_name(branch)
    opts = list(options)
    for option in opts:
        check_push_option(option)
    with _open(root) as (repo, _prefix):
        if remote not in [r.name for r in repo.remotes]:
            raise InputError(f"no git remote named {remote!r} (git remote -v lists them)")
        if branch not in repo.heads:
            raise InputError(f"no local branch {branch!r} to push")
        commit = repo.heads[branch].commit.hexsha
        progress = RemoteProgress()
        try:
            infos = repo.remote(remote).push(
                f"refs/heads/{branch}:refs/heads/{branch}",
                progress=progress,
                set_upstream=True,
                push_option=opts,
            )
        except GitCommandError as err:
            raise InputError(f"git push to {remote} failed: {_git_message(err)}") from None
        remote_lines = tuple(
            ln.removeprefix("remote:").strip() for ln in progress.other_lines if ln.startswith("remote:")
        )
        failed = [i for i in infos if i.flags & (PushInfo.ERROR | PushInfo.REJECTED | PushInfo.REMOTE_REJECTED)]
        if failed or not infos:
            detail = "; ".join(f"{i.remote_ref_string}: {i.summary.strip()}" for i in failed)
            errors = "; ".join(dict.fromkeys(ln.strip() for ln in progress.error_lines if ln.strip()))
            hooks = "; ".join(ln for ln in remote_lines if ln)
            text = "; ".join(t for t in (detail, errors, hooks) if t) or "no ref was updated"
            raise InputError(f"git push to {remote} failed: {text}")
        return PushResult(remote, branch, commit, infos[0].summary.strip(), remote_lines)


# --------------------------------------------------------------------------------------------------
# Diff support


def _resolve(repo: git.Repo, ref: str) -> git.Commit:
    if not ref or ref.startswith("-"):
        raise InputError(f"invalid git ref {ref!r}")
    try:
        found = repo.rev_parse(ref)
        while isinstance(found, git.TagObject):
            found = found.object
    except (BadName, ValueError, KeyError, IndexError, GitCommandError):  # KeyError: 'HEAD:..' and the like
        raise InputError(f"unknown git ref {ref!r}") from None
    if not isinstance(found, git.Commit):
        raise InputError(f"git ref {ref!r} names a {found.type}, not a commit")
    return found


def commit_of(root: Path, ref: str) -> str:
    """The full sha of ``ref`` (a branch, tag or commit) in the repository holding ``root``."""
    with _open(root, untrusted=True) as (repo, _prefix):
        return _resolve(repo, ref).hexsha


def changed_paths(root: Path, ref: str) -> set[str]:
    """Paths (relative to ``root``) that differ between commit ``ref`` and the working tree.

    Modified, added, deleted, both sides of a rename, untracked files that are not ignored.
    """
    with _open(root, untrusted=True) as (repo, prefix):
        commit = _resolve(repo, ref)
        found: set[str] = set()
        try:
            for diff in commit.diff(None):
                found.update(p for p in (diff.a_path, diff.b_path) if p)
            found.update(repo.untracked_files)
        except GitCommandError as err:
            raise InputError(f"git diff against {ref} failed: {_git_message(err)}") from None
    return {p[len(prefix) :] for p in found if p.startswith(prefix)}


def uncommitted(root: Path, paths: Iterable[str]) -> list[str]:
    """Those of ``paths`` (relative to ``root``; directories stand for every file below them) that are untracked,
    or differ from the last commit: what a first ``--commit`` must carry along (init's scaffold)."""
    wanted = sorted(set(paths))
    if not wanted:
        return []
    with _open(root) as (repo, prefix):
        try:
            out = repo.git.status("--porcelain=v1", "-z", "--untracked-files=all", "--", *(prefix + p for p in wanted))
        except GitCommandError as err:
            raise InputError(f"git status failed: {_git_message(err)}") from None
    found: list[str] = []
    for entry in out.split("\0"):
        if len(entry) > 3 and entry[2] == " ":
            path = entry[3:]
            if path.startswith(prefix):
                found.append(path[len(prefix) :])
    return sorted(found)


@contextlib.contextmanager
def worktree_at(root: Path, ref: str) -> Iterator[Path]:
    """A detached checkout of ``ref`` in a temporary directory; yields root's counterpart inside it.

    The worktree is removed and pruned afterwards, also on exceptions. Neither hooks nor an fsmonitor
    run (see :func:`_open`): this is a throwaway read-only copy of untrusted content.
    """
    with _open(root, untrusted=True) as (repo, prefix):
        sha = _resolve(repo, ref).hexsha
        top = Path(repo.working_tree_dir or root)
    parent = Path(tempfile.mkdtemp(prefix="gitopsgen-worktree-"))
    tree = parent / "tree"
    try:
        with _open(top, untrusted=True) as (repo, _):
            try:
                repo.git.worktree("add", "--detach", "--quiet", str(tree), sha)
            except GitCommandError as err:
                raise InputError(f"cannot check out {ref} into a worktree: {_git_message(err)}") from None
        yield tree / prefix if prefix else tree
    finally:
        with _open(top, untrusted=True) as (repo, _):
            with contextlib.suppress(GitCommandError):
                repo.git.worktree("remove", "--force", str(tree))
            shutil.rmtree(parent, ignore_errors=True)
            with contextlib.suppress(GitCommandError):
                repo.git.worktree("prune")
