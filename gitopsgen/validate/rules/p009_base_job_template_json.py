"""P009 base-job-template-json: a prefect-worker's base job template is a JSON object Prefect can read."""

from __future__ import annotations

import json
from collections.abc import Iterator

from ..findings import Finding, Rule, Severity
from ..model import Context
from ._prefect import WORKER_CHART, releases

SCOPE = "cluster"  # see rules/__init__.py
RULE = Rule(
    id="P009",
    name="base-job-template-json",
    stage="semantics",
    severity=Severity.ERROR,
    summary="A prefect-worker's worker.config.baseJobTemplate.configuration is not a valid JSON template.",
    doc=(
        "The prefect-worker chart writes worker.config.baseJobTemplate.configuration into a ConfigMap that the "
        "worker passes to 'prefect work-pool create --base-job-template' when it starts; text that is not a "
        "JSON object with 'job_configuration' and 'variables' makes that command fail, and the worker never "
        "serves its work pool. The rule parses the value of every prefect-worker release of the cluster as "
        "Flux applies it (after postBuild substitution and overlay patches) and reports the JSON error with "
        "its line and column inside the template, at the value."
    ),
)

TEMPLATE = ("worker", "config", "baseJobTemplate", "configuration")


def problem(text: str) -> str:
    """Why ``text`` is not a base job template Prefect accepts, or ""."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return f"is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno} of the template"
    if not isinstance(data, dict):
        return "is not a JSON object"
    missing = [k for k in ("job_configuration", "variables") if k not in data]
    return f"has no {' or '.join(missing)}" if missing else ""


def check(ctx: Context) -> Iterator[Finding]:
    for cluster in ctx.clusters:
        for worker in releases(cluster, WORKER_CHART):
            text = worker.get(*TEMPLATE)
            if not isinstance(text, str):
                continue
            why = problem(text)
            if why:
                yield worker.finding(RULE, f"base job template of work pool release {worker.name} {why}", TEMPLATE)
