"""The plain-text report, and the small vocabulary every report shares.

One line per finding, ``file:line:col: severity RULE message [object] (cluster)``, with the parts that
are empty left out (no file → ``<repository>``; line 0 → no line or column; column 0 → no column),
then one summary line ``N errors, M warnings, K info in C clusters`` (plus the run's stats when the
caller gives them). This module also owns the helpers the other formats reuse: the location string,
the per-severity counts and the summary line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from ..findings import Finding, Rule, Severity

REPOSITORY = "<repository>"
"""Where a finding that names no file points (repository-wide findings)."""

SEVERITY_ORDER: tuple[Severity, ...] = (Severity.ERROR, Severity.WARNING, Severity.INFO)

_COUNT_KEYS: dict[Severity, str] = {Severity.ERROR: "errors", Severity.WARNING: "warnings", Severity.INFO: "info"}


def location(finding: Finding, *, column: bool = True) -> str:
    """``file:line:col`` of a finding, shortened where line or column are unknown (0)."""
    where = finding.file or REPOSITORY
    if finding.line > 0:
        where += f":{finding.line}"
        if column and finding.column > 0:
            where += f":{finding.column}"
    return where


def counts(findings: Iterable[Finding]) -> dict[str, int]:
    """``{"errors": N, "warnings": M, "info": K}`` of the findings."""
    result = dict.fromkeys(_COUNT_KEYS.values(), 0)
    for f in findings:
        result[_COUNT_KEYS[Severity(f.severity)]] += 1
    return result


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# the JSON report's stats keys, as a person reads them in the summary line
STAT_LABELS = {
    "files": "files",
    "documents": "documents",
    "kustomizations": "Flux Kustomizations built",
    "helm_releases": "HelmReleases rendered",
    "objects": "objects checked",
    "clusters_cached": "cached",
}


def format_stats(stats: Mapping[str, object] | None) -> str:
    """``40 files, 500 objects checked, 1.2s`` from a stats dict (``clusters`` is left to the summary; a narrowed
    run says ``2 of 5 clusters selected``)."""
    stats = stats or {}
    parts: list[str] = []
    for key, value in stats.items():
        if key == "clusters":
            continue
        if key == "seconds" and isinstance(value, int | float):
            parts.append(f"{value:.1f}s")
        elif key == "clusters_selected_of":
            parts.append(f"{stats.get('clusters', '?')} of {value} clusters selected")
        else:
            parts.append(f"{value} {STAT_LABELS.get(key, key.replace('_', ' '))}")
    return ", ".join(parts)


def summary_line(
    findings: Sequence[Finding], clusters: Sequence[str], stats: Mapping[str, object] | None = None
) -> str:
    """``N errors, M warnings, K info in C clusters`` (singular where the count is 1), stats in parentheses."""
    c = counts(findings)
    line = (
        f"{_plural(c['errors'], 'error')}, {_plural(c['warnings'], 'warning')}, {c['info']} info"
        f" in {_plural(len(clusters), 'cluster')}"
    )
    extra = format_stats(stats)
    return f"{line} ({extra})" if extra else line


def one_line(text: str) -> str:
    """``text`` with its line breaks folded into single spaces, so one finding stays one line."""
    parts = text.splitlines()
    if len(parts) <= 1 and (not parts or parts[0] == text):
        return text
    return " ".join(part.strip() for part in parts if part.strip())


def description(finding: Finding) -> str:
    """``RULE message [object] (cluster)`` on one line, the empty parts left out."""
    text = f"{finding.rule} {one_line(finding.message)}"
    if finding.object:
        text += f" [{finding.object}]"
    if finding.cluster:
        text += f" ({finding.cluster})"
    return text


def finding_line(finding: Finding) -> str:
    """One finding as ``file:line:col: severity RULE message [object] (cluster)``."""
    return f"{location(finding)}: {Severity(finding.severity).value} {description(finding)}"


def render(
    findings: Sequence[Finding],
    *,
    root_name: str,
    clusters: Sequence[str],
    rules: Mapping[str, Rule],
    stats: Mapping[str, object] | None = None,
) -> str:
    """The text report: one line per finding (in the caller's order), then the summary line."""
    lines = [finding_line(f) for f in findings]
    lines.append(summary_line(findings, clusters, stats))
    return "\n".join(lines) + "\n"
