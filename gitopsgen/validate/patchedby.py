"""Which kustomizations patched a built object: kustomize's transformer annotations (``buildMetadata:
[transformerAnnotations]`` in the wrappers), read and removed, so a finding on a patched field blames the patch
that set it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from .fields import mapping_at

TRANSFORMATIONS = "alpha.config.kubernetes.io/transformations"
PATCH_TRANSFORMERS = frozenset({"PatchTransformer", "PatchStrategicMergeTransformer", "PatchJson6902Transformer"})


def patched_by(obj: dict[str, Any], workdir: Path, root: Path) -> frozenset[str]:
    """Pop kustomize's transformations annotation; the repository-relative kustomization files whose patches
    were applied to ``obj`` (so a finding on a patched field blames the patch that set it, not another
    kustomization's patch of an object with the same base name)."""
    meta = mapping_at(obj, "metadata")
    annotations = mapping_at(meta, "annotations")
    raw = annotations.pop(TRANSFORMATIONS, None)
    if not raw:
        return frozenset()
    try:
        steps = yaml.safe_load(raw) or []
    except yaml.YAMLError:
        return frozenset()
    found = set()
    for step in steps if isinstance(steps, list) else []:
        by = step.get("configuredBy") if isinstance(step, dict) else None
        where = step.get("configuredIn") if isinstance(step, dict) else None
        if isinstance(by, dict) and by.get("kind") in PATCH_TRANSFORMERS and isinstance(where, str):
            try:
                found.add(Path(os.path.normpath(workdir / where)).relative_to(root).as_posix())
            except ValueError:
                continue  # the wrapper's own patches (spec.patches of the Flux Kustomization)
    return frozenset(found)
