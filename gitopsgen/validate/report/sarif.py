"""The SARIF 2.1.0 report: one run of ``gitopsgen``, its whole rule catalogue and one result per finding.

- ``tool.driver.rules``: every rule of the catalogue, sorted by ID, with ``name``, ``shortDescription``
  (the summary), ``fullDescription`` (the doc) and ``defaultConfiguration.level``.
- results: ``ruleId`` (and ``ruleIndex`` when the rule is in the catalogue), ``level`` (error →
  ``error``, warning → ``warning``, info → ``note``), ``message.text``, one physical location
  relative to ``%SRCROOT%`` (the file, percent-encoded as a URI reference; ``region`` with
  ``startLine``/``startColumn`` only where known), a logical location naming the object, the Code
  Quality fingerprint under ``partialFingerprints["gitopsgen/v1"]`` and ``properties`` with cluster
  and object. A repository-wide finding (no file) has no physical location: SARIF allows a result
  without one (GitHub code scanning would not take it, GitLab does not read it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from importlib import metadata
from urllib.parse import quote

from ..findings import Finding, Rule, Severity
from .codequality import fingerprints

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://pypi.org/project/gitopsgen/"
"""Where the tool is described (SARIF wants one); change it once the project has a home page."""
SRCROOT = "%SRCROOT%"
FINGERPRINT_NAME = "gitopsgen/v1"

LEVEL: dict[Severity, str] = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def tool_version() -> str:
    try:
        return metadata.version("gitopsgen")
    except metadata.PackageNotFoundError:
        return "0"


def reporting_descriptor(rule: Rule) -> dict[str, object]:
    """A rule of the catalogue as a SARIF ``reportingDescriptor``."""
    return {
        "id": rule.id,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.doc},
        "defaultConfiguration": {"level": LEVEL[Severity(rule.severity)]},
        "properties": {"stage": rule.stage},
    }


def artifact_uri(path: str) -> str:
    """A repository-relative POSIX path as a relative URI reference (spaces, ``%``, non-ASCII encoded)."""
    return quote(path, safe="/-._~!$&'()*+,;=:@")


def result(finding: Finding, fingerprint: str, rule_index: int | None) -> dict[str, object]:
    """One finding as a SARIF ``result``."""
    res: dict[str, object] = {"ruleId": finding.rule}
    if rule_index is not None:
        res["ruleIndex"] = rule_index
    res["level"] = LEVEL[Severity(finding.severity)]
    res["message"] = {"text": finding.message}
    loc: dict[str, object] = {}
    if finding.file:
        physical: dict[str, object] = {"artifactLocation": {"uri": artifact_uri(finding.file), "uriBaseId": SRCROOT}}
        if finding.line > 0:
            region: dict[str, int] = {"startLine": finding.line}
            if finding.column > 0:
                region["startColumn"] = finding.column
            physical["region"] = region
        loc["physicalLocation"] = physical
    if finding.object:
        loc["logicalLocations"] = [{"fullyQualifiedName": finding.object, "kind": "resource"}]
    if loc:
        res["locations"] = [loc]
    res["partialFingerprints"] = {FINGERPRINT_NAME: fingerprint}
    res["properties"] = {
        "cluster": finding.cluster,
        "clusters": [c for c in finding.cluster.split(",") if c],  # identical findings of several clusters
        "object": finding.object,
    }
    return res


def document(
    findings: Sequence[Finding],
    *,
    root_name: str,
    clusters: Sequence[str],
    rules: Mapping[str, Rule],
    stats: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """The SARIF log as a JSON-ready dict."""
    catalogue = [rules[k] for k in sorted(rules)]
    index = {rule.id: i for i, rule in enumerate(catalogue)}
    results = [result(f, fp, index.get(f.rule)) for f, fp in zip(findings, fingerprints(findings), strict=True)]
    run: dict[str, object] = {
        "tool": {
            "driver": {
                "name": "gitopsgen",
                "version": tool_version(),
                "informationUri": INFORMATION_URI,
                "rules": [reporting_descriptor(r) for r in catalogue],
            }
        },
        "columnKind": "unicodeCodePoints",
        "results": results,
        "properties": {"repository": root_name, "clusters": list(clusters)},
    }
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def render(
    findings: Sequence[Finding],
    *,
    root_name: str,
    clusters: Sequence[str],
    rules: Mapping[str, Rule],
    stats: Mapping[str, object] | None = None,
) -> str:
    """The SARIF log as text."""
    doc = document(findings, root_name=root_name, clusters=clusters, rules=rules, stats=stats)
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
