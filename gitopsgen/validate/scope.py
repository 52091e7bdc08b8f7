"""Which clusters a run validates: ``--shard K/N`` and ``--changed-since REF`` applied to the selected
clusters, and whether the run also does the repository-wide work."""

from __future__ import annotations

from dataclasses import dataclass, field

from .inputs import Inputs
from .workspace import Workspace


@dataclass
class Scope:
    """Which clusters this run validates, and whether it also does the repository-wide work (files no
    cluster reaches, findings that belong to no cluster) — exactly one shard does it, and a
    ``--changed-since`` run only when a changed file is outside every cluster."""

    names: list[str]
    total: int
    repository: bool = True
    owner: bool = True  # this run reports the findings of no cluster (not --cluster; shard 1 of N)
    narrowed: bool = False
    changed: set[str] | None = None  # --changed-since: the changed files
    reached: set[str] = field(default_factory=set)  # directories some cluster reads (also unselected ones)
    files: set[str] = field(default_factory=set)  # files some cluster reads

    def keeps(self, file: str) -> bool:
        """Whether a finding of no cluster, about ``file``, belongs to this run: only one run of a sharded
        validation reports them, and a ``--changed-since`` run only those about changed files (a hand edit
        of a generated overlay is reported even though the repository-wide work is skipped)."""
        if not self.owner:
            return False
        return self.changed is None or not file or file in self.changed


def narrow(ws: Workspace, names: list[str], inputs: dict[str, Inputs]) -> Scope:
    """``--shard K/N`` and ``--changed-since REF`` applied to the selected clusters (``inputs``: theirs)."""
    settings = ws.settings
    scope = Scope(names, len(names), repository=not settings.clusters, owner=not settings.clusters)
    if settings.shard is None and settings.changed_since is None:
        return scope
    scope.narrowed = True
    for i in inputs.values():
        scope.reached |= i.dirs | i.trees
        scope.files |= i.files
    if settings.changed_since is not None:
        from ..publish import git as gitops

        changed = gitops.changed_paths(ws.root, settings.changed_since)
        scope.changed = changed
        touched = {n: i.touched_by(changed) for n, i in inputs.items()}
        scope.names = [n for n in scope.names if touched[n]]
        read = {p for paths in touched.values() for p in paths}
        scope.repository = scope.repository and bool(changed - read)
    if settings.shard is not None:
        k, n = settings.shard
        scope.names = [name for i, name in enumerate(sorted(scope.names)) if i % n == k - 1]
        scope.repository = scope.repository and k == 1
        scope.owner = scope.owner and k == 1
    return scope
