"""The last step of a validation: the settings (disabled rules, severity overrides, ignored paths) and inline
``# gitopsgen: ignore=ID`` comments applied, identical findings of several clusters merged into one, and
the findings of per-kind rules (K005) grouped."""

from __future__ import annotations

from .config import Settings
from .findings import Finding, Rule, Severity
from .load import inline_ignores, is_ignored


def finish(findings: list[Finding], settings: Settings, texts: dict[str, str], rules: dict[str, Rule]) -> list[Finding]:
    """Apply the settings and inline ignores, merge identical findings of several clusters, sort (``rules``:
    the catalogue, for default severities; a rule not in it counts as an error)."""
    ignores = {f: inline_ignores(t) for f, t in texts.items()}
    merged: dict[tuple[str, int, str, str, str], tuple[Finding, list[str]]] = {}
    for f in findings:
        known = rules.get(f.rule)
        severity = settings.severity(f.rule, known.severity if known else Severity.ERROR)
        if severity is None or (f.file and is_ignored(f.file, settings.ignore)):
            continue
        per_line, whole = ignores.get(f.file, ({}, set()))
        if (
            f.rule in whole
            or "ALL" in whole
            or f.rule in per_line.get(f.line, set())
            or "ALL" in per_line.get(f.line, set())
        ):
            continue
        key = (f.file, f.line, f.rule, f.message, f.object)
        if key in merged:
            if f.cluster and f.cluster not in merged[key][1]:
                merged[key][1].append(f.cluster)
            continue
        merged[key] = (
            Finding(f.file, f.line, f.rule, f.message, severity, f.column, f.object, ""),
            [f.cluster] if f.cluster else [],
        )
    out = [
        Finding(f.file, f.line, f.rule, f.message, f.severity, f.column, f.object, ",".join(sorted(c)))
        for f, c in merged.values()
    ]
    return sorted(per_kind(out))


PER_KIND = frozenset({"K005"})  # rules reported once per message (one kind), not once per object


def per_kind(findings: list[Finding]) -> list[Finding]:
    """The findings of :data:`PER_KIND` rules with the same message as one, at the first place, saying how
    many objects in how many files it stands for, with every cluster."""
    groups: dict[tuple[str, str, Severity], list[Finding]] = {}
    out: list[Finding] = []
    for f in findings:
        if f.rule in PER_KIND:
            groups.setdefault((f.rule, f.message, f.severity), []).append(f)
        else:
            out.append(f)
    for same in groups.values():
        same.sort()
        first = same[0]
        clusters = sorted({c for f in same for c in f.cluster.split(",") if c})
        files = len({f.file for f in same})
        message = first.message
        if len(same) > 1:
            message += f" ({len(same)} objects in {files} file{'s' if files > 1 else ''}, the first here)"
        out.append(
            Finding(
                first.file,
                first.line,
                first.rule,
                message,
                first.severity,
                first.column,
                first.object,
                ",".join(clusters),
            )
        )
    return out
