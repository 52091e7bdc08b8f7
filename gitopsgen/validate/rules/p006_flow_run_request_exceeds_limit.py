"""P006 flow-run-request-exceeds-limit: a base job template whose flow-run Jobs request more than their limit.

Uses the flow-run Job of :mod:`._flowrun` and :func:`gitopsgen.validate.admission.resource_problems`.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..admission import Provided, pod_problems
from ..findings import Finding, Rule, Severity
from ..model import Context
from ._flowrun import flow_run_jobs

SCOPE = "cluster"  # see rules/__init__.py
RULE = Rule(
    id="P006",
    name="flow-run-request-exceeds-limit",
    stage="semantics",
    severity=Severity.ERROR,
    summary="A Prefect work pool's base job template requests more CPU or memory than its limit.",
    doc=(
        "The API server rejects a Pod whose container requests more of a resource than its limit, so every "
        "flow run of the pool fails to start (the Job controller cannot create its Pod). The flow-run Job is "
        "built from the base job template with its variables' defaults (cpu_request, memory_request, "
        "cpu_limit, memory_limit in Prefect's default template) and each container's requests are compared "
        "with its limits as quantities (8Gi > 2Gi). Raise the limit, lower the request, or drop the limit. A "
        "deployment can still override the variables; this rule checks what a deployment that does not gets."
    ),
)


def check(ctx: Context) -> Iterator[Finding]:
    for cluster in ctx.clusters:
        provided = Provided.of(())
        for job in flow_run_jobs(cluster):
            for problem in pod_problems(job.job, provided):
                if problem.kind == "resources":
                    yield job.finding(RULE, f"flow-run Jobs of {job.release.manifest.ref}: {problem.message}")
