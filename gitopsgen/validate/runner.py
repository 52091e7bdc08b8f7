"""Running the semantic rules: each check of the catalogue on a context; a rule that raises is a finding
(R001), never the end of the validation."""

from __future__ import annotations

from collections.abc import Iterable

from .findings import Finding, Rule, Severity
from .model import Context
from .rules import Check

R001 = Rule(
    "R001",
    "rule-crashed",
    "engine",
    Severity.ERROR,
    "A rule of the validator raised an exception on this repository.",
    "Rules must never crash on any input; when one does, the rest of the validation still runs and the crash "
    "is reported as a finding naming the rule and the exception, so the pipeline neither passes silently nor "
    "stops with a traceback. Please report it as a bug of gitopsgen, with the repository if you can.",
)


def run_rules(checks: Iterable[tuple[Rule, Check]], ctx: Context, cluster: str = "") -> list[Finding]:
    """The semantic rules ``checks`` on ``ctx`` (``cluster``: the one it holds); a crashing rule is a
    finding (R001), not the end of the run."""
    out: list[Finding] = []
    for rule, check in checks:
        try:
            out += list(check(ctx))
        except Exception as exc:  # a crashing rule is a bug to report, not a reason to stop the validation
            message = f"rule {rule.id} crashed: {type(exc).__name__}: {exc}"
            out.append(Finding("", 0, R001.id, message, R001.severity, cluster=cluster))
    return out
