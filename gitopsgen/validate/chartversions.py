"""Chart versions as Helm and Flux choose them (Masterminds semver, :mod:`gitopsgen.semver`): the version a
request resolves to among those available, whether a version is exact, and the newest few for messages.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from ..semver import Constraint, Version


def resolve_version(wanted: str, available: Iterable[str]) -> str | None:
    """The version Helm/Flux would pick: an exact string match first, else the highest version allowed by
    the constraint ``wanted`` ("" = "*"); versions that do not parse are ignored. ``ValueError`` on a bad
    constraint."""
    candidates = list(available)
    wanted = wanted.strip()
    if wanted and wanted in candidates:
        return wanted
    constraint = Constraint(wanted or "*")
    best: tuple[Version, str] | None = None
    for text in candidates:
        v = Version.parse(text)
        if v is not None and constraint.allows(v) and (best is None or best[0] < v):
            best = (v, text)
    return best[1] if best else None


_EXACT_RE = re.compile(r"^v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")


def is_exact_version(text: str) -> bool:
    """True for a full ``major.minor.patch`` version without operator or wildcard: it names one archive
    (``1.2`` is not exact: as a constraint it means ``1.2.x``)."""
    return bool(_EXACT_RE.match(text.strip())) and Version.parse(text) is not None


def _newest(versions: Iterable[str], limit: int = 8) -> str:
    """The highest versions first, for error messages."""

    def key(text: str) -> tuple[Any, ...]:
        v = Version.parse(text)
        return (1, v.key) if v else (0, text)

    ordered = sorted(versions, key=key, reverse=True)
    if not ordered:
        return "none"
    more = len(ordered) - limit
    return ", ".join(ordered[:limit]) + (f", … {more} more" if more > 0 else "")


def _is_constraint(text: str) -> bool:
    try:
        Constraint(text)
    except ValueError:
        return False
    return True
