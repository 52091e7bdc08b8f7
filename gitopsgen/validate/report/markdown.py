"""The Markdown report: a GitLab merge-request note.

A headline with the summary (❌ errors, ⚠️ only warnings, ✅ otherwise) and the run's stats, then one
table per severity and cluster (errors first; listed clusters in order, unlisted ones sorted, then
repository-wide findings), columns Location, Rule, Object, Message. At most :data:`MAX_ROWS` rows in
all; the rest is counted in a closing "… and N more" line.

Every piece of finding text is escaped for GitLab Flavored Markdown: backslash before Markdown
punctuation (``|`` would split a table cell, ``<`` start HTML) and before GitLab's reference
characters (``@user``, ``#1``, ``!1``, ``~label``, ``$1``, ``%milestone``, ``&1``), so a message
neither breaks the table nor mentions anyone; line breaks become ``<br>``, other control characters
U+FFFD.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from ..findings import Finding, Rule, Severity
from .text import SEVERITY_ORDER, counts, format_stats, location, summary_line

MAX_ROWS = 200

_ESCAPE = re.compile(r"([\\`*_\[\]<>|~@#!$%&])")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_TITLES: dict[Severity, str] = {Severity.ERROR: "Errors", Severity.WARNING: "Warnings", Severity.INFO: "Info"}
_REPOSITORY_WIDE = "repository-wide"


def escape(text: str) -> str:
    """``text`` safe inside a GFM table cell: punctuation backslash-escaped, line breaks → ``<br>``."""
    lines = [_ESCAPE.sub(r"\\\1", _CONTROL.sub("\ufffd", line)) for line in text.splitlines()] or [""]
    return "<br>".join(lines)


def _groups(findings: Sequence[Finding], clusters: Sequence[str]) -> list[tuple[Severity, str, list[Finding]]]:
    """(severity, cluster or "", findings) in report order, empty groups left out."""
    present = {f.cluster for f in findings if f.cluster}
    order = [c for c in clusters if c in present] + sorted(present - set(clusters)) + [""]
    groups: list[tuple[Severity, str, list[Finding]]] = []
    for severity in SEVERITY_ORDER:
        for cluster in order:
            chosen = [f for f in findings if Severity(f.severity) is severity and f.cluster == cluster]
            if chosen:
                groups.append((severity, cluster, chosen))
    return groups


def _row(finding: Finding, rules: Mapping[str, Rule]) -> str:
    rule = rules.get(finding.rule)
    rule_text = f"{finding.rule} {rule.name}" if rule is not None else finding.rule
    cells = [location(finding), rule_text, finding.object, finding.message]
    return "| " + " | ".join(escape(c) for c in cells) + " |"


def render(
    findings: Sequence[Finding],
    *,
    root_name: str,
    clusters: Sequence[str],
    rules: Mapping[str, Rule],
    stats: Mapping[str, object] | None = None,
) -> str:
    """The merge-request note as Markdown text."""
    c = counts(findings)
    icon = "❌" if c["errors"] else "⚠️" if c["warnings"] else "✅"
    name = f" {escape(root_name)}" if root_name else ""
    lines = [f"### {icon} gitopsgen validate{name}: {summary_line(findings, clusters)}"]
    extra = format_stats(stats)
    if extra:
        lines += ["", escape(extra)]
    shown = 0
    for severity, cluster, group in _groups(findings, clusters):
        if shown >= MAX_ROWS:
            break
        where = escape(cluster) if cluster else _REPOSITORY_WIDE
        lines += ["", f"#### {_TITLES[severity]} — {where} ({len(group)})", ""]
        lines += ["| Location | Rule | Object | Message |", "| --- | --- | --- | --- |"]
        for finding in group[: MAX_ROWS - shown]:
            lines.append(_row(finding, rules))
            shown += 1
    if shown < len(findings):
        lines += ["", f"… and {len(findings) - shown} more (the first {shown} are shown; see the full report)."]
    return "\n".join(lines) + "\n"
