"""``gitopsgen diff``: what a change does to each cluster, as the objects Flux would apply, base vs working tree.

The base revision is checked out in a temporary git worktree; both sides go through the validator's
own pipeline (:class:`~gitopsgen.validate.engine.Workspace`: kustomize with Flux's transforms,
postBuild substitution, HelmRelease renders). Only clusters that read a changed file
(:func:`~gitopsgen.validate.inputs.cluster_inputs`, on either side) are rendered; the others are listed
as not rendered. The objects are compared by identity with noise stripped and Secret values masked
(:mod:`.objects`, :mod:`.compare`) and laid out by :mod:`.formats`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..publish import git as gitops
from ..validate.config import Settings
from ..validate.findings import Severity
from ..validate.inputs import Inputs, cluster_inputs
from ..validate.schemastage import NOT_OBJECTS
from ..validate.workspace import Rendered, Workspace
from .compare import ClusterDiff, index, object_changes
from .formats import FORMATS, DiffReport, render

__all__ = ["FORMATS", "DiffReport", "render", "rendered_diff"]


def _objects(r: Rendered | None) -> list[dict[str, Any]]:
    if r is None:
        return []
    return [m.data for m in r.build.cluster.manifests if m.api_group not in NOT_OBJECTS]


def _errors(r: Rendered | None) -> list[str]:
    if r is None:
        return []
    return [f"{f.rule} {f.file}:{f.line}: {f.message}" for f in sorted(r.findings) if f.severity == Severity.ERROR]


def rendered_diff(root: Path, base: str, settings: Settings, context: int = 3) -> DiffReport:
    """Render the clusters whose inputs changed between ``base`` and the working tree of ``root``; compare."""
    root = root.resolve()
    commit = gitops.commit_of(root, base)
    changed = gitops.changed_paths(root, commit)
    wanted = settings.clusters
    settings = replace(settings, clusters=())
    report = DiffReport(base, commit, "working tree")
    head = Workspace.open(root, settings)
    with gitops.worktree_at(root, commit) as base_root:
        old = Workspace.open(base_root, settings)
        head_names = set(head.repo.cluster_names())
        base_names = set(old.repo.cluster_names())
        names = sorted(head_names | base_names)
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            raise InputError(f"--cluster {unknown[0]}: no such cluster at either revision")
        empty = Inputs()
        inputs = {
            n: (
                cluster_inputs(old.repo, n) if n in base_names else empty,
                cluster_inputs(head.repo, n) if n in head_names else empty,
            )
            for n in names
        }
        read = {
            p for before, after in inputs.values() for p in (*before.touched_by(changed), *after.touched_by(changed))
        }
        report.outside = sorted(set(changed) - read)
        todo: list[ClusterDiff] = []
        for n in names:
            if wanted and n not in wanted:
                continue
            before, after = inputs[n]
            touched = sorted(set(before.touched_by(changed)) | set(after.touched_by(changed)))
            if n not in base_names:
                todo.append(ClusterDiff(n, "added", f"{head.repo.entries[n].directory}/ is new", touched))
            elif n not in head_names:
                todo.append(ClusterDiff(n, "removed", f"{old.repo.entries[n].directory}/ is gone", touched))
            elif touched:
                todo.append(ClusterDiff(n, "changed", "", touched))
            else:
                report.clusters.append(ClusterDiff(n, "skipped", "no input changed"))
        old_renders = _render(old, [c.name for c in todo if c.status != "added"])
        new_renders = _render(head, [c.name for c in todo if c.status != "removed"])
    for c in todo:
        before_r, after_r = old_renders.get(c.name), new_renders.get(c.name)
        c.errors = {side: e for side, e in (("base", _errors(before_r)), ("head", _errors(after_r))) if e}
        c.objects = object_changes(c.name, index(_objects(before_r)), index(_objects(after_r)), context)
        if c.status == "changed" and not c.objects:
            c.status = "unchanged"
        report.clusters.append(c)
    report.clusters.sort(key=lambda c: c.name)
    return report


def _render(ws: Workspace, names: list[str]) -> dict[str, Rendered]:
    return dict(zip(names, ws.render(names), strict=True))
