"""The ``gitopsgen validate`` and ``gitopsgen rules`` commands, run as the real console entry point.

What this module owns: exit codes (0 no error finding, 1 error findings, 2 could not run), the report
formats as the command writes them (JSON, ``--output``, Code Quality fingerprints, JUnit),
``--cluster``, ``--offline``, configuration errors, hostile input through the whole command, and the
rules catalogue. Every test runs the command in a subprocess with its own ``GITOPSGEN_CACHE_DIR``.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli, shared

from gitopsgen.validate.catalogue import RULES

CHART_URL = "https://prefecthq.github.io/prefect-helm"


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The subprocesses inherit a cache directory of the test's own, never the developer's ~/.cache."""
    cache = tmp_path / "gitopsgen-cache"
    monkeypatch.setenv("GITOPSGEN_CACHE_DIR", str(cache))
    monkeypatch.delenv("GITOPSGEN_DEBUG", raising=False)
    return cache


def write(root: Path, files: dict[str, str]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


def deployment(namespace: str, image: str, replicas: str = "1") -> str:
    return f"""\
apiVersion: v1
kind: Namespace
metadata:
  name: {namespace}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: {namespace}
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: web
          image: {image}
          resources:
            requests:
              cpu: 10m
              memory: 16Mi
"""


IMAGE_LINE = 23  # S005 (floating tag) in deployment()
REPLICAS_LINE = 12  # K001 (replicas: two) in deployment()


def clean_repo(root: Path) -> Path:
    return write(root, {"clusters/c1/app.yaml": deployment("apps", "nginx:1.27.0")})


def mixed_repo(root: Path) -> Path:
    """c1: a warning (S005, floating tag); c2: an error (K001, replicas is a string)."""
    return write(
        root,
        {
            "clusters/c1/app.yaml": deployment("apps", "nginx:latest"),
            "clusters/c2/app.yaml": deployment("jobs", "nginx:1.27.0", replicas="two"),
        },
    )


def validate(root: Path, *args: str) -> Any:
    return run_cli("validate", str(root), *args)


def json_findings(proc: Any) -> list[dict[str, Any]]:
    assert "Traceback" not in proc.stderr, proc.stderr
    doc = json.loads(proc.stdout)
    assert isinstance(doc["findings"], list)
    return doc["findings"]


def triples(findings: list[dict[str, Any]]) -> set[tuple[str, str, int]]:
    return {(f["rule"], f["file"], f["line"]) for f in findings}


# ---------------------------------------------------------------- exit codes


def test_exit_0_when_clean(tmp_path: Path) -> None:
    proc = validate(clean_repo(tmp_path / "repo"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1].startswith("0 errors, 0 warnings"), proc.stdout


def test_exit_0_with_warnings_only(tmp_path: Path) -> None:
    root = write(tmp_path / "repo", {"clusters/c1/app.yaml": deployment("apps", "nginx:latest")})
    proc = validate(root)
    assert proc.returncode == 0, proc.stderr
    assert f"clusters/c1/app.yaml:{IMAGE_LINE}: warning S005" in proc.stdout


def test_errors_are_reported(tmp_path: Path) -> None:
    proc = validate(mixed_repo(tmp_path / "repo"))
    assert proc.returncode != 2, proc.stderr
    assert f"clusters/c2/app.yaml:{REPLICAS_LINE}:" in proc.stdout and " error K001 " in proc.stdout, proc.stdout
    assert proc.stdout.strip().splitlines()[-1].startswith("1 error, 1 warning"), proc.stdout


def test_exit_1_when_errors(tmp_path: Path) -> None:
    proc = validate(mixed_repo(tmp_path / "repo"))
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)


@pytest.mark.parametrize(
    ("args", "names"),
    [
        pytest.param(("--cluster", "nope"), "--cluster nope", id="unknown-cluster"),
        pytest.param(("--kubernetes-version", "9.99"), "--kubernetes-version", id="unknown-kubernetes-version"),
        pytest.param(("--kubernetes-version", "banana"), "--kubernetes-version", id="bad-kubernetes-version"),
        pytest.param(("--crds", "/nonexistent/crds"), "--crds /nonexistent/crds", id="crds-missing"),
        pytest.param(("--helm-mirror", "no-equals-sign"), "--helm-mirror no-equals-sign", id="mirror-syntax"),
        pytest.param(("--helm-mirror", f"{CHART_URL}=/nonexistent/dir"), "--helm-mirror", id="mirror-not-a-repo"),
    ],
)
def test_exit_2_when_it_cannot_run(args: tuple[str, ...], names: str, tmp_path: Path) -> None:
    proc = validate(mixed_repo(tmp_path / "repo"), *args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gitopsgen: error: ") and names in lines[0], proc.stderr


def test_exit_2_when_the_path_is_not_a_directory(tmp_path: Path) -> None:
    proc = validate(tmp_path / "missing")
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr


# ---------------------------------------------------------------- report formats


def test_json_report(tmp_path: Path) -> None:
    proc = validate(mixed_repo(tmp_path / "repo"), "--format", "json")
    findings = json_findings(proc)
    for f in findings:
        assert {"rule", "severity", "message", "file", "line", "object", "cluster"} <= set(f), f
    picked = {(f["rule"], f["severity"], f["file"], f["line"], f["object"], f["cluster"]) for f in findings}
    assert picked == {
        ("S005", "warning", "clusters/c1/app.yaml", IMAGE_LINE, "Deployment apps/web", "c1"),
        ("K001", "error", "clusters/c2/app.yaml", REPLICAS_LINE, "Deployment jobs/web", "c2"),
    }
    assert all(f["message"] for f in findings)


def test_output_writes_the_report_and_a_summary(tmp_path: Path) -> None:
    out = tmp_path / "reports" / "validate.json"
    proc = validate(mixed_repo(tmp_path / "repo"), "--format", "json", "--output", str(out))
    assert proc.returncode != 2, proc.stderr
    assert proc.stdout == ""
    report = json.loads(out.read_text())
    assert triples(report["findings"]) == {
        ("S005", "clusters/c1/app.yaml", IMAGE_LINE),
        ("K001", "clusters/c2/app.yaml", REPLICAS_LINE),
    }
    summary = proc.stderr.strip().splitlines()
    assert len(summary) == 1 and summary[0].startswith("1 error, 1 warning"), proc.stderr
    assert str(out) in summary[0]


def codequality(root: Path) -> list[dict[str, Any]]:
    proc = validate(root, "--format", "codequality")
    assert proc.returncode != 2, proc.stderr
    issues = json.loads(proc.stdout)
    assert isinstance(issues, list)
    return issues


def test_codequality_report_and_stable_fingerprints(tmp_path: Path) -> None:
    root = mixed_repo(tmp_path / "repo")
    before = codequality(root)
    assert len(before) == 2
    for issue in before:
        assert {"description", "check_name", "fingerprint", "severity"} <= set(issue), issue
        assert re.fullmatch(r"[0-9a-f]{64}", issue["fingerprint"]), issue
    located = {(i["check_name"], i["location"]["path"], i["location"]["lines"]["begin"], i["severity"]) for i in before}
    assert located == {
        ("S005", "clusters/c1/app.yaml", IMAGE_LINE, "minor"),
        ("K001", "clusters/c2/app.yaml", REPLICAS_LINE, "major"),
    }
    for file in ("clusters/c1/app.yaml", "clusters/c2/app.yaml"):  # a line inserted above each finding
        path = root / file
        path.write_text("# an unrelated comment\n" + path.read_text())
    after = codequality(root)
    assert {i["check_name"]: i["location"]["lines"]["begin"] for i in after} == {
        "S005": IMAGE_LINE + 1,
        "K001": REPLICAS_LINE + 1,
    }
    assert {i["check_name"]: i["fingerprint"] for i in after} == {i["check_name"]: i["fingerprint"] for i in before}


def test_junit_report_is_xml(tmp_path: Path) -> None:
    proc = validate(mixed_repo(tmp_path / "repo"), "--format", "junit")
    assert proc.returncode != 2, proc.stderr
    tree = ET.fromstring(proc.stdout.encode("utf-8"))
    assert tree.tag == "testsuites"
    failures = {
        (case.get("classname", "").split()[0], case.get("name", "").split()[0])
        for case in tree.iter("testcase")
        if case.find("failure") is not None
    }
    assert failures == {
        ("S005", f"clusters/c1/app.yaml:{IMAGE_LINE}"),
        ("K001", f"clusters/c2/app.yaml:{REPLICAS_LINE}"),
    }


def test_cluster_option_restricts_the_clusters(tmp_path: Path) -> None:
    root = mixed_repo(tmp_path / "repo")
    proc = validate(root, "--cluster", "c1", "--format", "json")
    assert proc.returncode == 0, proc.stderr  # c2's error is not looked at
    doc = json.loads(proc.stdout)
    assert doc["summary"]["clusters"] == ["c1"]
    assert triples(doc["findings"]) == {("S005", "clusters/c1/app.yaml", IMAGE_LINE)}
    both = json.loads(validate(root, "--cluster", "c1", "--cluster", "c2", "--format", "json").stdout)
    assert both["summary"]["clusters"] == ["c1", "c2"]
    assert {f["cluster"] for f in both["findings"]} == {"c1", "c2"}


HELM_REPO = """\
apiVersion: v1
kind: Namespace
metadata:
  name: prefect
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: prefect
  namespace: prefect
spec:
  interval: 12h
  url: https://prefecthq.github.io/prefect-helm
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: prefect-server
  namespace: prefect
spec:
  interval: 30m
  chart:
    spec:
      chart: prefect-server
      version: 2026.8.18172642
      sourceRef:
        kind: HelmRepository
        name: prefect
"""
CHART_LINE = 22  # spec.chart of the HelmRelease, where H001 points
URL_LINE = 13  # spec.url of the HelmRepository, where H007 (its charts cannot be fetched) points


def test_offline_with_an_empty_chart_cache(tmp_path: Path) -> None:
    root = write(tmp_path / "repo", {"clusters/c1/prefect.yaml": HELM_REPO})
    cache = tmp_path / "empty-chart-cache"
    cache.mkdir()
    proc = validate(
        root, "--offline", "--chart-cache", str(cache), "--crds", str(shared("flux-crds")), "--format", "json"
    )
    assert proc.returncode == 0, proc.stdout  # a chart this run cannot fetch is not an error of the repository
    h006 = [f for f in json_findings(proc) if f["rule"] in ("H001", "H007")]
    assert [(f["rule"], f["file"], f["line"], f["severity"], f["cluster"]) for f in h006] == [
        ("H007", "clusters/c1/prefect.yaml", URL_LINE, "info", "c1")
    ], proc.stdout
    assert "offline" in h006[0]["message"] and "--helm-mirror" in h006[0]["message"], h006[0]["message"]
    assert list(cache.iterdir()) == []  # nothing was downloaded


def test_the_helm_mirror_option_renders_the_chart(tmp_path: Path, helm_repo_url: str) -> None:
    """The same repository, not offline, with the chart served by the mirror: no H001."""
    root = write(tmp_path / "repo", {"clusters/c1/prefect.yaml": HELM_REPO})
    proc = validate(
        root,
        "--chart-cache",
        str(tmp_path / "charts"),
        "--crds",
        str(shared("flux-crds")),
        "--helm-mirror",
        f"{CHART_URL}={helm_repo_url}",
        "--format",
        "json",
    )
    assert [f for f in json_findings(proc) if f["rule"].startswith("H")] == []


# ---------------------------------------------------------------- configuration


B003_KUSTOMIZATION = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: flux-system
spec:
  interval: 10m
  path: ./apps
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
  postBuild:
    substitute:
      speed: fast
"""
B003_REPO = {
    "clusters/c1/apps.yaml": B003_KUSTOMIZATION,
    "apps/settings.yaml": """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: default
data:
  mode: ${mode}
""",
}


# K005 (no schema: a Flux Kustomization without the Flux CRDs) is a warning of a stage rule
NO_SCHEMA = {
    "clusters/c1/apps.yaml": B003_KUSTOMIZATION,
    "apps/settings.yaml": B003_REPO["apps/settings.yaml"].replace("${mode}", "${speed}"),
}


def test_config_severity_warning_to_error_changes_the_exit_code(tmp_path: Path) -> None:
    root = write(tmp_path / "repo", NO_SCHEMA)
    before = validate(root)
    assert before.returncode == 0 and "clusters/c1/apps.yaml:2: warning K005" in before.stdout, before.stdout
    write(root, {".gitopsgen.yaml": "rules:\n  K005:\n    severity: error\n"})
    after = validate(root)
    assert "clusters/c1/apps.yaml:2: error K005" in after.stdout, after.stdout
    assert after.returncode == 1


@pytest.mark.parametrize(
    ("config", "severity"),
    [
        pytest.param("rules:\n  K005:\n    severity: error\n", "error", id="to-error"),
        pytest.param("rules:\n  k005: {severity: INFO}\n", "info", id="to-info"),
        pytest.param("disable: [K005]\n", None, id="disabled"),
        pytest.param("rules:\n  K005: {enabled: false}\n", None, id="enabled-false"),
    ],
)
def test_config_rule_settings(config: str, severity: str | None, tmp_path: Path) -> None:
    root = write(tmp_path / "repo", {**NO_SCHEMA, ".gitopsgen.yaml": config})
    proc = validate(root, "--format", "json")
    found = [(f["rule"], f["file"], f["line"], f["severity"]) for f in json_findings(proc) if f["rule"] == "K005"]
    assert found == ([("K005", "clusters/c1/apps.yaml", 2, severity)] if severity else []), proc.stdout


@pytest.mark.parametrize(
    "config",
    [
        pytest.param("disable: [S005]\n", id="disable"),
        pytest.param("rules:\n  S005: {severity: error}\n", id="severity"),
    ],
)
def test_config_names_a_semantic_rule(config: str, tmp_path: Path) -> None:
    root = write(
        tmp_path / "repo", {"clusters/c1/app.yaml": deployment("apps", "nginx:latest"), ".gitopsgen.yaml": config}
    )
    proc = validate(root, "--format", "json")
    assert proc.returncode != 2, proc.stderr
    assert [f["severity"] for f in json_findings(proc) if f["rule"] == "S005"] == (
        ["error"] if "severity" in config else []
    )


def test_config_from_pyproject(tmp_path: Path) -> None:
    root = write(
        tmp_path / "repo",
        {**NO_SCHEMA, "pyproject.toml": '[project]\nname = "x"\n\n[tool.gitopsgen]\ndisable = ["K005"]\n'},
    )
    proc = validate(root, "--format", "json")
    assert [f for f in json_findings(proc) if f["rule"] == "K005"] == [], proc.stdout


@pytest.mark.parametrize(
    ("files", "named"),
    [
        pytest.param({".gitopsgen.yaml": "disable: [S005]\nfrobnicate: true\n"}, ".gitopsgen.yaml", id="dotfile"),
        pytest.param({"pyproject.toml": "[tool.gitopsgen]\nfrobnicate = true\n"}, "pyproject.toml", id="pyproject"),
    ],
)
def test_config_unknown_setting(files: dict[str, str], named: str, tmp_path: Path) -> None:
    root = write(mixed_repo(tmp_path / "repo"), files)
    proc = validate(root)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0] and "frobnicate" in lines[0], proc.stderr


@pytest.mark.parametrize(
    "config",
    [
        pytest.param("crds: ../outside\n", id="crds-relative"),
        pytest.param("crds: /etc\n", id="crds-absolute"),
        pytest.param("chart-cache: ../../cache\n", id="chart-cache"),
        pytest.param("helm-mirrors:\n  https://prefecthq.github.io/prefect-helm: ../outside\n", id="mirror"),
    ],
)
def test_config_path_outside_the_repository(config: str, tmp_path: Path) -> None:
    write(tmp_path / "outside", {"crd.yaml": "{}\n", "index.yaml": "apiVersion: v1\nentries: {}\n"})
    root = write(mixed_repo(tmp_path / "repo"), {".gitopsgen.yaml": config})
    proc = validate(root)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and ".gitopsgen.yaml" in lines[0] and "outside the repository" in lines[0], proc.stderr


@pytest.mark.parametrize("pattern", ["clusters/c2/**", "clusters/c2", "clusters/*/app.yaml"])
def test_config_ignore(pattern: str, tmp_path: Path) -> None:
    root = write(mixed_repo(tmp_path / "repo"), {".gitopsgen.yaml": f"ignore: [{pattern}]\n"})
    findings = json_findings(validate(root, "--format", "json"))
    expected = set() if pattern.endswith("app.yaml") else {("S005", "clusters/c1/app.yaml", IMAGE_LINE)}
    assert triples(findings) == expected


# ---------------------------------------------------------------- hostile input through the command


HOSTILE = {
    "clusters/c1/app.yaml": deployment("apps", "nginx:1.27.0"),
    "clusters/c1/bomb.yaml": 'a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]\n'
    + "".join(f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n" for p, n in zip("abcdefg", "bcdefgh", strict=True)),
    "clusters/c1/deep.yaml": "a: " + "[" * 10_000 + "]" * 10_000 + "\n",
    "clusters/c2/app/kustomization.yaml": "resources:\n  - ../../../../etc\n  - /etc\n"
    "  - https://github.com/example/fleet//base?ref=v1\n",
    "clusters/c3/app/kustomization.yaml": "helmCharts:\n  - name: x\n    repo: https://example.com\n",
}


def test_hostile_repository_is_findings_not_a_crash(tmp_path: Path) -> None:
    root = write(tmp_path / "repo", HOSTILE)
    (root / "clusters/c1/latin1.yaml").write_bytes(b"a: caf\xe9\n")
    (root / "clusters/c1/x.yaml").write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00")
    proc = validate(root, "--format", "json")
    assert proc.returncode != 2 and "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    assert triples(json_findings(proc)) == {
        ("Y003", "clusters/c1/bomb.yaml", 7),  # where the expansion passes the bound
        ("Y003", "clusters/c1/deep.yaml", 1),
        ("Y001", "clusters/c1/latin1.yaml", 1),
        ("Y001", "clusters/c1/x.yaml", 1),
        ("B002", "clusters/c2/app/kustomization.yaml", 2),
        ("B002", "clusters/c2/app/kustomization.yaml", 3),
        ("B002", "clusters/c2/app/kustomization.yaml", 4),
        ("B002", "clusters/c3/app/kustomization.yaml", 1),
    }


DUPLICATE = {  # the same ConfigMap twice: kustomize fails
    "clusters/c1/app/kustomization.yaml": "resources:\n  - cm.yaml\n  - again.yaml\n",
    "clusters/c1/app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: default\n",
    "clusters/c1/app/again.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: default\n",
}


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param(B003_REPO, "apps/settings.yaml:7: error B003 undefined variable ${mode}", id="B003"),
        pytest.param(DUPLICATE, "clusters/c1/app/again.yaml:1: error B001 ", id="B001"),
    ],
)
def test_build_findings_in_the_text_report(files: dict[str, str], expected: str, tmp_path: Path) -> None:
    proc = validate(write(tmp_path / "repo", files))
    assert "internal error" not in proc.stderr, proc.stderr
    assert expected in proc.stdout, proc.stdout


def test_b003_in_the_json_report(tmp_path: Path) -> None:
    findings = json_findings(validate(write(tmp_path / "repo", B003_REPO), "--format", "json"))
    assert {t for t in triples(findings) if t[0] == "B003"} == {("B003", "apps/settings.yaml", 7)}


# ---------------------------------------------------------------- rules


def every_rule_id() -> list[str]:
    return sorted(RULES)


def test_rules_lists_every_rule() -> None:
    proc = run_cli("rules")
    assert proc.returncode == 0, proc.stderr
    listed = re.findall(r"^([A-Z]\d{3})  ", proc.stdout, re.MULTILINE)
    assert listed == every_rule_id()
    assert {"Y004", "G001", "R001", "K004", "P001"} <= set(listed)


def test_rules_json_lists_every_rule() -> None:
    proc = run_cli("rules", "--format", "json")
    assert [r["id"] for r in json.loads(proc.stdout)["rules"]] == every_rule_id()


def test_rules_prints_one_rules_doc() -> None:
    proc = run_cli("rules", "K004")
    assert proc.returncode == 0, proc.stderr
    every_rule_id()
    rule = RULES["K004"]
    first = proc.stdout.splitlines()[0]
    assert first.startswith(f"K004  {rule.name}  [") and "error" in first
    assert " ".join(rule.doc.split()) in " ".join(proc.stdout.split())
    assert "K001" not in proc.stdout.split()


def test_rules_unknown_id() -> None:
    proc = run_cli("rules", "Z999")
    assert proc.returncode == 2 and "Z999" in proc.stderr


def test_help_documents_the_exit_codes() -> None:
    proc = run_cli("validate", "--help")
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())
    assert "0: no error findings; 1: error findings; 2: the validation could not run" in text
