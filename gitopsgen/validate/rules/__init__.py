"""The semantic rules, one module per rule, found by name: each module defines ``RULE`` (registered
in :data:`gitopsgen.validate.findings.RULES`) and ``check(ctx) -> Iterable[Finding]``.

Every rule module says what it looks at in ``SCOPE`` (there is no default: a wrong guess would be a
stale cache). ``"cluster"``: one cluster's objects (``ctx.clusters`` holds exactly one; no documents or
texts are given) — the engine runs it once per cluster it builds, and its findings are cached with that
cluster's. ``"repository"``: the repository's files (``ctx.documents``, ``ctx.texts``, and ``ctx.images``
for the clusters' image-automation objects) — run once per validation, with no clusters.

Rules emitted by a stage (YAML, schemas, builds, Helm) are declared next to the stage's code; the
modules here look at whole clusters after everything is built.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable
from types import ModuleType

from ..findings import Finding, Rule
from ..model import Context, Manifest

Check = Callable[[Context], Iterable[Finding]]


def modules() -> list[ModuleType]:
    """Every rule module of this package, in name order (``_name`` modules are shared helpers, not rules)."""
    found = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    return [importlib.import_module(f"{__name__}.{name}") for name in found]


def catalogue() -> dict[str, Rule]:
    """Every rule of the validator: the stages' (registered when the engine's modules load) and these."""
    from .. import engine  # noqa: F401  (imports every stage module, which registers its rules)
    from ..findings import RULES

    modules()
    return RULES


CLUSTER = "cluster"
REPOSITORY = "repository"


def checks(scope: str | None = None) -> list[tuple[Rule, Check]]:
    """(rule, check) for every semantic rule module (of ``scope`` when given)."""
    found = modules()
    for m in found:
        if getattr(m, "SCOPE", None) not in (CLUSTER, REPOSITORY):
            raise ValueError(f"rule module {m.__name__} must set SCOPE to {CLUSTER!r} or {REPOSITORY!r}")
    return [(m.RULE, m.check) for m in found if scope is None or m.SCOPE == scope]


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
