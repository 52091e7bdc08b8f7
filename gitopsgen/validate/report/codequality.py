"""The GitLab Code Quality report (``artifacts:reports:codequality``), and the findings' fingerprints.

GitLab reads one JSON array of issues, each with ``description``, ``check_name``, ``fingerprint``,
``severity`` (``info|minor|major|critical|blocker``), ``location.path`` (relative to the repository
root) and ``location.lines.begin``; it ignores the other CodeClimate fields, which we still fill
(``type``, ``categories``, ``content.body``) for other consumers.

Severities: error → ``major``, warning → ``minor``, info → ``info``. A finding without a file
(repository-wide) points at ``.``; line 0 becomes line 1.

Fingerprints (also reused by SARIF's ``partialFingerprints`` and the JSON report) are how GitLab
matches an issue between the base and the head of a merge request, so they must survive unrelated
edits. A fingerprint is the SHA-256 (hex) of the finding's *key*:

- rule ID, file, object and cluster — where the problem is and what it is about, but **not** its line
  or column, so moving code does not close and re-open issues;
- the message with every run of ASCII digits replaced by ``#``: messages may quote line numbers
  ("first defined at line 12") or counts ("3 replicas") that shift with unrelated edits;
- severity is left out, so changing a rule's severity in the config does not re-open its issues.

Findings with the same key (identical findings, or ones that differ only in line or digits) get an
occurrence index, counted in the caller's order (findings sort by file, line, rule, message), appended
to the key, so every fingerprint in a report is unique and the same input always yields the same
fingerprints.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence

from ..findings import Finding, Rule, Severity
from .text import description, location

FINGERPRINT_VERSION = "gitopsgen-fingerprint/1"
"""Part of every key: change it only when the key's recipe changes (it re-opens every issue once)."""

SEVERITY: dict[Severity, str] = {Severity.ERROR: "major", Severity.WARNING: "minor", Severity.INFO: "info"}

REPOSITORY_PATH = "."
"""``location.path`` of a finding that names no file."""

_CATEGORIES: dict[str, str] = {
    "S001": "Security",  # plaintext-secret
    "B002": "Security",  # unsafe-kustomization
    "B005": "Security",  # sops-without-decryption
    "K004": "Compatibility",  # removed-api-version
}
_DEFAULT_CATEGORY = "Bug Risk"

_DIGITS = re.compile(r"[0-9]+")


def normalise_message(message: str) -> str:
    """The message as it enters a fingerprint: digit runs → ``#``, whitespace runs → one space."""
    return " ".join(_DIGITS.sub("#", message).split())


def fingerprint_key(finding: Finding) -> str:
    """What identifies a finding across runs: rule, file, object, cluster, normalised message."""
    parts = (
        FINGERPRINT_VERSION,
        finding.rule,
        finding.file,
        finding.object,
        finding.cluster,
        normalise_message(finding.message),
    )
    return "\x1f".join(parts)


def fingerprints(findings: Sequence[Finding]) -> list[str]:
    """SHA-256 hex fingerprint of each finding, in order; equal keys get occurrence indexes 1, 2, …"""
    seen: dict[str, int] = {}
    result: list[str] = []
    for f in findings:
        key = fingerprint_key(f)
        occurrence = seen.get(key, 0)
        seen[key] = occurrence + 1
        if occurrence:
            key += f"\x1e{occurrence}"
        result.append(hashlib.sha256(key.encode("utf-8")).hexdigest())
    return result


def issue(finding: Finding, fingerprint: str, rules: Mapping[str, Rule]) -> dict[str, object]:
    """One Code Quality issue."""
    rule = rules.get(finding.rule)
    body = f"**{location(finding)}**"
    if finding.object:
        body += f" — {finding.object}"
    if finding.cluster:
        names = finding.cluster.split(",")
        body += f" (cluster{'s' if len(names) > 1 else ''} {', '.join(names)})"
    body += f"\n\n{finding.message}"
    if rule is not None:
        body += f"\n\n**{rule.id} {rule.name}**: {rule.summary}\n\n{rule.doc}"
    return {
        "type": "issue",
        "check_name": finding.rule,
        "description": description(finding),
        "content": {"body": body},
        "categories": [_CATEGORIES.get(finding.rule, _DEFAULT_CATEGORY)],
        "fingerprint": fingerprint,
        "severity": SEVERITY[Severity(finding.severity)],
        "location": {"path": finding.file or REPOSITORY_PATH, "lines": {"begin": max(finding.line, 1)}},
    }


def render(
    findings: Sequence[Finding],
    *,
    root_name: str,
    clusters: Sequence[str],
    rules: Mapping[str, Rule],
    stats: Mapping[str, object] | None = None,
) -> str:
    """The Code Quality JSON array (``[]`` when there are no findings), UTF-8 text without a BOM."""
    issues = [issue(f, fp, rules) for f, fp in zip(findings, fingerprints(findings), strict=True)]
    return json.dumps(issues, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
