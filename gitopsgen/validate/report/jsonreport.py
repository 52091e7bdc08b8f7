"""The JSON report: the findings as data, for scripts and for comparing runs.

``{"version": 1, "findings": [...], "summary": {...}}`` with sorted keys, two-space indent and
non-ASCII kept as is (UTF-8). Each finding is :meth:`Finding.as_dict` (rule, severity, message, file,
line, column, object, cluster) plus ``rule_name`` and the line-independent ``fingerprint`` of the
Code Quality report. The summary holds the per-severity counts, ``total``, the repository's name, the
clusters validated and the caller's stats (a stats value JSON cannot hold is written as its ``str``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from ..findings import Finding, Rule
from .codequality import fingerprints
from .text import counts

VERSION = 1


def document(
    findings: Sequence[Finding],
    *,
    root_name: str,
    clusters: Sequence[str],
    rules: Mapping[str, Rule],
    stats: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """The report as a JSON-ready dict."""
    items: list[dict[str, object]] = []
    for f, fp in zip(findings, fingerprints(findings), strict=True):
        item = f.as_dict()
        rule = rules.get(f.rule)
        item["rule_name"] = rule.name if rule is not None else ""
        item["fingerprint"] = fp
        item["clusters"] = [c for c in f.cluster.split(",") if c]  # identical findings of several clusters: one
        items.append(item)
    summary: dict[str, object] = {
        **counts(findings),
        "total": len(findings),
        "repository": root_name,
        "clusters": list(clusters),
        "stats": dict(stats or {}),
    }
    return {"version": VERSION, "findings": items, "summary": summary}


def render(
    findings: Sequence[Finding],
    *,
    root_name: str,
    clusters: Sequence[str],
    rules: Mapping[str, Rule],
    stats: Mapping[str, object] | None = None,
) -> str:
    """The JSON report as text (ends with a newline)."""
    doc = document(findings, root_name=root_name, clusters=clusters, rules=rules, stats=stats)
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n"
