"""Every rule has a fixture it passes and one it fails, with the expected file and line.

``tests/validate/fixtures/<RULE>/{pass,fail}/`` are small repositories (``clusters/c1/…``); a fail
case's ``expect.yaml`` lists exactly the findings of that rule it must produce. The pass case must
produce no finding of its rule and no error finding at all. Two rules need a fixture made at run
time and are tested in test_validate_engine.py instead: Y004 (a symlink leaving the repository,
which this repository does not commit) and G001 (a generated fleet, made by the generator).
Charts come from ../shared/helm-repo through a ``--helm-mirror``, CRDs from ../shared.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import shared

from gitopsgen.validate import engine
from gitopsgen.validate.catalogue import RULES
from gitopsgen.validate.config import Settings
from gitopsgen.validate.findings import Severity

FIXTURES = Path(__file__).parent / "fixtures"
CHART_URL = "https://prefecthq.github.io/prefect-helm"
# R001 (a rule crashed) is tested by making a rule crash; H006 (a render bound exceeded) in tests/test_security.py
RUNTIME_FIXTURES = {"Y004", "G001", "R001", "H006"}


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        crds=(shared("flux-crds"), shared("external-secrets-crds")),
        helm_mirrors=((CHART_URL, str(shared("helm-repo"))),),
        chart_cache=tmp_path_factory.mktemp("charts"),
        ignore=("expect.yaml",),
    )


def cases() -> list[tuple[str, str]]:
    return [(r.name, case) for r in sorted(FIXTURES.iterdir()) if r.is_dir() for case in ("pass", "fail")]


def test_every_rule_has_both_fixtures() -> None:
    missing = [
        f"{rule}/{case}"
        for rule in sorted(RULES)
        if rule not in RUNTIME_FIXTURES
        for case in ("pass", "fail")
        if not (FIXTURES / rule / case).is_dir()
    ]
    assert not missing, f"rules without fixtures: {missing}"
    assert not [r for r in RULES if not (RULES[r].doc and RULES[r].summary)], "every rule needs a summary and a doc"


@pytest.mark.parametrize(("rule", "case"), cases(), ids=[f"{r}-{c}" for r, c in cases()])
def test_rule_fixture(rule: str, case: str, settings: Settings) -> None:
    root = FIXTURES / rule / case
    result = engine.validate(root, settings)
    found = {(f.rule, f.file, f.line) for f in result.findings if f.rule == rule}
    if case == "pass":
        errors = [f for f in result.findings if f.severity == Severity.ERROR]
        assert not found, [f for f in result.findings if f.rule == rule]
        assert not errors, errors
        return
    expected = {(e["rule"], e["file"], e["line"]) for e in yaml.safe_load((root / "expect.yaml").read_text())}
    assert found == expected, [f for f in result.findings if f.rule == rule] or result.findings
