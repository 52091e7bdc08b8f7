"""F007 update-path-not-found: an ImageUpdateAutomation writes to a path this repository does not have."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ..entries import normal_path
from ..fields import mapping_at
from ..findings import Finding, Rule, Severity, object_name
from ..load import inside
from ..model import Context

SCOPE = "repository"  # see rules/__init__.py
RULE = Rule(
    id="F007",
    name="update-path-not-found",
    stage="flux",
    severity=Severity.ERROR,
    summary="An ImageUpdateAutomation's spec.update.path is not a directory of the repository it updates.",
    doc=(
        "image-automation-controller checks out the ImageUpdateAutomation's source, looks for setter markers "
        "under spec.update.path and commits what it changed; a path that does not exist in the checkout fails "
        "the update ('no such file or directory'), so no image is ever bumped. The rule checks the path of "
        "every ImageUpdateAutomation of the repository whose sourceRef is the flux-system GitRepository (this "
        "repository): it must be a directory inside the repository. Paths decided by a ${VAR} are not checked."
    ),
)


def check(ctx: Context) -> Iterator[Finding]:
    root = Path(ctx.root).resolve()
    for doc in ctx.documents:
        data = doc.data
        if not doc.is_object or data.get("kind") != "ImageUpdateAutomation":
            continue
        if not str(data.get("apiVersion", "")).startswith("image.toolkit.fluxcd.io/"):
            continue
        spec = mapping_at(data, "spec")
        source = mapping_at(spec, "sourceRef")
        if source.get("kind", "GitRepository") != "GitRepository" or source.get("name") != "flux-system":
            continue
        update = mapping_at(spec, "update")
        raw = update.get("path", "./")
        path = normal_path(raw)
        if path is None and isinstance(raw, str) and "$" in raw:
            continue
        target = (root / path).resolve() if path is not None else None
        if target is not None and inside(root, target) and target.is_dir():
            continue
        yield Finding(
            file=doc.file,
            line=doc.line_of("spec", "update", "path"),
            rule=RULE.id,
            message=f"{object_name(data)}: spec.update.path {raw} is not a directory of this repository",
            severity=RULE.severity,
            object=object_name(data),
        )
