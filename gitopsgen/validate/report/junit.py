"""The JUnit XML report, shaped for GitLab's ``artifacts:reports:junit``.

Layout: ``<testsuites>`` holds one ``<testsuite>`` per validated cluster (in the caller's order), then
one for the findings of clusters the caller did not list (sorted), then one named after the
repository for repository-wide findings (no cluster) — that last one is always there, because the
repository-wide stages always run. Each finding is one ``<testcase>``:

- ``classname`` = ``RULE rule-name`` (e.g. ``K001 schema-invalid``), ``name`` = ``file:line object``
  (``<repository>`` for no file, no ``:line`` for line 0); when two testcases of a suite would share
  classname and name, the later ones get `` #2``, `` #3``… so GitLab, which keys testcases by suite,
  classname and name, neither merges nor drops them.
- error and warning → ``<failure type="RULE" message="…">`` with the full detail as its text: GitLab
  lists these as failed tests, and shows a failure's *text* (not its ``message`` attribute, and
  without the ``<system-out>`` of older versions), so the text starts with the severity.
- info → ``<skipped type="RULE" message="…">`` with the same text: advice, not a failure, yet
  GitLab still shows the text of a skipped test (a passing test's output it does not show).
- a suite with no finding gets one passing testcase ``validate <suite>`` so the merge request shows
  that the check ran.

Counts (``tests``, ``failures``, ``errors`` = 0, ``skipped``) are per suite and, without
``skipped``, on ``<testsuites>``. The document validates against the Jenkins/Surefire
``junit-10.xsd`` (which is why testcases carry no ``file`` attribute). Text and attributes go through
:mod:`xml.etree.ElementTree` for escaping; characters XML 1.0 cannot hold (most C0 controls, lone
surrogates) become U+FFFD. The result is text with an ``encoding="UTF-8"`` declaration: write it
as UTF-8.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..findings import Finding, Rule, Severity
from .text import REPOSITORY, location

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    """``text`` with every character XML 1.0 cannot hold replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)


@dataclass
class Suite:
    """One ``<testsuite>``: its name and its findings."""

    name: str
    findings: list[Finding] = field(default_factory=list)


def suites(findings: Sequence[Finding], clusters: Sequence[str], root_name: str) -> list[Suite]:
    """Findings grouped into suites: listed clusters, unlisted clusters, then the repository."""
    by_cluster: dict[str, Suite] = {c: Suite(c) for c in clusters}
    repository = Suite(root_name or REPOSITORY)
    extra: dict[str, Suite] = {}
    for f in findings:
        if not f.cluster:
            repository.findings.append(f)
        for cluster in filter(None, f.cluster.split(",")):  # a finding of several clusters: in each one's suite
            if cluster in by_cluster:
                by_cluster[cluster].findings.append(f)
            else:
                extra.setdefault(cluster, Suite(cluster)).findings.append(f)
    return [*by_cluster.values(), *(extra[k] for k in sorted(extra)), repository]


def classname(finding: Finding, rules: Mapping[str, Rule]) -> str:
    rule = rules.get(finding.rule)
    return f"{finding.rule} {rule.name}" if rule is not None else finding.rule


def case_name(finding: Finding) -> str:
    where = location(finding, column=False)
    return f"{where} {finding.object}" if finding.object else where


def detail(finding: Finding, rules: Mapping[str, Rule]) -> str:
    """The text of a ``<failure>``/``<skipped>``: what GitLab shows when the test is opened."""
    rule = rules.get(finding.rule)
    severity = Severity(finding.severity).value
    lines = [f"{severity} {finding.rule}{f' {rule.name}' if rule else ''}: {finding.message}"]
    lines.append(f"at {location(finding)}")
    if finding.object:
        lines.append(f"object {finding.object}")
    if finding.cluster:
        lines.append(f"cluster {finding.cluster}")
    if rule is not None:
        lines.append(f"rule {rule.id}: {rule.summary}")
    return "\n".join(lines)


def testcase(finding: Finding, name: str, rules: Mapping[str, Rule]) -> ET.Element:
    case = ET.Element("testcase", {"classname": xml_text(classname(finding, rules)), "name": xml_text(name)})
    tag = "skipped" if Severity(finding.severity) is Severity.INFO else "failure"
    outcome = ET.SubElement(case, tag, {"type": xml_text(finding.rule), "message": xml_text(finding.message)})
    outcome.text = xml_text(detail(finding, rules))
    return case


def testsuite(suite: Suite, rules: Mapping[str, Rule]) -> ET.Element:
    element = ET.Element("testsuite", {"name": xml_text(suite.name)})
    failures = skipped = 0
    used: dict[tuple[str, str], int] = {}
    for f in suite.findings:
        base = case_name(f)
        key = (classname(f, rules), base)
        used[key] = n = used.get(key, 0) + 1
        element.append(testcase(f, base if n == 1 else f"{base} #{n}", rules))
        if Severity(f.severity) is Severity.INFO:
            skipped += 1
        else:
            failures += 1
    if not suite.findings:
        ET.SubElement(element, "testcase", {"classname": "gitopsgen", "name": xml_text(f"validate {suite.name}")})
    element.set("tests", str(len(element)))
    element.set("failures", str(failures))
    element.set("errors", "0")
    element.set("skipped", str(skipped))
    return element


def render(
    findings: Sequence[Finding],
    *,
    root_name: str,
    clusters: Sequence[str],
    rules: Mapping[str, Rule],
    stats: Mapping[str, object] | None = None,
) -> str:
    """The JUnit XML document as text."""
    root = ET.Element("testsuites", {"name": xml_text(f"gitopsgen validate {root_name}".rstrip())})
    tests = failures = 0
    for suite in suites(findings, clusters, root_name):
        element = testsuite(suite, rules)
        tests += int(element.get("tests", "0"))
        failures += int(element.get("failures", "0"))
        root.append(element)
    root.set("tests", str(tests))
    root.set("failures", str(failures))
    root.set("errors", "0")
    seconds = (stats or {}).get("seconds")
    if isinstance(seconds, int | float) and seconds >= 0:
        root.set("time", f"{seconds:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
