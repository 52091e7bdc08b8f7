"""The semantic rules, one module per rule: each defines ``RULE``, ``SCOPE`` and ``check(ctx) ->
Iterable[Finding]``, and is listed in :mod:`gitopsgen.validate.catalogue` (an unlisted module is never run;
``tests/test_architecture.py`` fails on one).

``SCOPE`` says what a rule looks at (there is no default: a wrong guess would be a stale cache).
``"cluster"``: one cluster's objects (``ctx.clusters`` holds exactly one; no documents or texts are given) —
the engine runs it once per cluster it builds, and its findings are cached with that cluster's.
``"repository"``: the repository's files (``ctx.documents``, ``ctx.texts``, and ``ctx.images`` for the
clusters' image-automation objects) — run once per validation, with no clusters.

Rules emitted by a stage (YAML, schemas, builds, Helm) are declared next to the stage's code; the modules
here look at whole clusters after everything is built. ``_name`` modules are helpers shared by rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..findings import Finding, Rule
from ..model import Context, Manifest

Check = Callable[[Context], Iterable[Finding]]

CLUSTER = "cluster"
REPOSITORY = "repository"


def finding_at(rule: Rule, manifest: Manifest, message: str, *path: str | int) -> Finding:
    """A finding of ``rule`` about ``manifest``, at the line of ``path`` inside it where known."""
    file, line = manifest.where(*path)
    return Finding(
        file=file,
        line=line,
        rule=rule.id,
        message=message,
        severity=rule.severity,
        object=manifest.ref,
        cluster=manifest.cluster,
    )
