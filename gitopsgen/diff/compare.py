"""One cluster's rendered objects at two revisions → what was added, removed and changed, as unified diffs.

Pure: the inputs are the objects each side renders (already built by the validator's pipeline);
the output is data that the formats in :mod:`.formats` lay out.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .objects import ObjectKey, mask, normalize, to_yaml

ADDED, REMOVED, CHANGED = "added", "removed", "changed"


@dataclass
class ObjectChange:
    key: ObjectKey
    change: str  # added | removed | changed
    diff: list[str]  # unified diff lines, without trailing newlines
    added: int  # lines added
    removed: int  # lines removed
    api_version: str = ""


@dataclass
class ClusterDiff:
    """One cluster: its status, the inputs that made it worth rendering, and the changed objects."""

    name: str
    status: str  # changed | unchanged | added | removed | skipped
    reason: str = ""  # why it was skipped, or how it was added/removed
    inputs: list[str] = field(default_factory=list)  # changed files among its inputs
    objects: list[ObjectChange] = field(default_factory=list)
    errors: dict[str, list[str]] = field(default_factory=dict)  # side (base|head) → build errors, one line each

    def count(self, change: str) -> int:
        return sum(1 for o in self.objects if o.change == change)


def index(objects: Iterable[dict[str, Any]]) -> dict[ObjectKey, dict[str, Any]]:
    """Objects by identity; a second object with the same identity gets ``#2`` in its name (kustomize would fail
    on it, Flux would apply the last: both are shown rather than one hidden)."""
    out: dict[ObjectKey, dict[str, Any]] = {}
    for obj in objects:
        key = ObjectKey.of(obj)
        n = 1
        while key in out:
            n += 1
            base = ObjectKey.of(obj)
            key = ObjectKey(base.group, base.kind, base.namespace, f"{base.name}#{n}")
        out[key] = obj
    return out


def object_changes(
    cluster: str,
    before: dict[ObjectKey, dict[str, Any]],
    after: dict[ObjectKey, dict[str, Any]],
    context: int = 3,
) -> list[ObjectChange]:
    """Every object whose normalized form differs, sorted by kind, namespace and name."""
    changes: list[ObjectChange] = []
    for key in sorted(before.keys() | after.keys(), key=lambda k: (k.kind, k.namespace, k.name, k.group)):
        old = normalize(before[key]) if key in before else None
        new = normalize(after[key]) if key in after else None
        if old == new:
            continue
        old, new = mask(old, new)
        old_text, new_text = to_yaml(old), to_yaml(new)
        if old_text == new_text:  # only masked Secret values could differ, and they did not
            continue
        lines = list(
            difflib.unified_diff(
                old_text.splitlines(),
                new_text.splitlines(),
                fromfile=f"a/{key.path(cluster)}" if old is not None else "/dev/null",
                tofile=f"b/{key.path(cluster)}" if new is not None else "/dev/null",
                n=context,
                lineterm="",
            )
        )
        body = lines[2:]
        change = ADDED if old is None else REMOVED if new is None else CHANGED
        changes.append(
            ObjectChange(
                key,
                change,
                lines,
                sum(1 for ln in body if ln.startswith("+")),
                sum(1 for ln in body if ln.startswith("-")),
                str((new or old or {}).get("apiVersion", "")),
            )
        )
    return changes
