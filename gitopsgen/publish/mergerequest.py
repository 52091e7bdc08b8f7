"""Applying a generator plan the merge-request way: a branch, the files, one commit, a push to GitLab.

The write commands (``add-cluster``, ``remove-cluster``, ``upgrade``, ``generate``) hand their plan
and a commit subject to :func:`write`. Everything that can be refused (branch name, push options,
staged changes that would ride along, a missing git identity) is checked before a file is written;
the branch is switched to without touching the working tree, and switched back when the write fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..generate.tree import Plan
from ..generate.treewrite import apply
from . import git as gitops
from .changes import check_branch_name, describe_changes, merge_request_options


@dataclass(frozen=True)
class Publish:
    """What the user asked for with --branch/--commit/--push/--merge-request."""

    branch: str | None = None
    commit: bool = False
    push: bool = False
    remote: str = "origin"
    merge_request: bool = False
    target: str | None = None
    title: str | None = None
    labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.merge_request and not self.push:
            raise InputError("--merge-request needs --push")
        if (self.target or self.title or self.labels) and not self.merge_request:
            raise InputError("--target, --title and --label need --merge-request")

    @property
    def commits(self) -> bool:
        return self.commit or self.push  # --push implies --commit

    @property
    def active(self) -> bool:
        return bool(self.branch) or self.commits


@dataclass(frozen=True)
class Published:
    branch: str | None
    commit: str | None
    push: gitops.PushResult | None


def write(
    root: Path,
    plan: Plan,
    subject: str,
    pub: Publish,
    report: Callable[[Plan], None] = lambda p: None,
    also: Iterable[str] = (),
) -> Published:
    """Write ``plan`` (all-or-nothing), on ``pub.branch`` if given, then commit and push as asked.

    ``also``: files the user edited that the commit carries with the generated ones (``generate``
    commits the intent files it generated from).
    """
    paths = sorted({*plan.write, *plan.delete, *also})
    if not pub.active:
        apply(root, plan)
        report(plan)
        return Published(None, None, None)
    summary = describe_changes(plan.write, plan.delete)
    options: list[str] = []
    if pub.branch:
        check_branch_name(pub.branch)
    if pub.commits:
        gitops.check_identity(root)
        gitops.check_clean_index(root, paths)
    if pub.push:
        gitops.check_remote(root, pub.remote)
    if pub.merge_request:
        options = merge_request_options(pub.target, pub.title or subject, summary.mr_description(), pub.labels)
    current = gitops.current_branch(root)
    branch = pub.branch or current
    if pub.push and branch is None:
        raise InputError("HEAD is detached: give --branch NAME to push")
    if pub.merge_request and branch in {pub.target or gitops.default_branch(root, pub.remote), "main", "master"}:
        raise InputError(
            f"--merge-request would push {branch} itself: give --branch NAME for the merge request's source branch"
        )
    if plan.empty:  # nothing to write: no branch, no commit; a push that failed before is retried
        report(plan)
        if pub.push and branch is not None and branch == current:
            return Published(branch, None, gitops.push(root, branch, pub.remote, options))
        return Published(None, None, None)
    state = gitops.start_branch(root, pub.branch) if pub.branch else None
    try:
        apply(root, plan)
    except BaseException:
        if state is not None and not _written(root, plan):  # a Ctrl-C after the write completed keeps the branch
            gitops.abandon_branch(root, state)
        raise
    report(plan)
    if not pub.commits:
        return Published(branch, None, None)
    body = summary.commit_body()
    sha = gitops.commit_paths(root, paths, f"{subject}\n\n{body}" if body else subject)
    pushed = gitops.push(root, branch, pub.remote, options) if pub.push and branch else None
    return Published(branch, sha, pushed)


def _written(root: Path, plan: Plan) -> bool:
    """Whether the tree holds exactly what ``plan`` writes (its files written, its deletions gone)."""
    try:
        return all((root / rel).read_text(encoding="utf-8") == text for rel, text in plan.write.items()) and not any(
            (root / rel).exists() for rel in plan.delete
        )
    except (OSError, UnicodeDecodeError):
        return False
