"""Reports of a validation run: findings → text, JSON, JUnit XML, GitLab Code Quality, SARIF, Markdown.

Every format is a module with a pure ``render(findings, *, root_name, clusters, rules, stats=None) ->
str``; :data:`FORMATS` maps the format's name (what ``--format`` takes) to it and :func:`render`
dispatches. The findings come sorted and with their final severities; ``root_name`` is the
repository's name, ``clusters`` the names of the clusters validated, ``rules`` the catalogue
(:data:`gitopsgen.validate.catalogue.RULES`) and ``stats`` optional run figures such as
``{"files": 40, "objects": 500, "seconds": 1.2}`` that text, JSON, JUnit (time) and Markdown show.
The line-independent fingerprints shared by Code Quality, SARIF and JSON live in
:mod:`.codequality`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from ..findings import Finding, Rule
from . import codequality, jsonreport, junit, markdown, sarif, text


class Writer(Protocol):
    def __call__(
        self,
        findings: Sequence[Finding],
        *,
        root_name: str,
        clusters: Sequence[str],
        rules: Mapping[str, Rule],
        stats: Mapping[str, object] | None = None,
    ) -> str: ...


FORMATS: dict[str, Writer] = {
    "text": text.render,
    "json": jsonreport.render,
    "junit": junit.render,
    "codequality": codequality.render,
    "sarif": sarif.render,
    "markdown": markdown.render,
}


def render(
    findings: Sequence[Finding],
    fmt: str,
    *,
    root_name: str,
    clusters: Sequence[str],
    rules: Mapping[str, Rule],
    stats: Mapping[str, object] | None = None,
) -> str:
    """The report of ``findings`` in format ``fmt`` (a key of :data:`FORMATS`)."""
    try:
        writer = FORMATS[fmt]
    except KeyError:
        raise ValueError(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}") from None
    return writer(findings, root_name=root_name, clusters=clusters, rules=rules, stats=stats)
